"""The simulated household business registry: every version of every business, paged by number, and the ground truth."""

from __future__ import annotations

from mocks.household_business.generate import generate
from mocks.household_business.record import DEFECT_TYPES, HoKinhDoanh
from mocks.population.dataset import PopulationDataset
from mocks.versioned_feed import RegisterDataset


class HouseholdBusinessDataset(RegisterDataset[HoKinhDoanh]):
    """Deterministic records of a population's residents, their change feed and the injected defects."""

    DEFECT_TYPES = DEFECT_TYPES

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
        return cls(built.versions, dict(built.defects), seed)

    def defect_key(self, record: HoKinhDoanh) -> str:
        """The ground truth is keyed by SoDangKy."""
        return record.so_dang_ky
