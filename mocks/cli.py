"""``lgsp mocks``: run the mocked external systems on loopback."""

from __future__ import annotations

import sys
import time
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from mocks.settings import DEMO_PASSWORD, load_settings

mocks_app = typer.Typer(
    help="Simulated external systems (population, civil status, one-stop, portal, agencies) for demos and tests."
)


@mocks_app.callback()
def _group() -> None:
    """Simulated external systems (population, civil status, one-stop, portal, agencies) for demos and tests."""


def _fail(message: str) -> NoReturn:
    """Say ``message`` as one line on stderr (literally: no markup) and exit 2.

    Raises:
        typer.Exit: always.
    """
    Console(stderr=True).print(Text(message, style="red"), soft_wrap=True)
    raise typer.Exit(2)


@mocks_app.command("serve")
def serve_command(
    citizens: Annotated[int | None, typer.Option(help="Residents to generate [LGSP_MOCK_CITIZENS, 20000].")] = None,
    seed: Annotated[int | None, typer.Option(help="Same seed, same data [LGSP_MOCK_SEED, 42].")] = None,
    defect_rate: Annotated[
        float | None, typer.Option(help="Share of defective records [LGSP_MOCK_DEFECT_RATE, 0.02].")
    ] = None,
    feed_days: Annotated[
        int | None, typer.Option(help="Days of change feed after 2026-01-01 [LGSP_MOCK_FEED_DAYS, 30].")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface; keep loopback, the mock has demo credentials.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port).")] = 8080,
) -> None:
    """Serve the mocks until Ctrl-C; prints ``READY <base_url>`` once listening."""
    # One clear line, never a traceback; the pieces are the foundation's, shared with the hub's own commands.
    from lgsp.options import option_problems
    from lgsp.serving import PortUnavailable, listen, port_problem, serve_foreground
    from mocks.server import build_app  # the server stack is only needed when serving
    from mocks.settings import MockSettings

    options = {"--citizens": citizens, "--seed": seed, "--defect-rate": defect_rate, "--feed-days": feed_days}
    problems = option_problems(MockSettings, options, also=[port_problem(port)])
    if problems:
        _fail("lgsp mocks serve: " + "; ".join(problems))
    try:
        sock = listen(host, port)  # a busy port is said now, not after the data is generated
    except PortUnavailable as exc:
        _fail(f"lgsp mocks serve failed: {exc}; pick another with --port")
    given = {"citizens": citizens, "seed": seed, "defect_rate": defect_rate, "feed_days": feed_days}
    settings = load_settings(**{name: value for name, value in given.items() if value is not None})
    if host not in ("127.0.0.1", "::1", "localhost") and settings.password.get_secret_value() == DEMO_PASSWORD:
        typer.echo(f"Warning: listening on {host} with the published demo password.", err=True)
    typer.echo(f"Generating {settings.citizens} residents (seed {settings.seed})...", err=True)
    started = time.perf_counter()

    def announce(base_url: str) -> None:
        typer.echo(f"Generated and listening after {time.perf_counter() - started:.1f} s", err=True)
        typer.echo(f"Population (SOAP 1.1): {base_url}/population")
        typer.echo(f"WSDL:                  {base_url}/population?wsdl")
        typer.echo(f"Civil status (REST):   {base_url}/civil-status/v1  (OAuth2 token at /oauth/token)")
        typer.echo(f"One-stop (REST):       {base_url}/one-stop/v1      (X-API-Key)")
        typer.echo(f"Portal (REST):         {base_url}/portal/v1        (X-API-Key)")
        typer.echo(f"Agencies' receivers:   {base_url}/agency/v1/<CODE>/inbox  (HMAC-signed pushes)")
        typer.echo(f"Social insurance (REST): {base_url}/social-insurance/v1  (X-Api-Key)")
        typer.echo(f"Household business (SOAP 1.1): {base_url}/household-business?wsdl")
        typer.echo(f"Clock (admin):         {base_url}/population/_admin/clock")
        typer.echo(f"Faults (admin):        {base_url}/_admin/faults")
        typer.echo(f"WS-Security username:  {settings.username} (password from LGSP_MOCK_PASSWORD or the demo default)")
        typer.echo(f"READY {base_url}")
        sys.stdout.flush()

    serve_foreground(build_app(settings), host, port, announce, sock=sock)
