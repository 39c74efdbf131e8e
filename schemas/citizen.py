"""The canonical citizen record: what the hub keeps, in English, whatever the wire said."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

Gender = Literal["male", "female"]
MaritalStatus = Literal["single", "married", "divorced", "widowed"]

# Fields that make up a citizen's content: the golden record's columns, the
# provenance granularity and the content hash all follow this order.
CONTENT_FIELDS: tuple[str, ...] = (
    "full_name",
    "birth_date",
    "gender",
    "nationality",
    "ethnicity",
    "religion",
    "hometown",
    "residence_province",
    "residence_commune",
    "residence_detail",
    "father_id",
    "mother_id",
    "spouse_id",
    "marital_status",
    "death_date",
)


@dataclass(frozen=True, slots=True)
class Citizen:
    """One resident as the National Population Database describes them."""

    personal_id: str
    full_name: str
    birth_date: date
    gender: Gender
    nationality: str
    ethnicity: str
    religion: str
    hometown: str
    residence_province: str
    residence_commune: str
    residence_detail: str
    father_id: str | None
    mother_id: str | None
    spouse_id: str | None
    marital_status: MaritalStatus
    death_date: date | None
    source_updated_at: datetime
