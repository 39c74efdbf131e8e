"""Load the declarations (``config/systems/*.yaml``): typed models, or every problem with its file and line.

Cheap enough for a DAG file: PyYAML and pydantic, nothing of the pipeline. The folder
is ``LGSP_SYSTEMS_DIR``, else ``config/systems`` of the project.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from lgsp.declaration import Loc, Stream, SystemDecl, problems
from lgsp.errors import ConfigError

SYSTEMS_DIR_VARIABLE = "LGSP_SYSTEMS_DIR"
PROJECT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = PROJECT / "config" / "systems"
# Datasets the hub itself holds (golden citizens, events, dossiers): a rule may reference them.
HUB_DATASETS: Mapping[str, tuple[str, str]] = {
    "citizen": ("citizen", "personal_id"),
    "civil_event": ("civil_event", "event_id"),
    "dossier": ("dossier", "dossier_id"),
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a declaration: where, and what to write instead."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{_shown(self.path)}:{self.line}: {self.message}"


class DeclarationError(ConfigError):
    """One or more declarations are wrong; ``problems`` lists each with its file and line."""

    def __init__(self, found: list[Problem]) -> None:
        self.problems = found
        noun = "problem" if len(found) == 1 else "problems"
        super().__init__(
            f"{len(found)} {noun} in the system declarations:\n"
            + "\n".join(f"  {p}" for p in found)
            + "\nrun `lgsp systems check` after fixing them"
        )


@dataclass(frozen=True)
class Declared:
    """A loaded declaration and the file it came from."""

    decl: SystemDecl
    path: Path

    def locate(self, loc: Loc) -> int:
        """The line of ``loc`` in the file (the nearest enclosing key that has one)."""
        return _line_of(_lines(self.path), loc)


@dataclass(frozen=True)
class DeclaredStream:
    """One stream with its system: what the pipeline, the DAGs and the CLI work from."""

    system: SystemDecl
    name: str
    stream: Stream

    @property
    def qualified(self) -> str:
        """``system.stream``: the stream's name on cursors, runs and quarantine."""
        return f"{self.system.system}.{self.name}"

    @property
    def dag_id(self) -> str:
        """The stream's DAG: ``<system>_<stream>``, or ``<system>_sync`` when the system has a single stream."""
        if len(self.system.streams) == 1:
            return f"{self.system.system}_sync"
        return f"{self.system.system}_{self.name}"


# libyaml's safe loader parses ~5x faster than the pure-Python one, and every sync loads the declarations.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def systems_dir() -> Path:
    """Where the declarations are: ``LGSP_SYSTEMS_DIR`` or the project's ``config/systems``."""
    given = os.environ.get(SYSTEMS_DIR_VARIABLE, "").strip()
    return Path(given).expanduser() if given else DEFAULT_DIR


def load_systems(directory: Path | None = None) -> tuple[Declared, ...]:
    """Every declaration in ``directory``, in ``lgsp run`` order (``order``, then name).

    Raises:
        DeclarationError: any file is unreadable or wrong; every problem of every file is listed.
        ConfigError: the folder does not exist.
    """
    folder = directory or systems_dir()
    if not folder.is_dir():
        raise ConfigError(f"no system declarations at {folder}: create it, or set {SYSTEMS_DIR_VARIABLE}")
    found: list[Problem] = []
    loaded = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            loaded.append(load_file(path))
        except DeclarationError as exc:
            found.extend(exc.problems)
    found.extend(_cross_problems(loaded))
    if found:
        raise DeclarationError(found)
    return tuple(sorted(loaded, key=lambda d: (d.decl.order, d.decl.system)))


def load_file(path: Path) -> Declared:
    """One declaration file, checked on its own.

    Raises:
        DeclarationError: unreadable YAML, a wrong key or value, or a contradiction, each with its line.
    """
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader, libyaml's when built
    except OSError as exc:
        raise DeclarationError([Problem(path, 1, f"cannot read the file ({type(exc).__name__})")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise DeclarationError([Problem(path, line, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
    if not isinstance(data, dict):
        raise DeclarationError([Problem(path, 1, "a declaration is a mapping: system:, title:, streams:, ...")])
    try:
        decl = SystemDecl.model_validate(data)
    except ValidationError as exc:
        lines = _lines(path)
        raise DeclarationError(
            [Problem(path, _line_of(lines, error["loc"]), _message(error)) for error in exc.errors()]
        ) from None
    declared = Declared(decl, path)
    found = [Problem(path, declared.locate(loc), text) for loc, text in problems(decl)]
    if decl.system != path.stem:
        found.append(
            Problem(
                path, declared.locate(("system",)), f"the file of system {decl.system!r} is named {decl.system}.yaml"
            )
        )
    if found:
        raise DeclarationError(found)
    return declared


def streams(systems: tuple[Declared, ...]) -> Iterator[DeclaredStream]:
    """Every declared stream, in ``lgsp run`` order."""
    for declared in systems:
        for name, stream in declared.decl.streams.items():
            yield DeclaredStream(declared.decl, name, stream)


def _cross_problems(loaded: list[Declared]) -> list[Problem]:
    """What only the set of declarations can tell: duplicate names, references to unknown datasets."""
    found = []
    datasets = dict(HUB_DATASETS)
    owners: dict[str, str] = {}
    for declared in loaded:
        for name, stream in declared.decl.streams.items():
            here = f"{declared.decl.system}.{name}"
            if stream.dataset in owners and stream.merge is None:
                found.append(
                    Problem(
                        declared.path,
                        declared.locate(("streams", name, "dataset")),
                        f"dataset {stream.dataset!r} is already fed by {owners[stream.dataset]}; "
                        "name a dataset of its own, or a merge: that combines them",
                    )
                )
            owners.setdefault(stream.dataset, here)
            datasets.setdefault(stream.dataset, (stream.dataset, stream.key))
    names = {declared.decl.system for declared in loaded}
    for declared in loaded:
        for index, alias in enumerate(declared.decl.aliases):
            if alias in names:
                found.append(
                    Problem(
                        declared.path,
                        declared.locate(("aliases", index)),
                        f"alias {alias!r} is the name of a declared system: drop it, or rename that system",
                    )
                )
            names.add(alias)
    for declared in loaded:
        for name, stream in declared.decl.streams.items():
            for index, target in enumerate(stream.reads):
                if target not in datasets:
                    found.append(
                        Problem(
                            declared.path,
                            declared.locate(("streams", name, "reads", index)),
                            f"reads names dataset {target!r}, which nothing declares; "
                            f"known: {', '.join(sorted(datasets))}",
                        )
                    )
            for index, rule in enumerate(stream.rules):
                for target in getattr(rule, "references", {}).values():
                    if target not in datasets:
                        found.append(
                            Problem(
                                declared.path,
                                declared.locate(("streams", name, "rules", index)),
                                f"references names dataset {target!r}, which nothing declares; "
                                f"known: {', '.join(sorted(datasets))}",
                            )
                        )
    return found


def _message(error: Any) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    text = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        text = "unknown key: remove it, or check its spelling against schemas/declaration.schema.json"
    return f"{loc}: {text}" if loc else text


@cache
def _lines_cached(path: Path, mtime: float) -> dict[Loc, int]:
    lines: dict[Loc, int] = {}
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return lines
    _walk(node, (), lines)
    return lines


def _lines(path: Path) -> dict[Loc, int]:
    try:
        return _lines_cached(path, path.stat().st_mtime)
    except OSError:
        return {}


def _walk(node: Any, loc: Loc, lines: dict[Loc, int]) -> None:
    if node is None:
        return
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            here = (*loc, key.value)
            lines[here] = key.start_mark.line + 1
            _walk(value, here, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*loc, index), lines)


def _line_of(lines: dict[Loc, int], loc: Loc) -> int:
    for end in range(len(loc), -1, -1):
        line = lines.get(tuple(loc[:end]))
        if line is not None:
            return line
    return 1


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
