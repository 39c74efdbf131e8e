"""From a seed and the population to every dossier of the one-stop system and its status events.

One `random.Random` drives all steps in a fixed order and nothing iterates a set, so
the same seed and population always give the same dossiers. Dossiers are received
over the 30 days before EPOCH (a backlog in every state) and ``days`` days after it;
in-person ones on weekdays in office hours (local time), online ones at any hour.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from itertools import accumulate
from typing import NamedTuple

from mocks.clock import DAY, EPOCH
from mocks.one_stop.applicants import Applicant, applicants
from mocks.one_stop.defects import inject_defects
from mocks.one_stop.record import IN_PERSON, ONLINE, VIETNAM_OFFSET, DefectType, Event, HoSo
from mocks.one_stop.timeline import Intake, draw
from mocks.population.dataset import PopulationDataset
from schemas.one_stop import PROVINCIAL_CENTRE
from schemas.procedures import Procedure, load_catalogue

BACKLOG_DAYS = 30
ONLINE_SHARE = 0.60
# Share received at the provincial centre, by competent level: commune-level ones received
# there are the cross-boundary dossiers that must be routed.
AT_CENTRE_SHARE = {"commune": 0.10, "province": 0.70}
# How often each procedure is filed (birth registrations and certified copies dominate).
_WEIGHTS = {
    "TT-KS-01": 20,
    "TT-KH-01": 8,
    "TT-KT-01": 6,
    "TT-CT-01": 30,
    "TT-XN-01": 10,
    "TT-DD-01": 6,
    "TT-GP-01": 5,
    "TT-KD-01": 15,
    "TT-TR-01": 12,
    "TT-LL-01": 8,
}
_DEFAULT_WEIGHT = 5  # a procedure added to the catalogue later
_OFFICE_HOURS_UTC = (30 * 60, 10 * 3600)  # 07:30-17:00 in Vietnam (UTC+7)
_THURSDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


@dataclass(frozen=True, slots=True)
class Generated:
    """Dossiers (a duplicate_conflict's second record last), their events, and the ground truth."""

    dossiers: list[HoSo]
    events: list[list[Event]]
    defects: dict[str, DefectType]
    routing: dict[str, str]  # MaHoSo -> the competent commune it must be routed to
    province: str


class _Draft(NamedTuple):
    received: int
    applicant: Applicant
    procedure: Procedure
    online: bool
    unit: str  # MaDonViTiepNhan


def generate(
    population: PopulationDataset, count: int, seed: int, defect_rate: float, days: int, province: str | None = None
) -> Generated:
    """Generate ``count`` dossiers filed by residents of ``province`` (default: the best populated).

    Raises:
        ValueError: impossible parameters, or nobody eligible to file in the province.
    """
    if count < 1 or not 0.0 <= defect_rate <= 1.0 or days < 0:
        raise ValueError("need one_stop_dossiers >= 1, 0 <= defect_rate <= 1 and days >= 0")
    rng = random.Random(f"lgsp-mock-one-stop:{seed}")
    province, people = applicants(population, province)
    procedures = list(load_catalogue().values())
    cumulative = list(accumulate(_WEIGHTS.get(p.code, _DEFAULT_WEIGHT) for p in procedures))
    drafts = [_draft(rng, people, procedures, cumulative, days) for _ in range(count)]
    drafts.sort(key=lambda draft: draft.received)  # stable: ties keep the order drawn
    dossiers, events, routing = _materialize(rng, drafts, province)
    defects = inject_defects(rng, dossiers, events, routing, defect_rate)
    return Generated(dossiers, events, defects, routing, province)


def _draft(
    rng: random.Random, people: list[Applicant], procedures: list[Procedure], cumulative: list[int], days: int
) -> _Draft:
    """Who files what, when, how and where."""
    online = rng.random() < ONLINE_SHARE
    received = _received_at(rng, online, days)
    applicant = rng.choice(people)
    procedure = rng.choices(procedures, cum_weights=cumulative)[0]
    at_centre = rng.random() < AT_CENTRE_SHARE[procedure.competent]
    return _Draft(received, applicant, procedure, online, PROVINCIAL_CENTRE if at_centre else applicant.ma_xa)


def _received_at(rng: random.Random, online: bool, days: int) -> int:
    """A receipt time: online at any hour, in person on a weekday in office hours."""
    first_day = EPOCH // DAY - BACKLOG_DAYS
    while True:
        day = first_day + rng.randrange(BACKLOG_DAYS + days)
        if online:
            return day * DAY + rng.randrange(DAY)
        if (day + _THURSDAY) % 7 < 5:
            return day * DAY + rng.randrange(*_OFFICE_HOURS_UTC)


def _materialize(
    rng: random.Random, drafts: list[_Draft], province: str
) -> tuple[list[HoSo], list[list[Event]], dict[str, str]]:
    """Number the dossiers (per receiving unit and local day) and draw their progressions."""
    numbers: dict[tuple[str, str], int] = {}
    dossiers: list[HoSo] = []
    events: list[list[Event]] = []
    routing: dict[str, str] = {}
    for draft in drafts:
        day = time.strftime("%y%m%d", time.gmtime(draft.received + VIETNAM_OFFSET))
        number = numbers[draft.unit, day] = numbers.get((draft.unit, day), 0) + 1
        unit_part = "01" if draft.unit == PROVINCIAL_CENTRE else draft.unit
        code = f"H{province}.{unit_part}-{day}-{number:04d}"
        commune_level = draft.procedure.competent == "commune"
        waits = commune_level and draft.unit == PROVINCIAL_CENTRE
        if waits:
            routing[code] = draft.applicant.ma_xa
        due = draft.received + draft.procedure.days * DAY
        dossiers.append(
            HoSo(
                ma_ho_so=code,
                ma_thu_tuc=draft.procedure.code,
                so_dinh_danh=draft.applicant.so_dinh_danh,
                kenh_nop=ONLINE if draft.online else IN_PERSON,
                ngay_tiep_nhan=draft.received,
                han_xu_ly=due,
                ma_don_vi_tiep_nhan=draft.unit,
            )
        )
        # Until routed, a waiting dossier is processed where it was received.
        processing_unit = draft.applicant.ma_xa if commune_level and not waits else PROVINCIAL_CENTRE
        events.append(draw(rng, Intake(draft.received, due, processing_unit, waits)))
    return dossiers, events, routing
