"""Settings of the mocked systems (environment prefix ``LGSP_MOCK_``).

Built by `load_settings`, never at import. The default credentials are demo values
for a mock on loopback; they protect nothing real.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from mocks.faults import FaultKind

# Published demo credentials: they protect nothing real (the mock stays on loopback).
DEMO_USERNAME, DEMO_PASSWORD = "lgsp-demo", "demo-only-password"


class MockSettings(BaseSettings):
    """What the mocks serve and how they misbehave."""

    model_config = SettingsConfigDict(env_prefix="LGSP_MOCK_", extra="ignore")

    username: str = DEMO_USERNAME
    password: SecretStr = SecretStr(DEMO_PASSWORD)
    citizens: int = Field(default=20_000, ge=1, le=2_000_000)
    seed: int = 42
    defect_rate: float = Field(default=0.02, ge=0.0, le=0.5)
    feed_days: int = Field(default=30, ge=0, le=3650)
    # Random fault rates per kind, e.g. LGSP_MOCK_FAULT_RATES='{"http_503": 0.05}'.
    fault_rates: dict[FaultKind, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(default_factory=dict)
    latency_seconds: float = Field(default=1.0, ge=0)
    timeout_seconds: float = Field(default=30.0, ge=0)  # longer than any sane client timeout
    retry_after_seconds: float = Field(default=1.0, ge=0)
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)


def load_settings(**overrides: Any) -> MockSettings:
    """Settings from explicit ``overrides``, then the environment, then the defaults.

    Raises:
        pydantic.ValidationError: a value is out of range; the message names the setting.
    """
    return MockSettings(**overrides)
