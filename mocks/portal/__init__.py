"""The simulated National Public Service Portal: it holds the status of each dossier a province reports."""

from mocks.portal.app import build_portal_app
from mocks.portal.ledger import Ledger

__all__ = ["Ledger", "build_portal_app"]
