"""A declaration's ``auth`` as a RestClient's credentials: API key (header or query), basic, OAuth2, or none.

The secrets are the connection's (its login and password); none is ever in a message or
a log line. A query-parameter key travels in the URL, which RestClient keeps out of its
errors and out of httpx's request log.
"""

from __future__ import annotations

import base64

import httpx
from pydantic import SecretStr

from connectors.auth import ApiKeyAuth, Auth, OAuth2ClientCredentials
from lgsp.declaration import Auth as AuthDecl
from lgsp.errors import ConfigError


class QueryKeyAuth:
    """A static API key in a query parameter; a 401 is final."""

    def __init__(self, param: str, key: SecretStr, *, system: str) -> None:
        """Send ``key`` as the query parameter ``param``.

        Raises:
            ConfigError: the key is empty.
        """
        if not key.get_secret_value():
            raise ConfigError(
                f"{system}: the API key for query parameter {param} is empty; set the connection's password"
            )
        self.param = param
        self._key = key

    def apply(self, request: httpx.Request) -> None:
        """Put the key in the request's query (replacing one a peer's link may have echoed)."""
        request.url = request.url.copy_set_param(self.param, self._key.get_secret_value())

    def on_unauthorized(self) -> bool:
        """A static key cannot be refreshed: the 401 stands."""
        return False


class BasicAuth:
    """HTTP Basic with the connection's login and password; a 401 is final."""

    def __init__(self, login: str, password: SecretStr, *, system: str) -> None:
        """Send ``login``/``password`` on every request.

        Raises:
            ConfigError: the login or the password is empty.
        """
        if not login or not password.get_secret_value():
            raise ConfigError(f"{system}: basic auth needs the connection's login and password; set both")
        pair = f"{login}:{password.get_secret_value()}".encode()
        self._header = SecretStr("Basic " + base64.b64encode(pair).decode("ascii"))

    def apply(self, request: httpx.Request) -> None:
        """Set the Authorization header."""
        request.headers["Authorization"] = self._header.get_secret_value()

    def on_unauthorized(self) -> bool:
        """Nothing to refresh: the 401 stands."""
        return False


def rest_auth(
    declared: AuthDecl, *, system: str, base_url: str, login: str, password: SecretStr, timeout: float
) -> Auth | None:
    """The credentials a declared REST ``auth`` asks for (None: an open endpoint).

    Raises:
        ConfigError: the connection lacks what the auth needs, or the declaration asks for WS-Security over REST.
    """
    if declared.api_key is not None:
        if declared.api_key.header is not None:
            return ApiKeyAuth(declared.api_key.header, password)
        return QueryKeyAuth(str(declared.api_key.query), password, system=system)
    if declared.basic is not None:
        return BasicAuth(login, password, system=system)
    if declared.oauth2_client_credentials is not None:
        grant = declared.oauth2_client_credentials
        return OAuth2ClientCredentials(
            base_url.rstrip("/") + grant.token_path,
            login,
            password,
            scope=grant.scope,
            timeout=timeout,
            system=f"{system} token endpoint",
        )
    if declared.wsse_username_token is not None:
        raise ConfigError(
            f"{system}: wsse_username_token is SOAP auth; a REST system declares api_key, basic or oauth2"
        )
    return None
