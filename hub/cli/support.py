"""What every ``lgsp`` command shares: open the store, fail with one clear line, show others' text safely.

A command's body runs inside ``failures("lgsp <command>")``: an error we raise on purpose
(``LgspError``), a database error, or a port we cannot listen on becomes one line on
stderr and exit 2, never a traceback. Text that came from a peer, a file or the store
(error texts, agency names, rule names) is shown literally, never as Rich markup, with
every id-shaped run of digits masked as ``schemas.personal_id.mask`` masks an id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from connectors.policy import origin_of
from hub import settings as hub_settings
from hub.settings import Endpoint, Settings
from lgsp.errors import LgspError, SourceError, TransientSourceError
from lgsp.options import option_problems
from schemas.personal_id import mask

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings
    from sqlalchemy import Engine

# A personal id has 12 digits, the old identity card 9: any run of 9 or more is masked.
_ID_SHAPED = re.compile(r"(?<!\d)\d{9,}(?!\d)")
_stderr = Console(stderr=True)


def mask_text(text: str) -> str:
    """``text`` with every id-shaped run of digits masked (``096*******45``)."""
    return _ID_SHAPED.sub(lambda found: mask(found.group()), text)


def masked(value: Any) -> Any:
    """A JSON-like value with ``mask_text`` applied to every string in it (numbers stay numbers)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {key: masked(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [masked(inner) for inner in value]
    return value


def cell(value: object, width: int | None = None) -> Text:
    """A table cell showing ``value`` literally (no markup), masked, cut to ``width`` characters."""
    text = "" if value is None else mask_text(str(value))
    if width is not None and len(text) > width:
        text = text[: width - 1] + "…"
    return Text(text)


def complain(message: str) -> None:
    """Print ``message`` (masked, literal, red) as one line on stderr."""
    _stderr.print(Text(mask_text(message), style="red"), soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` (masked, literal) as one line on stderr and exit with ``code``.

    Raises:
        typer.Exit: always.
    """
    complain(message)
    raise typer.Exit(code)


def say(message: str) -> None:
    """Print a note (masked, literal) on stderr, on one line."""
    _stderr.print(Text(mask_text(message)), soft_wrap=True)


@dataclass(frozen=True)
class Peer:
    """An external system as a command names it when the system cannot be reached or refuses us."""

    system: str  # the ``system`` of the SourceError its connector raises
    title: str
    endpoint: Callable[[Settings], Endpoint]
    configured_by: str


PORTAL = Peer(
    "portal",
    "the National Public Service Portal",
    hub_settings.portal_endpoint,
    f"LGSP_PORTAL_URL or AIRFLOW_CONN_{hub_settings.PORTAL_CONN_ID.upper()}",
)


@contextmanager
def failures(
    what: str, settings: Settings | None = None, peers: Iterable[Peer] = (), *, code: int = 2
) -> Iterator[None]:
    """Turn what a command can expect to go wrong into one line on stderr and exit ``code``.

    ``peers``: the external systems the block calls; a SourceError names the one that
    failed, where the settings say it answers, and what to check.

    Raises:
        typer.Exit: an LgspError, a database error or an unusable port was raised in the block.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from lgsp.serving import PortUnavailable

    try:
        yield
    except SourceError as exc:
        fail(f"{what} failed: {_named(exc, settings, tuple(peers))}", code)
    except LgspError as exc:
        fail(f"{what} failed: {exc}", code)
    except PortUnavailable as exc:
        fail(f"{what} failed: {exc}; pick another with --port", code)
    except SQLAlchemyError as exc:
        # The text of a database error may quote stored values: only its kind is shown.
        fail(
            f"{what} failed: the store answered {type(exc).__name__}; check the database, "
            "and that `lgsp upgrade-db` has run with this version",
            code,
        )


def _named(exc: SourceError, settings: Settings | None, peers: tuple[Peer, ...]) -> str:
    """The error with the system that failed, its origin (from the settings) and what to check."""
    peer = next((p for p in peers if p.system == exc.system), peers[0] if len(peers) == 1 else None)
    if peer is None or settings is None:
        return str(exc)
    try:
        where = origin_of(peer.endpoint(settings).url)
    except (LgspError, ValueError):
        where = "(not configured)"
    if isinstance(exc, TransientSourceError):
        advice = f"check that it is running and reachable there, or fix {peer.configured_by}"
    else:
        advice = f"it refused the call: check the credentials and the URL in {peer.configured_by}"
    return f"{peer.title} at {where}: {exc}; {advice}"


def existing_store(settings: Settings) -> Engine:
    """The store as it is, neither created nor migrated: for commands that read it (and replay, deliver).

    Raises:
        StoreError: there is no store where the settings point, or it cannot be opened.
        ConfigError: LGSP_DATABASE_URL is not a usable database URL.
    """
    from hub.store.engine import open_existing_store

    return open_existing_store(settings.resolved_database_url())


def migrated_store(settings: Settings) -> Engine:
    """The store, created or migrated to the newest schema: for commands that write what a store is made of.

    Raises:
        StoreError: the database cannot be reached or migrated.
        ConfigError: LGSP_DATABASE_URL is not a usable database URL.
    """
    from hub.store.engine import open_store

    return open_store(settings.resolved_database_url())


def check_options(
    what: str, model: type[BaseSettings], options: Mapping[str, object], also: Iterable[str | None] = ()
) -> None:
    """Fail with EVERY wrong option value named (``lgsp.options.option_problems``), or return.

    Raises:
        typer.Exit: one or more values are wrong (exit 2, each named).
    """
    problems = option_problems(model, options, also)
    if problems:
        fail(f"{what}: " + "; ".join(problems))
