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
) -> None:
    """Migrate the store, load config/sharing, and serve until Ctrl-C; prints ``READY <base_url>`` once listening."""
    from connectors.errors import LgspError
    from hub.api.app import build_app
    from hub.api.server import refuse_demo_secrets, serve
    from hub.settings import load_settings
    from hub.store.engine import open_store

    try:
        settings = load_settings()
        engine = open_store(settings.resolved_database_url())
        app = build_app(settings, engine)
        refuse_demo_secrets(engine, host, settings)
    except LgspError as exc:
        typer.echo(f"lgsp api serve failed: {exc}", err=True)
        raise typer.Exit(2) from exc

    def announce(base_url: str) -> None:
        typer.echo(f"OpenAPI: {base_url}/openapi.json")
        typer.echo(f"Token:   {base_url}/v1/token (OAuth2 client credentials)")
        typer.echo(f"READY {base_url}")
        sys.stdout.flush()

    serve(app, host, port, on_ready=announce)


if __name__ == "__main__":
    api_app()
