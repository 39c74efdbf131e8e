"""The once-only figure: how much of the one-stop system's dossiers the platform could have prefilled.

For each procedure with a declared form, over the dossiers held in ``dossier``:

``prefilled_share``  verified-filled fields / form fields, summed over the dossiers;
``complete_share``   the share of dossiers whose every field is verified-filled, so the
                     citizen would give nothing but consent;
``held_complete_share``  the share of dossiers whose every field that a register could fill
                     (a form field with a source) is verified-filled: the citizen states
                     only the request itself (the child's name, the new address), and
                     supplies nothing the state already holds.

Both use the golden records as they are now (not as they were when the dossier was
filed) and a caller with no agreement restriction. A dossier whose applicant the
platform does not hold counts with no field prefilled. A form with a field only the
citizen can supply (the child's name on a birth registration, the purpose of a
request) can never reach "nothing beyond consent": its ``complete_share`` is 0 by
construction, and says how far the forms, not the data, are from once-only;
``held_complete_share`` is the figure that measures the data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, select

from hub.sharing.prefill import prefill_many
from hub.store.tables import dossier
from schemas.procedures import load_catalogue
from schemas.procedures.forms import Form, load_forms

CHUNK = 1000  # dossiers per read; their applicants' golden rows are read in one batch


@dataclass
class _Tally:
    dossiers: int = 0
    fields: int = 0
    verified: int = 0
    complete: int = 0
    held_complete: int = 0

    def add(self, other: _Tally) -> None:
        self.dossiers += other.dossiers
        self.fields += other.fields
        self.verified += other.verified
        self.complete += other.complete
        self.held_complete += other.held_complete

    def shares(self) -> dict[str, Any]:
        return {
            "dossiers": self.dossiers,
            "prefilled_share": _share(self.verified, self.fields),
            "complete_share": _share(self.complete, self.dossiers),
            "held_complete_share": _share(self.held_complete, self.dossiers),
        }


def once_only_figures(engine: Engine, forms: Mapping[str, Form] | None = None) -> dict[str, Any]:
    """Per procedure with a form and overall: dossiers and the three shares (fractions, 4 places)."""
    forms = load_forms() if forms is None else forms
    catalogue = load_catalogue()
    tallies = {code: _Tally() for code in forms}
    with engine.connect() as conn:
        for chunk in _dossier_chunks(conn, list(forms)):
            for code, tally in _tally_chunk(conn, chunk, forms).items():
                tallies[code].add(tally)
    overall = _Tally()
    for tally in tallies.values():
        overall.add(tally)
    return {
        "procedures": {
            code: {"name": catalogue[code].name, "form_fields": len(forms[code].fields), **tally.shares()}
            for code, tally in tallies.items()
        },
        "overall": overall.shares(),
    }


def _dossier_chunks(conn: Connection, codes: list[str]) -> Iterator[list[tuple[str, str]]]:
    """(procedure code, applicant id) of the dossiers of these procedures, ``CHUNK`` at a time (keyset)."""
    last = ""
    while True:
        rows = conn.execute(
            select(dossier.c.dossier_id, dossier.c.procedure_code, dossier.c.applicant_id)
            .where(dossier.c.procedure_code.in_(codes), dossier.c.dossier_id > last)
            .order_by(dossier.c.dossier_id)
            .limit(CHUNK)
        ).all()
        if not rows:
            return
        last = rows[-1].dossier_id
        yield [(row.procedure_code, row.applicant_id) for row in rows]


def _tally_chunk(conn: Connection, chunk: list[tuple[str, str]], forms: Mapping[str, Form]) -> dict[str, _Tally]:
    """Prefill each procedure's applicants of the chunk in one batch, then count per dossier."""
    applicants: dict[str, list[str]] = {}
    for code, applicant in chunk:
        applicants.setdefault(code, []).append(applicant)
    tallies: dict[str, _Tally] = {}
    for code, ids in applicants.items():
        filled = prefill_many(conn, code, ids, forms=forms)
        size = len(forms[code].fields)
        tally = tallies[code] = _Tally(dossiers=len(ids), fields=size * len(ids))
        for applicant in ids:  # per dossier: one applicant may file several
            result = filled.get(applicant)
            if result is not None:
                tally.verified += result.verified_count
                tally.complete += int(result.complete)
                tally.held_complete += int(result.held_complete)
    return tallies


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
