"""Reference data the rules check against: today's provinces and communes."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert

from hub.store.tables import admin_unit


def current_communes() -> list[dict[str, str]]:
    """Every commune of the 34 provinces (July 2025 reform), as table rows."""
    from vietnam_provinces import Ward

    return [
        {"commune_code": f"{int(w.code):05d}", "province_code": f"{int(w.province_code):02d}"} for w in Ward.iter_all()
    ]


def seed_admin_units(conn: Connection) -> int:
    """Replace the admin_unit table's rows with the packaged list; returns the count."""
    rows = current_communes()
    conn.execute(delete(admin_unit))
    conn.execute(insert(admin_unit), rows)
    return len(rows)
