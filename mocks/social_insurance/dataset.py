"""The simulated social insurance register: every version of every coverage, paged by number, and the ground truth."""

from __future__ import annotations

from mocks.population.dataset import PopulationDataset
from mocks.social_insurance.generate import generate
from mocks.social_insurance.record import DEFECT_TYPES, BaoHiem
from mocks.versioned_feed import RegisterDataset


class SocialInsuranceDataset(RegisterDataset[BaoHiem]):
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
    ) -> SocialInsuranceDataset:
        """Coverages of ``population``'s adults for ``seed``; ``records`` None: a quarter of the residents.

        Raises:
            ValueError: more records than the population has adults, or impossible rates.
        """
        built = generate(population, seed, records, defect_rate, feed_days)
        return cls(built.versions, dict(built.defects), seed)

    def defect_key(self, record: BaoHiem) -> str:
        """The ground truth is keyed by SoDinhDanh as delivered (MaSoBHXH may be missing)."""
        return record.so_dinh_danh
