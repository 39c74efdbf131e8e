"""A small declared system built in a test, for the storage, merge and pipeline tests of declared datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.systems.loader import Declared, DeclaredStream, streams
from lgsp.declaration import SystemDecl

FIELDS: dict[str, Any] = {
    "parcel_id": "MaThua",
    "owner_id": {"from": "SoDinhDanh", "type": "personal_id"},
    "area": {"from": "DienTich", "type": "decimal"},
    "floors": {"from": "SoTang", "type": "integer"},
    "registered_on": {"from": "NgayDangKy", "type": "date"},
    "mortgaged": {"from": "TheChap", "type": "boolean"},
    "commune": {"from": "MaXa", "type": "commune"},
    "updated_at": {"from": "CapNhat", "type": "datetime"},
}


def land_system(
    fields: dict[str, Any] | None = None,
    *,
    dataset: str = "land_parcel",
    key: str = "parcel_id",
    cursor: bool = True,
    merge: str | None = None,
    rules: list[Any] | None = None,
) -> tuple[Declared, ...]:
    """One REST system, ``land``, with one stream ``parcels`` feeding ``dataset``."""
    stream: dict[str, Any] = {
        "get": "/parcels",
        "params": {"since": "{cursor}"} if cursor else {},
        "records": "items",
        "next": {"page": "page", "total": "pages"},
        "dataset": dataset,
        "key": key,
        "fields": fields if fields is not None else FIELDS,
        "rules": rules if rules is not None else [{"not_empty": key}],
    }
    if cursor:
        stream["cursor"] = {"field": "updated_at", "from": "2001-02-03T04:05:06+07:00"}
    if merge is not None:
        stream["merge"] = merge
    decl = SystemDecl.model_validate(
        {
            "system": "land",
            "title": {"vi": "Đất đai", "en": "Land registry"},
            "owner": "Sở Nông nghiệp và Môi trường",
            "connection": "land",
            "rest": {"auth": {"api_key": {"header": "X-Api-Key"}}},
            "streams": {"parcels": stream},
        }
    )
    return (Declared(decl, Path("land.yaml")),)


def only_stream(systems: tuple[Declared, ...]) -> DeclaredStream:
    """The single stream of ``systems``."""
    (declared,) = streams(systems)
    return declared
