"""From a population and a seed to every version of every household business, and the ground truth of the defects.

Owners are the population's clean residents, 18 or older and alive at EPOCH, one
business each, registered in their commune of residence. Initial versions are written
over the ``feed_days`` before EPOCH; after EPOCH businesses are suspended, resumed and
closed, and an owner's death (from the population's feed) closes the business one to
twenty days later. One `random.Random` drives every step in a fixed order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from mocks import registers
from mocks.clock import DAY, EPOCH
from mocks.household_business.defects import MUTATIONS, conflicting_copy
from mocks.household_business.names import business_name
from mocks.household_business.record import ACTIVE, CLOSED, DEFECT_TYPES, SUSPENDED, DefectType, HoKinhDoanh
from mocks.population.dataset import PopulationDataset
from mocks.population.record import CongDan
from mocks.versioned_feed import Version

MIN_AGE = 18
DAILY_CHANGES = 0.002  # share of clean businesses changing status per feed day, besides owners' deaths
_REGISTERED_FROM = date(2000, 1, 1).toordinal()


@dataclass(frozen=True, slots=True)
class Generated:
    """Every version in creation order, and the defect of each defective business by SoDangKy."""

    versions: list[Version[HoKinhDoanh]]
    defects: dict[str, DefectType]


def default_count(citizens: int) -> int:
    """Businesses when none are asked for: one per ten residents."""
    return citizens // 10


def generate(
    population: PopulationDataset, seed: int, asked: int | None, defect_rate: float, feed_days: int
) -> Generated:
    """The registry's businesses over ``population``; ``asked`` None means `default_count`.

    Raises:
        ValueError: more businesses asked for than the population has adults, or impossible rates.
    """
    if not 0.0 <= defect_rate <= 1.0 or feed_days < 0:
        raise ValueError("need 0 <= household_business_defect_rate <= 1 and feed_days >= 0")
    rng = random.Random(f"lgsp-mock-household-business:{seed}")
    residents = registers.read_residents(population)
    pool = registers.holders(residents, MIN_AGE)
    count = registers.how_many(asked, default_count(population.citizens), len(pool), "household_business_records")
    owners = registers.choose(rng, pool, count)
    numbers: set[str] = set()
    current = [_initial(rng, owner, feed_days, numbers) for owner in owners]
    versions = [Version(i, record.thoi_diem_cap_nhat, record.so_dang_ky, record) for i, record in enumerate(current)]
    taken = {record.so_dinh_danh_chu_ho for record in current}
    defects: dict[str, DefectType] = {}
    copies: list[Version[HoKinhDoanh]] = []
    for n, index in enumerate(rng.sample(range(count), round(count * defect_rate))):
        kind = DEFECT_TYPES[n % len(DEFECT_TYPES)]
        record = MUTATIONS[kind](rng, current[index], taken)
        versions[index] = Version(index, record.thoi_diem_cap_nhat, record.so_dang_ky, record)
        defects[record.so_dang_ky] = kind
        if kind == "duplicate_conflict":
            copy = conflicting_copy(rng, record, owners[index].ho_va_ten)
            copies.append(Version(count + len(copies), copy.thoi_diem_cap_nhat, copy.so_dang_ky, copy))
    versions += copies
    clean = [index for index in range(count) if current[index].so_dang_ky not in defects]
    versions += _changes(rng, residents, current, clean, feed_days)
    return Generated(versions, defects)


def _initial(rng: random.Random, owner: CongDan, feed_days: int, numbers: set[str]) -> HoKinhDoanh:
    """A business as the registry held it at its first version, written before EPOCH."""
    province = registers.province_of()[owner.ma_xa]
    while (number := f"{province}A8{rng.randrange(10**6):06d}") in numbers:
        pass
    numbers.add(number)
    written = registers.initial_time(rng, feed_days)
    day = registers.local_day(written)
    registered = registers.between(rng, min(max(_REGISTERED_FROM, registers.of_age(owner, MIN_AGE)), day - 1), day - 1)
    draw = rng.random()
    status = ACTIVE if draw < 0.85 else SUSPENDED if draw < 0.92 else CLOSED
    name = business_name(rng, owner.ho_va_ten)
    return HoKinhDoanh(number, name, owner.so_dinh_danh, owner.ma_xa, registers.iso_day(registered), status, written)


def _changes(
    rng: random.Random,
    residents: registers.Residents,
    current: list[HoKinhDoanh],
    clean: list[int],
    feed_days: int,
) -> list[Version[HoKinhDoanh]]:
    """Later versions of clean businesses, written after EPOCH."""
    if feed_days == 0 or not clean:
        return []
    by_owner = {current[index].so_dinh_danh_chu_ho: index for index in clean}
    planned: list[tuple[int, int, int, bool]] = []  # (time, seq, business, the owner died)
    for event in registers.life_events(residents, set(by_owner)):
        if event.kind == registers.DEATH:
            planned.append((event.time + rng.randint(DAY, 20 * DAY), len(planned), by_owner[event.personal_id], True))
    for _ in range(round(len(clean) * DAILY_CHANGES * feed_days)):
        planned.append((EPOCH + rng.randrange(feed_days * DAY), len(planned), rng.choice(clean), False))
    planned.sort()
    written: list[Version[HoKinhDoanh]] = []
    for when, _, index, death in planned:
        before = current[index]
        if before.trang_thai == CLOSED:
            continue  # closed is final
        when = max(when, before.thoi_diem_cap_nhat + 60)  # one business's versions strictly in time order
        if death:
            status = CLOSED
        elif before.trang_thai == SUSPENDED:
            status = ACTIVE if rng.random() < 0.6 else CLOSED
        else:
            status = SUSPENDED if rng.random() < 0.6 else CLOSED
        current[index] = after = before._replace(trang_thai=status, thoi_diem_cap_nhat=when)
        written.append(Version(index, when, after.so_dang_ky, after))
    return written
