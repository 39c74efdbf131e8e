"""`lgsp systems check | list | test | schema` and `lgsp sync SYSTEM[.STREAM]`, through Typer's CliRunner.

`check` reads the declarations and their contract files (WSDL/XSD, OpenAPI) from disk;
the copies here are edited as a data engineer's typo would. `test` and `sync` read a real
loopback server: a small REST registry of our own whose five records have known defects
(so each rule's count is known), and the simulated systems (`mocks.server.MockServer`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import insert
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from typer.testing import CliRunner

from hub.cli.app import app
from hub.local.demo_connections import declared_connections
from hub.store.engine import open_store
from hub.store.reference import current_communes
from hub.store.tables import sync_run
from hub.systems.loader import DEFAULT_DIR, PROJECT, Declared, load_systems
from lgsp.declaration import declaration_schema
from lgsp.serving import ThreadedServer

WIDE = {"COLUMNS": "250"}  # Rich tables on one line each, to read them back
ID_SHAPED = re.compile(r"(?<!\d)\d{9,}(?!\d)")


@pytest.fixture(autouse=True)
def root_logger() -> Iterator[None]:
    """The root logger as it was: `lgsp sync` configures it (logging.basicConfig) on CliRunner's streams."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def invoke(*args: str) -> Result:
    """`lgsp ARGS` in-process; stdout and stderr apart."""
    return CliRunner().invoke(app, list(args), env=WIDE)


@pytest.fixture
def systems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project's declarations, with their contract paths made absolute, as LGSP_SYSTEMS_DIR."""
    folder = tmp_path / "systems"
    shutil.copytree(DEFAULT_DIR, folder)
    for path in folder.glob("*.yaml"):  # the copies point at the project's own WSDL and OpenAPI files
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("../../schemas/", f"{PROJECT}/schemas/"), encoding="utf-8")
    monkeypatch.setenv("LGSP_SYSTEMS_DIR", str(folder))
    monkeypatch.setenv("LGSP_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LGSP_DATABASE_URL", raising=False)
    return folder


def by_protocol(folder: Path, protocol: str) -> Declared:
    """The last declaration of ``folder`` that speaks ``protocol`` (the generic ones come after civil status)."""
    return [d for d in load_systems(folder) if d.decl.protocol == protocol][-1]


def line_of(path: Path, text: str) -> int:
    """The first line of ``path`` holding ``text`` (1-based)."""
    return next(n for n, row in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in row)


def edit(path: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must be there) by ``new`` in the file."""
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# --- check -----------------------------------------------------------------------------


def test_check_passes_the_projects_declarations_and_warns_of_connections_not_configured(
    systems: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = load_systems(systems)
    for declared in loaded:
        monkeypatch.delenv(f"AIRFLOW_CONN_{declared.decl.connection.upper()}", raising=False)
    result = invoke("systems", "check")
    assert result.exit_code == 0, result.output
    streams = sum(len(d.decl.streams) for d in loaded)
    assert (
        result.stdout.strip().splitlines()[-1]
        == f"{len(loaded)} systems, {streams} streams: OK ({len(loaded)} warning(s))"
    )
    for declared in loaded:
        variable = f"AIRFLOW_CONN_{declared.decl.connection.upper()}"
        line = line_of(declared.path, "connection:")
        assert f"{declared.path.name}:{line}: warning: the connection {declared.decl.connection} is not configured" in (
            result.stdout
        )
        assert f"{variable}=http://" in result.stdout
    for name, value in declared_connections("http://127.0.0.1:9", loaded).items():
        monkeypatch.setenv(name, value)
    result = invoke("systems", "check", str(systems))
    assert result.exit_code == 0 and "warning" not in result.stdout, result.output
    assert result.stdout.strip() == f"{len(loaded)} systems, {streams} streams: OK"


def test_check_names_each_contract_mismatch_with_its_line_and_what_to_write(systems: Path) -> None:
    soap, rest = by_protocol(systems, "soap"), by_protocol(systems, "rest")
    soap_stream, rest_stream = next(iter(soap.decl.streams.values())), next(iter(rest.decl.streams.values()))
    rest_wire = list(rest_stream.fields.values())[1].from_
    assert soap_stream.operation and rest_stream.path
    edit(soap.path, f"operation: {soap_stream.operation}", f"operation: {soap_stream.operation}X")
    edit(rest.path, f"get: {rest_stream.path}", f"get: {rest_stream.path}s")
    result = invoke("systems", "check")
    assert result.exit_code == 1, result.output
    assert f"{soap.path.name}:{line_of(soap.path, 'operation:')}: operation '{soap_stream.operation}X' is not in" in (
        result.stdout
    )
    assert f"it has: {soap_stream.operation}. Write one of them" in result.stdout
    assert f"{rest.path.name}:{line_of(rest.path, 'get:')}: operation 'GET {rest_stream.path}s' is not in" in (
        result.stdout
    )
    assert f"GET {rest_stream.path}. Write one of them" in result.stdout
    assert "2 problems in 2 file(s)" in result.stderr

    # The operations right again; now an input part, the records, a field's wire name, a parameter.
    edit(soap.path, f"operation: {soap_stream.operation}X", f"operation: {soap_stream.operation}")
    edit(rest.path, f"get: {rest_stream.path}s", f"get: {rest_stream.path}")
    first_input = next(iter(soap_stream.input))
    edit(soap.path, f"{first_input}:", f"{first_input}Sai:")
    edit(soap.path, f"records: {soap_stream.records}", f"records: {soap_stream.records}s")
    first_param = next(iter(rest_stream.params))
    edit(rest.path, f"params: {{{first_param}:", f"params: {{{first_param}_x:")
    edit(rest.path, f"from: {rest_wire},", f"from: {rest_wire}X,")
    result = invoke("systems", "check")
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert f"{soap.path.name}:{line_of(soap.path, 'input:')}: input '{first_input}Sai' is not in the input of" in out
    assert f"it has: {first_input}, " in out  # what it could have written
    assert f"{soap.path.name}:{line_of(soap.path, 'records:')}: element '{soap_stream.records}s' is not in" in out
    assert f"{rest.path.name}:{line_of(rest.path, 'params:')}: parameter '{first_param}_x' is not in GET" in out
    assert f"{rest.path.name}:{line_of(rest.path, f'{rest_wire}X')}: wire name '{rest_wire}X' is not in a record" in out
    assert f"{rest_wire}," in out  # the names it could have written


def test_check_reports_the_loaders_problems_rules_schedules_and_files_not_found(systems: Path) -> None:
    soap, rest = by_protocol(systems, "soap"), by_protocol(systems, "rest")
    assert soap.decl.soap is not None and soap.decl.soap.wsdl
    edit(soap.path, "wsdl: ", "wsdl: missing/")
    edit(soap.path, "schedule:", "schedule: every hour\n    #")
    rules = "    rules:\n"
    edit(rest.path, rules, rules + "      - pattern: {field: status, regex: 'a+'}\n")
    edit(rest.path, "owner:", "ownr: x\nowner:")
    result = invoke("systems", "check")
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert f"{rest.path.name}:{line_of(rest.path, 'ownr:')}: ownr: unknown key" in out
    assert f"{soap.path.name}:{line_of(soap.path, 'wsdl:')}: 'missing/" in out and "give the file's path" in out
    assert f"{soap.path.name}:{line_of(soap.path, 'schedule:')}: schedule 'every hour' is neither a cron" in out
    # The rest file did not load (the unknown key): its rules are judged once it does.
    edit(rest.path, "ownr: x\n", "")
    result = invoke("systems", "check", str(rest.path))
    assert result.exit_code == 1, result.output
    line = line_of(rest.path, "regex: 'a+'")
    assert re.search(rf"{rest.path.name}:{line}: .*'\+'", result.stdout), result.stdout


def test_check_of_one_file_knows_the_datasets_its_folder_declares(systems: Path) -> None:
    rest = by_protocol(systems, "rest")
    dataset = next(iter(rest.decl.streams.values())).dataset
    path = systems / "probe_registry.yaml"
    path.write_text(PROBED.replace("{personal_id: citizen}", f"{{personal_id: {dataset}}}"), encoding="utf-8")
    result = invoke("systems", "check", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "1 systems, 1 streams: OK (2 warning(s))"
    assert f"probe_registry.yaml:{line_of(path, 'rest:')}: warning: the contract is checked against nothing" in (
        result.stdout
    )
    path.write_text(PROBED.replace("{personal_id: citizen}", "{personal_id: nowhere}"), encoding="utf-8")
    result = invoke("systems", "check", str(path))
    assert result.exit_code == 1
    assert f"probe_registry.yaml:{line_of(path, 'nowhere')}: " in result.stdout and "'nowhere'" in result.stdout


def test_check_of_a_folder_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    result = invoke("systems", "check", str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and "no such file or folder" in result.stderr and not result.stdout


def test_the_published_json_schema_is_the_models_and_the_command_prints_it() -> None:
    published = (PROJECT / "schemas" / "declaration.schema.json").read_text(encoding="utf-8")
    assert json.loads(published) == declaration_schema(), "run `lgsp systems schema > schemas/declaration.schema.json`"
    result = invoke("systems", "schema")
    assert result.exit_code == 0 and result.stdout == published


# --- list ------------------------------------------------------------------------------


def test_list_shows_each_stream_and_its_last_good_run_once_a_store_holds_one(systems: Path) -> None:
    loaded = load_systems(systems)
    result = invoke("systems", "list")
    assert result.exit_code == 0, result.output
    for declared in loaded:
        for name, stream in declared.decl.streams.items():
            row = next(line for line in result.stdout.splitlines() if f"{declared.decl.system}.{name}" in line)
            assert stream.dataset in row and stream.schedule in row and "not configured" in row, row
            assert "(no store)" in row
    assert "no store yet" in result.stderr
    first = next(iter(loaded))
    stream_name = next(iter(first.decl.streams))
    qualified = f"{first.decl.system}.{stream_name}"
    engine = open_store(f"sqlite:///{systems.parent / 'home' / 'hub.sqlite'}")
    finished = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1)  # the store keeps naive UTC
    with engine.begin() as conn:
        conn.execute(
            insert(sync_run).values(
                run_id="r1", stream=qualified, status="published", started_at=finished, finished_at=finished
            )
        )
    engine.dispose()
    result = invoke("systems", "list")
    assert result.exit_code == 0, result.output
    rows = result.stdout.splitlines()
    assert "fresh" in next(line for line in rows if qualified in line)
    for declared in loaded[1:]:
        assert "never" in next(line for line in rows if f"{declared.decl.system}." in line)


# --- test (the live probe) -------------------------------------------------------------

KEY = "probe-Key-123"
COMMUNE = current_communes()[0]["commune_code"]
GOOD_ID = "001203012345"
RECORDS = [
    {"Ma": "A1", "SoDinhDanh": GOOD_ID, "MaXa": COMMUNE, "Ngay": "2024-01-15", "CapNhat": "2025-08-01T10:00:00Z"},
    {"Ma": "A2", "SoDinhDanh": "12345", "MaXa": COMMUNE, "Ngay": "2024-01-15", "CapNhat": "2025-08-01T10:00:00Z"},
    {"Ma": "A3", "SoDinhDanh": GOOD_ID, "MaXa": "99999", "Ngay": "2024-01-15", "CapNhat": "2025-08-01T10:00:00Z"},
    {"Ma": "A1", "SoDinhDanh": GOOD_ID, "MaXa": COMMUNE, "Ngay": "2023-02-01", "CapNhat": "2025-08-01T11:00:00Z"},
    {"Ma": "A5", "SoDinhDanh": GOOD_ID, "MaXa": COMMUNE, "Ngay": "2024-13-45", "CapNhat": "2025-08-01T10:00:00Z"},
]
PROBED = """
system: probe_registry
title: {vi: Sổ thử, en: Probe registry}
owner: Test
connection: probe_registry
rest:
  auth: {api_key: {header: X-Key}}
streams:
  items:
    get: /items
    params: {since: "{cursor}", size: "{page_size}"}
    page_size: 2
    records: data
    next: {page: page, total: pages}
    cursor: {field: updated_at, from: "2025-01-01T00:00:00Z"}
    dataset: probe_item
    key: item_id
    fields:
      item_id: Ma
      personal_id: {from: SoDinhDanh, type: personal_id}
      commune: {from: MaXa, type: commune}
      started: {from: Ngay, type: date}
      updated_at: {from: CapNhat, type: datetime}
      note: GhiChu
    rules:
      - personal_id: personal_id
      - known: commune
      - unique_in_run: item_id
      - references: {personal_id: citizen}
"""


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """A REST registry on loopback serving ``RECORDS`` two a page, declared in LGSP_SYSTEMS_DIR; yields its log."""
    seen: list[dict[str, Any]] = []

    async def items(request: Request) -> Response:
        seen.append(dict(request.query_params))
        if request.headers.get("X-Key") != KEY:
            return JSONResponse({"title": "Unauthorized"}, status_code=401)
        page, size = int(request.query_params["page"]), int(request.query_params["size"])
        pages = -(-len(RECORDS) // size)
        return JSONResponse({"data": RECORDS[(page - 1) * size : page * size], "page": page, "pages": pages})

    folder = tmp_path / "probe_systems"
    folder.mkdir()
    (folder / "probe_registry.yaml").write_text(PROBED, encoding="utf-8")
    monkeypatch.setenv("LGSP_SYSTEMS_DIR", str(folder))
    monkeypatch.setenv("LGSP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LGSP_BACKOFF_SECONDS", "0.01")
    with ThreadedServer(Starlette(routes=[Route("/api/items", items)])) as server:
        monkeypatch.setenv("AIRFLOW_CONN_PROBE_REGISTRY", f"{server.base_url.replace('//', '//x:' + KEY + '@')}/api")
        yield seen


def table_row(output: str, first: str) -> list[str]:
    """The cells of the table row whose first cell is ``first``."""
    for line in output.splitlines():
        cells = [part.strip() for part in line.strip().strip("│").split("│")]
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in:\n{output}")


def test_the_probe_counts_pages_keys_fields_and_each_rules_failures_and_writes_nothing(
    registry: list[dict[str, Any]], tmp_path: Path
) -> None:
    result = invoke("systems", "test", "probe_registry", "--pages", "5")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert [table_row(out, str(n))[1:3] for n in (1, 2, 3)] == [["200", "2"], ["200", "2"], ["200", "1"]]
    assert [query["page"] for query in registry] == ["1", "2", "3"]
    assert registry[0]["since"] == "2025-01-01T00:00:00Z" and registry[0]["size"] == "2"
    # A1 twice with different content; A5's date is no date: a contract error, out of every other rule.
    assert table_row(out, "contract.valid")[1:] == ["1", "5"]
    assert table_row(out, "item_id.not_empty")[1:] == ["0", "4"]
    assert table_row(out, "personal_id.personal_id")[1:] == ["1", "4"]
    assert table_row(out, "commune.known")[1:] == ["1", "4"]
    assert table_row(out, "item_id.unique_in_run")[1:] == ["2", "4"]
    assert table_row(out, "personal_id.references")[1:] == ["-", "checked at audit (needs the store)"]
    assert table_row(out, "note")[1:] == ["GhiChu", "text", "missing in every record"]
    assert table_row(out, "contract.valid: Ngay is not a date")[1] == "1"  # the connector's words: no value
    assert table_row(out, "started")[3] == "4 of 5"
    assert "key item_id: 5 of 5 records have one (0 without), 1 repeated" in out
    assert GOOD_ID not in result.output and not ID_SHAPED.search(result.output)  # counts and names only
    assert not (tmp_path / "home" / "hub.sqlite").exists()  # nothing reached a store


def test_the_probe_reads_as_many_pages_as_asked_from_the_time_given(registry: list[dict[str, Any]]) -> None:
    result = invoke("systems", "test", "probe_registry", "--since", "2026-03-01T00:00:00+07:00")
    assert result.exit_code == 0, result.output
    assert [query["page"] for query in registry] == ["1", "2"]  # --pages defaults to 2
    assert registry[0]["since"] == "2026-02-28T17:00:00Z"
    assert table_row(result.stdout, "contract.valid")[1:] == ["0", "4"]


def test_the_probe_says_in_one_line_when_the_system_refuses_or_is_unknown(
    registry: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = os.environ["AIRFLOW_CONN_PROBE_REGISTRY"]
    monkeypatch.setenv("AIRFLOW_CONN_PROBE_REGISTRY", url.replace(KEY, "wrong-key"))
    result = invoke("systems", "test", "probe_registry")
    assert result.exit_code == 2 and not result.stdout
    message = result.stderr.strip()
    assert message.startswith("lgsp systems test probe_registry failed: Probe registry (probe_registry) at http://")
    assert "401" in message and "check the credentials" in message and "wrong-key" not in message
    assert len(message.splitlines()) == 1, message
    result = invoke("systems", "test", "nosuch")
    assert result.exit_code == 2
    assert "no declared system 'nosuch'; declared: probe_registry" in result.stderr


def test_the_probe_of_a_simulated_soap_system_shows_no_personal_value(
    mock_server: Callable[..., Any], systems: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = mock_server(citizens=400)
    soap = by_protocol(systems, "soap")
    for name, value in declared_connections(server.base_url, (soap,)).items():
        monkeypatch.setenv(name, value)
    result = invoke("systems", "test", soap.decl.system, "--pages", "1")
    assert result.exit_code == 0, result.output
    stream = next(iter(soap.decl.streams.values()))
    page = table_row(result.stdout, "1")
    assert page[1] == "200" and int(page[2]) > 0
    for name in stream.fields:
        assert table_row(result.stdout, name)[1] == stream.fields[name].from_
    assert table_row(result.stdout, "contract.valid")[2] == page[2]
    assert not ID_SHAPED.search(result.output)


# --- sync ------------------------------------------------------------------------------


def test_sync_help_lists_every_declared_target_and_the_hubs_flows(systems: Path) -> None:
    result = invoke("sync", "--help")
    assert result.exit_code == 0, result.output
    for declared in load_systems(systems):
        assert f" {declared.decl.system} " in result.stdout
        for name in declared.decl.streams:
            assert f" {declared.decl.system}.{name} " in result.stdout
    assert " population " in result.stdout


def test_a_stream_answers_to_its_own_name_when_one_system_alone_declares_it(systems: Path) -> None:
    # `lgsp sync dossiers` was the hand-written flow's command; the declared stream keeps it.
    result = invoke("sync", "dossiers", "--help")
    assert result.exit_code == 0, result.output
    assert "the stream one_stop.dossiers" in result.stdout


def test_a_declared_target_answers_to_its_hyphenated_name(systems: Path) -> None:
    # `lgsp sync civil-status` was the hand-written flow's command; the declared system keeps it.
    result = invoke("sync", "civil-status", "--help")
    assert result.exit_code == 0, result.output
    assert "every stream of civil_status (civil_status.events)" in result.stdout
    assert invoke("sync", "no-such-system", "--help").exit_code != 0


def test_reads_names_a_dataset_something_declares(systems: Path) -> None:
    edit(systems / "one_stop.yaml", "reads: [citizen]", "reads: [citizens]")
    result = invoke("systems", "check")
    assert result.exit_code == 1
    line = line_of(systems / "one_stop.yaml", "reads:")
    assert f"one_stop.yaml:{line}: reads names dataset 'citizens', which nothing declares" in result.stdout


def test_a_declared_alias_keeps_an_older_command_and_may_not_name_another_system(systems: Path) -> None:
    # `lgsp sync population` was the hand-written flow's command: the declaration keeps it as an alias.
    result = invoke("sync", "population", "--help")
    assert result.exit_code == 0, result.output
    assert "every stream of national_population" in result.stdout and "its older name" in result.stdout
    edit(systems / "civil_status.yaml", "order:", "aliases: [national_population]\norder:")
    result = invoke("systems", "check")
    assert result.exit_code == 1
    line = line_of(systems / "civil_status.yaml", "aliases:")
    assert f"civil_status.yaml:{line}: alias 'national_population' is the name of a declared system" in result.stdout


def test_sync_runs_a_declared_stream_and_balances(registry: list[dict[str, Any]], tmp_path: Path) -> None:
    result = invoke("sync", "probe_registry.items", "--run-id", "r-probe")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["run_id"] == "r-probe" and document["stream"] == "probe_registry.items"
    assert document["read"] == 5 == document["published"] + document["quarantined"] + document["unchanged"]
    assert document["rules_failed"]["contract.valid"] == 1 and document["rules_failed"]["commune.known"] == 1
    again = invoke("sync", "probe_registry")  # the whole system: its one stream, from the cursor on
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["stream"] == "probe_registry.items"


def test_sync_of_a_target_when_the_declarations_are_broken_says_why(registry: list[dict[str, Any]]) -> None:
    folder = Path(os.environ["LGSP_SYSTEMS_DIR"])
    path = folder / "probe_registry.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("    key: item_id", "    key: item"), encoding="utf-8")
    result = invoke("sync", "probe_registry")
    assert result.exit_code == 2
    assert f"probe_registry.yaml:{line_of(path, 'key: item')}: 'item' is not one of the stream's fields" in (
        result.stderr
    )
    assert invoke("sync", "--help").exit_code == 0  # the hub's own flows stay listed


def test_run_says_a_broken_declaration_before_starting_anything(systems: Path) -> None:
    soap = by_protocol(systems, "soap")
    edit(soap.path, "owner:", "ownr: x\nowner:")
    result = invoke("run", "--citizens", "100")
    assert result.exit_code == 2
    assert "lgsp run failed: 1 problem in the system declarations:" in result.stderr
    assert f"{soap.path.name}:{line_of(soap.path, 'ownr:')}: ownr: unknown key" in result.stderr
    assert not (systems.parent / "home" / "hub.sqlite").exists()  # nothing started, nothing made
