"""Write, audit, publish: the stages every inbound stream goes through (DESIGN.md §1)."""
