"""The simulated National Population Database: a data set and a SOAP 1.1 service over it."""

from mocks.population.app import build_population_app
from mocks.population.dataset import PopulationDataset
from mocks.population.record import DEFECT_TYPES, CongDan, DefectType

__all__ = ["DEFECT_TYPES", "CongDan", "DefectType", "PopulationDataset", "build_population_app"]
