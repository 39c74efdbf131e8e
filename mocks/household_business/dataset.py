"""The simulated household business registry: every version of every business, paged by number, and the ground truth."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from mocks.clock import EPOCH
from mocks.household_business.generate import generate
from mocks.household_business.record import DEFECT_TYPES, DefectType, HoKinhDoanh
from mocks.population.dataset import PopulationDataset
from mocks.versioned_feed import NumberedPage, Version, VersionedFeed


class HouseholdBusinessDataset:
    """Deterministic household businesses of a population's residents, their change feed and the injected defects."""

    def __init__(self, versions: Sequence[Version[HoKinhDoanh]], defects: dict[str, DefectType], seed: int) -> None:
        """Index ``versions`` (creation order) with their ground truth (SoDangKy -> type)."""
        self.seed = seed
        self._feed = VersionedFeed(versions)
        self._defects = defects

    @classmethod
    def generate(
        cls,
        population: PopulationDataset,
        seed: int,
        records: int | None = None,
        defect_rate: float = 0.02,
        feed_days: int = 30,
    ) -> HouseholdBusinessDataset:
        """Businesses of ``population``'s adults for ``seed``; ``records`` None: one per ten residents.

        Raises:
            ValueError: more records than the population has adults, or impossible rates.
        """
        built = generate(population, seed, records, defect_rate, feed_days)
        return cls(built.versions, built.defects, seed)

    @property
    def versions(self) -> Sequence[HoKinhDoanh]:
        """Every version, in feed order (ThoiDiemCapNhat, SoDangKy, creation order)."""
        return self._feed.versions

    @property
    def defects(self) -> Mapping[str, DefectType]:
        """Ground truth: SoDangKy -> the defect its record(s) carry."""
        return MappingProxyType(self._defects)

    def defect_of(self, record: HoKinhDoanh) -> DefectType | None:
        """The defect ``record`` carries, or None for a clean one."""
        return self._defects.get(record.so_dang_ky)

    def records(self, clock: int = EPOCH, since: int | None = None) -> list[HoKinhDoanh]:
        """What the registry shows at ``clock``, after ``since`` if given: each business's latest version, in order."""
        return self._feed.visible(clock, since)

    def defect_counts(self, clock: int = EPOCH) -> dict[DefectType, int]:
        """Defective records delivered at ``clock`` per type (a duplicate_conflict pair counts twice)."""
        counts = Counter(kind for record in self.records(clock) if (kind := self.defect_of(record)) is not None)
        return {kind: counts[kind] for kind in DEFECT_TYPES}

    def page(self, since: int, clock: int, page: int, page_size: int) -> NumberedPage[HoKinhDoanh]:
        """Page ``page`` (1-based) of the records visible at ``clock`` with ThoiDiemCapNhat after ``since``."""
        return self._feed.page(since, clock, page, page_size)
