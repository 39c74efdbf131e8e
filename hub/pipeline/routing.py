"""Cross-boundary routing: a commune-level dossier received at the provincial centre goes to the applicant's commune.

Three steps, each committing per dossier, so a crash loses at most the call in flight
(and its idempotency key makes the repeat harmless):

1. route: a held dossier received at the centre (``TINH``) for a commune-level
   procedure, waiting in DangXuLy, not routed yet, goes to the inbox of the commune
   where the golden ``citizen`` table says the applicant lives: the hub already
   knows, so the applicant is not asked again (once-only). An applicant the hub does
   not know yet waits for a later population sync.
2. collect: each commune with dossiers routed to it lists its decisions; a decision
   on one of our transfers marks the routing ``decided``.
3. return: a decided result goes back to the unit that received the dossier.

The one-stop system stays the source of truth: the status changes routing causes
reach ``dossier`` (and the portal) through the next dossier extract, never from here.
A 409 (the system refuses: not waiting any more, another commune, already returned)
is counted and left for a later run or a person; nothing is marked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Engine, func, insert, select, update

from connectors.one_stop import OneStopSource
from hub.pipeline.runs import utcnow
from hub.store.engine import store_errors
from hub.store.tables import citizen, dossier, dossier_routing
from schemas.one_stop import PROVINCIAL_CENTRE
from schemas.procedures import load_catalogue

log = logging.getLogger(__name__)

WAITING_STATUS = "DangXuLy"
ROUTED, DECIDED, RETURNED = "routed", "decided", "returned"


@dataclass(frozen=True)
class RoutingSummary:
    """What one routing pass did, in dossiers."""

    routed: int = 0  # sent to the competent commune
    waiting: int = 0  # the applicant is not in the golden table yet
    decided: int = 0  # the commune's decision collected
    returned: int = 0  # the result handed back to the receiving unit
    refused: int = 0  # the one-stop system answered 409

    def as_dict(self) -> dict[str, int]:
        """The figures a person or a script reads."""
        return asdict(self)


def route_dossiers(
    engine: Engine, source: OneStopSource, run_id: str, clock: Callable[[], datetime] = utcnow
) -> RoutingSummary:
    """Route waiting dossiers, collect the communes' decisions, return the results; one commit per dossier.

    Raises:
        TransientSourceError: the one-stop system is still failing after the retries.
        FatalSourceError: credentials refused, or an answer breaks the contract.
        StoreError: the store refused a write (what was committed before stays).
    """
    routed, waiting, refused_routes = _route_waiting(engine, source, clock)
    decided = _collect_decisions(engine, source)
    returned, refused_returns = _return_results(engine, source, clock)
    summary = RoutingSummary(
        routed=routed, waiting=waiting, decided=decided, returned=returned, refused=refused_routes + refused_returns
    )
    log.info("routing %s: %s", run_id, summary.as_dict())
    return summary


def _commune_level() -> list[str]:
    return [code for code, procedure in load_catalogue().items() if procedure.competent == "commune"]


def _route_waiting(engine: Engine, source: OneStopSource, clock: Callable[[], datetime]) -> tuple[int, int, int]:
    """Step 1; returns (routed, waiting for the applicant, refused)."""
    candidates = (
        select(dossier.c.dossier_id, dossier.c.receiving_unit, citizen.c.residence_commune)
        .select_from(dossier.outerjoin(citizen, citizen.c.personal_id == dossier.c.applicant_id))
        .where(
            dossier.c.receiving_unit == PROVINCIAL_CENTRE,
            dossier.c.status == WAITING_STATUS,
            dossier.c.procedure_code.in_(_commune_level()),
            ~select(dossier_routing.c.dossier_id).where(dossier_routing.c.dossier_id == dossier.c.dossier_id).exists(),
        )
        .order_by(dossier.c.dossier_id)
    )
    with store_errors("route"), engine.connect() as conn:
        rows = conn.execute(candidates).all()
    routed = waiting = refused = 0
    for dossier_id, sender, commune in rows:
        if commune is None:
            waiting += 1
            continue
        transfer_id = source.route(dossier_id, commune, sender)
        if transfer_id is None:
            refused += 1
            continue
        with store_errors("route"), engine.begin() as conn:
            conn.execute(
                insert(dossier_routing).values(
                    dossier_id=dossier_id,
                    competent_unit=commune,
                    transfer_id=transfer_id,
                    state=ROUTED,
                    routed_at=clock(),
                )
            )
        routed += 1
    return routed, waiting, refused


def _collect_decisions(engine: Engine, source: OneStopSource) -> int:
    """Step 2: list each commune's decisions since its oldest open routing's receipt; returns how many are new."""
    # A decision comes after routing, which comes after receipt: the receipt time (the source's
    # clock, unlike routed_at, which is ours) is a safe lower bound.
    open_by_commune = (
        select(dossier_routing.c.competent_unit, func.min(dossier.c.received_at))
        .join(dossier, dossier.c.dossier_id == dossier_routing.c.dossier_id)
        .where(dossier_routing.c.state == ROUTED)
        .group_by(dossier_routing.c.competent_unit)
        .order_by(dossier_routing.c.competent_unit)
    )
    with store_errors("route"), engine.connect() as conn:
        communes = conn.execute(open_by_commune).all()
    decided = 0
    for commune, since in communes:
        for decision in source.results(commune, since):
            with store_errors("route"), engine.begin() as conn:
                marked = conn.execute(
                    update(dossier_routing)
                    .where(
                        dossier_routing.c.dossier_id == decision.dossier_id,
                        dossier_routing.c.transfer_id == decision.transfer_id,
                        dossier_routing.c.competent_unit == commune,
                        dossier_routing.c.state == ROUTED,
                    )
                    .values(state=DECIDED, result=decision.result, decided_at=decision.decided_at)
                ).rowcount
            decided += marked
    return decided


def _return_results(engine: Engine, source: OneStopSource, clock: Callable[[], datetime]) -> tuple[int, int]:
    """Step 3; returns (returned, refused)."""
    pending = (
        select(
            dossier_routing.c.dossier_id,
            dossier_routing.c.transfer_id,
            dossier_routing.c.result,
            dossier.c.receiving_unit,
        )
        .join(dossier, dossier.c.dossier_id == dossier_routing.c.dossier_id)
        .where(dossier_routing.c.state == DECIDED)
        .order_by(dossier_routing.c.dossier_id)
    )
    with store_errors("route"), engine.connect() as conn:
        rows = conn.execute(pending).all()
    returned = refused = 0
    for dossier_id, transfer_id, result, receiving_unit in rows:
        if not source.return_result(receiving_unit, dossier_id, transfer_id, result):
            refused += 1
            continue
        with store_errors("route"), engine.begin() as conn:
            conn.execute(
                update(dossier_routing)
                .where(dossier_routing.c.dossier_id == dossier_id)
                .values(state=RETURNED, returned_at=clock())
            )
        returned += 1
    return returned, refused
