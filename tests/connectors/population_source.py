"""The population feed as the hub reads it, for the connector tests: the declared ``national_population.citizens``.

``config/systems/national_population.yaml`` drives the generic connector
(``connectors.declared``); these builders give the tests its ``DeclaredSource`` against
a loopback peer or the mock, its ``RecordMapper``, and copies of the declaration with
another WS-Security password form.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr

from connectors.declared import DeclaredSource, RecordMapper
from connectors.policy import DEFAULT_MAX_RESPONSE_BYTES
from hub.systems.loader import load_file, systems_dir
from lgsp.declaration import SystemDecl

DECLARATION: Path = systems_dir() / "national_population.yaml"
DECL: SystemDecl = load_file(DECLARATION).decl
SYSTEM = DECL.system
STREAM = "citizens"
OPERATION = "ListChangedCitizens"


def population_source(
    url: str,
    *,
    login: str = "lgsp",
    password: str | SecretStr = "s3cret-Pass",
    timeout: float = 5.0,
    attempts: int = 3,
    backoff: float = 0.01,
    page_size: int = 10,
    max_body_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    max_pages: int | None = None,
    decl: SystemDecl = DECL,
) -> DeclaredSource:
    """The declared citizens stream of ``decl`` at ``url`` (the WSDL is loaded on the first listing)."""
    secret = password if isinstance(password, SecretStr) else SecretStr(password)
    return DeclaredSource(
        decl,
        STREAM,
        url=url,
        login=login,
        password=secret,
        timeout=timeout,
        max_attempts=attempts,
        backoff=backoff,
        max_body_bytes=max_body_bytes,
        page_size=page_size,
        max_pages=max_pages,
    )


def mock_source(server: Any, **options: Any) -> DeclaredSource:
    """The declared citizens stream on the population mock, with its demo credentials (``options`` override)."""
    login, secret = server.settings.demo_credentials()[DECL.connection]
    assert DECL.demo is not None
    settings: dict[str, Any] = {"login": login, "password": secret, "page_size": 50, **options}
    return population_source(server.base_url + DECL.demo.path, **settings)


def mapper() -> RecordMapper:
    """The declared mapping of one wire ``CongDan``."""
    return RecordMapper(DECL.streams[STREAM])


def with_wsse_password(kind: str) -> SystemDecl:
    """The declaration with ``soap.auth.wsse_username_token.password: <kind>``, validated as a file would be.

    Raises:
        pydantic.ValidationError: ``kind`` is neither ``digest`` nor ``text``.
    """
    data = DECL.model_dump(by_alias=True, exclude_unset=True)
    data["soap"]["auth"] = {"wsse_username_token": {"password": kind}}
    return SystemDecl.model_validate(data)
