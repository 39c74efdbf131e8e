"""The simulated National Population Database: every version of every citizen, indexed.

All versions are generated up front; the mock's clock only decides which of them a
client can see. A citizen's visible version at clock C is its latest version with
NgayCapNhat <= C. The change feed is one list of all versions in a fixed order,
(NgayCapNhat, SoDinhDanh, creation order), so a position in it is a stable resume
point for paging whatever the clock says.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from mocks.population.generate import generate
from mocks.population.record import DEFECT_TYPES, CongDan, DefectType

NEVER = 2**62  # "not superseded"


@dataclass(frozen=True, slots=True)
class Page:
    """One page of changed citizens: the records, the position of the last one, whether more follow."""

    records: list[CongDan]
    last_position: int
    more: bool


class PopulationDataset:
    """Deterministic residents, their change feed and the ground truth of injected defects."""

    def __init__(self, versions: list[CongDan], defects: dict[str, DefectType], citizens: int, seed: int) -> None:
        """Index ``versions`` (in creation order; a duplicate_conflict copy follows its original)."""
        self.citizens, self.seed = citizens, seed
        self._defects = defects
        order = sorted(range(len(versions)), key=lambda i: (versions[i].ngay_cap_nhat, versions[i].so_dinh_danh, i))
        self._feed: list[CongDan] = [versions[i] for i in order]
        self._times = array("q", (v.ngay_cap_nhat for v in self._feed))
        self._superseded_at = array("q", [NEVER]) * len(self._feed)
        self._first: dict[str, CongDan] = {}
        self._later: dict[str, list[CongDan]] = {}
        self._index()

    @classmethod
    def generate(cls, citizens: int, seed: int, defect_rate: float = 0.02, feed_days: int = 30) -> PopulationDataset:
        """Generate ``citizens`` residents for ``seed``; the same arguments give the same data.

        Raises:
            ValueError: impossible parameters.
        """
        generated = generate(citizens, seed, defect_rate, feed_days)
        return cls(generated.versions, generated.defects, citizens, seed)

    def _index(self) -> None:
        """Fill the by-id lookups and, for each version, when the next one replaces it."""
        latest_position: dict[str, int] = {}
        for position, version in enumerate(self._feed):
            key = version.so_dinh_danh
            previous = latest_position.get(key)
            if previous is None:
                self._first[key] = version  # of a duplicate pair, GetCitizen serves the first copy
            elif self._times[previous] < version.ngay_cap_nhat:
                self._mark_superseded(previous, version.ngay_cap_nhat)
                self._later.setdefault(key, []).append(version)
            latest_position[key] = position

    def _mark_superseded(self, position: int, at: int) -> None:
        """Mark the version at ``position`` and its same-time twins (a duplicate pair) as replaced at ``at``."""
        key, time = self._feed[position].so_dinh_danh, self._times[position]
        while position >= 0 and self._times[position] == time and self._feed[position].so_dinh_danh == key:
            self._superseded_at[position] = at
            position -= 1

    @property
    def defects(self) -> Mapping[str, DefectType]:
        """Ground truth: SoDinhDanh as delivered -> the defect its record(s) carry."""
        return MappingProxyType(self._defects)

    def defect_counts(self) -> dict[DefectType, int]:
        """Defective records delivered per type (a duplicate_conflict pair counts twice)."""
        counts: Counter[DefectType] = Counter()
        for version in self._feed:
            kind = self._defects.get(version.so_dinh_danh)
            if kind is not None:
                counts[kind] += 1
        return {kind: counts[kind] for kind in DEFECT_TYPES}

    @property
    def versions(self) -> Sequence[CongDan]:
        """Every version, in feed order (NgayCapNhat, SoDinhDanh, creation order)."""
        return self._feed

    def citizen(self, personal_id: str, clock: int) -> CongDan | None:
        """The version of ``personal_id`` visible at ``clock``, or None."""
        for version in reversed(self._later.get(personal_id, ())):
            if version.ngay_cap_nhat <= clock:
                return version
        first = self._first.get(personal_id)
        return first if first is not None and first.ngay_cap_nhat <= clock else None

    def visible(self, clock: int) -> Iterator[CongDan]:
        """Every version visible at ``clock``, in feed order."""
        for position in range(bisect_right(self._times, clock)):
            if self._superseded_at[position] > clock:
                yield self._feed[position]

    def changed(self, since: int, clock: int, start: int, limit: int) -> Page:
        """Up to ``limit`` visible versions with NgayCapNhat > ``since``, from feed position ``start``."""
        position = max(bisect_right(self._times, since), start)
        end = bisect_right(self._times, clock)
        superseded, feed = self._superseded_at, self._feed
        records: list[CongDan] = []
        last = position - 1
        while position < end and len(records) < limit:
            if superseded[position] > clock:
                records.append(feed[position])
                last = position
            position += 1
        more = any(superseded[p] > clock for p in range(position, end))
        return Page(records, last, more)
