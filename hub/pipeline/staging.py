"""Write: land fetched pages in the run's staging table, one transaction per page."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, insert

from connectors.population import Page, WireRecord
from hub.store.tables import staging_citizen


def staging_row(run_id: str, page_no: int, record: WireRecord, fetched_at: Any) -> dict[str, Any]:
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


def stage_pages(engine: Engine, run_id: str, pages: Iterable[Page], fetched_at: Any) -> tuple[int, int]:
    """Stage every page as it arrives (memory holds one page); returns (pages, records)."""
    page_count = record_count = 0
    for page in pages:
        if page.records:
            rows = [staging_row(run_id, page.number, record, fetched_at) for record in page.records]
            with engine.begin() as conn:
                conn.execute(insert(staging_citizen), rows)
        page_count += 1
        record_count += len(page.records)
    return page_count, record_count
