"""Births after EPOCH: new children of existing residents, not (yet) in the population data set.

About 0.2% of residents have a child per 30 days. The mother is a living, clean
resident aged 18 to 45; the birth is registered within a week at the commune she
lives in then, and the child's id is built from today's province of that commune
(each of today's 34 province codes is also one of the 63 birth-registration codes).
The population mock never learns of these children: the hub holds them as pending.
"""

from __future__ import annotations

import random
from datetime import date

from mocks.civil_status.event import BIRTH, SuKien, day_start
from mocks.civil_status.residents import Residents, birth_ordinal
from mocks.clock import DAY
from mocks.population.record import FEMALE, CongDan
from mocks.population.regions import MERGED_INTO
from schemas.personal_id import BIRTH_REGISTRATION_PROVINCES, Gender, build

BIRTHS_PER_RESIDENT_PER_30_DAYS = 0.002
FIRST_DAY = date(2026, 1, 1).toordinal()
_MOTHER_AGE_DAYS = (18 * 366, 45 * 365)
_ATTEMPTS = 200  # random draws per birth before giving up on it


def birth_count(citizens: int, feed_days: int) -> int:
    """How many new children ``feed_days`` days bring."""
    return round(citizens * BIRTHS_PER_RESIDENT_PER_30_DAYS * feed_days / 30)


def new_births(rng: random.Random, residents: Residents, count: int, feed_days: int) -> tuple[list[SuKien], set[str]]:
    """``count`` births in the ``feed_days`` after EPOCH, and the ids of the mothers."""
    women = [record for record in residents.clean() if record.gioi_tinh == FEMALE]
    taken: set[str] = set()
    mothers: set[str] = set()
    events: list[SuKien] = []
    for _ in range(count if women and feed_days > 0 else 0):
        born = FIRST_DAY + rng.randrange(feed_days)
        mother = _mother(rng, residents, women, born)
        if mother is None:
            continue
        recorded = day_start(born) + rng.randint(DAY // 24, 7 * DAY)
        home = residents.at(mother.so_dinh_danh, recorded) or mother
        child = _child_id(rng, residents, taken, home.ma_tinh, born)
        mothers.add(mother.so_dinh_danh)
        events.append(SuKien("", BIRTH, child, None, date.fromordinal(born).isoformat(), home.ma_xa, recorded))
    return events, mothers


def _mother(rng: random.Random, residents: Residents, women: list[CongDan], born: int) -> CongDan | None:
    """A woman of child-bearing age on day ``born`` who is alive then (in the population's last word)."""
    low, high = _MOTHER_AGE_DAYS
    for _ in range(_ATTEMPTS):
        woman = rng.choice(women)
        if not low <= born - birth_ordinal(woman) <= high:
            continue
        final = residents.final(woman.so_dinh_danh)
        if final is not None and (final.ngay_mat is None or final.ngay_mat > date.fromordinal(born).isoformat()):
            return woman
    return None


def _child_id(rng: random.Random, residents: Residents, taken: set[str], province: str, born: int) -> str:
    """A fresh, well-formed id registered in ``province`` (today's 2-digit code)."""
    code = "0" + province
    if code not in BIRTH_REGISTRATION_PROVINCES:
        code = MERGED_INTO[province][0]
    gender: Gender = "male" if rng.random() < 0.512 else "female"  # about 105 boys per 100 girls
    birthday = date.fromordinal(born)
    while True:
        candidate = build(code, birthday, gender, rng.randrange(1_000_000))
        if candidate not in taken and candidate not in residents.taken:
            taken.add(candidate)
            return candidate
