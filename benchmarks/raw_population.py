"""The raw bound of a population sync: httpx + lxml + one executemany transaction, nothing else.

What any client must do to copy the register: post ``ListChangedCitizens`` page by page
(a WS-Security UsernameToken in plain text, which the mock accepts in its default mode),
parse each page with lxml, and upsert every record into one table in one transaction.
No quality rules, no provenance, no staging, no ledger: the floor the platform's own
sync is measured against, on the same mock and the same store, in the same run.
"""

from __future__ import annotations

import time
from typing import Any

from lxml import etree

NS = "urn:lgsp:mock:population:1"  # the contract's namespace (schemas/population/population.wsdl)
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
TEXT = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
# canonical column -> path under CongDan (local names), as the declaration maps them
COLUMNS = {
    "personal_id": ("SoDinhDanh",),
    "full_name": ("HoVaTen",),
    "birth_date": ("NgaySinh",),
    "gender": ("GioiTinh",),
    "nationality": ("QuocTich",),
    "ethnicity": ("DanToc",),
    "religion": ("TonGiao",),
    "hometown": ("QueQuan",),
    "residence_province": ("NoiThuongTru", "MaTinh"),
    "residence_commune": ("NoiThuongTru", "MaXa"),
    "residence_detail": ("NoiThuongTru", "ChiTiet"),
    "father_id": ("SoDinhDanhCha",),
    "mother_id": ("SoDinhDanhMe",),
    "spouse_id": ("SoDinhDanhVoChong",),
    "marital_status": ("TinhTrangHonNhan",),
    "death_date": ("NgayMat",),
    "updated_at": ("NgayCapNhat",),
}


def _envelope(username: str, password: str, token: str | None, page_size: int) -> bytes:
    page = f"<t:PageToken>{token}</t:PageToken>" if token else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="{NS}" xmlns:w="{WSSE}">'
        f"<s:Header><w:Security><w:UsernameToken><w:Username>{username}</w:Username>"
        f'<w:Password Type="{TEXT}">{password}</w:Password></w:UsernameToken></w:Security></s:Header>'
        f"<s:Body><t:ListChangedCitizensRequest><t:Since>1900-01-01T00:00:00Z</t:Since>{page}"
        f"<t:PageSize>{page_size}</t:PageSize></t:ListChangedCitizensRequest></s:Body></s:Envelope>"
    ).encode()


def _record(element: Any) -> dict[str, str | None]:
    texts: dict[tuple[str, ...], str] = {}
    for child in element:
        name = etree.QName(child).localname
        if len(child):
            for grandchild in child:
                texts[(name, etree.QName(grandchild).localname)] = grandchild.text or ""
        else:
            texts[(name,)] = child.text or ""
    return {column: texts.get(path) for column, path in COLUMNS.items()}


def raw_sync(
    population_url: str, database_url: str, *, username: str, password: str, page_size: int
) -> tuple[int, float]:
    """Copy the whole register into ``raw_citizen``; returns (records read, seconds)."""
    import httpx
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    columns = ", ".join(COLUMNS)
    updates = ", ".join(f"{column} = excluded.{column}" for column in COLUMNS if column != "personal_id")
    upsert = text(
        f"INSERT INTO raw_citizen ({columns}) VALUES ({', '.join(f':{c}' for c in COLUMNS)}) "
        f"ON CONFLICT (personal_id) DO UPDATE SET {updates}"
    )
    others = ", ".join(f"{column} TEXT" for column in COLUMNS if column != "personal_id")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS raw_citizen"))
        conn.execute(text(f"CREATE TABLE raw_citizen (personal_id TEXT PRIMARY KEY, {others})"))
    started = time.perf_counter()
    read = 0
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{NS}#ListChangedCitizens"'}
    with httpx.Client(timeout=60) as client, engine.begin() as conn:
        token: str | None = None
        while True:
            answer = client.post(
                population_url, content=_envelope(username, password, token, page_size), headers=headers
            )
            answer.raise_for_status()
            body = etree.fromstring(answer.content)
            records = [_record(element) for element in body.iter(f"{{{NS}}}CongDan")]
            if records:
                # A register delivers some ids twice in a page (conflicting copies): last one wins, as an upsert does.
                unique = {record["personal_id"]: record for record in records}
                conn.execute(upsert, list(unique.values()))
            read += len(records)
            token = body.findtext(f".//{{{NS}}}NextPageToken")
            if not token:
                break
    seconds = time.perf_counter() - started
    engine.dispose()
    return read, seconds
