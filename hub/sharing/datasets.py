"""Where a shared dataset's golden records live, and how one record's key is read from text.

The hub's own datasets have hand-made tables (``hub.store.tables``); a declared dataset's
table is generated from its declaration (``hub.store.declared``). Everything that shares
records (the API, pushes) finds the table here rather than naming one.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Table

from hub.store.declared import dataset_table
from hub.store.tables import citizen, civil_event
from hub.systems.catalogue import DatasetEntry

_HUB_TABLES = {"citizen": citizen, "civil_event": civil_event}


class BadKey(ValueError):
    """A key that cannot be one of the dataset's (the message names the expected form, never the value)."""


def golden_table(entry: DatasetEntry) -> Table:
    """The table of ``entry``'s golden records."""
    if entry.spec is None:
        return _HUB_TABLES[entry.name]
    return dataset_table(entry.spec)


def key_value(entry: DatasetEntry, text: str) -> Any:
    """The key column's value for ``text`` (an integer key as an int, a date key as a date).

    Raises:
        BadKey: ``text`` is not of the key's type.
    """
    kind = entry.field_entry(entry.key).type
    if kind == "integer":
        if not (text.isascii() and text.lstrip("-").isdigit()):
            raise BadKey(f"the key of {entry.name} ({entry.key}) is an integer")
        return int(text)
    if kind == "date":
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise BadKey(f"the key of {entry.name} ({entry.key}) is a date, YYYY-MM-DD") from None
    return text
