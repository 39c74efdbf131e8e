"""The simulated civil-status register: every event, in delivery order, and the ground truth.

Events never change once recorded, so the events visible at clock C are a prefix of
the delivery order (ThoiDiemGhiNhan <= C), and a position in that order is a stable
resume point for paging whatever the clock says.
"""

from __future__ import annotations

import gc
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType

from mocks.civil_status.event import DEFECT_TYPES, DISAGREEMENT, DefectType, SuKien, TruthType
from mocks.civil_status.generate import generate
from mocks.population.dataset import PopulationDataset

DEFAULT_DISAGREEMENT_RATE = 0.002  # of residents


@dataclass(frozen=True, slots=True)
class Page:
    """One page of events: the events, the position of the last one, whether more are visible."""

    events: list[SuKien]
    last_position: int
    more: bool


class CivilStatusDataset:
    """Deterministic civil-status events built from a population data set, and their ground truth."""

    def __init__(
        self, events: list[SuKien], defects: dict[str, DefectType], disagreements: list[str], seed: int
    ) -> None:
        """Index ``events`` (in delivery order; a duplicate_conflict copy follows its original)."""
        self.seed = seed
        self._events = events
        self._times = array("q", (event.thoi_diem_ghi_nhan for event in events))
        self._defects = defects
        self._truth: dict[str, TruthType] = {**defects, **dict.fromkeys(disagreements, DISAGREEMENT)}
        self._by_id: dict[str, int] = {}
        for position, event in enumerate(events):
            self._by_id.setdefault(event.ma_su_kien, position)  # of a duplicate pair, the first delivery

    @classmethod
    def generate(
        cls,
        population: PopulationDataset,
        feed_days: int = 30,
        defect_rate: float = 0.02,
        disagreement_rate: float = DEFAULT_DISAGREEMENT_RATE,
        events: int | None = None,
    ) -> CivilStatusDataset:
        """The register's events for ``population`` (whose feed covers ``feed_days`` days after EPOCH).

        Raises:
            ValueError: impossible parameters, or more ``events`` than the population supports.
        """
        with _collector_paused():
            built = generate(population, feed_days, defect_rate, disagreement_rate, events)
            return cls(built.events, built.defects, built.disagreements, population.seed)

    @property
    def events(self) -> Sequence[SuKien]:
        """Every delivery, in order (ThoiDiemGhiNhan, MaSuKien, first delivery first)."""
        return self._events

    @property
    def defects(self) -> Mapping[str, DefectType]:
        """Ground truth: MaSuKien -> the defect its record(s) carry."""
        return MappingProxyType(self._defects)

    @property
    def ground_truth(self) -> Mapping[str, TruthType]:
        """The defects plus the disagreements (MaSuKien -> "disagreement"): every event a hub must not take as is."""
        return MappingProxyType(self._truth)

    def truth_counts(self) -> dict[TruthType, int]:
        """Deliveries per ground-truth type (a duplicate_conflict pair counts twice)."""
        counts: Counter[TruthType] = Counter()
        for event in self._events:
            kind = self._truth.get(event.ma_su_kien)
            if kind is not None:
                counts[kind] += 1
        return {kind: counts[kind] for kind in (*DEFECT_TYPES, DISAGREEMENT)}

    def event(self, event_id: str, clock: int) -> SuKien | None:
        """The first delivery of ``event_id`` if recorded by ``clock``, else None."""
        position = self._by_id.get(event_id)
        if position is None or self._times[position] > clock:
            return None
        return self._events[position]

    def recorded(self, since: int, clock: int, start: int, limit: int) -> Page:
        """Up to ``limit`` events with since < ThoiDiemGhiNhan <= clock, from position ``start``."""
        first = max(bisect_right(self._times, since), start)
        end = bisect_right(self._times, clock)
        stop = min(first + limit, end) if first < end else first
        return Page(self._events[first:stop], stop - 1, stop < end)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building (restored afterwards)."""
    # Building 100,000+ small tuples triggers collections that walk the whole population
    # data set each time; they find nothing (no cycles are made) and halve the speed.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
