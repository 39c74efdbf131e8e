"""Staging rows for quality tests: a valid citizen by default, any field breakable.

``citizen(7)`` is a clean, self-consistent row (its id agrees with its birth date
and gender); ``citizen(7, full_name="  ")`` is the same row with one defect. The
id is rebuilt from birth date and gender unless the test sets ``personal_id``, so
changing a birth date does not also break the id rule by accident.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from defect_rules import RULE_FOR_DEFECT  # noqa: F401 - re-exported for the quality tests
from sqlalchemy import Engine, insert

from hub.store.tables import staging_citizen
from quality.runner import RunValidation
from schemas.citizen import CONTENT_FIELDS
from schemas.personal_id import build

RUN = "manual__2026-03-01T00:00:00+00:00"
AS_OF = date(2026, 3, 1)
_UNSET = object()


@lru_cache(maxsize=1)
def commune() -> tuple[str, str]:
    """A real (province, commune) pair from today's units."""
    from hub.store.reference import current_communes

    unit = current_communes()[0]
    return unit["province_code"], unit["commune_code"]


@lru_cache(maxsize=1)
def other_province_commune() -> tuple[str, str]:
    """A real commune of a province other than ``commune()``'s."""
    from hub.store.reference import current_communes

    province = commune()[0]
    unit = next(u for u in current_communes() if u["province_code"] != province)
    return unit["province_code"], unit["commune_code"]


def personal_id_of(serial: int, birth_date: str = "1990-05-17", gender: str = "male") -> str:
    """The id ``citizen(serial, ...)`` gets for that birth date and gender."""
    return build("001", date.fromisoformat(birth_date), "female" if gender == "female" else "male", serial)


def citizen(
    serial: int,
    *,
    run_id: str = RUN,
    birth_date: str | None = "1990-05-17",
    gender: str | None = "male",
    personal_id: Any = _UNSET,
    **fields: Any,
) -> dict[str, Any]:
    """A staging row for person ``serial``; keyword arguments override single fields."""
    province, commune_code = commune()
    if personal_id is _UNSET:
        assert birth_date is not None, "a row without a birth date needs an explicit personal_id"
        personal_id = personal_id_of(serial, birth_date, gender or "male")
    row: dict[str, Any] = {
        "run_id": run_id,
        "page_no": 1,
        "personal_id": personal_id,
        "full_name": "Nguyễn Văn An",
        "birth_date": birth_date,
        "gender": gender,
        "nationality": "VN",
        "ethnicity": "01",
        "religion": "00",
        "hometown": "Xã Phúc Xá, Thành phố Hà Nội",
        "residence_province": province,
        "residence_commune": commune_code,
        "residence_detail": "Số 12, Tổ 3",
        "father_id": None,
        "mother_id": None,
        "spouse_id": None,
        "marital_status": "single",
        "death_date": None,
        "source_updated_at": "2026-01-02T03:04:05+00:00",
        "contract_error": None,
        "payload": "<CongDan/>",
        "fetched_at": datetime(2026, 3, 1, 0, 0, 0),
    }
    row.update(fields)
    if "content_hash" not in fields:
        content = json.dumps([row[name] for name in CONTENT_FIELDS], ensure_ascii=False)
        row["content_hash"] = hashlib.sha256(content.encode()).hexdigest()
    return row


def stage(engine: Engine, *rows: dict[str, Any]) -> list[int]:
    """Insert the rows into staging; returns their row ids, in order."""
    ids: list[int] = []
    with engine.begin() as conn:
        for row in rows:
            ids.append(conn.execute(insert(staging_citizen).returning(staging_citizen.c.row_id), row).scalar_one())
    return ids


def publish(engine: Engine, personal_id: str, birth_date: str, gender: str = "male") -> None:
    """Put a citizen straight into the golden table (an earlier run published them)."""
    from hub.store.tables import citizen as golden

    province, commune_code = commune()
    now = datetime(2026, 1, 1)
    with engine.begin() as conn:
        conn.execute(
            insert(golden),
            {
                "personal_id": personal_id,
                "full_name": "Trần Thị Bình",
                "birth_date": date.fromisoformat(birth_date),
                "gender": gender,
                "nationality": "VN",
                "ethnicity": "01",
                "religion": "00",
                "hometown": "Xã Phúc Xá, Thành phố Hà Nội",
                "residence_province": province,
                "residence_commune": commune_code,
                "residence_detail": "Số 1, Tổ 1",
                "marital_status": "married",
                "source_updated_at": now,
                "content_hash": "0" * 64,
                "provenance": "{}",
                "published_run_id": "earlier",
                "published_at": now,
            },
        )


def rules_by_row(validation: RunValidation) -> dict[int, set[str]]:
    """row id -> the rules it broke."""
    broken: dict[int, set[str]] = {}
    for rule, rows in validation.failing.items():
        for row in rows:
            broken.setdefault(row, set()).add(rule)
    return broken
