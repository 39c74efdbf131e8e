"""Write: land fetched pages in the run's staging table, one transaction per page."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Engine, Table

from hub.store.bulk import bulk_insert
from lgsp.errors import RejectedRecord


class StagedRecord(Protocol):
    """What any connector's wire record offers staging."""

    @property
    def payload(self) -> str:
        """The record as received (XML or JSON text), kept for reprocessing."""

    @property
    def fields(self) -> Mapping[str, str | None]:
        """Canonical names -> text values, as the staging table's columns."""

    @property
    def rejection(self) -> RejectedRecord | None:
        """Why the record breaks the contract, if it does."""

    @property
    def content_hash(self) -> str:
        """A digest of the content, to tell changes from re-deliveries."""


class StagedPage(Protocol):
    """What any connector's page offers staging."""

    @property
    def number(self) -> int:
        """1 for the first page of a run."""

    @property
    def records(self) -> Sequence[StagedRecord]:
        """The page's records, in the source's order."""


def staging_row(run_id: str, page_no: int, record: StagedRecord, fetched_at: Any) -> dict[str, Any]:
    """The staging row for one wire record: text values as sent, or the contract error."""
    return {
        "run_id": run_id,
        "page_no": page_no,
        **record.fields,
        "contract_error": None if record.rejection is None else str(record.rejection),
        "content_hash": record.content_hash,
        "payload": record.payload,
        "fetched_at": fetched_at,
    }


def stage_pages(
    engine: Engine, table: Table, run_id: str, pages: Iterable[StagedPage], fetched_at: Any
) -> tuple[int, int]:
    """Stage every page as it arrives (memory holds one page); returns (pages, records)."""
    page_count = record_count = 0
    for page in pages:
        if page.records:
            rows = [staging_row(run_id, page.number, record, fetched_at) for record in page.records]
            with engine.begin() as conn:
                bulk_insert(conn, table, rows)
        page_count += 1
        record_count += len(page.records)
    return page_count, record_count
