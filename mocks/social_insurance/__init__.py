"""The simulated social insurance register (Vietnam Social Security, BHXH): residents' coverages, over REST."""

from mocks.social_insurance.app import build_social_insurance_app
from mocks.social_insurance.dataset import SocialInsuranceDataset
from mocks.social_insurance.record import DEFECT_TYPES, STATUSES, BaoHiem, DefectType

__all__ = ["DEFECT_TYPES", "STATUSES", "BaoHiem", "DefectType", "SocialInsuranceDataset", "build_social_insurance_app"]
