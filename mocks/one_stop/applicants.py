"""Who files dossiers: clean residents of the province, read from the population mock.

An applicant is a resident whose record carries no defect, who is alive and whose
commune never changes throughout the change feed, so "the applicant's commune"
(where a commune-level dossier is decided) has one answer at any clock, and nobody
files after their death. The province defaults to the one with the most such residents.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mocks.population.dataset import PopulationDataset
from mocks.population.record import CongDan


@dataclass(frozen=True, slots=True)
class Applicant:
    """A resident who may file a dossier, and the commune (5 digits) they live in."""

    so_dinh_danh: str
    ma_xa: str


def applicants(population: PopulationDataset, province: str | None = None) -> tuple[str, list[Applicant]]:
    """The province (given, or the best populated) and its eligible residents, in feed order.

    Raises:
        ValueError: no eligible resident lives in the province.
    """
    stable = _stable_residents(population.versions, population.defects)
    if province is None:
        counts = Counter(ma_tinh for ma_tinh, _ in stable.values())
        if not counts:
            raise ValueError("the population has no eligible applicant")
        province = min(counts, key=lambda code: (-counts[code], code))  # ties: the lowest code
    chosen = [Applicant(pid, ma_xa) for pid, (ma_tinh, ma_xa) in stable.items() if ma_tinh == province]
    if not chosen:
        raise ValueError(f"no eligible applicant lives in province {province}; choose another one_stop_province")
    return province, chosen


def _stable_residents(versions: Iterable[CongDan], defects: Mapping[str, object]) -> dict[str, tuple[str, str]]:
    """Personal id -> (province, commune) of clean residents who never move and never die in the feed."""
    places: dict[str, tuple[str, str]] = {}
    excluded: set[str] = set(defects)
    for version in versions:
        pid, place = version.so_dinh_danh, (version.ma_tinh, version.ma_xa)
        if places.setdefault(pid, place) != place or version.ngay_mat is not None:
            excluded.add(pid)  # moves or dies at some point
    return {pid: place for pid, place in places.items() if pid not in excluded}
