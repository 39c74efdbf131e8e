"""``lgsp sync``: one flow's stages run once, directly, without Airflow.

``lgsp sync SYSTEM[.STREAM]`` runs a declared system's streams (``config/systems``) through
``hub.pipeline.declared``; the targets are the declarations' names, found when the command
line is read (``_SyncGroup``), so ``lgsp sync --help`` lists them; a target may be written with
``-`` for ``_`` (``lgsp sync civil-status``, as the command was before the register was declared),
or by one of the system's declared ``aliases`` (``lgsp sync population``), or as a stream's own
name when one system alone declares it (``lgsp sync dossiers``). A stream's followups (its
``then:``) run after its publish.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from hub.cli.support import PORTAL, fail, failures, masked, say
from hub.settings import load_settings

if TYPE_CHECKING:
    from hub.systems.loader import Declared


class _SyncGroup(TyperGroup):
    """One command per declared system, per declared stream and per alias, found when the line is read."""

    def list_commands(self, ctx: Any) -> list[str]:
        """Each declared system and its streams, in ``lgsp run`` order."""
        return [*super().list_commands(ctx), *_declared_targets()]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """A command by name: the hub's own, else a declared target (said plainly when the declarations are wrong)."""
        found = super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        try:
            targets = _declared_targets(strict=True)
        except Exception as exc:  # noqa: BLE001 - a DeclarationError or a missing folder: say it, not "no such command"
            return _failing_command(cmd_name, str(exc))
        target = cmd_name if cmd_name in targets else cmd_name.replace("-", "_")
        if target not in targets:  # a stream's own name, when one system alone declares it (lgsp sync dossiers)
            owners = [name for name in targets if name.endswith(f".{target}")]
            target = owners[0] if len(owners) == 1 else target
        return _declared_command(target, targets[target]) if target in targets else None


sync_app = typer.Typer(
    cls=_SyncGroup,
    help="Run one flow's stages directly, without Airflow: a declared SYSTEM or SYSTEM.STREAM.",
    no_args_is_help=True,
)


# --- declared targets ----------------------------------------------------------------


def _declared_targets(*, strict: bool = False) -> dict[str, tuple[str, ...]]:
    """Target -> the qualified streams it runs: each system (all its streams), then each ``system.stream``.

    Raises:
        ConfigError: only if ``strict``: the declarations do not load (DeclarationError names every problem).
    """
    from hub.systems.loader import load_systems
    from lgsp.errors import ConfigError

    try:
        systems = load_systems()
    except ConfigError:
        if strict:
            raise
        return {}  # `lgsp sync --help` still answers; naming a target says what is wrong
    return _targets_of(systems)


def _targets_of(systems: tuple[Declared, ...]) -> dict[str, tuple[str, ...]]:
    targets: dict[str, tuple[str, ...]] = {}
    for declared in systems:
        name = declared.decl.system
        qualified = tuple(f"{name}.{stream}" for stream in declared.decl.streams)
        targets[name] = qualified
        targets.update({each: (each,) for each in qualified})
    for declared in systems:  # the names the commands had before the system was declared, where still free
        for alias in declared.decl.aliases:
            targets.setdefault(alias, targets[declared.decl.system])
    return targets


def _declared_command(target: str, qualified: tuple[str, ...]) -> Any:
    """The click command of one target: run its streams' extract, audit and publish once, in order."""
    from hub.systems.loader import load_systems

    decl = next(d.decl for d in load_systems() if d.decl.system == qualified[0].split(".")[0])
    which = f"the stream {target}" if "." in target else f"every stream of {decl.system} ({', '.join(qualified)})"
    alias = f" {target} is its older name." if target in decl.aliases else ""
    app = typer.Typer(add_completion=False)

    @app.command(
        name=target,
        help=f"{decl.title.en}: extract, audit and publish {which} once (connection {decl.connection}).{alias}",
    )
    def run(
        run_id: Annotated[
            str | None, typer.Option(help="Resume or repeat this run id (one stream; several get .STREAM after it).")
        ] = None,
    ) -> None:
        _sync_declared(target, qualified, run_id)

    command = typer.main.get_command(app)
    command.name = target
    return command


def _failing_command(name: str, why: str) -> Any:
    """A command that only says why the declared targets cannot be read (exit 2)."""
    app = typer.Typer(add_completion=False)

    @app.command(name=name, help="(the system declarations do not load: run it to see why)")
    def broken() -> None:
        fail(f"lgsp sync {name} failed: {why}")

    command = typer.main.get_command(app)
    command.name = name
    return command


def _sync_declared(target: str, qualified: tuple[str, ...], run_id: str | None) -> None:
    """Run each stream of ``target`` through ``hub.pipeline.declared.sync``; print its counts as JSON.

    One stream prints ``{"run_id", "stream", counts...}``; a system of several prints one such
    object per stream, keyed by ``system.stream``. A failing stream stops the rest (exit 2).
    """
    from hub.cli.systems import peer_of
    from hub.pipeline import declared
    from hub.systems.loader import load_systems

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    what = f"lgsp sync {target}"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with failures(what):
        settings = load_settings()
        systems = load_systems()
        decl = next(d.decl for d in systems if d.decl.system == qualified[0].split(".")[0])
    documents: dict[str, Any] = {}
    for stream in qualified:
        if run_id is None:
            stream_run = f"cli:{stream}:{stamp}"
        else:
            stream_run = run_id if len(qualified) == 1 else f"{run_id}.{stream.split('.', 1)[1]}"
        with failures(what, settings, (peer_of(decl),)):
            summary = declared.sync(stream_run, settings, stream=stream)
        for step in declared.find_stream(stream, systems).stream.then:
            with failures(what, settings, (peer_of(decl), PORTAL)):  # a followup may call the portal too
                say(f"{step.task}: {declared.followup(stream_run, settings, stream=stream, task=step.task).as_dict()}")
        documents[stream] = masked({"run_id": stream_run, "stream": stream, **summary.as_dict()})
    shown = documents[qualified[0]] if len(qualified) == 1 else documents
    sys.stdout.write(json.dumps(shown, indent=2) + "\n")
