"""Historic events before EPOCH, of existing residents, consistent with the population data.

The register holds a resident's birth (dated NgaySinh, registered in today's province
of the id's birth-registration province), the marriage of a couple the population
data shows married or widowed (dated between adulthood and the first death), and
the death of a resident with NgayMat (dated NgayMat, at the commune of residence).
A share of these candidates is served; the rest pads a benchmark's larger feed.
"""

from __future__ import annotations

import random
from datetime import date
from typing import NamedTuple

from mocks.civil_status.event import BIRTH, DEATH, MARRIAGE, SuKien, day_start
from mocks.civil_status.residents import Residents, birth_ordinal
from mocks.clock import DAY
from mocks.population.people import REFERENCE_DAY
from mocks.population.record import MALE, CongDan
from mocks.population.regions import regions

DEFAULT_SHARE = 0.2  # of the candidates, when no event count is asked for
_ADULT_YEARS = {MALE: 20, "2": 18}  # Law on Marriage and Family 2014, art. 8
_REGISTRATION_DAYS = {BIRTH: 60, MARRIAGE: 1, DEATH: 15}  # deadlines of the Law on Civil Status 2014


class Candidate(NamedTuple):
    """An event the register could hold: its type, the subject, the spouse and the days it could be dated."""

    kind: str
    subject: CongDan
    spouse: CongDan | None
    window: tuple[int, int] | None = None  # KetHon: first and last possible day


def candidates(residents: Residents) -> list[Candidate]:
    """Every historic event the population data supports, in a fixed order."""
    found: list[Candidate] = []
    initial = residents.initial
    for record in residents.clean():
        found.append(Candidate(BIRTH, record, None))
        if record.ngay_mat is not None:
            found.append(Candidate(DEATH, record, None))
        spouse = initial.get(record.so_dinh_danh_vo_chong or "") if record.gioi_tinh == MALE else None
        window = _marriage_window(record, spouse) if spouse is not None else None
        if window is not None:
            found.append(Candidate(MARRIAGE, record, spouse, window))
    return found


def historic_event(rng: random.Random, candidate: Candidate) -> SuKien:
    """The register's record of ``candidate``; one of a couple is the subject, at random."""
    kind, subject, spouse, window = candidate
    units = regions()
    if kind == BIRTH:
        day = birth_ordinal(subject)
        province = units.today_of_old[subject.so_dinh_danh[:3]]
        commune = units.communes[rng.choice(units.by_province[province])].code
    elif kind == DEATH:
        assert subject.ngay_mat is not None
        day, commune = date.fromisoformat(subject.ngay_mat).toordinal(), subject.ma_xa
    else:
        assert spouse is not None and window is not None
        day, commune = _between(rng, *window), subject.ma_xa
        if rng.random() < 0.5:
            subject, spouse = spouse, subject
    recorded = day_start(day) + _between(rng, 600, _REGISTRATION_DAYS[kind] * DAY)
    other = spouse.so_dinh_danh if spouse is not None else None
    return SuKien("", kind, subject.so_dinh_danh, other, date.fromordinal(day).isoformat(), commune, recorded)


def _marriage_window(husband: CongDan, wife: CongDan) -> tuple[int, int] | None:
    """First and last day the couple could have married: both adult, both alive, before the data's day."""
    earliest = max(_adult_from(husband), _adult_from(wife))
    latest = REFERENCE_DAY
    for partner in (husband, wife):
        if partner.ngay_mat is not None:
            latest = min(latest, date.fromisoformat(partner.ngay_mat).toordinal() - 1)
    return (earliest, latest) if earliest <= latest else None


def _between(rng: random.Random, low: int, high: int) -> int:
    """A uniform integer in [low, high]; several times faster than `random.randint`, which this loop feels."""
    return low + int(rng.random() * (high - low + 1))


def _adult_from(record: CongDan) -> int:
    """The day the resident reached marriageable age."""
    born = date.fromisoformat(record.ngay_sinh)
    years = _ADULT_YEARS.get(record.gioi_tinh, 18)
    try:
        return born.replace(year=born.year + years).toordinal()
    except ValueError:  # born on 29 February
        return date(born.year + years, 3, 1).toordinal()
