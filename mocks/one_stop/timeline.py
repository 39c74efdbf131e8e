"""When a dossier's status changes: the progression drawn at generation, and the routed part drawn later.

A dossier is received (TiepNhan), taken into processing (DangXuLy) within hours, and
then either rejected (about 5%) or decided (CoKetQua) and handed back (DaTraKetQua).
Most results come before the due time (HanXuLy), a share come late. A commune-level
dossier received at the provincial centre stops at DangXuLy: it waits for someone to
route it, and the rest of its history is drawn when that happens (`commune_decision`,
`handover_delay`), from a generator seeded by the dossier so it does not depend on
the order of calls.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from mocks.clock import DAY
from mocks.one_stop.record import Event
from mocks.one_stop.statuses import APPROVED, PROCESSING, RECEIVED, REFUSED, REJECTED, RESULT, RETURNED

REJECTED_SHARE = 0.05
LATE_SHARE = 0.12
HOUR, MINUTE = 3600, 60


@dataclass(frozen=True, slots=True)
class Intake:
    """What the progression depends on: when it was received and is due, and where it is processed."""

    received: int
    due: int
    processing_unit: str
    waits_for_routing: bool
    instant_processing: bool = False  # DangXuLy at the very second of receipt


def draw(rng: random.Random, intake: Intake) -> list[Event]:
    """The status events of one dossier, in time order, strictly increasing (ties only if instant)."""
    unit, received = intake.processing_unit, intake.received
    processing = received if intake.instant_processing else received + rng.randint(10 * MINUTE, 12 * HOUR)
    events = [Event(RECEIVED, received, unit), Event(PROCESSING, processing, unit)]
    if intake.waits_for_routing:
        return events
    roll = rng.random()
    if roll < REJECTED_SHARE:
        decided = processing + rng.randint(HOUR, max(2 * HOUR, (intake.due - processing) * 3 // 4))
        return [*events, Event(REJECTED, decided, unit)]
    if roll < REJECTED_SHARE + LATE_SHARE:
        result = max(intake.due, processing) + rng.randint(HOUR, 4 * DAY)
    else:
        result = processing + rng.randint(MINUTE, max(2 * MINUTE, intake.due - processing - MINUTE))
    return [*events, Event(RESULT, result, unit), Event(RETURNED, result + rng.randint(HOUR, 5 * DAY), unit)]


def _dossier_rng(seed: int, ma_ho_so: str, step: str) -> random.Random:
    """A generator for one dossier and step: the same answer whatever else happened before."""
    return random.Random(f"lgsp-mock-one-stop:{seed}:{ma_ho_so}:{step}")


def commune_decision(seed: int, ma_ho_so: str, routed_at: int) -> tuple[int, str]:
    """When (1 to 3 days after routing) and how (KetQua) the competent commune decides."""
    rng = _dossier_rng(seed, ma_ho_so, "decision")
    decided_at = routed_at + rng.randint(DAY, 3 * DAY)
    return decided_at, REFUSED if rng.random() < REJECTED_SHARE else APPROVED


def handover_delay(seed: int, ma_ho_so: str) -> int:
    """Seconds between a routed dossier's result arriving back and the applicant collecting it."""
    return _dossier_rng(seed, ma_ho_so, "handover").randint(2 * HOUR, 2 * DAY)
