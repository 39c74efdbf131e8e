"""What the civil-status register knows of the population: the clean residents, read once.

Events are built from the population mock's own data set, so the two mocks tell the
same story. Residents the population mock made defective are left out: their one
defect belongs to the population feed, and an event about them would inherit it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from mocks.clock import EPOCH
from mocks.population.dataset import NEVER, PopulationDataset
from mocks.population.record import CongDan


@dataclass(frozen=True, slots=True)
class Residents:
    """The clean residents' initial states (feed order), the ids touched after EPOCH, all ids taken."""

    population: PopulationDataset
    initial: dict[str, CongDan]
    touched: frozenset[str]  # ids with a version after EPOCH (moved, married, died)
    taken: frozenset[str]  # every id the population delivers, clean or not

    def final(self, personal_id: str) -> CongDan | None:
        """The resident's last version, whatever the clock."""
        return self.population.citizen(personal_id, NEVER)

    def at(self, personal_id: str, seconds: int) -> CongDan | None:
        """The resident's version visible at ``seconds``."""
        return self.population.citizen(personal_id, seconds)

    def clean(self) -> Iterator[CongDan]:
        """Initial states of the clean residents, in feed order."""
        return iter(self.initial.values())


def read_residents(population: PopulationDataset) -> Residents:
    """Index ``population`` for event building."""
    defects = population.defects
    initial: dict[str, CongDan] = {}
    touched: list[str] = []
    for version in population.versions:
        key = version.so_dinh_danh
        if key in defects:
            continue
        if version.ngay_cap_nhat < EPOCH:
            initial.setdefault(key, version)
        else:
            touched.append(key)
    taken = frozenset(version.so_dinh_danh for version in population.versions)
    return Residents(population, initial, frozenset(touched), taken)


def birth_ordinal(record: CongDan) -> int:
    """The resident's NgaySinh as a date ordinal."""
    return date.fromisoformat(record.ngay_sinh).toordinal()
