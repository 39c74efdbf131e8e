"""The simulated one-stop system's dossiers: every status event, indexed as a change feed.

A dossier's state at clock C is its fixed part with its events dated <= C; before it
is received it does not exist. Each event is one entry of the feed, ordered by
(ThoiDiem, MaHoSo, copy), and an entry is visible at C if its event is the dossier's
latest at C, so listing "NgayCapNhat > since" is a scan of one slice of the feed.
Routing appends events at run time; the feed is a sorted list that grows, so a page
resumes after a key (NgayCapNhat, MaHoSo, copy), never at a position.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from mocks.one_stop import render
from mocks.one_stop.generate import Generated, generate
from mocks.one_stop.record import DEFECT_TYPES, DefectType, Event, HoSo
from mocks.population.dataset import PopulationDataset

FeedKey = tuple[int, str, int]  # (NgayCapNhat, MaHoSo, copy): the listing order
_Entry = tuple[int, str, int, int, int]  # a FeedKey, then (dossier index, event index)


@dataclass(frozen=True, slots=True)
class Page:
    """Visible (dossier index, event index) pairs in listing order, the key of the last, whether more follow."""

    entries: list[tuple[int, int]]
    last: FeedKey | None
    more: bool


class OneStopDataset:
    """Deterministic dossiers, their status events over time, and the ground truth."""

    def __init__(self, generated: Generated, seed: int) -> None:
        """Index ``generated`` (dossier index = position in ``generated.dossiers``)."""
        self.seed, self.province = seed, generated.province
        self._dossiers, self._events = generated.dossiers, generated.events
        self._defects, self._routing = generated.defects, generated.routing
        self._indexes: dict[str, list[int]] = {}
        for index, record in enumerate(self._dossiers):
            self._indexes.setdefault(record.ma_ho_so, []).append(index)
        self._feed: list[_Entry] = sorted(
            (event.thoi_diem, record.ma_ho_so, record.copy, index, position)
            for index, record in enumerate(self._dossiers)
            for position, event in enumerate(self._events[index])
        )
        self._lock = threading.Lock()

    @classmethod
    def generate(
        cls,
        population: PopulationDataset,
        count: int,
        seed: int,
        defect_rate: float = 0.02,
        days: int = 30,
        province: str | None = None,
    ) -> OneStopDataset:
        """Generate ``count`` dossiers filed by residents of ``population``; the same arguments give the same data.

        Raises:
            ValueError: impossible parameters, or nobody eligible to file in the province.
        """
        return cls(generate(population, count, seed, defect_rate, days, province), seed)

    @property
    def defects(self) -> Mapping[str, DefectType]:
        """Ground truth: MaHoSo -> the defect its record(s) carry."""
        return MappingProxyType(self._defects)

    @property
    def routing(self) -> Mapping[str, str]:
        """Ground truth: MaHoSo of each dossier that must be routed -> the competent commune (5 digits)."""
        return MappingProxyType(self._routing)

    def defect_counts(self) -> dict[DefectType, int]:
        """Defective records per type (a duplicate_conflict pair counts twice)."""
        counts = Counter(self._defects[d.ma_ho_so] for d in self._dossiers if d.ma_ho_so in self._defects)
        return {kind: counts[kind] for kind in DEFECT_TYPES}

    def __len__(self) -> int:
        """Records served over all time (dossiers, plus one per duplicate_conflict)."""
        return len(self._dossiers)

    def indexes(self, ma_ho_so: str) -> list[int]:
        """The records with this MaHoSo (two for a duplicate_conflict, none if unknown)."""
        return list(self._indexes.get(ma_ho_so, ()))

    def record(self, index: int) -> HoSo:
        """The fixed part of record ``index``."""
        return self._dossiers[index]

    def latest(self, index: int, clock: int) -> Event | None:
        """The current event of record ``index`` at ``clock``, or None before it is received."""
        with self._lock:
            position = self._latest_position(index, clock)
            return self._events[index][position] if position >= 0 else None

    def _latest_position(self, index: int, clock: int) -> int:
        events = self._events[index]
        position = len(events) - 1
        while position >= 0 and events[position].thoi_diem > clock:
            position -= 1
        return position

    def append(self, index: int, event: Event) -> None:
        """Add a status event to record ``index`` (routing).

        Raises:
            ValueError: the event is dated before the record's last event.
        """
        with self._lock:
            events, record = self._events[index], self._dossiers[index]
            if event.thoi_diem < events[-1].thoi_diem:
                raise ValueError("a status event cannot precede the dossier's last one")
            events.append(event)
            insort(self._feed, (event.thoi_diem, record.ma_ho_so, record.copy, index, len(events) - 1))

    def changed(self, since: int, clock: int, after: FeedKey | None, limit: int) -> Page:
        """Up to ``limit`` records visible at ``clock`` with NgayCapNhat > ``since``, after key ``after``."""
        with self._lock:
            feed = self._feed
            position = bisect_left(feed, since + 1, key=lambda entry: entry[0])
            if after is not None:
                position = max(position, bisect_right(feed, after, key=lambda entry: entry[:3]))
            end = bisect_left(feed, clock + 1, key=lambda entry: entry[0])
            entries: list[tuple[int, int]] = []
            last: FeedKey | None = None
            while position < end and len(entries) < limit:
                entry = feed[position]
                if self._is_current(entry, clock):
                    entries.append((entry[3], entry[4]))
                    last = entry[:3]
                position += 1
            more = any(self._is_current(feed[p], clock) for p in range(position, end))
            return Page(entries, last, more)

    def _is_current(self, entry: _Entry, clock: int) -> bool:
        """Whether the entry's event is its record's latest at ``clock`` (the entry is dated <= clock)."""
        events = self._events[entry[3]]
        following = entry[4] + 1
        return following == len(events) or events[following].thoi_diem > clock

    def render(self, index: int, position: int) -> dict[str, Any]:
        """Record ``index`` as the wire carries it when event ``position`` is its latest."""
        record = self._dossiers[index]
        newest_first = self._defects.get(record.ma_ho_so) == "history_out_of_order"
        with self._lock:
            events = self._events[index][: position + 1]
        return render.dossier(record, events, newest_first)

    def snapshot(self, clock: int) -> list[dict[str, Any]]:
        """Every record visible at ``clock``, rendered, in listing order (ground truth for tests)."""
        with self._lock:
            current = [(index, self._latest_position(index, clock)) for index in range(len(self._dossiers))]
        visible = [
            (self._events[i][p].thoi_diem, self._dossiers[i].ma_ho_so, self._dossiers[i].copy, i, p)
            for i, p in current
            if p >= 0
        ]
        return [self.render(i, p) for *_, i, p in sorted(visible)]
