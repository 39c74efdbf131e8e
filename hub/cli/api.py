"""``lgsp api``: serve the hub's API to agencies."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

api_app = typer.Typer(help="The hub's API for agencies (OAuth2 client credentials, /v1).")


@api_app.callback()
def _group() -> None:
    """The hub's API for agencies (OAuth2 client credentials, /v1)."""


@api_app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Interface; off loopback only with real client secrets.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port).")] = 8000,
    workers: Annotated[
        int, typer.Option(help="Worker processes sharing the port; above 1 needs PostgreSQL (SQLite has one writer).")
    ] = 1,
) -> None:
    """Migrate the store, load config/sharing, and serve until Ctrl-C; prints ``READY <base_url>`` once listening."""
    from hub.api import heap
    from hub.api.app import api_engine, build_app
    from hub.api.server import refuse_demo_secrets, serve_workers, workers_problem
    from hub.cli.support import fail, failures, migrated_store
    from hub.settings import load_settings
    from lgsp.serving import listen, port_problem, serve_foreground

    problem = port_problem(port)
    if problem:
        fail(f"lgsp api serve: {problem}")
    with failures("lgsp api serve"):
        settings = load_settings()
        problem = workers_problem(workers, settings.resolved_database_url())
        if problem:
            fail(f"lgsp api serve: {problem}")
        sock = listen(host, port)  # a busy port is said before the store is migrated, not after
        try:
            migrated_store(settings).dispose()
            engine = api_engine(settings.resolved_database_url())
            app = build_app(settings, engine)
            refuse_demo_secrets(engine, host, settings)
        except BaseException:
            sock.close()
            raise

    def announce(base_url: str) -> None:
        typer.echo(f"OpenAPI: {base_url}/openapi.json")
        typer.echo(f"Token:   {base_url}/v1/token (OAuth2 client credentials)")
        typer.echo(f"READY {base_url}")
        sys.stdout.flush()

    if workers > 1:  # the parent only supervises: the app built above checked the store and config for them
        engine.dispose()
        serve_workers(sock, host, workers, announce)
    else:
        heap.settle()  # the built app out of the full collections' walk (hub.api.heap)
        serve_foreground(app, host, port, announce, sock=sock)


if __name__ == "__main__":
    api_app()
