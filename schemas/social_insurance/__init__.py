"""A declared system's contract files (served by its mock, checked by `lgsp systems check`); no code."""
