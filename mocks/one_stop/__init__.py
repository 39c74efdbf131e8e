"""The simulated provincial one-stop system: dossiers over time, cross-boundary routing, a REST service.

`mocks.one_stop.rest`, `cursors` and `idempotency` hold the REST conventions the portal mock shares.
"""

from mocks.one_stop.app import build_one_stop_app
from mocks.one_stop.dataset import OneStopDataset
from mocks.one_stop.record import DEFECT_TYPES, DefectType
from mocks.one_stop.system import OneStopSystem

__all__ = ["DEFECT_TYPES", "DefectType", "OneStopDataset", "OneStopSystem", "build_one_stop_app"]
