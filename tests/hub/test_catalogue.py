"""The catalogue and the province's systems are derived from the declarations, never kept in step by hand."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from hub.systems.catalogue import PROVINCE_SYSTEMS, catalogue, connections, province_systems
from hub.systems.loader import DEFAULT_DIR, HUB_DATASETS, load_systems, streams
from lgsp.errors import ConfigError
from schemas.datasets import DATASET_FIELDS

PARCELS = {
    "system": "land",
    "title": {"vi": "Cơ sở dữ liệu đất đai tỉnh", "en": "Provincial land database"},
    "owner": "Sở Nông nghiệp và Môi trường",
    "legal_basis": "Luật Đất đai 2024",
    "connection": "land",
    "rest": {"auth": {"api_key": {"header": "X-Api-Key"}}},
    "streams": {
        "parcels": {
            "title": {"vi": "Thửa đất", "en": "Land parcels"},
            "get": "/parcels",
            "records": "items",
            "dataset": "land_parcel",
            "key": "parcel_id",
            "fields": {
                "parcel_id": "MaThua",
                "holder_id": {"from": "SoDinhDanh", "type": "personal_id"},
                "area": {"from": "DienTich", "type": "decimal", "title": {"vi": "Diện tích", "en": "Area"}},
                "commune": {"from": "MaXa", "type": "commune", "personal": True},
            },
            "shares": False,
        }
    },
}


@pytest.fixture
def systems_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped declarations, copied where a test may add one (LGSP_SYSTEMS_DIR)."""
    folder = tmp_path / "systems"
    shutil.copytree(DEFAULT_DIR, folder)
    for path in folder.glob("*.yaml"):  # relative contract paths must still resolve from the copy
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for protocol, key in (("rest", "openapi"), ("soap", "wsdl")):
            if document.get(protocol, {}).get(key):
                document[protocol][key] = str((DEFAULT_DIR / document[protocol][key]).resolve())
        path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    monkeypatch.setenv("LGSP_SYSTEMS_DIR", str(folder))
    return folder


def declare_land(folder: Path) -> None:
    (folder / "land.yaml").write_text(yaml.safe_dump(PARCELS, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_every_declared_stream_is_a_dataset_with_its_declarations_facts() -> None:
    known = catalogue()
    for item in streams(load_systems()):
        system = known.systems[item.system.system]
        assert system.declared and item.qualified in system.streams and system.protocol == item.system.protocol
        if item.stream.dataset in HUB_DATASETS and item.stream.dataset not in DATASET_FIELDS:
            # The hub's working records a domain merge keeps (the one-stop dossiers): no dataset to grant.
            assert item.stream.merge is not None and item.stream.dataset not in known.datasets
            assert item.stream.dataset not in system.datasets
            continue
        entry = known.dataset(item.stream.dataset)
        if item.stream.dataset in DATASET_FIELDS:
            # A declared stream that feeds one of the hub's own datasets (through its named merge, e.g. the
            # civil-status events) leaves that dataset's table and sharing to the hub.
            assert item.stream.merge is not None and not entry.declared
            assert (entry.stream, entry.system) == (item.qualified, item.system.system)
            continue
        assert entry.declared and entry.stream == item.qualified and entry.system == item.system.system
        assert entry.owner == item.system.owner and entry.legal_basis == item.system.legal_basis
        assert entry.title == (item.stream.title or item.system.title) and entry.key == item.stream.key
        assert entry.field_names == tuple(item.stream.fields) and entry.schedule == item.stream.schedule
        for field in entry.fields:
            spec = item.stream.fields[field.name]
            assert (field.type, field.wire) == (spec.type, spec.from_)
            # personal: as declared, else a personal id or the record's key
            assert field.personal == (spec.type == "personal_id" or field.name == item.stream.key), field
        subject = next(name for name, spec in item.stream.fields.items() if spec.type == "personal_id")
        assert entry.subject == subject
        system = known.systems[item.system.system]
        assert item.qualified in system.streams and system.protocol == item.system.protocol
    # The hub's own shared datasets are there too, with the fields agreements may grant.
    assert {name: known.dataset(name).field_names for name in DATASET_FIELDS} == DATASET_FIELDS
    assert not known.dataset("citizen").declared and known.dataset("citizen").subject == "personal_id"
    assert {"national_population", "civil_status", "one_stop"} <= set(known.systems)


def test_a_new_declaration_is_in_the_catalogue_with_no_other_change(systems_dir: Path) -> None:
    before = catalogue()
    assert "land_parcel" not in before.datasets
    declare_land(systems_dir)
    known = catalogue()
    entry = known.dataset("land_parcel")
    assert (entry.title.en, entry.system, entry.stream) == ("Land parcels", "land", "land.parcels")
    assert entry.key == "parcel_id"
    assert [(f.name, f.type, f.personal) for f in entry.fields] == [
        ("parcel_id", "text", True),  # the key
        ("holder_id", "personal_id", True),
        ("area", "decimal", False),
        ("commune", "commune", True),  # declared personal
    ]
    assert entry.field_entry("area").title.vi == "Diện tích" and entry.field_entry("holder_id").title.en == "holder_id"
    assert not entry.shares and entry.subject == "holder_id"
    assert known.systems["land"].datasets == ("land_parcel",) and set(before.datasets) < set(known.datasets)


def test_the_province_has_twelve_systems_five_of_them_connected_through_the_lgsp() -> None:
    listed = province_systems()
    links = connections(listed, catalogue())
    assert len(listed) == 12 and len({entry.code for entry in listed}) == 12
    connected = {link.system.connected_by for link in links if link.connected}
    declared = {declared.decl.system for declared in load_systems()}
    assert connected == {"national_population", "civil_status", "one_stop"} | declared and len(connected) == 5
    for link in links:
        assert link.system.title.vi and link.system.title.en and link.system.owner
        if link.through is not None:
            assert link.through.name == link.system.connected_by


def test_a_system_becomes_connected_when_its_declaration_lands(systems_dir: Path, tmp_path: Path) -> None:
    document = yaml.safe_load(PROVINCE_SYSTEMS.read_text(encoding="utf-8"))
    land = next(entry for entry in document["systems"] if entry["code"] == "land_db")
    land["connected_by"] = "land"
    listed = tmp_path / "province_systems.yaml"
    listed.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert sum(link.connected for link in connections(province_systems(listed), catalogue())) == 5
    declare_land(systems_dir)
    assert sum(link.connected for link in connections(province_systems(listed), catalogue())) == 6


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("systems: []", "non-empty top-level 'systems' list"),
        ("systems: [{code: a, title: {vi: A}, owner: B}]", r"system 1 \(a\): 'title' must be \{vi: "),
        ("systems: [{code: a, title: {vi: A, en: A}, owner: ''}]", "'owner' must be a non-empty string"),
        ("systems: [{code: a, title: {vi: A, en: A}, owner: B, connected_by: Land DB}]", "'connected_by' names"),
        ("systems: [{code: a, title: {vi: A, en: A}, owner: B, wired: true}]", "expected a mapping with code"),
        (
            "systems: [{code: a, title: {vi: A, en: A}, owner: B}, {code: a, title: {vi: A, en: A}, owner: B}]",
            "system 2 repeats code a",
        ),
        ("systems: [", "not valid YAML"),
    ],
)
def test_a_malformed_list_of_systems_says_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "province_systems.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        province_systems(path)


def test_a_missing_list_says_where_it_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read .*nowhere\.yaml"):
        province_systems(tmp_path / "nowhere.yaml")
