"""The simulated civil-status register (Ministry of Justice): events built from the population data, over REST."""

from mocks.civil_status.app import build_civil_status_app
from mocks.civil_status.dataset import CivilStatusDataset
from mocks.civil_status.event import DEFECT_TYPES, DISAGREEMENT, DefectType, SuKien, TruthType

__all__ = [
    "DEFECT_TYPES",
    "DISAGREEMENT",
    "CivilStatusDataset",
    "DefectType",
    "SuKien",
    "TruthType",
    "build_civil_status_app",
]
