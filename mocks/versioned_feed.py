"""A change feed of versioned records, read by page number: what the registers with numbered pages serve.

Every version is generated up front, each tagged with the identity of the record it
belongs to; the mock clock decides which versions a client sees (a record's latest
version with a time <= clock). The feed order is (time, sort key, creation order), so
at a fixed clock the visible records after ``since`` are one fixed list and page N of
it is the same whenever it is asked for: all pages together give every visible record
once. When the clock moves between two pages, page numbers shift, as they do on any
register paged by number (a client that cares re-reads from its last time).

The visible list is worked out once per clock value and cached: clients page through
a whole feed at one clock, and each page then costs a bisection and a slice.
"""

from __future__ import annotations

import math
import threading
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Generic, NamedTuple, TypeVar

from mocks.clock import EPOCH

R = TypeVar("R")
NEVER = 2**62  # "not superseded"


class Version(NamedTuple, Generic[R]):
    """One version: the record it belongs to (any int), when it was written, its sort key, the wire record."""

    identity: int
    time: int
    key: str
    record: R


@dataclass(frozen=True, slots=True)
class NumberedPage(Generic[R]):
    """Page ``page`` (1-based) of ``page_size`` records, out of ``total`` visible after ``since``."""

    records: list[R]
    page: int
    page_size: int
    total: int

    @property
    def total_pages(self) -> int:
        """How many pages hold the ``total`` records (0 when there are none)."""
        return math.ceil(self.total / self.page_size)


class VersionedFeed(Generic[R]):
    """Versions in feed order, which of them a clock shows, and pages of those by number."""

    def __init__(self, versions: Sequence[Version[R]]) -> None:
        """Index ``versions`` (creation order; one identity's versions must have strictly rising times)."""
        order = sorted(range(len(versions)), key=lambda i: (versions[i].time, versions[i].key, i))
        self._records: list[R] = [versions[i].record for i in order]
        self._times = array("q", (versions[i].time for i in order))
        self._superseded_at = array("q", [NEVER]) * len(order)
        latest: dict[int, int] = {}
        for position, i in enumerate(order):
            previous = latest.get(versions[i].identity)
            if previous is not None:
                self._superseded_at[previous] = versions[i].time
            latest[versions[i].identity] = position
        self._cached: tuple[int, array[int], array[int]] | None = None
        self._lock = threading.Lock()

    @property
    def versions(self) -> Sequence[R]:
        """Every version, in feed order (time, key, creation order)."""
        return self._records

    def _visible(self, clock: int) -> tuple[array[int], array[int]]:
        """Positions and times of the versions visible at ``clock``, in feed order (cached per clock)."""
        cached = self._cached
        if cached is not None and cached[0] == clock:
            return cached[1], cached[2]
        with self._lock:
            end = bisect_right(self._times, clock)
            superseded = self._superseded_at
            positions = array("q", (p for p in range(end) if superseded[p] > clock))
            times = array("q", (self._times[p] for p in positions))
            self._cached = (clock, positions, times)
            return positions, times

    def visible(self, clock: int, since: int | None = None) -> list[R]:
        """Every record visible at ``clock`` (its latest version by then), with a time after ``since`` if given."""
        positions, times = self._visible(clock)
        start = 0 if since is None else bisect_right(times, since)
        return [self._records[p] for p in positions[start:]]

    def page(self, since: int, clock: int, page: int, page_size: int) -> NumberedPage[R]:
        """Page ``page`` (1-based) of the records visible at ``clock`` with a time strictly after ``since``."""
        positions, times = self._visible(clock)
        start = bisect_right(times, since)
        total = len(positions) - start
        first = start + (page - 1) * page_size
        chosen = positions[first : first + page_size] if first < len(positions) else array("q")
        return NumberedPage([self._records[p] for p in chosen], page, page_size, total)


class RegisterDataset(Generic[R]):
    """A register's records: every version on a VersionedFeed, and the defect each delivered record carries.

    A register names its records' defect key (``defect_key``) and its defect types
    (``DEFECT_TYPES``); the rest is the same for every register.
    """

    DEFECT_TYPES: tuple[str, ...] = ()

    def __init__(self, versions: Sequence[Version[R]], defects: dict[str, str], seed: int) -> None:
        """Index ``versions`` (creation order) with their ground truth (defect key -> type)."""
        self.seed = seed
        self._feed = VersionedFeed(versions)
        self._defects = defects

    def defect_key(self, record: R) -> str:
        """The value the ground truth is keyed by."""
        raise NotImplementedError

    @property
    def versions(self) -> Sequence[R]:
        """Every version, in feed order (updated at, record id, creation order)."""
        return self._feed.versions

    @property
    def defects(self) -> Mapping[str, str]:
        """Ground truth: defect key -> the defect its record(s) carry."""
        return MappingProxyType(self._defects)

    def defect_of(self, record: R) -> str | None:
        """The defect ``record`` carries, or None for a clean one."""
        return self._defects.get(self.defect_key(record))

    def records(self, clock: int = EPOCH, since: int | None = None) -> list[R]:
        """What the feed shows at ``clock``, after ``since`` if given: each record's latest version, in order."""
        return self._feed.visible(clock, since)

    def defect_counts(self, clock: int = EPOCH) -> dict[str, int]:
        """Defective records delivered at ``clock`` per type (a duplicate_conflict pair counts twice)."""
        counts = Counter(kind for record in self.records(clock) if (kind := self.defect_of(record)) is not None)
        return {kind: counts[kind] for kind in self.DEFECT_TYPES}

    def page(self, since: int, clock: int, page: int, page_size: int) -> NumberedPage[R]:
        """Page ``page`` (1-based) of the records visible at ``clock`` updated after ``since``."""
        return self._feed.page(since, clock, page, page_size)
