"""Great Expectations Data Docs for every stored validation: GX's renderers, an offline site.

``audit_run`` stores each run's GX result, sanitized (``quality.report.gx_results``),
in ``validation_result``. ``build_data_docs`` turns those documents back into GX
results and renders them with GX's own Data Docs machinery
(``ValidationResultsPageRenderer`` and ``ExpectationSuitePageRenderer``, through
``DefaultJinjaPageView``), one page at a time, in GX's site layout::

    site_dir/index.html                                     the validations, by suite
    site_dir/expectations/<suite>.html                      each suite's rules
    site_dir/validations/<suite>/<run>/latest/<asset>.html  one page per run
    site_dir/static/images/                                 GX's logo and favicon

GX's relative links (home, suite) assume exactly that depth, so they work unchanged.
``latest``: a re-audit replaces the run's stored result, and its page keeps its path.

Offline, and nothing fetched from elsewhere: GX's page shell loads Bootstrap, jQuery,
Font Awesome, Vega and its logo from CDNs, which an auditor's machine may not reach
(and should not be asked to). GX does not ship those in its package, only its own
stylesheet and images. So the page shell (``page.j2``) is replaced by one without
remote references, GX's stylesheet is inlined minus its one remote ``url()``, a
small stylesheet stands in for the Bootstrap and Font Awesome classes the pages
use (grid, tables, cards, status icons), and a few lines of plain script replace
jQuery's "failed only" filter and collapsible "more info". Every content block
is still GX's template.

No personal value can reach a page: documents are sanitized again before rendering
(whatever stored them), and the batch GX validated never held any.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from hub.store.tables import validation_result
from lgsp.errors import StoreError
from quality.report.gx_results import sanitize_result

_IN_CHUNK = 500
_STATIC_IMAGES = ("favicon.ico", "logo-long.png")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class DataDocsError(StoreError):
    """The Data Docs could not be read or built; the message names the run and what to do."""


@dataclass(frozen=True)
class StoredValidation:
    """One run's stored GX validation result (sanitized JSON)."""

    suite: str
    run_id: str
    validated_at: datetime  # naive UTC, as the store keeps it
    success: bool
    document: dict[str, Any]


@dataclass(frozen=True)
class _IndexEntry:
    """What the index page shows of one validation: no document, so the index stays small."""

    suite: str
    run_id: str
    validated_at: datetime
    success: bool
    rules: int
    rules_failed: int
    rows: int | None
    path: str


def read_validations(engine: Engine, run_ids: Collection[str] | None = None) -> Iterator[StoredValidation]:
    """Stream the stored validations (all, or those of ``run_ids``), by suite then newest first.

    Raises:
        DataDocsError: the store could not be read, or a stored document is not JSON.
    """
    columns = select(
        validation_result.c.suite,
        validation_result.c.run_id,
        validation_result.c.validated_at,
        validation_result.c.success,
        validation_result.c.document,
    ).order_by(validation_result.c.suite, validation_result.c.validated_at.desc(), validation_result.c.run_id)
    if run_ids is None:
        queries = [columns]
    else:
        wanted = sorted(set(run_ids))
        # Chunked: one IN list per ~500 ids keeps under every driver's parameter limit.
        queries = [
            columns.where(validation_result.c.run_id.in_(wanted[start : start + _IN_CHUNK]))
            for start in range(0, len(wanted), _IN_CHUNK)
        ]
    try:
        with engine.connect() as conn:
            for query in queries:
                for row in conn.execution_options(yield_per=50).execute(query):
                    yield StoredValidation(
                        suite=row.suite,
                        run_id=row.run_id,
                        validated_at=row.validated_at,
                        success=bool(row.success),
                        document=_load(row.run_id, row.document),
                    )
    except SQLAlchemyError as exc:
        raise DataDocsError(
            f"could not read the stored validation results ({type(exc).__name__}); "
            "check that the store is reachable and migrated (lgsp upgrade-db), then rebuild the report"
        ) from exc


def build_data_docs(validations: Iterable[StoredValidation], site_dir: Path) -> dict[str, str]:
    """Render every validation as a GX Data Docs page under ``site_dir``; {run id: page path, posix}.

    Pages are rendered and written one at a time. Existing files are overwritten,
    others left alone.

    Raises:
        DataDocsError: GX could not render a validation, or a page could not be written.
    """
    # Before the import: GX reads it when it loads. A report never phones home.
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResultSchema
    from great_expectations.render.renderer.page_renderer import ValidationResultsPageRenderer

    view = _offline_view()
    renderer = ValidationResultsPageRenderer()
    schema = ExpectationSuiteValidationResultSchema()
    pages: dict[str, str] = {}
    entries: list[_IndexEntry] = []
    suites: dict[str, list[dict[str, Any]]] = {}  # suite -> the expectation configs of its newest validation
    newest: dict[str, datetime] = {}
    for stored in validations:
        document = sanitize_result(stored.document)
        path = _page_path(stored.suite, stored.run_id, document)
        try:
            html = view.render(renderer.render(schema.load(document)))
        except Exception as exc:
            # GX raises marshmallow, KeyError, TypeError...: one conversion, here. The class only:
            # the document is sanitized, but a message is no place to risk a value.
            raise DataDocsError(
                f"GX could not render the validation of run {stored.run_id!r} ({type(exc).__name__}); "
                "re-run the run's audit to store a fresh result, then rebuild the report"
            ) from exc
        _write(site_dir / path, html)
        pages[stored.run_id] = path
        entries.append(_entry(stored, document, path))
        if stored.suite not in newest or stored.validated_at > newest[stored.suite]:
            newest[stored.suite] = stored.validated_at
            suites[stored.suite] = [item["expectation_config"] for item in document["results"]]
    for suite, configs in suites.items():
        _write(site_dir / _suite_path(suite), _render_suite(view, suite, configs))
    _write(site_dir / "index.html", _render_index(view, entries, {s: _suite_path(s) for s in suites}))
    _copy_static(site_dir)
    return pages


def _load(run_id: str, text: str) -> dict[str, Any]:
    """A stored document, parsed."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise DataDocsError(
            f"the stored validation result of run {run_id!r} is not JSON; re-run the run's audit to replace it"
        ) from exc
    if not isinstance(document, dict):
        raise DataDocsError(
            f"the stored validation result of run {run_id!r} is not a JSON object; re-run the run's audit"
        )
    return document


def _segment(text: str) -> str:
    """One path segment from an identifier: letters, digits, '.', '_' and '-' only, never hidden."""
    return _UNSAFE.sub("-", text).strip(".-")[:80] or "_"


def _run_segment(run_id: str) -> str:
    """A file-system-safe, unique segment for a run id (':' '+' '/' and the rest replaced, plus a hash).

    The hash keeps two ids apart that differ only in replaced characters or in case
    (on a case-insensitive file system).
    """
    return f"{_segment(run_id)}-{hashlib.sha256(run_id.encode()).hexdigest()[:12]}"


def _suite_parts(suite: str) -> list[str]:
    """The suite's path segments: GX nests a dotted suite name one directory per part."""
    return [_segment(part) for part in suite.split(".")]


def _page_path(suite: str, run_id: str, document: dict[str, Any]) -> str:
    """Where GX's layout puts a validation page (depth matters: GX's links count the '..')."""
    asset = str((document.get("meta") or {}).get("batch_spec", {}).get("data_asset_name") or "batch")
    return "/".join(["validations", *_suite_parts(suite), _run_segment(run_id), "latest", f"{_segment(asset)}.html"])


def _suite_path(suite: str) -> str:
    """Where GX's layout puts a suite's page (the validation pages link to it)."""
    return "/".join(["expectations", *_suite_parts(suite)]) + ".html"


def _entry(stored: StoredValidation, document: dict[str, Any], path: str) -> _IndexEntry:
    """The index line of one validation, from its counts."""
    results = document.get("results") or []
    rows = [item["result"].get("element_count") for item in results if item.get("result")]
    return _IndexEntry(
        suite=stored.suite,
        run_id=stored.run_id,
        validated_at=stored.validated_at,
        success=stored.success,
        rules=len(results),
        rules_failed=sum(1 for item in results if not item.get("success")),
        rows=max((n for n in rows if isinstance(n, int)), default=None),
        path=path,
    )


def _render_suite(view: Any, suite: str, configs: list[dict[str, Any]]) -> str:
    """GX's page for a suite, rebuilt from the expectation configurations of a validation."""
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.render.renderer.page_renderer import ExpectationSuitePageRenderer

    try:
        content = ExpectationSuitePageRenderer().render(  # type: ignore[no-untyped-call]
            ExpectationSuite(name=suite, expectations=configs)
        )
        return str(view.render(content))
    except Exception as exc:  # whatever GX raises: one conversion, here
        raise DataDocsError(
            f"GX could not render the page of suite {suite!r} ({type(exc).__name__}); "
            "re-run an audit of that suite to store a fresh result, then rebuild the report"
        ) from exc


def _render_index(view: Any, entries: list[_IndexEntry], suite_pages: dict[str, str]) -> str:
    """The site's home page: every validation, by suite, newest first, linked."""
    ordered = sorted(entries, key=lambda e: e.run_id)
    ordered.sort(key=lambda e: e.validated_at, reverse=True)  # stable: ties keep the run-id order
    ordered.sort(key=lambda e: e.suite)
    by_suite: dict[str, list[_IndexEntry]] = {}
    for entry in ordered:
        by_suite.setdefault(entry.suite, []).append(entry)
    template = view.env.get_template("lgsp_index.j2")
    return str(template.render(renderer_type="SiteIndexPageRenderer", suites=by_suite, suite_pages=suite_pages))


def _write(path: Path, text: str) -> None:
    """Write one page, creating its directories."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DataDocsError(
            f"could not write the Data Docs page {path} ({exc.strerror or type(exc).__name__}); "
            "check that the report directory is writable and has space, then rebuild"
        ) from exc


def _copy_static(site_dir: Path) -> None:
    """GX's logo and favicon, which the pages reference locally."""
    import great_expectations

    images = Path(great_expectations.__file__).parent / "render" / "view" / "static" / "images"
    target = site_dir / "static" / "images"
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name in _STATIC_IMAGES:
            shutil.copyfile(images / name, target / name)
    except OSError as exc:
        raise DataDocsError(
            f"could not copy GX's images into {target} ({exc.strerror or type(exc).__name__}); "
            "check that the report directory is writable, then rebuild"
        ) from exc


def _offline_view() -> Any:
    """GX's page view with our offline shell and stand-in styles ahead of its own templates."""
    from great_expectations.render.view.view import DefaultJinjaPageView
    from jinja2 import ChoiceLoader, DictLoader

    view = DefaultJinjaPageView()
    gx_loader = view.env.loader
    assert gx_loader is not None  # DefaultJinjaView always sets its package loaders
    gx_styles, _, _ = gx_loader.get_source(view.env, "data_docs_default_styles.css")
    overrides = {
        "page.j2": _PAGE,
        "page_action_card.j2": _ACTION_CARD,
        # GX's stylesheet, but its dark-mode logo would be fetched from S3.
        "data_docs_default_styles.css": re.sub(r"url\(\s*['\"]?https?:[^)]*\)", "none", gx_styles),
        "data_docs_custom_styles.css": _STANDIN_STYLES,
        "lgsp_index.j2": _INDEX,
    }
    view.env.loader = ChoiceLoader([DictLoader(overrides), gx_loader])
    return view


# The site root, relative to the page, as GX's own navbar computes it.
_ROOT = """\
{%- set dots = expectation_suite_name.count(".") if expectation_suite_name else 0 -%}
{%- if "ValidationResults" in renderer_type -%}{%- set root = (dots + 4) * "../" -%}
{%- elif "ExpectationSuite" in renderer_type -%}{%- set root = (dots + 1) * "../" -%}
{%- else -%}{%- set root = "" -%}{%- endif -%}
"""

_HEAD = """\
    <meta charset="UTF-8">
    <meta name="viewport" content="width=device-width, initial-scale=1.0" />
    <link rel="shortcut icon" href="{{ root }}static/images/favicon.ico" type="image/x-icon"/>
    <style>{% include 'data_docs_default_styles.css' %}</style>
    <style>{% include 'data_docs_custom_styles.css' %}</style>
"""

_NAVBAR = """\
    <nav class="navbar border-bottom">
      <a href="{{ root }}index.html"><img src="{{ root }}static/images/logo-long.png"
         alt="Great Expectations" style="height: 40px"></a>
      <a class="ml-2" href="{{ root }}index.html">Data Docs</a>
      {% if page_title %}<span class="ml-2">/ {{ page_title }}</span>{% endif %}
    </nav>
"""

# GX's page.j2 without the CDN links and scripts, the walkthrough modal and the newsletter footer.
_PAGE = (
    _ROOT
    + """<!DOCTYPE html>
<html>
  <head>
    <title>{{ page_title or "Data Docs" }}</title>
"""
    + _HEAD
    + """  </head>
  <body>
"""
    + _NAVBAR
    + """    <div class="container-fluid pt-4 pb-4 pl-5 pr-5">
      <div class="row">
        {% include 'sidebar.j2' %}
        <div class="col-md-10 col-lg-10 col-xs-12 pl-md-4 pr-md-3">
        {% for section in sections %}
          {% set section_loop = loop -%}
          {% include 'section.j2' %}
        {% endfor %}
        </div>
      </div>
    </div>
    <script>
      // Bootstrap's collapse (GX's "Show more info..."), without Bootstrap.
      document.addEventListener("click", function (event) {
        var link = event.target.closest('[data-toggle="collapse"]');
        if (!link) { return; }
        event.preventDefault();
        var target = document.getElementById(link.getAttribute("href").slice(1));
        if (target) { target.classList.toggle("show"); }
      });
    </script>
  </body>
</html>
"""
)

# GX's "Validation Filter" card, its jQuery calls rewritten as plain DOM calls.
_ACTION_CARD = """\
<script>
  function lgspShowFailedOnly(failedOnly) {
    var display = failedOnly ? "none" : "";
    document.querySelectorAll(".hide-succeeded-validation-target-child").forEach(function (el) {
      el.parentElement.style.display = display;
    });
    document.querySelectorAll(".hide-succeeded-validation-target").forEach(function (el) {
      el.style.display = display;
    });
    document.querySelectorAll(".hide-succeeded-validations-column-section-target-child").forEach(function (el) {
      var section = el.parentElement.parentElement;
      section.style.display = display;
      document.querySelectorAll('a[href$="' + section.id + '"]').forEach(function (a) { a.style.display = display; });
    });
  }
</script>
<div class="card mb-3">
  <div class="card-header p-2"><strong>Actions</strong></div>
  <div class="card-body p-3">
    <p class="card-text col-12 p-0 mb-1">Validation Filter:</p>
    <button type="button" class="btn btn-primary" onclick="lgspShowFailedOnly(false)">Show All</button>
    <button type="button" class="btn btn-primary" onclick="lgspShowFailedOnly(true)">Failed Only</button>
  </div>
</div>
"""

_INDEX = (
    _ROOT
    + """<!DOCTYPE html>
<html>
  <head>
    <title>Data Docs: validations</title>
"""
    + _HEAD
    + """  </head>
  <body>
"""
    + _NAVBAR
    + """    <div class="container-fluid pt-4 pb-4 pl-5 pr-5">
      <h4>Expectation Validation Results</h4>
      <p class="lead">Every audited run, validated once by Great Expectations: counts only, no row or value.</p>
      {% for suite, entries in suites.items() %}
      <div class="ge-section">
        <div class="alert alert-secondary">
          <h5 class="m-0">Expectation Suite: <a href="{{ suite_pages[suite] }}">{{ suite }}</a></h5>
        </div>
        <div class="table-responsive">
        <table class="table table-sm">
          <thead>
            <tr><th>Status</th><th>Run</th><th>Validated at (UTC)</th><th>Rules failed</th><th>Rows</th></tr>
          </thead>
          <tbody>
          {% for e in entries %}
            <tr>
              <td>{% if e.success %}<i class="fas fa-check-circle text-success" aria-hidden="true"></i> Succeeded
                  {% else %}<i class="fas fa-times text-danger" aria-hidden="true"></i> Failed{% endif %}</td>
              <td><a href="{{ e.path }}">{{ e.run_id }}</a></td>
              <td>{{ e.validated_at.strftime("%Y-%m-%d %H:%M:%S") }}</td>
              <td>{{ e.rules_failed }} / {{ e.rules }}</td>
              <td>{{ "—" if e.rows is none else e.rows }}</td>
            </tr>
          {% endfor %}
          </tbody>
        </table>
        </div>
      </div>
      {% else %}
      <p>No validation has been stored yet: audit a run first.</p>
      {% endfor %}
    </div>
  </body>
</html>
"""
)

# Just enough of Bootstrap 4 and Font Awesome for GX's markup to lay out and show its status icons.
_STANDIN_STYLES = """
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 15px;
       color: #212529; line-height: 1.5; }
a { color: #0062cc; text-decoration: none; } a:hover { text-decoration: underline; }
h4, h5, h6, .h6 { margin: 0 0 .5rem; font-weight: 600; } .lead { font-size: 1.1rem; color: #555; }
.navbar { display: flex; align-items: center; padding: .5rem 1.25rem; background: #fff; }
.border-bottom { border-bottom: 1px solid #dee2e6; }
.container-fluid { box-sizing: border-box; width: 100%; }
.row { display: flex; flex-wrap: wrap; margin: 0 -8px; }
.row > * { box-sizing: border-box; padding: 0 8px; }
.col-12, .col-xs-12, .col-sm-12 { flex: 0 0 100%; max-width: 100%; }
.col-6 { flex: 0 0 50%; max-width: 50%; }
@media (min-width: 768px) {
  .col-md-2 { flex: 0 0 16.666%; max-width: 16.666%; } .col-md-10 { flex: 0 0 83.333%; max-width: 83.333%; }
  .col-md-4 { flex: 0 0 33.333%; max-width: 33.333%; } .col-md-6 { flex: 0 0 50%; max-width: 50%; }
  .col-md-8 { flex: 0 0 66.666%; max-width: 66.666%; }
}
.table { width: 100%; border-collapse: collapse; margin-bottom: 1rem; }
.table th, .table td { padding: .4rem .6rem; border-top: 1px solid #dee2e6; text-align: left; vertical-align: top; }
.table thead th { border-bottom: 2px solid #dee2e6; }
.table-responsive { overflow-x: auto; }
.alert { padding: .6rem 1rem; border-radius: .25rem; margin-bottom: 1rem; }
.alert-secondary { background: #e2e3e5; color: #383d41; }
.card { border: 1px solid rgba(0, 0, 0, .125); border-radius: .25rem; margin-bottom: 1rem; }
.card-header { background: rgba(0, 0, 0, .03); border-bottom: 1px solid rgba(0, 0, 0, .125); padding: .5rem; }
.card-body { padding: .75rem; }
.btn { display: inline-block; padding: .25rem .6rem; margin: .15rem; border: 1px solid #0062cc; border-radius: .25rem;
       background: #007bff; color: #fff; cursor: pointer; font-size: .9rem; }
.nav { list-style: none; padding: 0; margin: 0; } .nav-link { display: block; padding: .25rem .5rem; }
.collapse:not(.show) { display: none; }
.text-success { color: #28a745; } .text-danger { color: #dc3545; } .text-warning { color: #b8860b; }
.fas, .far { font-style: normal; font-weight: bold; }
.fa-check-circle::before { content: "\\2714"; } .fa-times::before { content: "\\2718"; }
.fa-exclamation-triangle::before { content: "\\26A0"; } .fa-question-circle::before { content: "?"; }
.fa-comment::before { content: "\\1F4AC"; }
.m-0 { margin: 0; } .mb-0 { margin-bottom: 0; } .mb-1 { margin-bottom: .25rem; } .mb-2 { margin-bottom: .5rem; }
.mb-3 { margin-bottom: 1rem; } .mb-4 { margin-bottom: 1.5rem; } .mt-1 { margin-top: .25rem; }
.ml-2 { margin-left: .5rem; } .pt-4 { padding-top: 1.5rem; } .pb-4 { padding-bottom: 1.5rem; }
.pl-5 { padding-left: 2rem; } .pr-5 { padding-right: 2rem; }
.p-0 { padding: 0; } .p-1 { padding: .25rem; } .p-2 { padding: .5rem; } .p-3 { padding: 1rem; }
.d-none { display: none; }
@media (min-width: 576px) { .d-sm-block { display: block; } }
@media (min-width: 768px) { .d-md-block { display: block; } }
"""
