"""A table of the report: typed columns, shown on a page and downloadable whole as CSV.

Cells hold raw values (counts, shares as 0..1, timestamps); the page formats them for
its language, the CSV keeps them machine-readable. A table too long for a page shows
its first ``page_rows`` and streams every row into its CSV.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from quality.report import labels

Kind = Literal["text", "count", "share", "time", "seconds", "link", "status"]
Cell = str | int | float | datetime | None
Row = tuple[Any, ...]  # cells (Cell or Link), one per column


@dataclass(frozen=True)
class Link:
    """A cell that leads somewhere: ``href`` is relative to the language's root."""

    text: str
    href: str
    shared: bool = False  # True: ``href`` is relative to the site's root (Data Docs, shared by both languages)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Column:
    """One column: its header's label key and how its cells are shown."""

    label: str
    kind: Kind = "text"


@dataclass
class ReportTable:
    """Rows for a page; ``all_rows`` (when given) streams the full set for the CSV."""

    name: str  # the CSV's file stem, unique in the site
    title: str  # a label key
    columns: Sequence[Column]
    rows: list[Row]
    total: int | None = None  # rows in the full set, when the page shows only some
    all_rows: Callable[[], Iterable[Row]] | None = field(default=None, repr=False)
    note: str = ""  # a label key shown under the title

    def shown_all(self) -> bool:
        """Whether the page shows every row."""
        return self.total is None or self.total <= len(self.rows)


def display(value: Cell | Link, kind: Kind, language: str) -> str:
    """A cell as the page shows it in ``language``."""
    if isinstance(value, Link):
        return value.text
    if value is None:
        return "—"
    if kind == "count" and isinstance(value, int | float):
        return labels.number(value, language)
    if kind == "share" and isinstance(value, int | float):
        return labels.percent(float(value), language)
    if kind == "time" and isinstance(value, datetime):
        return labels.timestamp(value, language)
    if kind == "seconds" and isinstance(value, int | float):
        return labels.seconds(float(value), language)
    if kind == "status" and isinstance(value, str) and value in labels.LABELS:
        return labels.label(value, language)
    return str(value)


def csv_value(value: Cell | Link, kind: Kind, language: str) -> str | int | float:
    """A cell as the CSV keeps it: numbers plain, shares to four places, times in ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, Link):
        return value.text
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if kind == "share" and isinstance(value, float):
        return round(value, 4)
    if kind == "status" and isinstance(value, str) and value in labels.LABELS:
        return labels.label(value, language)
    return value


def write_csv(table: ReportTable, path: Path, language: str) -> None:
    """Every row of ``table`` to ``path``: UTF-8 with a BOM, so spreadsheet programs read the Vietnamese."""
    rows = table.all_rows() if table.all_rows is not None else table.rows
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([labels.label(column.label, language) for column in table.columns])
        for row in rows:
            writer.writerow(
                [
                    _defuse(csv_value(cell, column.kind, language))
                    for cell, column in zip(row, table.columns, strict=True)
                ]
            )


def _defuse(value: str | int | float) -> str | int | float:
    """Text a spreadsheet would run as a formula (=, +, -, @) gets a leading apostrophe (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
