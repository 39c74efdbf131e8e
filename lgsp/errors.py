"""The project's exceptions, grouped by what the caller should do about them.

    LgspError
      ConfigError            terminal, at start-up; says which setting and how to fix it
      SourceError
        TransientSourceError retried with backoff (timeouts, 5xx, 429, resets)
        FatalSourceError     fails the task with a clear message (4xx, auth, contract)
      RejectedRecord         quarantined, the run goes on; carries the record and rule
      StoreError
      AccessDenied           no agreement, no consent, wrong purpose

A library's exception is converted once, where it enters (one function per
adapter), always with ``raise ... from exc``. Messages name what failed and what to
do, and never carry personal data (ids, names, dates, addresses).
"""

from __future__ import annotations


class LgspError(Exception):
    """Base of every error the platform raises on purpose."""


class ConfigError(LgspError):
    """A setting is missing or wrong; raised at start-up, never retried."""


class SourceError(LgspError):
    """An external system did not give us what we asked for."""

    def __init__(self, message: str, *, system: str = "", operation: str = "", fault_code: str = "") -> None:
        super().__init__(message)
        self.system = system
        self.operation = operation
        self.fault_code = fault_code  # a SOAP faultcode's local part, e.g. "Client.NotFound"


class TransientSourceError(SourceError):
    """Worth retrying: timeouts, 5xx, 429, connection resets."""

    def __init__(
        self,
        message: str,
        *,
        system: str = "",
        operation: str = "",
        fault_code: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, system=system, operation=operation, fault_code=fault_code)
        self.retry_after = retry_after


class FatalSourceError(SourceError):
    """Retrying will not help: bad credentials, 4xx, a broken contract."""


class RejectedRecord(LgspError):
    """One record cannot be accepted; it is quarantined and the run goes on."""

    def __init__(self, rule: str, message: str, raw: str = "") -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.raw = raw


class StoreError(LgspError):
    """The hub's database refused or lost a write."""


class AccessDenied(LgspError):
    """No agreement, no consent, or the wrong purpose for this read.

    ``rule`` names what denied it (e.g. ``no_agreement``, ``consent_revoked``), for the
    caller's problem details and the audit ledger.
    """

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message)
        self.rule = rule
