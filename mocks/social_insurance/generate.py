"""From a population and a seed to every version of every coverage, and the ground truth of the defects.

Insured people are the population's clean residents, 18 or older and alive at EPOCH,
one coverage each, at their commune of residence. Initial versions are written over
the ``feed_days`` before EPOCH; after EPOCH the register follows the population's feed
(a death ends the coverage, dated NgayMat, an hour to three days later; a move updates
MaXa half a day to a week later, whatever the status) and changes statuses of its own (suspended, resumed,
ended, re-joined). One `random.Random` drives every step in a fixed order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from mocks import registers
from mocks.clock import DAY, EPOCH
from mocks.population.dataset import PopulationDataset
from mocks.population.record import CongDan
from mocks.social_insurance.defects import MUTATIONS, conflicting_copy
from mocks.social_insurance.record import ACTIVE, DEFECT_TYPES, ENDED, SUSPENDED, BaoHiem, DefectType
from mocks.versioned_feed import NEVER, Version

MIN_AGE = 18
DAILY_CHANGES = 0.002  # share of clean coverages changing status per feed day, besides deaths and moves
_START_FLOOR = date(1995, 1, 1).toordinal()  # compulsory social insurance as the register knows it
_STATUS, _DEATH, _MOVE = 0, 1, 2  # kinds of later change, in the order a same-second tie resolves


@dataclass(frozen=True, slots=True)
class Generated:
    """Every version in creation order, and the defect of each defective coverage by SoDinhDanh as delivered."""

    versions: list[Version[BaoHiem]]
    defects: dict[str, DefectType]


def default_count(citizens: int) -> int:
    """Coverages when none are asked for: a quarter of the residents."""
    return citizens // 4


def generate(
    population: PopulationDataset, seed: int, asked: int | None, defect_rate: float, feed_days: int
) -> Generated:
    """The register's coverages over ``population``; ``asked`` None means `default_count`.

    Raises:
        ValueError: more coverages asked for than the population has adults, or impossible rates.
    """
    if not 0.0 <= defect_rate <= 1.0 or feed_days < 0:
        raise ValueError("need 0 <= social_insurance_defect_rate <= 1 and feed_days >= 0")
    rng = random.Random(f"lgsp-mock-social-insurance:{seed}")
    residents = registers.read_residents(population)
    pool = registers.holders(residents, MIN_AGE)
    count = registers.how_many(asked, default_count(population.citizens), len(pool), "social_insurance_records")
    chosen = registers.choose(rng, pool, count)
    numbers: set[str] = set()
    current = [_initial(rng, holder, feed_days, numbers) for holder in chosen]
    versions = [Version(i, record.ngay_cap_nhat, record.ma_so_bhxh or "", record) for i, record in enumerate(current)]
    taken = {record.so_dinh_danh for record in current}
    defects: dict[str, DefectType] = {}
    copies: list[Version[BaoHiem]] = []
    for n, index in enumerate(rng.sample(range(count), round(count * defect_rate))):
        kind = DEFECT_TYPES[n % len(DEFECT_TYPES)]
        record = MUTATIONS[kind](rng, current[index], taken)
        versions[index] = Version(index, record.ngay_cap_nhat, record.ma_so_bhxh or "", record)
        defects[record.so_dinh_danh] = kind
        if kind == "duplicate_conflict":
            copy = conflicting_copy(rng, record)
            copies.append(Version(count + len(copies), copy.ngay_cap_nhat, record.ma_so_bhxh or "", copy))
    versions += copies
    clean = [index for index in range(count) if versions[index].record.so_dinh_danh not in defects]
    versions += _changes(rng, residents, current, clean, feed_days)
    return Generated(versions, defects)


def _initial(rng: random.Random, resident: CongDan, feed_days: int, numbers: set[str]) -> BaoHiem:
    """A coverage as the register held it at its first version, written before EPOCH."""
    province = registers.province_of()[resident.ma_xa]
    while (number := f"{province}{rng.randrange(10**8):08d}") in numbers:
        pass
    numbers.add(number)
    written = registers.initial_time(rng, feed_days)
    day = registers.local_day(written)
    start = registers.between(rng, min(max(_START_FLOOR, registers.of_age(resident, MIN_AGE)), day - 1), day - 1)
    draw = rng.random()
    status = ACTIVE if draw < 0.80 else SUSPENDED if draw < 0.87 else ENDED
    end = registers.iso_day(registers.between(rng, min(start + 90, day), day)) if status == ENDED else None
    return BaoHiem(number, resident.so_dinh_danh, resident.ma_xa, registers.iso_day(start), end, status, written)


def _changes(
    rng: random.Random, residents: registers.Residents, current: list[BaoHiem], clean: list[int], feed_days: int
) -> list[Version[BaoHiem]]:
    """Later versions of clean coverages, written after EPOCH."""
    if feed_days == 0 or not clean:
        return []
    by_id = {current[index].so_dinh_danh: index for index in clean}
    planned: list[tuple[int, int, int, int, str]] = []  # (time, kind, seq, coverage, value)
    dies: dict[int, int] = {}  # coverage -> when its holder died in the population feed
    for event in registers.life_events(residents, set(by_id)):
        index = by_id[event.personal_id]
        if event.kind == registers.DEATH:
            dies[index] = event.time
            delay, kind = rng.randint(3600, 3 * DAY), _DEATH
        else:
            delay, kind = rng.randint(DAY // 2, 7 * DAY), _MOVE
        planned.append((event.time + delay, kind, len(planned), index, event.value))
    for _ in range(round(len(clean) * DAILY_CHANGES * feed_days)):
        planned.append((EPOCH + rng.randrange(feed_days * DAY), _STATUS, len(planned), rng.choice(clean), ""))
    planned.sort()
    written: list[Version[BaoHiem]] = []
    for when, kind, _, index, value in planned:
        before = current[index]
        when = max(when, before.ngay_cap_nhat + 60)  # one coverage's versions strictly in time order
        if kind == _DEATH:
            after = before._replace(trang_thai=ENDED, ngay_ket_thuc=value) if before.trang_thai != ENDED else None
        elif kind == _MOVE:
            after = before._replace(ma_xa=value)  # the address stays current, whatever the status
        elif when < dies.get(index, NEVER) - DAY:  # nothing of its own from the day before a death on
            after = _status_change(rng, before, when)
        else:
            after = None
        if after is not None:
            current[index] = after = after._replace(ngay_cap_nhat=when)
            written.append(Version(index, when, after.ma_so_bhxh or "", after))
    return written


def _status_change(rng: random.Random, before: BaoHiem, when: int) -> BaoHiem:
    """Active: suspended or ended; suspended: resumed or ended; ended: joined again, from that day."""
    today = registers.iso_day(registers.local_day(when))
    if before.trang_thai == ENDED:
        return before._replace(trang_thai=ACTIVE, ngay_bat_dau=today, ngay_ket_thuc=None)
    resume = before.trang_thai == SUSPENDED and rng.random() < 0.6
    if resume:
        return before._replace(trang_thai=ACTIVE)
    if before.trang_thai == ACTIVE and rng.random() < 0.7:
        return before._replace(trang_thai=SUSPENDED)
    return before._replace(trang_thai=ENDED, ngay_ket_thuc=today)
