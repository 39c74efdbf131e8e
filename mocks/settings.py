"""Settings of the mocked systems (environment prefix ``LGSP_MOCK_``).

Built by `load_settings`, never at import. The default credentials are demo values
for a mock on loopback; they protect nothing real.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from mocks.faults import FaultKind

# Published demo credentials: they protect nothing real (the mock stays on loopback).
DEMO_USERNAME, DEMO_PASSWORD = "lgsp-demo", "demo-only-password"
DEMO_API_KEY = "demo-only-key"  # the REST mocks' X-API-Key
DEMO_PUSH_SECRET = "demo-only-push-secret"  # noqa: S105 - the agencies' receivers' HMAC secret (demo value)


class MockSettings(BaseSettings):
    """What the mocks serve and how they misbehave."""

    model_config = SettingsConfigDict(env_prefix="LGSP_MOCK_", extra="ignore")

    username: str = DEMO_USERNAME
    password: SecretStr = SecretStr(DEMO_PASSWORD)
    # WS-Security of the population service: "any" plays a peer configured to accept PasswordText
    # as well as the digest; "digest" refuses PasswordText and wants a wsu:Timestamp, as real peers do.
    population_wsse: Literal["any", "digest"] = "any"
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
    # Provincial one-stop system (REST, /one-stop/v1): demo API key, dossiers, defects, province
    # (None: the province with the most residents able to file).
    one_stop_api_key: SecretStr = SecretStr(DEMO_API_KEY)
    one_stop_dossiers: int = Field(default=20_000, ge=1, le=1_000_000)
    one_stop_defect_rate: float = Field(default=0.02, ge=0.0, le=0.5)
    one_stop_province: str | None = Field(default=None, pattern=r"^\d{2}$")
    # National Public Service Portal (REST, /portal/v1): demo API key, token-bucket rate (burst = 1 s worth).
    portal_api_key: SecretStr = SecretStr(DEMO_API_KEY)
    portal_rate_per_second: float = Field(default=1000.0, gt=0)
    # Civil-status register (REST, /civil-status/v1): OAuth2 client credentials (demo values), token
    # lifetime in real seconds, events (None: what the population feed implies), share of residents
    # with a death the population data contradicts.
    civil_status_client_id: str = DEMO_USERNAME
    civil_status_client_secret: SecretStr = SecretStr(DEMO_PASSWORD)
    token_ttl_seconds: int = Field(default=60, ge=1, le=86_400)
    civil_status_events: int | None = Field(default=None, ge=1, le=5_000_000)
    civil_status_disagreement_rate: float = Field(default=0.002, ge=0.0, le=0.1)
    # Agencies' push receivers (REST, /agency/v1/{code}/inbox): the Standard Webhooks secret each one checks the
    # hub's signatures with (two, space-separated, during a rotation: either passes); agency_push_secrets gives an
    # agency its own (LGSP_MOCK_AGENCY_PUSH_SECRETS='{"BHXH": "..."}').
    agency_push_secret: SecretStr = SecretStr(DEMO_PUSH_SECRET)
    agency_max_batch_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)  # a batch of pushes; larger gets 413
    agency_push_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    # Social insurance register (REST, /social-insurance/v1): X-Api-Key (demo value), coverages (None: citizens // 4,
    # as many as the population's adults allow), share carrying one known defect.
    social_insurance_api_key: SecretStr = SecretStr(DEMO_API_KEY)
    social_insurance_records: int | None = Field(default=None, ge=1, le=1_000_000)
    social_insurance_defect_rate: float = Field(default=0.02, ge=0.0, le=0.5)
    # Household business registry (SOAP 1.1, /household-business): WS-Security UsernameToken (demo values; "any"
    # accepts PasswordText and the digest, "digest" as population_wsse), businesses (None: citizens // 10), defects.
    household_business_username: str = DEMO_USERNAME
    household_business_password: SecretStr = SecretStr(DEMO_PASSWORD)
    household_business_wsse: Literal["any", "digest"] = "any"
    household_business_records: int | None = Field(default=None, ge=1, le=1_000_000)
    household_business_defect_rate: float = Field(default=0.02, ge=0.0, le=0.5)

    def demo_credentials(self) -> dict[str, tuple[str, SecretStr]]:
        """Airflow connection id -> (login, secret) the hub's demo connections use for these mocks."""
        return {
            "national_population": (self.username, self.password),
            "civil_status": (self.civil_status_client_id, self.civil_status_client_secret),
            "one_stop": ("api", self.one_stop_api_key),
            "social_insurance": ("api", self.social_insurance_api_key),
            "household_business": (self.household_business_username, self.household_business_password),
        }


def load_settings(**overrides: Any) -> MockSettings:
    """Settings from explicit ``overrides``, then the environment, then the defaults.

    Raises:
        pydantic.ValidationError: a value is out of range; the message names the setting.
    """
    return MockSettings(**overrides)
