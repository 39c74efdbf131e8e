"""Credentials against a real token endpoint and API: caching, refresh, refusal, and no secret in sight."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import SecretStr
from rest_test_server import API_KEY, CLIENT_ID, CLIENT_SECRET, PERSONAL_ID, FlakyApi, flaky_api

from connectors.auth import ApiKeyAuth, Auth, OAuth2ClientCredentials
from connectors.rest import RestClient
from lgsp.errors import ConfigError, FatalSourceError, SourceError, TransientSourceError

SYSTEM = "test_api"


@pytest.fixture(scope="module")
def api() -> Iterator[FlakyApi]:
    with flaky_api() as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(api: FlakyApi) -> None:
    api.state.reset()


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def oauth(api: FlakyApi, *, secret: str = CLIENT_SECRET, **options: object) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(
        f"{api.base_url}/oauth/token", CLIENT_ID, SecretStr(secret), timeout=options.pop("timeout", 2.0), **options
    )  # type: ignore[arg-type]


def rest(api: FlakyApi, auth: Auth, delays: list[float] | None = None, attempts: int = 3) -> RestClient:
    sleep = delays.append if delays is not None else (lambda _: None)
    return RestClient(SYSTEM, api.base_url, auth=auth, timeout=2.0, max_attempts=attempts, backoff=0.01, sleep=sleep)


def secrets_of(api: FlakyApi) -> list[str]:
    import base64

    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    return [CLIENT_SECRET, basic, API_KEY, *api.state.issued]


def assert_nothing_leaked(api: FlakyApi, caplog: pytest.LogCaptureFixture, *errors: BaseException) -> None:
    texts = [caplog.text, *(str(error) for error in errors), *(repr(error) for error in errors)]
    for secret in secrets_of(api):
        assert all(secret not in text for text in texts), "a secret or token leaked"


def test_api_key_is_sent_and_a_401_is_final(api: FlakyApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with rest(api, ApiKeyAuth("X-API-Key", SecretStr(API_KEY))) as client:
        assert client.get_json("/keyed", operation="Get") == {"ok": True}
    delays: list[float] = []
    with (
        rest(api, ApiKeyAuth("X-API-Key", SecretStr("wrong")), delays) as client,
        pytest.raises(FatalSourceError, match=r"HTTP 401.*check the credentials") as caught,
    ):
        client.get_json("/keyed", operation="Get")
    assert api.state.calls["keyed"] == 2 and delays == []
    assert_nothing_leaked(api, caplog, caught.value)


def test_api_key_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="empty"):
        ApiKeyAuth("X-API-Key", SecretStr(""))
    with pytest.raises(ConfigError, match="header name"):
        ApiKeyAuth("X-API Key\n", SecretStr("k"))


def test_a_token_is_fetched_once_and_reused(api: FlakyApi) -> None:
    with oauth(api) as auth, rest(api, auth) as client:
        for _ in range(3):
            assert client.get_json("/protected", operation="Get") == {"ok": True}
    assert api.state.calls["token"] == 1 and api.state.calls["protected"] == 3


def test_a_token_is_refreshed_expires_in_minus_leeway_after_it_was_issued(api: FlakyApi) -> None:
    clock = Clock()
    with oauth(api, leeway_seconds=10, clock=clock) as auth, rest(api, auth) as client:
        client.get_json("/protected", operation="Get")
        clock.now += 3600 - 10 - 0.5
        client.get_json("/protected", operation="Get")
        assert api.state.calls["token"] == 1
        clock.now += 1
        client.get_json("/protected", operation="Get")
        assert api.state.calls["token"] == 2 and api.state.calls["protected_401"] == 0


def test_tokens_expiring_in_one_second_are_renewed_during_a_sync(api: FlakyApi) -> None:
    api.state.token_lifetime = 1
    with oauth(api, leeway_seconds=10) as auth, rest(api, auth) as client:
        client.get_json("/protected", operation="Get")
        time.sleep(0.6)  # past half the life: a leeway longer than the token keeps half of it
        client.get_json("/protected", operation="Get")
    assert api.state.calls["token"] == 2 and api.state.calls["protected_401"] == 0


def test_a_token_the_server_expired_early_is_refreshed_once_and_the_call_goes_on(
    api: FlakyApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    delays: list[float] = []
    with oauth(api, clock=Clock()) as auth, rest(api, auth, delays) as client:
        client.get_json("/protected", operation="Get")
        for _ in range(2):  # the second time, the refused token is the one fetched after the first
            api.state.revoke_tokens()  # the client still believes in its token
            assert client.get_json("/protected", operation="Get") == {"ok": True}
    assert api.state.calls["token"] == 3
    assert api.state.calls["protected"] == 5 and api.state.calls["protected_401"] == 2
    assert delays == []  # a refresh is not a backoff retry
    assert_nothing_leaked(api, caplog)


def test_a_server_slower_than_the_tokens_life_is_retried_not_fatal(api: FlakyApi) -> None:
    api.state.token_lifetime = 0.4  # our cache keeps it 0.2 s (a leeway longer than the life keeps half)
    api.state.protected_delays = [0.5, 0.5]  # both the first try and the refreshed one arrive expired
    delays: list[float] = []
    with oauth(api) as auth, rest(api, auth, delays) as client:
        assert client.get_json("/protected", operation="Get") == {"ok": True}
    assert api.state.calls["protected_401"] == 2 and api.state.calls["protected"] == 3
    assert api.state.calls["token"] == 3 and len(delays) == 1  # one backoff retry, with a new token


def test_401_after_the_refresh_is_fatal(api: FlakyApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api.state.reject_all_tokens = True
    delays: list[float] = []
    with (
        oauth(api) as auth,
        rest(api, auth, delays) as client,
        pytest.raises(
            FatalSourceError, match="HTTP 401 even after refreshing the credentials: check the credentials"
        ) as caught,
    ):
        client.get_json("/protected", operation="Get")
    assert api.state.calls["token"] == 2 and api.state.calls["protected"] == 2 and delays == []
    assert_nothing_leaked(api, caplog, caught.value)


@pytest.mark.parametrize("status", [401, 400])
def test_invalid_client_is_fatal_and_says_check_the_client(
    api: FlakyApi, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    caplog.set_level(logging.DEBUG)
    api.state.invalid_client_status = status
    delays: list[float] = []
    with (
        oauth(api, secret="not-the-secret") as auth,
        rest(api, auth, delays) as client,
        pytest.raises(FatalSourceError, match=f"HTTP {status} invalid_client.*check the client id/secret") as caught,
    ):
        client.get_json("/protected", operation="Get")
    assert api.state.calls["token"] == 1 and api.state.calls["protected"] == 0 and delays == []
    assert "not-the-secret" not in str(caught.value) and "not-the-secret" not in caplog.text
    assert_nothing_leaked(api, caplog, caught.value)


def test_another_oauth_error_is_fatal_and_quotes_only_the_code(api: FlakyApi) -> None:
    with (
        oauth(api, scope="forbidden") as auth,
        rest(api, auth) as client,
        pytest.raises(FatalSourceError, match=r"HTTP 400 invalid_scope.*check the scope") as caught,
    ):
        client.get_json("/protected", operation="Get")
    assert PERSONAL_ID not in str(caught.value)  # error_description is never quoted


def test_a_token_endpoint_5xx_is_transient_and_the_call_is_retried(api: FlakyApi) -> None:
    api.state.token_failures = [503, 502]
    delays: list[float] = []
    with oauth(api) as auth, rest(api, auth, delays) as client:
        assert client.get_json("/protected", operation="Get") == {"ok": True}
    assert api.state.calls["token"] == 3 and len(delays) == 2


def test_a_slow_token_endpoint_is_transient(api: FlakyApi) -> None:
    api.state.token_delay = 2.0
    with (
        oauth(api, timeout=0.2) as auth,
        rest(api, auth, attempts=1) as client,
        pytest.raises(TransientSourceError, match="oauth2 token endpoint fetch token: timed out"),
    ):
        client.get_json("/protected", operation="Get")
    assert api.state.calls["protected"] == 0


def test_concurrent_callers_share_one_token_and_one_refresh(api: FlakyApi) -> None:
    with oauth(api, clock=Clock()) as auth, rest(api, auth) as client, ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: client.get_json("/protected", operation="Get"), range(16)))
        assert api.state.calls["token"] == 1
        api.state.revoke_tokens()
        list(pool.map(lambda _: client.get_json("/protected", operation="Get"), range(16)))
    assert api.state.calls["token"] == 2  # however many threads saw the 401, one new token


def test_oauth_settings_are_checked(api: FlakyApi) -> None:
    with pytest.raises(ConfigError, match="client id and the client secret"):
        oauth(api, secret="")
    with pytest.raises(ConfigError, match="token_url"):
        OAuth2ClientCredentials("file:///etc/passwd", CLIENT_ID, SecretStr("x"), timeout=1)


def test_the_error_tree_is_the_projects(api: FlakyApi) -> None:
    with oauth(api, secret="nope") as auth, rest(api, auth) as client, pytest.raises(SourceError) as caught:
        client.get_json("/protected", operation="Get")
    assert caught.value.operation == "fetch token" and caught.value.system == "oauth2 token endpoint"
