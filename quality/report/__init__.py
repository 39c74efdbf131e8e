"""The auditors' report: a static site built from the store."""
