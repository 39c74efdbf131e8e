"""From a seed to every version of every record: the generation pipeline.

One `random.Random(seed)` drives all steps in a fixed order and nothing iterates a
set or depends on hashing, so the same seed always gives the same records.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from functools import cache

from mocks.clock import EPOCH
from mocks.population.defects import inject_defects
from mocks.population.families import assign_deaths, assign_marital_status, assign_parents, marry
from mocks.population.feed import change_feed
from mocks.population.identity import assign_ids, name_people
from mocks.population.people import NONE, People, generate_people
from mocks.population.record import FEMALE, MALE, CongDan, DefectType
from mocks.population.regions import regions

INITIAL_FROM = 1_751_328_000  # 2025-07-01T00:00:00Z: initial NgayCapNhat lie in [INITIAL_FROM, EPOCH)


@dataclass(frozen=True, slots=True)
class Generated:
    """Every version in creation order, and the ground truth of the injected defects."""

    versions: list[CongDan]
    defects: dict[str, DefectType]
    duplicate_copies: int  # how many of the versions are a duplicate_conflict's second copy


def generate(citizens: int, seed: int, defect_rate: float, feed_days: int) -> Generated:
    """Generate residents, families, defects and the change feed for ``seed``.

    Raises:
        ValueError: impossible parameters (no citizens, a rate outside 0..1, too many defects).
    """
    if citizens < 1 or not 0.0 <= defect_rate <= 1.0 or feed_days < 0:
        raise ValueError("need citizens >= 1, 0 <= defect_rate <= 1 and feed_days >= 0")
    rng = random.Random(seed)
    people = generate_people(rng, citizens)
    marry(rng, people)
    assign_parents(rng, people)
    assign_deaths(rng, people)
    assign_marital_status(rng, people)
    name_people(rng, people)
    taken = assign_ids(rng, people)
    records = [_record(people, person, rng.randrange(INITIAL_FROM, EPOCH)) for person in range(citizens)]
    defects, copies, defective = inject_defects(rng, people, records, taken, defect_rate)
    feed = change_feed(rng, people, list(records), defective, feed_days)
    return Generated(versions=records + copies + feed, defects=defects, duplicate_copies=len(copies))


def _record(people: People, person: int, updated: int) -> CongDan:
    """The initial state of ``person`` as a wire record."""
    commune = regions().communes[people.commune[person]]
    ids = people.personal_id
    father, mother, spouse = people.father[person], people.mother[person], people.spouse[person]
    return CongDan(
        so_dinh_danh=ids[person],
        ho_va_ten=people.name[person],
        ngay_sinh=iso_date(people.birth[person]),
        gioi_tinh=MALE if people.male[person] else FEMALE,
        quoc_tich="VN",
        dan_toc=people.ethnic[person],
        ton_giao=people.religion[person],
        que_quan=people.hometown[person],
        ma_tinh=commune.province,
        ma_xa=commune.code,
        chi_tiet=people.detail[person],
        so_dinh_danh_cha=ids[father] if father != NONE else None,
        so_dinh_danh_me=ids[mother] if mother != NONE else None,
        so_dinh_danh_vo_chong=ids[spouse] if spouse != NONE else None,
        tinh_trang_hon_nhan=people.marital[person],
        ngay_mat=iso_date(people.death[person]) if people.death[person] else None,
        ngay_cap_nhat=updated,
    )


@cache
def iso_date(ordinal: int) -> str:
    """A date ordinal as an xs:date; one shared string per day (about 37,000 days in all)."""
    return date.fromordinal(ordinal).isoformat()
