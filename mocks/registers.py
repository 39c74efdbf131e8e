"""What the registers of residents' records share: who may hold a record, when it was written, how a value goes wrong.

The social insurance register and the household business registry each list records
about residents of the population mock (an insured person, a business owner), so the
mocks tell one story: the people are the population's clean residents, alive and adult
at EPOCH, and the population's change feed (deaths, moves) shows up in theirs a little
later. Their records are dated in Vietnam time (``+07:00``), as Vietnamese systems speak.

Initial versions are written over the ``feed_days`` before EPOCH, so a first read at the
starting clock sees them all and a later ``since`` sees fewer; changes come after EPOCH
and show as the mock clock reaches them, as in the population's own feed.
"""

from __future__ import annotations

import random
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from typing import NamedTuple

from mocks.clock import DAY, EPOCH
from mocks.population.dataset import PopulationDataset
from mocks.population.record import CongDan
from mocks.population.regions import regions
from schemas.personal_id import BIRTH_REGISTRATION_PROVINCES

VIETNAM_OFFSET = 7 * 3600
_UNIX_EPOCH_DAY = 719_163  # date(1970, 1, 1).toordinal()
_UNKNOWN_PREFIXES = tuple(c for c in (f"{n:03d}" for n in range(100)) if c not in BIRTH_REGISTRATION_PROVINCES)
DEATH, MOVE = "death", "move"


class LifeEvent(NamedTuple):
    """A change of the population feed about a holder: a death (with its date) or a move (with the new commune)."""

    time: int
    kind: str
    personal_id: str
    value: str  # NgayMat of a death, MaXa after a move


def format_local(seconds: int) -> str:
    """Epoch seconds as RFC 3339 in Vietnam time, e.g. 2026-01-01T07:00:00+07:00."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+07:00", time.gmtime(seconds + VIETNAM_OFFSET))


def local_day(seconds: int) -> int:
    """The date ordinal of the Vietnam-time day holding epoch second ``seconds`` (the date part of `format_local`)."""
    return (seconds + VIETNAM_OFFSET) // DAY + _UNIX_EPOCH_DAY


@cache
def iso_day(ordinal: int) -> str:
    """A date ordinal as YYYY-MM-DD; one shared string per day."""
    return date.fromordinal(ordinal).isoformat()


def day_ordinal(text: str) -> int:
    """A YYYY-MM-DD date as its ordinal."""
    return date.fromisoformat(text).toordinal()


def between(rng: random.Random, low: int, high: int) -> int:
    """A uniform integer in [low, high] (``low`` when the range is empty)."""
    return low + int(rng.random() * (high - low + 1)) if high > low else low


@dataclass(frozen=True, slots=True)
class Residents:
    """The population data set and the initial records of its clean residents, in its feed order."""

    population: PopulationDataset
    initial: dict[str, CongDan]


# Per population data set, while it lives (the values hold records, never the data set itself).
_INITIAL: weakref.WeakKeyDictionary[PopulationDataset, dict[str, CongDan]] = weakref.WeakKeyDictionary()


def read_residents(population: PopulationDataset) -> Residents:
    """The clean residents' initial records (a defective resident's one defect belongs to the population feed).

    Read once per population data set, for every register built over it.
    """
    initial = _INITIAL.get(population)
    if initial is None:
        defects, initial = population.defects, {}
        for version in population.versions:
            if version.ngay_cap_nhat < EPOCH and version.so_dinh_danh not in defects:
                initial.setdefault(version.so_dinh_danh, version)
        _INITIAL[population] = initial
    return Residents(population, initial)


def holders(residents: Residents, min_age: int) -> list[CongDan]:
    """Clean residents alive at EPOCH and at least ``min_age`` years old then, in the population's feed order."""
    born_by = date(2026 - min_age, 1, 1).isoformat()
    return [r for r in residents.initial.values() if r.ngay_mat is None and r.ngay_sinh <= born_by]


def of_age(record: CongDan, years: int) -> int:
    """The ordinal of the day the resident turned ``years`` old (1 March for a 29 February birthday)."""
    born = date.fromisoformat(record.ngay_sinh)
    try:
        return born.replace(year=born.year + years).toordinal()
    except ValueError:
        return date(born.year + years, 3, 1).toordinal()


def how_many(asked: int | None, default: int, available: int, setting: str) -> int:
    """The records to generate: ``asked``, or ``default`` capped at what the population holds.

    Raises:
        ValueError: ``asked`` is more than the ``available`` eligible residents.
    """
    if asked is None:
        return min(default, available)
    if asked > available:
        raise ValueError(
            f"{setting}={asked} is more than this population can hold ({available} eligible residents); "
            f"lower {setting} or raise citizens"
        )
    return asked


def choose(rng: random.Random, pool: Sequence[CongDan], count: int) -> list[CongDan]:
    """``count`` holders drawn at random, kept in pool order."""
    return [pool[index] for index in sorted(rng.sample(range(len(pool)), count))]


def initial_time(rng: random.Random, feed_days: int) -> int:
    """When an initial version was written: within the ``feed_days`` (at least one) before EPOCH."""
    window = max(1, feed_days) * DAY
    return EPOCH - window + rng.randrange(window)


def life_events(residents: Residents, personal_ids: set[str]) -> Iterator[LifeEvent]:
    """Deaths and moves of the population's change feed (after EPOCH) about ``personal_ids``, in feed order."""
    current = {pid: residents.initial[pid] for pid in personal_ids}
    for version in residents.population.versions:
        pid = version.so_dinh_danh
        if version.ngay_cap_nhat < EPOCH or pid not in current:
            continue
        before, current[pid] = current[pid], version
        if before.ngay_mat is None and version.ngay_mat is not None:
            yield LifeEvent(version.ngay_cap_nhat, DEATH, pid, version.ngay_mat)
        elif version.ma_xa != before.ma_xa:
            yield LifeEvent(version.ngay_cap_nhat, MOVE, pid, version.ma_xa)


def malformed_id(rng: random.Random, personal_id: str, taken: set[str]) -> str:
    """``personal_id`` made 11 digits long, or given a province prefix no birth registration uses; not in ``taken``."""
    while True:
        if rng.random() < 0.5:
            at = rng.randrange(12)
            new = personal_id[:at] + personal_id[at + 1 :]
        else:
            new = rng.choice(_UNKNOWN_PREFIXES) + personal_id[3:]
        if new not in taken:
            taken.add(new)
            return new


def unknown_commune(rng: random.Random) -> str:
    """Five digits that are none of today's communes (a retired code, a typo)."""
    codes = regions().commune_codes
    while (code := f"{rng.randrange(100_000):05d}") in codes:
        pass
    return code


def other_commune(rng: random.Random, code: str) -> str:
    """Another real commune of the province of commune ``code``."""
    units = regions()
    siblings = units.by_province[province_of()[code]]
    while (other := units.communes[rng.choice(siblings)].code) == code:
        pass
    return other


@lru_cache(maxsize=1)
def province_of() -> dict[str, str]:
    """Commune code -> today's province code."""
    return {commune.code: commune.province for commune in regions().communes}


def future_day(rng: random.Random, written: int) -> int:
    """A date ordinal three to eight years after the Vietnam-time day of ``written``: in the future by any reckoning."""
    return local_day(written) + rng.randint(3 * 365, 8 * 365)
