"""The simulated household business registry (provincial business registration office), over SOAP 1.1."""

from mocks.household_business.app import build_household_business_app
from mocks.household_business.dataset import HouseholdBusinessDataset
from mocks.household_business.record import DEFECT_TYPES, STATUSES, DefectType, HoKinhDoanh

__all__ = [
    "DEFECT_TYPES",
    "STATUSES",
    "DefectType",
    "HoKinhDoanh",
    "HouseholdBusinessDataset",
    "build_household_business_app",
]
