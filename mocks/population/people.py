"""The residents before they become records: one column per attribute.

Columns of ints and shared strings keep 200,000 people small and fast to build; the
family, defect and feed steps read and fill these columns, and only then is each
person turned into a `CongDan` record.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from functools import cache, lru_cache

from mocks.population.regions import regions

FIRST_BIRTH = date(1925, 1, 1).toordinal()
LAST_BIRTH = date(2025, 6, 30).toordinal()  # before the first NgayCapNhat (2025-07-01)
REFERENCE_DAY = LAST_BIRTH  # "today" for ages in the initial state
NONE = -1  # no such person (spouse, father, mother)

ETHNIC_CODES = tuple(f"{code:02d}" for code in range(1, 55))  # "01" = Kinh
RELIGION_CODES = tuple(f"{code:02d}" for code in range(0, 17))  # "00" = none
_RELIGION_WEIGHTS = (0, 40, 30, 6, 5, 3, 3, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1)  # of believers
_HOME_REGISTRATION_SHARE = 0.8  # births registered in (a predecessor of) the province of residence


@dataclass(slots=True)
class People:
    """Attributes of ``size`` residents, one list per attribute, indexed by person."""

    size: int
    male: list[bool]
    birth: list[int]  # date ordinals
    commune: list[int]  # index into regions().communes
    detail: list[str]  # ChiTiet
    registered_in: list[str]  # pre-2025 province code of birth registration
    ethnic: list[str]
    religion: list[str]
    # Filled by the later steps (families, names, ids):
    spouse: list[int] = field(init=False)
    father: list[int] = field(init=False)
    mother: list[int] = field(init=False)
    death: list[int] = field(init=False)  # date ordinal, 0 = alive
    marital: list[str] = field(init=False)
    youngest_child: list[int] = field(init=False)  # birth ordinal, 0 = no child
    hometown: list[str] = field(init=False)
    name: list[str] = field(init=False)
    personal_id: list[str] = field(init=False)

    def __post_init__(self) -> None:
        """Give the columns the later steps fill their empty values."""
        size = self.size
        self.spouse, self.father, self.mother = [NONE] * size, [NONE] * size, [NONE] * size
        self.death, self.youngest_child = [0] * size, [0] * size
        self.marital = ["1"] * size
        self.hometown, self.name, self.personal_id = [""] * size, [""] * size, [""] * size

    def birth_year(self, person: int) -> int:
        """The person's year of birth."""
        return date.fromordinal(self.birth[person]).year

    def age_years(self, person: int, on: int = REFERENCE_DAY) -> int:
        """Whole years between the person's birth and the day ``on`` (ordinals), roughly."""
        return (on - self.birth[person]) * 4 // 1461


def generate_people(rng: random.Random, size: int) -> People:
    """Draw gender, birth date, residence, registration province, ethnicity and religion."""
    units = regions()
    births = _birth_ordinals(rng, size)
    communes = [rng.randrange(len(units.communes)) for _ in range(size)]
    registered = [_registration(rng, units.communes[c].province) for c in communes]
    return People(
        size=size,
        male=[rng.random() < 0.5 for _ in range(size)],
        birth=births,
        commune=communes,
        detail=[address_line(rng, units.communes[c].urban) for c in communes],
        registered_in=registered,
        ethnic=[_ethnic(rng) for _ in range(size)],
        religion=[_religion(rng) for _ in range(size)],
    )


def _birth_ordinals(rng: random.Random, size: int) -> list[int]:
    """Birth days 1925..mid-2025, fewer of the oldest, as a population pyramid would have."""
    years = list(range(1925, 2026))
    weights = [min(1.0, 0.15 + 0.85 * (year - 1925) / 40) for year in years]
    drawn = rng.choices(years, weights=weights, k=size)
    births = []
    for year in drawn:
        start = date(year, 1, 1).toordinal()
        end = min(date(year, 12, 31).toordinal(), LAST_BIRTH)
        births.append(rng.randint(start, end))
    return births


def _registration(rng: random.Random, province: str) -> str:
    """A pre-2025 birth-registration code, usually one that merged into ``province``."""
    units = regions()
    if rng.random() < _HOME_REGISTRATION_SHARE:
        return rng.choice(_predecessors(province))
    return rng.choice(units.old_codes)


@lru_cache(maxsize=64)
def _predecessors(province: str) -> tuple[str, ...]:
    """The pre-2025 codes of the provinces merged into today's ``province``."""
    return tuple(old for old, new in regions().today_of_old.items() if new == province)


def _ethnic(rng: random.Random) -> str:
    """Mostly Kinh ("01"), otherwise one of the other 53 groups."""
    return ETHNIC_CODES[0] if rng.random() < 0.86 else rng.choice(ETHNIC_CODES[1:])


def _religion(rng: random.Random) -> str:
    """Mostly none ("00"), otherwise weighted towards the largest religions."""
    if rng.random() < 0.82:
        return RELIGION_CODES[0]
    return rng.choices(RELIGION_CODES, weights=_RELIGION_WEIGHTS)[0]


def address_line(rng: random.Random, urban: bool) -> str:
    """A street/hamlet line (ChiTiet), e.g. "Số 12, Thôn 3" or "Số 40, Tổ 7"."""
    return _address_text(urban, rng.randint(1, 250), rng.randint(1, 20))


@cache
def _address_text(urban: bool, house: int, group: int) -> str:
    """One shared string per distinct address line, so 200,000 people reuse ~10,000."""
    return f"Số {house}, {'Tổ' if urban else 'Thôn'} {group}"
