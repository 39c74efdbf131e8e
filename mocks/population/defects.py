"""Defect injection: each defective record breaks exactly one rule, of a known type.

Defects go to people nobody references (unmarried, childless), so a defect never
spills into a clean record through a spouse or parent link; their own parent links
are dropped so that, say, a future birth date does not also put them before a
parent's death. The ground truth is returned as SoDinhDanh (as delivered) -> type.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date

from mocks.population.names import full_name
from mocks.population.people import NONE, People, address_line
from mocks.population.record import DEFECT_TYPES, MALE, SINGLE, CongDan, DefectType
from mocks.population.regions import regions
from schemas.personal_id import BIRTH_REGISTRATION_PROVINCES, Gender, build, century_gender_digit

_UNKNOWN_PREFIXES = tuple(code for code in (f"{n:03d}" for n in range(100)) if code not in BIRTH_REGISTRATION_PROVINCES)
_BORN_BEFORE_2000 = date(2000, 1, 1).toordinal()
Mutation = Callable[[random.Random, CongDan, "_Context"], CongDan]


class _Context:
    """What the mutations need besides the record: ids taken, people, who is defective."""

    def __init__(self, people: People, records: list[CongDan], taken: set[str]) -> None:
        self.people, self.records, self.taken = people, records, taken
        self.defective: set[int] = set()

    def unique(self, candidate: Callable[[], str]) -> str:
        """Draw ids from ``candidate`` until one is not taken; take it."""
        while (value := candidate()) in self.taken:
            pass
        self.taken.add(value)
        return value


def inject_defects(
    rng: random.Random, people: People, records: list[CongDan], taken: set[str], rate: float
) -> tuple[dict[str, DefectType], list[CongDan], set[int]]:
    """Corrupt ``round(size * rate)`` records in place, types spread evenly.

    Returns the ground truth (SoDinhDanh -> type), the extra copies a
    duplicate_conflict adds to the feed, and the defective people's indexes.

    Raises:
        ValueError: the rate asks for more defects than there are people to carry them.
    """
    context = _Context(people, records, taken)
    plan = _plan(rng, people, round(people.size * rate))
    context.defective = {person for person, _ in plan}
    truth: dict[str, DefectType] = {}
    extra: list[CongDan] = []
    for person, kind in plan:
        record = records[person]._replace(so_dinh_danh_cha=None, so_dinh_danh_me=None)
        record = _MUTATIONS[kind](rng, record, context)
        records[person] = record
        truth[record.so_dinh_danh] = kind
        if kind == "duplicate_conflict":
            extra.append(_conflicting_copy(rng, record))
    return truth, extra, context.defective


def _plan(rng: random.Random, people: People, count: int) -> list[tuple[int, DefectType]]:
    """Choose who carries which defect; parent_younger_than_child needs someone born before 2000."""
    eligible = [
        p
        for p in range(people.size)
        if people.spouse[p] == NONE and not people.youngest_child[p] and not people.death[p]
    ]
    rng.shuffle(eligible)
    kinds = [DEFECT_TYPES[n % len(DEFECT_TYPES)] for n in range(count)]
    wanted_old = kinds.count("parent_younger_than_child")
    old = [p for p in eligible if people.birth[p] < _BORN_BEFORE_2000][:wanted_old]
    chosen_old = set(old)
    rest = [p for p in eligible if p not in chosen_old][: count - wanted_old]
    if len(old) < wanted_old or len(rest) < count - wanted_old:
        raise ValueError("defect_rate asks for more defective records than the population can carry")
    return [(old.pop() if kind == "parent_younger_than_child" else rest.pop(), kind) for kind in kinds]


def _malformed_id(rng: random.Random, record: CongDan, context: _Context) -> CongDan:
    """Wrong length, a letter among the digits, or an unknown province prefix."""

    def candidate() -> str:
        old, variant = record.so_dinh_danh, rng.randrange(3)
        if variant == 0:
            return old[:-1] if rng.random() < 0.5 else old + str(rng.randrange(10))
        if variant == 1:
            at = rng.randrange(6, 12)
            return old[:at] + rng.choice("ABCDEGHKLMNX") + old[at + 1 :]
        return rng.choice(_UNKNOWN_PREFIXES) + old[3:]

    return record._replace(so_dinh_danh=context.unique(candidate))


def _id_birth_mismatch(rng: random.Random, record: CongDan, context: _Context) -> CongDan:
    """The 4th digit contradicts gender or century, or digits 5-6 the birth year."""
    year = int(record.ngay_sinh[:4])
    right = century_gender_digit(year, "male" if record.gioi_tinh == MALE else "female")

    def candidate() -> str:
        digit, year_digits, variant = right, f"{year % 100:02d}", rng.randrange(3)
        if variant == 0:
            digit = str(int(right) ^ 1)  # same century, other gender
        elif variant == 1:
            digit = str(int(right) + 2 if int(right) < 2 else int(right) - 2)  # other century
        else:
            year_digits = f"{(year + rng.randint(1, 99)) % 100:02d}"
        return f"{record.so_dinh_danh[:3]}{digit}{year_digits}{rng.randrange(1_000_000):06d}"

    return record._replace(so_dinh_danh=context.unique(candidate))


def _implausible_birth_date(rng: random.Random, record: CongDan, context: _Context) -> CongDan:
    """A birth date decades in the future, with an id that agrees with it (one defect only).

    Dates before 1900 are not used: no century digit exists for them, so the id
    would break the id/birth agreement rule as well.
    """
    born = date(rng.randint(2030, 2099), rng.randint(1, 12), rng.randint(1, 28))
    gender: Gender = "male" if record.gioi_tinh == MALE else "female"
    prefix = record.so_dinh_danh[:3]
    new_id = context.unique(lambda: build(prefix, born, gender, rng.randrange(1_000_000)))
    return record._replace(so_dinh_danh=new_id, ngay_sinh=born.isoformat(), tinh_trang_hon_nhan=SINGLE)


def _empty_name(rng: random.Random, record: CongDan, context: _Context) -> CongDan:
    """HoVaTen empty or only whitespace."""
    return record._replace(ho_va_ten=rng.choice(("", " ", "   ")))


def _unknown_commune(rng: random.Random, record: CongDan, context: _Context) -> CongDan:
    """MaXa that is no commune at all, or a real commune of another province."""
    units = regions()
    if rng.random() < 0.5:
        code = rng.choice(["99999"] + [f"{n:05d}" for n in range(90000, 90010)])
        return record._replace(ma_xa=code)
    while (commune := rng.choice(units.communes)).province == record.ma_tinh:
        pass
    return record._replace(ma_xa=commune.code)


def _death_before_birth(rng: random.Random, record: CongDan, context: _Context) -> CongDan:
    """NgayMat up to ten years before NgaySinh."""
    died = date.fromisoformat(record.ngay_sinh).toordinal() - rng.randint(1, 3650)
    return record._replace(ngay_mat=date.fromordinal(died).isoformat())


def _parent_younger(rng: random.Random, record: CongDan, context: _Context) -> CongDan:
    """SoDinhDanhCha or SoDinhDanhMe names an existing clean resident born after the child."""
    people, father = context.people, rng.random() < 0.5
    born = date.fromisoformat(record.ngay_sinh).toordinal()

    def fits(parent: int) -> bool:
        return people.male[parent] == father and people.birth[parent] > born and parent not in context.defective

    draws = (rng.randrange(people.size) for _ in range(10_000))
    parent = next((p for p in draws if fits(p)), None)
    if parent is None:  # a tiny population: look at everyone before giving up
        parent = next((p for p in range(people.size) if fits(p)), None)
    if parent is None:
        raise ValueError("population too small to inject parent_younger_than_child")
    parent_id = people.personal_id[parent]
    if father:
        return record._replace(so_dinh_danh_cha=parent_id)
    return record._replace(so_dinh_danh_me=parent_id)


def _keep(rng: random.Random, record: CongDan, context: _Context) -> CongDan:
    """duplicate_conflict leaves the first copy as it is; the second copy differs."""
    return record


def _conflicting_copy(rng: random.Random, record: CongDan) -> CongDan:
    """The same SoDinhDanh and NgayCapNhat with another name or another address."""
    if rng.random() < 0.5:
        while (name := full_name(rng, record.gioi_tinh == MALE)) == record.ho_va_ten:
            pass
        return record._replace(ho_va_ten=name)
    units = regions()
    commune = units.communes[rng.choice(units.by_province[record.ma_tinh])]
    detail = address_line(rng, commune.urban)
    if (commune.code, detail) == (record.ma_xa, record.chi_tiet):
        detail = detail + "A"  # a different house on the same street
    return record._replace(ma_xa=commune.code, chi_tiet=detail)


_MUTATIONS: dict[DefectType, Mutation] = {
    "malformed_id": _malformed_id,
    "id_birth_mismatch": _id_birth_mismatch,
    "implausible_birth_date": _implausible_birth_date,
    "empty_name": _empty_name,
    "unknown_commune": _unknown_commune,
    "death_before_birth": _death_before_birth,
    "duplicate_conflict": _keep,
    "parent_younger_than_child": _parent_younger,
}
