"""The dataset catalogue: every dataset the hub shares, where it comes from, its key and its fields.

Derived, never kept in step by hand: a declared stream (``config/systems/*.yaml``)
gives its dataset's titles, system, owner, legal basis, key and typed fields; the
hub's own shared datasets (``schemas.datasets``: citizens and civil-status events)
get a fixed description here unless a declaration feeds them. Agreements, token
scopes, the API's dataset parameters, pushes and the auditors' report all read it.

``province_systems`` reads ``config/province_systems.yaml``, the province's list of
information systems with their owners; one is *connected through the LGSP* when the
system named in its ``connected_by`` is in the catalogue (declared, or one of the
hub's own).

Cheap: YAML and pydantic, cached per folder and file times.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from hub.systems.loader import HUB_DATASETS, PROJECT, Declared, load_systems, streams, systems_dir
from lgsp.declaration import IDENTIFIER, Stream, Titles
from lgsp.errors import ConfigError
from schemas.datasets import DATASET_FIELDS, DATASET_KEYS

PROVINCE_SYSTEMS = PROJECT / "config" / "province_systems.yaml"
_LANGS = ("vi", "en")


@dataclass(frozen=True)
class FieldEntry:
    """One field of a dataset: canonical name, type, titles, personal or not, and its wire name if declared."""

    name: str
    type: str
    title: Titles
    personal: bool
    wire: str | None = None


@dataclass(frozen=True)
class DatasetEntry:
    """One shared dataset and where it comes from."""

    name: str
    title: Titles
    system: str  # the system name, as streams are qualified (``system.stream``)
    stream: str  # the qualified stream that feeds it
    owner: str
    legal_basis: str | None
    key: str
    fields: tuple[FieldEntry, ...]
    declared: bool  # False: one of the hub's own (its table lives in hub.store.tables)
    schedule: str | None = None
    shares: bool = True  # subscribers get its changes pushed
    source: str | None = None  # the system name provenance stamps carry for values from its own register
    spec: Stream | None = field(default=None, compare=False, repr=False)  # the declared stream; None: the hub's own

    @property
    def field_names(self) -> tuple[str, ...]:
        """Every field, key included, in declaration order."""
        return tuple(item.name for item in self.fields)

    @property
    def subject(self) -> str | None:
        """The field naming the person a record is about (the first personal id), for consent; None if none."""
        return next((item.name for item in self.fields if item.type == "personal_id"), None)

    def field_entry(self, name: str) -> FieldEntry:
        """The field called ``name``.

        Raises:
            KeyError: the dataset has no such field.
        """
        for item in self.fields:
            if item.name == name:
                return item
        raise KeyError(name)


@dataclass(frozen=True)
class SystemEntry:
    """One connected system: titles, owner, protocol, the streams it feeds."""

    name: str
    title: Titles
    owner: str
    legal_basis: str | None
    protocol: str
    streams: tuple[str, ...]
    datasets: tuple[str, ...]
    declared: bool
    authoritative: bool = False  # the register of record: its values are shared as verified


@dataclass(frozen=True, eq=False)
class Catalogue:
    """Every shared dataset and every connected system, the hub's own first, then in declaration order."""

    datasets: Mapping[str, DatasetEntry]
    systems: Mapping[str, SystemEntry]

    def dataset(self, name: str) -> DatasetEntry:
        """The dataset called ``name``.

        Raises:
            KeyError: no such dataset.
        """
        return self.datasets[name]

    def fields(self) -> dict[str, tuple[str, ...]]:
        """dataset -> its field names (what an agreement may grant)."""
        return {name: entry.field_names for name, entry in self.datasets.items()}

    @property
    def declared(self) -> tuple[DatasetEntry, ...]:
        """The datasets that declarations feed."""
        return tuple(entry for entry in self.datasets.values() if entry.declared)

    @property
    def authoritative(self) -> frozenset[str]:
        """The systems declared the register of record for what they say (their values are verified)."""
        return frozenset(name for name, entry in self.systems.items() if entry.authoritative)

    def by_stream(self, stream: str) -> DatasetEntry | None:
        """The dataset the qualified stream feeds, if any."""
        return next((entry for entry in self.datasets.values() if entry.stream == stream), None)


def catalogue(systems: tuple[Declared, ...] | None = None) -> Catalogue:
    """The catalogue of ``systems`` (default: the declarations in ``systems_dir()``) and the hub's own datasets.

    Raises:
        DeclarationError: a declaration is wrong (every problem with its file and line).
        ConfigError: the declarations' folder does not exist.
    """
    if systems is not None:
        return _build(systems)
    folder = systems_dir()
    stamp = tuple(sorted((path.name, path.stat().st_mtime_ns) for path in folder.glob("*.yaml")))
    return _cached(folder, stamp)


@cache
def _cached(folder: Path, stamp: tuple[tuple[str, int], ...]) -> Catalogue:
    return _build(load_systems(folder))


def _build(systems: tuple[Declared, ...]) -> Catalogue:
    declared_datasets: dict[str, DatasetEntry] = {}
    declared_systems: dict[str, SystemEntry] = {}
    hub_fed: dict[str, DatasetEntry] = {}
    for item in streams(systems):
        stream, decl = item.stream, item.system
        if stream.dataset in _HUB_DATASETS:
            # A domain merge feeds one of the hub's own datasets: its table, fields and sharing stay the
            # hub's; where it comes from, and when, is the declaration's.
            hub_fed.setdefault(
                stream.dataset,
                replace(
                    _HUB_DATASETS[stream.dataset],
                    system=decl.system,
                    stream=item.qualified,
                    owner=decl.owner,
                    legal_basis=decl.legal_basis,
                    schedule=stream.schedule,
                    source=decl.system,
                ),
            )
            continue
        if stream.dataset in HUB_DATASETS:
            continue  # the hub's working records a domain merge keeps (dossiers): no dataset agencies are granted
        fields = tuple(
            FieldEntry(
                name,
                spec.type,
                spec.title or Titles(vi=name, en=name),
                spec.personal if spec.personal is not None else (spec.type == "personal_id" or name == stream.key),
                spec.from_,
            )
            for name, spec in stream.fields.items()
        )
        # A merge may let several streams feed one dataset: the first declares it.
        declared_datasets.setdefault(
            stream.dataset,
            DatasetEntry(
                name=stream.dataset,
                title=stream.title or decl.title,
                system=decl.system,
                stream=item.qualified,
                owner=decl.owner,
                legal_basis=decl.legal_basis,
                key=stream.key,
                fields=fields,
                declared=True,
                schedule=stream.schedule,
                shares=stream.shared_dataset == stream.dataset,
                source=decl.system,
                spec=stream,
            ),
        )
    for declared in systems:
        decl = declared.decl
        declared_systems[decl.system] = SystemEntry(
            name=decl.system,
            title=decl.title,
            owner=decl.owner,
            legal_basis=decl.legal_basis,
            protocol=decl.protocol,
            streams=tuple(f"{decl.system}.{name}" for name in decl.streams),
            datasets=tuple(
                dict.fromkeys(
                    stream.dataset
                    for stream in decl.streams.values()
                    if stream.dataset in _HUB_DATASETS or stream.dataset not in HUB_DATASETS
                )
            ),
            declared=True,
            authoritative=decl.authoritative,
        )
    datasets = {
        name: hub_fed.get(name, entry) for name, entry in _HUB_DATASETS.items() if name not in declared_datasets
    }
    datasets.update(declared_datasets)
    return Catalogue(MappingProxyType(datasets), MappingProxyType(declared_systems))


# --- the province's information systems -------------------------------------------------


@dataclass(frozen=True)
class ProvinceSystem:
    """One of the province's information systems, and the system that connects it through the LGSP, if any."""

    code: str
    title: Titles
    owner: str
    connected_by: str | None


@dataclass(frozen=True)
class Connection:
    """A province system and what connects it (None: not connected yet)."""

    system: ProvinceSystem
    through: SystemEntry | None

    @property
    def connected(self) -> bool:
        """Whether the LGSP exchanges data with it today."""
        return self.through is not None


def province_systems(path: Path | None = None) -> tuple[ProvinceSystem, ...]:
    """The province's information systems, as ``config/province_systems.yaml`` lists them.

    Raises:
        ConfigError: the file is missing or an entry is malformed; the message names the entry and what to fix.
    """
    where = path or PROVINCE_SYSTEMS
    try:
        document = yaml.safe_load(where.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {where}: {exc.strerror}; restore the province's list of systems") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where.name} is not valid YAML ({type(exc).__name__}); fix its syntax") from None
    entries = document.get("systems") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{where.name}: expected a non-empty top-level 'systems' list")
    found: dict[str, ProvinceSystem] = {}
    for number, entry in enumerate(entries, start=1):
        item = _province_system(entry, f"{where.name}: system {number}")
        if item.code in found:
            raise ConfigError(f"{where.name}: system {number} repeats code {item.code}")
        found[item.code] = item
    return tuple(found.values())


def connections(entries: tuple[ProvinceSystem, ...], known: Catalogue) -> list[Connection]:
    """Each province system with the catalogue's system that connects it (None when none does yet)."""
    return [
        Connection(entry, known.systems.get(entry.connected_by) if entry.connected_by else None) for entry in entries
    ]


def _province_system(entry: Any, where: str) -> ProvinceSystem:
    keys = {"code", "title", "owner", "connected_by"}
    if not isinstance(entry, dict) or not set(entry) <= keys:
        raise ConfigError(f"{where}: expected a mapping with {', '.join(sorted(keys))} (connected_by optional)")
    code, owner, through = entry.get("code"), entry.get("owner"), entry.get("connected_by")
    if not isinstance(code, str) or not code.strip():
        raise ConfigError(f"{where}: 'code' must be a non-empty string")
    title = entry.get("title")
    if not isinstance(title, dict) or not all(isinstance(title.get(lang), str) and title[lang] for lang in _LANGS):
        raise ConfigError(f"{where} ({code}): 'title' must be {{vi: ..., en: ...}}")
    if not isinstance(owner, str) or not owner.strip():
        raise ConfigError(f"{where} ({code}): 'owner' must be a non-empty string")
    if through is not None and not (isinstance(through, str) and re.fullmatch(IDENTIFIER, through)):
        raise ConfigError(f"{where} ({code}): 'connected_by' names a system (as in config/systems), or is left out")
    return ProvinceSystem(code.strip(), Titles(vi=title["vi"], en=title["en"]), owner.strip(), through)


# --- the hub's own datasets, until a declaration feeds them -------------------------------
# (type, Vietnamese title, English title, personal)
_CITIZEN_FIELDS: dict[str, tuple[str, str, str, bool]] = {
    "personal_id": ("personal_id", "Số định danh cá nhân", "Personal identification number", True),
    "full_name": ("text", "Họ, chữ đệm và tên", "Full name", True),
    "birth_date": ("date", "Ngày, tháng, năm sinh", "Date of birth", True),
    "gender": ("text", "Giới tính", "Gender", True),
    "nationality": ("text", "Quốc tịch", "Nationality", True),
    "ethnicity": ("text", "Dân tộc", "Ethnicity", True),
    "religion": ("text", "Tôn giáo", "Religion", True),
    "hometown": ("text", "Quê quán", "Home town", True),
    "residence_province": ("province", "Tỉnh nơi thường trú", "Province of residence", True),
    "residence_commune": ("commune", "Xã nơi thường trú", "Commune of residence", True),
    "residence_detail": ("text", "Địa chỉ thường trú", "Residence address", True),
    "father_id": ("personal_id", "Số định danh của cha", "Father's personal id", True),
    "mother_id": ("personal_id", "Số định danh của mẹ", "Mother's personal id", True),
    "spouse_id": ("personal_id", "Số định danh của vợ/chồng", "Spouse's personal id", True),
    "marital_status": ("text", "Tình trạng hôn nhân", "Marital status", True),
    "death_date": ("date", "Ngày mất", "Date of death", True),
}
_EVENT_FIELDS: dict[str, tuple[str, str, str, bool]] = {
    "event_id": ("text", "Mã sự kiện hộ tịch", "Civil-status event id", False),
    "event_type": ("text", "Loại sự kiện", "Event type", False),
    "personal_id": ("personal_id", "Số định danh của người được đăng ký", "Subject's personal id", True),
    "spouse_id": ("personal_id", "Số định danh của bên kia (kết hôn)", "Other spouse's personal id", True),
    "event_date": ("date", "Ngày xảy ra sự kiện", "Event date", True),
    "commune": ("commune", "Xã nơi đăng ký", "Commune of registration", False),
    "recorded_at": ("datetime", "Thời điểm ghi nhận", "Recorded at", False),
}


def _hub_fields(dataset: str, described: dict[str, tuple[str, str, str, bool]]) -> tuple[FieldEntry, ...]:
    # schemas.datasets is the list; the descriptions above only add titles and types.
    return tuple(
        FieldEntry(name, described[name][0], Titles(vi=described[name][1], en=described[name][2]), described[name][3])
        for name in DATASET_FIELDS[dataset]
    )


_HUB_DATASETS: dict[str, DatasetEntry] = {
    # Fed by declared streams through their domain merges: system, stream, owner, legal basis, schedule
    # and source are filled from the first declaration feeding it (_build); none feeding it leaves them empty.
    "citizen": DatasetEntry(
        "citizen",
        Titles(vi="Dân cư (công dân)", en="Population (citizens)"),
        "",
        "",
        "",
        None,
        DATASET_KEYS["citizen"],
        _hub_fields("citizen", _CITIZEN_FIELDS),
        declared=False,
        schedule=None,
        source=None,
    ),
    "civil_event": DatasetEntry(
        "civil_event",
        Titles(vi="Hộ tịch (sự kiện)", en="Civil status (events)"),
        "",
        "",
        "",
        None,
        DATASET_KEYS["civil_event"],
        _hub_fields("civil_event", _EVENT_FIELDS),
        declared=False,
        schedule=None,
        shares=False,  # events reach agencies through the feed; their pushes are the citizens' changes
        source=None,
    ),
}
