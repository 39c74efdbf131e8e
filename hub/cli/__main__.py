"""``python -m hub.cli``: the ``lgsp`` script without its installed wrapper (child processes, tests)."""

from hub.cli.app import main

main()
