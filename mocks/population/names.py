"""Vietnamese full names: family name + middle name + given name (Ho + Dem + Ten).

Name parts come from Faker's vi_VN lists, read once, plus a few common parts Faker
lacks; we compose them with the data set's own `random.Random` rather than calling
Faker per person (too slow for 200,000 people, and Faker's vi_VN formats put the
family name last, which is not how Vietnamese names are written).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate

from faker.providers.person.vi_VN import Provider as _VietnameseNames

# Share (per mille) of the commonest family names; the rest share what is left.
_FAMILY_WEIGHTS: dict[str, int] = {
    "Nguyễn": 380,
    "Trần": 110,
    "Lê": 95,
    "Phạm": 70,
    "Hoàng": 30,
    "Huỳnh": 20,
    "Phan": 45,
    "Vũ": 25,
    "Võ": 15,
    "Đặng": 20,
    "Bùi": 20,
    "Đỗ": 14,
    "Hồ": 13,
    "Ngô": 13,
    "Dương": 10,
    "Lý": 5,
    "Mai": 5,
    "Đinh": 6,
    "Trương": 6,
    "Lương": 4,
}
_EXTRA_MALE_GIVEN = ("Tuấn", "Hùng", "Long", "Sơn", "Thắng", "Hiếu", "Đạt", "Khánh", "Cường")
_EXTRA_FEMALE_GIVEN = ("Trang", "Hà", "Nhung", "Thủy", "Loan", "Oanh", "Thu", "Hoa", "Nga")
_MALE_MIDDLE = ("Văn", "Văn", "Văn", "Quang", "Đức", "Minh", "Hữu", "Thế", "Tấn", "Xuân")
_FEMALE_MIDDLE = ("Thị", "Thị", "Thị", "Thị", "Ngọc", "Thu", "Thanh", "Kim", "Bảo", "Mai")


@dataclass(frozen=True, slots=True)
class NameParts:
    """Family names with cumulative weights, and given names by gender."""

    families: tuple[str, ...]
    family_cum_weights: tuple[int, ...]
    male_given: tuple[str, ...]
    female_given: tuple[str, ...]


@lru_cache(maxsize=1)
def name_parts() -> NameParts:
    """Name parts from Faker's vi_VN lists, de-duplicated in a stable order."""
    weights = dict(_FAMILY_WEIGHTS)
    for family in _VietnameseNames.last_names:
        weights.setdefault(family, 5)
    male = _VietnameseNames.first_names_male + _VietnameseNames.first_names_unisex
    female = _VietnameseNames.first_names_female + _VietnameseNames.first_names_unisex
    return NameParts(
        families=tuple(weights),
        family_cum_weights=tuple(accumulate(weights.values())),
        male_given=tuple(dict.fromkeys(male + _EXTRA_MALE_GIVEN)),
        female_given=tuple(dict.fromkeys(female + _EXTRA_FEMALE_GIVEN)),
    )


def family_name(rng: random.Random) -> str:
    """A family name, drawn by how common it is."""
    parts = name_parts()
    return rng.choices(parts.families, cum_weights=parts.family_cum_weights)[0]


def full_name(rng: random.Random, male: bool, family: str | None = None) -> str:
    """A full name in Vietnamese order; ``family`` is inherited from the father if known."""
    parts = name_parts()
    family = family or family_name(rng)
    if male:
        return f"{family} {rng.choice(_MALE_MIDDLE)} {rng.choice(parts.male_given)}"
    return f"{family} {rng.choice(_FEMALE_MIDDLE)} {rng.choice(parts.female_given)}"
