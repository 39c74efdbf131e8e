"""Defect injection: each defective event breaks exactly one rule, of a known type.

Defects go to historic events and new births only, never to the events that mirror
the population feed or to the disagreements, so that a civil-status sync and a
population sync still tell the same story wherever the record is clean. Types that
need a marriage take a historic KetHon; a future date goes to a couple both alive,
so it cannot also fall after a death.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from mocks.civil_status.event import DEFECT_TYPES, DefectType, SuKien, day_of
from mocks.civil_status.residents import Residents, birth_ordinal
from mocks.population.regions import regions
from schemas.personal_id import BIRTH_REGISTRATION_PROVINCES

_UNKNOWN_PREFIXES = tuple(c for c in (f"{n:03d}" for n in range(100)) if c not in BIRTH_REGISTRATION_PROVINCES)
_UNKNOWN_TYPES = ("LyHon", "NhanConNuoi", "CaiChinhHoTich", "KHAISINH", "khai_tu")
Mutation = Callable[[random.Random, SuKien, Residents], SuKien]


@dataclass(slots=True)
class Pools:
    """Indexes of the events a defect may go to, by what the defect types need."""

    singles: list[int] = field(default_factory=list)  # historic KhaiSinh/KhaiTu, new births
    marriages: list[int] = field(default_factory=list)  # historic KetHon, a spouse dead
    living_marriages: list[int] = field(default_factory=list)  # historic KetHon, both spouses alive

    def take(self, kind: DefectType) -> int:
        """Remove and return an event for ``kind``.

        Raises:
            ValueError: no event left that could carry ``kind``.
        """
        for pool in self._preference(kind):
            if pool:
                return pool.pop()
        raise ValueError(
            f"defect_rate asks for more {kind} defects than the civil-status events can carry; "
            "lower defect_rate, or raise civil_status_events or citizens"
        )

    def _preference(self, kind: DefectType) -> tuple[list[int], ...]:
        if kind == "unknown_event_type":
            return (self.singles,)
        if kind == "future_event_date":
            return (self.living_marriages,)
        if kind in ("marriage_without_spouse", "event_before_birth"):
            return (self.marriages, self.living_marriages)
        return (self.singles, self.marriages, self.living_marriages)


def inject_defects(
    rng: random.Random, events: list[SuKien], pools: Pools, residents: Residents, rate: float
) -> tuple[dict[int, DefectType], dict[int, SuKien]]:
    """Corrupt ``round(len(events) * rate)`` events in place, types spread evenly.

    Returns the ground truth (event index -> type) and, per duplicate_conflict, the
    conflicting second copy.

    Raises:
        ValueError: the rate asks for more defects than there are events to carry them.
    """
    for pool in (pools.singles, pools.marriages, pools.living_marriages):
        rng.shuffle(pool)
    truth: dict[int, DefectType] = {}
    copies: dict[int, SuKien] = {}
    for n in range(round(len(events) * rate)):
        kind = DEFECT_TYPES[n % len(DEFECT_TYPES)]
        index = pools.take(kind)
        events[index] = _MUTATIONS[kind](rng, events[index], residents)
        truth[index] = kind
        if kind == "duplicate_conflict":
            copies[index] = _conflicting_copy(rng, events[index])
    return truth, copies


def _malformed_id(rng: random.Random, event: SuKien, residents: Residents) -> SuKien:
    """SoDinhDanh of the wrong length, with a letter among the digits, or with an unknown province prefix."""
    old, variant = event.so_dinh_danh, rng.randrange(3)
    if variant == 0:
        new = old[:-1] if rng.random() < 0.5 else old + str(rng.randrange(10))
    elif variant == 1:
        at = rng.randrange(6, 12)
        new = old[:at] + rng.choice("ABCDEGHKLMNX") + old[at + 1 :]
    else:
        new = rng.choice(_UNKNOWN_PREFIXES) + old[3:]
    return event._replace(so_dinh_danh=new)


def _unknown_event_type(rng: random.Random, event: SuKien, residents: Residents) -> SuKien:
    """A LoaiSuKien outside KhaiSinh/KetHon/KhaiTu: another register's type, or a misspelling."""
    return event._replace(loai_su_kien=rng.choice(_UNKNOWN_TYPES))


def _future_event_date(rng: random.Random, event: SuKien, residents: Residents) -> SuKien:
    """NgaySuKien up to a year after the day the event was recorded."""
    day = day_of(event.thoi_diem_ghi_nhan) + rng.randint(1, 365)
    return event._replace(ngay_su_kien=date.fromordinal(day).isoformat())


def _marriage_without_spouse(rng: random.Random, event: SuKien, residents: Residents) -> SuKien:
    """SoDinhDanhVoChong null, or the subject's own id."""
    return event._replace(so_dinh_danh_vo_chong=None if rng.random() < 0.5 else event.so_dinh_danh)


def _unknown_commune(rng: random.Random, event: SuKien, residents: Residents) -> SuKien:
    """MaXaDangKy of five digits that is none of today's communes (a retired code, a typo)."""
    codes = regions().commune_codes
    while (code := f"{rng.randrange(100_000):05d}") in codes:
        pass
    return event._replace(ma_xa_dang_ky=code)


def _event_before_birth(rng: random.Random, event: SuKien, residents: Residents) -> SuKien:
    """NgaySuKien up to ten years before the subject's NgaySinh."""
    born = birth_ordinal(residents.initial[event.so_dinh_danh])
    return event._replace(ngay_su_kien=date.fromordinal(born - rng.randint(1, 3650)).isoformat())


def _keep(rng: random.Random, event: SuKien, residents: Residents) -> SuKien:
    """duplicate_conflict leaves the first delivery as it is; the second one differs."""
    return event


def _conflicting_copy(rng: random.Random, event: SuKien) -> SuKien:
    """The same MaSuKien and ThoiDiemGhiNhan, registered at another commune of the same province."""
    units = regions()
    siblings = units.by_province[_province_of()[event.ma_xa_dang_ky]]
    while (code := units.communes[rng.choice(siblings)].code) == event.ma_xa_dang_ky:
        pass
    return event._replace(ma_xa_dang_ky=code)


@lru_cache(maxsize=1)
def _province_of() -> dict[str, str]:
    """Commune code -> today's province code."""
    return {commune.code: commune.province for commune in regions().communes}


_MUTATIONS: dict[DefectType, Mutation] = {
    "malformed_id": _malformed_id,
    "unknown_event_type": _unknown_event_type,
    "future_event_date": _future_event_date,
    "marriage_without_spouse": _marriage_without_spouse,
    "unknown_commune": _unknown_commune,
    "duplicate_conflict": _keep,
    "event_before_birth": _event_before_birth,
}
