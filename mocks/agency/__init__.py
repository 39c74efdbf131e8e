"""Simulated agencies' push receivers: every agency's inbox for the hub's signed pushes."""

from mocks.agency.app import build_agency_app
from mocks.agency.inbox import Inboxes, Received

__all__ = ["Inboxes", "Received", "build_agency_app"]
