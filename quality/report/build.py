"""Build the auditors' site: every page in Vietnamese and English, every table as CSV, Data Docs.

``build_site`` reads the store (``facts``), renders the pages (Jinja2, autoescaped),
the plots (``plots``, inline SVG) and GX's Data Docs (``data_docs``) into a fresh
directory beside the target, then swaps it in: a reader of ``reports/`` sees the old
site or the new one, never half of either. The layout:

    index.html                 overview (Vietnamese; English under en/), with the province's
                               systems connected through the LGSP
    datasets/<dataset>.html    rules, runs, trends of one dataset
    rules/<dataset>/<rule>.html one rule across runs, what it means, what to do
    runs/<run>.html            one run's rules, linked to its Data Docs page
    quarantine.html            reasons by rule and source, masked keys
    exchanges.html             ledger volumes, denials, the chain's verification
    csv/<table>.csv            every table of the pages, whole
    en/...                     the same in English
    data-docs/                 Great Expectations Data Docs, one page per validation
    style.css
"""

from __future__ import annotations

import hashlib
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from sqlalchemy import Connection, Engine

from hub import ledger
from lgsp.errors import StoreError
from quality.report import facts, labels
from quality.report.declared import ReportScope, report_scope
from quality.report.guidance import load_guidance
from quality.report.tables import Column, Link, ReportTable, csv_value, display, write_csv

TEMPLATES = Path(__file__).parent / "templates"
PAGE_ROWS = 200  # the longest table a page shows; its CSV has every row
FLOW_TITLES = {
    "agency_push": ("Đẩy dữ liệu cho cơ quan", "Pushes to agencies"),
}


@dataclass(frozen=True)
class SiteSummary:
    """What a build wrote: where, how many pages and CSVs, and how long it took."""

    path: Path  # the site's index.html
    pages: int
    tables: int
    data_docs: int
    seconds: float


@dataclass
class _Page:
    """One page to write in both languages: template, path under the language root, context per language."""

    template: str
    path: str
    section: str
    title: Callable[[str], str]
    context: Callable[[str], dict[str, Any]]
    tables: list[ReportTable] = field(default_factory=list)


def build_site(
    engine: Engine, out_dir: Path, *, now: datetime | None = None, runs_per_dataset: int = 60
) -> SiteSummary:
    """Build the whole site from the store into ``out_dir`` (replaced atomically).

    Raises:
        StoreError: the store could not be read; the previous site stays in place.
        ConfigError: a system declaration or config/province_systems.yaml is wrong; the site stays too.
    """
    started = datetime.now(UTC)
    now = (now or started).replace(tzinfo=None)  # the store keeps naive UTC
    scope = report_scope(load_guidance())  # the hub's own flows and every declared one
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.building-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        from quality.report.data_docs import build_data_docs, read_validations

        with _reading(engine) as conn:
            builder = _Builder(conn, engine, scope, now, runs_per_dataset)
            run_ids = [run.run_id for runs in builder.dataset_runs.values() for run in runs]
            # First: the rule and run pages link each run's Data Docs page.
            builder.data_docs = build_data_docs(read_validations(engine, run_ids), staging / "data-docs")
            pages = builder.pages() + builder.run_pages()
            tables = _write_pages(pages, staging, now, scope)
        shutil.copyfile(TEMPLATES / "style.css", staging / "style.css")
        _swap(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return SiteSummary(
        path=out_dir / "index.html",
        pages=2 * len(pages),
        tables=tables,
        data_docs=len(builder.data_docs),
        seconds=(datetime.now(UTC) - started).total_seconds(),
    )


@contextmanager
def _reading(engine: Engine) -> Iterator[Connection]:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine.connect() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise StoreError(
            f"could not read the store to build the report ({type(exc).__name__}); the previous report is "
            "unchanged: check that the store is reachable and migrated (lgsp upgrade-db), then run lgsp report"
        ) from exc


def _swap(new: Path, target: Path) -> None:
    """Put ``new`` where ``target`` is: two renames, the old site removed after."""
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def slug(text: str) -> str:
    """A file name for a run id (which holds ':', '+', '/'): readable part plus a short digest, never two alike."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60]
    return f"{readable}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


class _Builder:
    """Reads the facts once and turns them into pages (both languages share one read)."""

    def __init__(self, conn: Connection, engine: Engine, scope: ReportScope, now: datetime, window: int) -> None:
        self.conn, self.engine, self.scope, self.guidance, self.now = conn, engine, scope, scope.guidance, now
        self.dataset_runs = {dataset: facts.runs(conn, stream, window) for stream, dataset in scope.flows.values()}
        # Once per build: the whole chain while it is short or weekly, else on from the last checkpoint.
        self.verification = ledger.verify_from_checkpoint(engine, now=now)
        self.data_docs: dict[str, str] = {}
        self.run_ids: list[str] = []
        self._run_pages: list[_Page] = []

    def pages(self) -> list[_Page]:
        """Every page but the run pages (those need the Data Docs links, built after)."""
        pages = [self._overview()]
        for stream, dataset in self.scope.flows.values():
            pages.extend(self._dataset(stream, dataset))
        pages.append(self._quarantine())
        pages.append(self._exchanges())
        return pages

    def run_pages(self) -> list[_Page]:
        """One page per run in the window, each linking its Data Docs page."""
        pages = []
        for dataset, runs in self.dataset_runs.items():
            results = facts.rule_results(self.conn, [run.run_id for run in runs]) if runs else {}
            for run in runs:
                pages.append(self._run(dataset, run, results))
        self.run_ids = [run.run_id for runs in self.dataset_runs.values() for run in runs]
        return pages

    # --- overview ---

    def _overview(self) -> _Page:
        conn = self.conn
        flows = facts.flow_states(conn, self.now, self.scope.flows, self.scope.schedules)
        pushes = facts.push_deliveries(conn)
        once = _once_only(self.engine)
        portal = _portal(self.engine)
        verification = self.verification
        conflicts = facts.open_conflicts(conn)
        outbox_rows = facts.outbox_health(conn)
        held = sum(facts.quarantine_breakdown(conn).by_stream.values())
        dead = sum(states["dead"] for _, states in outbox_rows)
        pending = sum(states["pending"] for _, states in outbox_rows)

        def flow_row(state: facts.FlowState) -> tuple[Any, ...]:
            last = state.last
            freshness = "never_ran" if state.missed is None else "fresh" if state.missed == 0 else "missed"
            title = (
                Link(state.flow, f"datasets/{self.scope.flows[state.flow][1]}.html")
                if state.flow in self.scope.flows
                else state.flow
            )
            counts: tuple[int | None, ...] = (
                (last.read, last.published, last.quarantined) if last else (None, None, None)
            )
            if state.flow == facts.PUSH_FLOW:
                counts = (sum(pushes.values()) or None, pushes.get("acknowledged"), pushes.get("dead"))
            return (
                title,
                state.schedule,
                last.started_at if last else None,
                last.status if last else None,
                state.last_success_at,
                freshness if state.missed is None or state.missed == 0 else f"missed:{state.missed}",
                *counts,
            )

        flow_table = ReportTable(
            "flows",
            "flows",
            [
                Column("flow", "link"),
                Column("schedule"),
                Column("last_run", "time"),
                Column("status", "status"),
                Column("last_success", "time"),
                Column("freshness", "status"),
                Column("read", "count"),
                Column("published", "count"),
                Column("quarantined", "count"),
            ],
            [flow_row(s) for s in flows],
        )
        once_rows: list[tuple[Any, ...]] = []
        if once is not None:
            for code, figures in once["procedures"].items():
                once_rows.append(
                    (
                        code,
                        figures["dossiers"],
                        figures["prefilled_share"],
                        figures["held_complete_share"],
                        figures["complete_share"],
                    )
                )
            overall = once["overall"]
            once_rows.append(
                (
                    "Σ",
                    overall["dossiers"],
                    overall["prefilled_share"],
                    overall["held_complete_share"],
                    overall["complete_share"],
                )
            )
        once_table = ReportTable(
            "once_only",
            "once_only",
            [
                Column("procedure"),
                Column("dossiers", "count"),
                Column("prefilled_share", "share"),
                Column("held_complete_share", "share"),
                Column("complete_share", "share"),
            ],
            once_rows,
        )
        portal_table = ReportTable("portal", "portal", [Column("figure", "status"), Column("value")], [])
        conflict_table = ReportTable(
            "open_conflicts",
            "open_conflicts",
            [Column("field"), Column("kept_source"), Column("other_source"), Column("conflicts", "count")],
            [(f, kept, other, n) for f, kept, other, n in conflicts],
        )
        outbox_table = ReportTable(
            "outbox",
            "outbox_health",
            [Column("topic")] + [Column(state, "count") for state in facts.OUTBOX_STATES],
            [(topic, *(states[s] for s in facts.OUTBOX_STATES)) for topic, states in outbox_rows],
        )
        connected = sum(1 for link in self.scope.systems if link.connected)
        systems_table = ReportTable("connected_systems", "connected_systems", _SYSTEM_COLUMNS, [])
        tables = [flow_table, systems_table, once_table, portal_table, conflict_table, outbox_table]

        def context(lang: str) -> dict[str, Any]:
            systems_table.rows = _system_rows(self.scope, lang)
            overall = (once or {}).get("overall") or {}
            delay = portal["portal_ack_delay_seconds"]
            portal_table.rows = [
                ("dossiers", labels.number(portal["dossiers"], lang)),
                ("online_share", labels.percent(portal["online_share"], lang)),
                ("on_time_share", labels.percent(portal["on_time_share"], lang)),
                ("portal_synced_share", labels.percent(portal["portal_synced_share"], lang)),
                ("portal_ack_median", labels.seconds(delay["median"], lang)),
                ("portal_ack_p95", labels.seconds(delay["p95"], lang)),
            ]
            cards = [
                _card(
                    "flows_fresh",
                    labels.label("fresh", lang),
                    f"{sum(1 for s in flows if s.missed == 0)} / {len(flows)}",
                    alert=any(s.missed != 0 for s in flows),
                ),
                _card(
                    "systems_connected",
                    labels.label("systems_connected", lang),
                    labels.label(
                        "n_of_m", lang, n=labels.number(connected, lang), m=labels.number(len(self.scope.systems), lang)
                    ),
                ),
                _card("quarantined", labels.label("quarantine_open", lang), labels.number(held, lang)),
                _card(
                    "open_conflicts",
                    labels.label("open_conflicts", lang),
                    labels.number(sum(row[3] for row in conflicts), lang),
                ),
                _card("outbox_pending", labels.label("pending", lang), labels.number(pending, lang)),
                _card("outbox_dead", labels.label("dead", lang), labels.number(dead, lang), alert=dead > 0),
                _card(
                    "prefilled_share",
                    labels.label("prefilled_share", lang),
                    labels.percent(overall.get("prefilled_share"), lang),
                ),
                _card("online_share", labels.label("online_share", lang), labels.percent(portal["online_share"], lang)),
                _card(
                    "on_time_share", labels.label("on_time_share", lang), labels.percent(portal["on_time_share"], lang)
                ),
                _card(
                    "ledger_entries",
                    labels.label("ledger", lang),
                    labels.number(verification.entries, lang),
                    alert=not verification.intact,
                ),
            ]
            return {"cards": cards, "tables": {t.name: t for t in tables}, **_ledger_context(verification, lang)}

        return _Page(
            "overview.html", "index.html", "overview", lambda lang: labels.label("nav_overview", lang), context, tables
        )

    # --- datasets and rules ---

    def _dataset(self, stream: str, dataset: str) -> list[_Page]:
        runs = self.dataset_runs[dataset]
        run_ids = [run.run_id for run in runs]
        results = facts.rule_results(self.conn, run_ids)
        rules = [name for (suite, name) in self.guidance.rules if suite == dataset]
        rules += sorted(set(results) - set(rules))  # a rule the store knows and the guidance not (yet)
        latest = runs[-1] if runs else None

        def passing(run: facts.Run) -> float | None:
            # Quarantined rows are exactly the rows breaking a rule (findings go when staging is cleared).
            return (run.read - run.quarantined) / run.read if run.read else None

        def run_link(run: facts.Run) -> Link:
            return Link(run.label, f"runs/{slug(run.run_id)}.html")

        def docs_link(run: facts.Run) -> Link | None:
            path = self.data_docs.get(run.run_id)
            return Link("Data Docs", f"data-docs/{path}", shared=True) if path else None

        rule_rows = []
        for name in rules:
            last = results.get(name, {}).get(latest.run_id) if latest else None
            rule_rows.append(
                (
                    Link(name, f"rules/{dataset}/{name}.html"),
                    self.guidance.rule(name, dataset).title.vi,
                    last.evaluated if last else None,
                    last.failed if last else None,
                    last.rate if last else None,
                    ("passed" if last.success else "not_passed") if last else None,
                )
            )
        rules_table = ReportTable(
            f"{dataset}_rules",
            "rules",
            [
                Column("rule", "link"),
                Column("meaning"),
                Column("evaluated", "count"),
                Column("failed", "count"),
                Column("latest_failure_rate", "share"),
                Column("result", "status"),
            ],
            rule_rows,
        )
        runs_table = ReportTable(
            f"{dataset}_runs",
            "runs",
            [
                Column("run", "link"),
                Column("status", "status"),
                Column("read", "count"),
                Column("published", "count"),
                Column("quarantined", "count"),
                Column("unchanged", "count"),
                Column("passing_share", "share"),
                Column("data_docs", "link"),
            ],
            [
                (run_link(r), r.status, r.read, r.published, r.quarantined, r.unchanged, passing(r), docs_link(r))
                for r in reversed(runs)
            ],
        )
        matrix_table = ReportTable(
            f"{dataset}_rule_runs",
            "trend",
            [
                Column("run"),
                Column("rule"),
                Column("evaluated", "count"),
                Column("failed", "count"),
                Column("failure_rate", "share"),
            ],
            [
                (r.label, name, rr.evaluated, rr.failed, rr.rate)
                for r in reversed(runs)
                for name in rules
                if (rr := results.get(name, {}).get(r.run_id)) is not None
            ][:PAGE_ROWS],
            total=sum(1 for name in rules for r in runs if r.run_id in results.get(name, {})),
            all_rows=lambda: [
                (r.label, name, rr.evaluated, rr.failed, rr.rate)
                for r in reversed(runs)
                for name in rules
                if (rr := results.get(name, {}).get(r.run_id)) is not None
            ],
        )
        tables = [rules_table, runs_table, matrix_table]
        # The rule column shows the title in the page's language: rows are rebuilt per language.
        titles = {name: self.guidance.rule(name, dataset).title for name in rules}

        def context(lang: str) -> dict[str, Any]:
            from quality.report.plots import trend_svg

            localized = ReportTable(
                rules_table.name,
                rules_table.title,
                rules_table.columns,
                [(row[0], titles[str(row[0])].in_(lang), *row[2:]) for row in rules_table.rows],
            )
            series = {
                name: [
                    (r.label, rr.rate or 0.0) for r in runs if (rr := results.get(name, {}).get(r.run_id)) is not None
                ]
                for name in rules
            }
            last_read = latest.read if latest else None
            cards = [
                _card("runs", labels.label("runs", lang), labels.number(len(runs), lang)),
                _card("read", labels.label("read", lang), labels.number(last_read, lang)),
                _card(
                    "quarantined",
                    labels.label("quarantined", lang),
                    labels.number(latest.quarantined if latest else None, lang),
                ),
                _card(
                    "passing_share",
                    labels.label("passing_share", lang),
                    labels.percent(passing(latest) if latest else None, lang),
                ),
            ]
            return {
                "cards": cards,
                "tables": {"rules": localized, "runs": runs_table, "matrix": matrix_table},
                "trend_svg": _svg(
                    trend_svg(
                        {n: s for n, s in series.items() if s},
                        x_title=labels.label("run", lang),
                        y_title=labels.label("failure_rate", lang),
                        empty_text=labels.label("no_data", lang),
                    )
                ),
                "passing_svg": _svg(
                    trend_svg(
                        {
                            labels.label("passing_share", lang): [
                                (r.label, p) for r in runs if (p := passing(r)) is not None
                            ]
                        },
                        x_title=labels.label("run", lang),
                        y_title=labels.label("passing_share", lang),
                        empty_text=labels.label("no_data", lang),
                    )
                ),
            }

        page = _Page(
            "dataset.html",
            f"datasets/{dataset}.html",
            dataset,
            lambda lang: self.scope.title(dataset, lang),
            context,
            tables,
        )
        return [page, *(self._rule(dataset, name, runs, results, docs_link, run_link) for name in rules)]

    def _rule(
        self,
        dataset: str,
        name: str,
        runs: Sequence[facts.Run],
        results: dict[str, dict[str, facts.RuleRun]],
        docs_link: Callable[[facts.Run], Link | None],
        run_link: Callable[[facts.Run], Link],
    ) -> _Page:
        per_run = results.get(name, {})
        guidance = self.guidance.rule(name, dataset)
        table = ReportTable(
            f"{dataset}_{name.replace('.', '_')}",
            "runs",
            [
                Column("run", "link"),
                Column("evaluated", "count"),
                Column("failed", "count"),
                Column("failure_rate", "share"),
                Column("result", "status"),
                Column("data_docs", "link"),
            ],
            [],
        )
        rows = [(r, rr) for r in reversed(runs) if (rr := per_run.get(r.run_id)) is not None]

        def context(lang: str) -> dict[str, Any]:
            from quality.report.plots import trend_svg

            table.rows = [
                (run_link(r), rr.evaluated, rr.failed, rr.rate, "passed" if rr.success else "not_passed", docs_link(r))
                for r, rr in rows
            ]
            return {
                "rule": name,
                "dataset": dataset,
                "dataset_title": self.scope.title(dataset, lang),
                "meaning": guidance.meaning.in_(lang),
                "action": guidance.action.in_(lang),
                "tables": {"runs": table},
                "trend_svg": _svg(
                    trend_svg(
                        {name: [(r.label, rr.rate or 0.0) for r, rr in reversed(rows)]},
                        x_title=labels.label("run", lang),
                        y_title=labels.label("failure_rate", lang),
                        empty_text=labels.label("no_data", lang),
                    )
                ),
            }

        return _Page(
            "rule.html",
            f"rules/{dataset}/{name}.html",
            dataset,
            lambda lang: f"{guidance.title.in_(lang)}",
            context,
            [table],
        )

    def _run(self, dataset: str, run: facts.Run, results: dict[str, dict[str, facts.RuleRun]]) -> _Page:
        docs = self.data_docs.get(run.run_id)
        summary = ReportTable(
            f"run_{slug(run.run_id)}",
            "run",
            [Column("figure", "status"), Column("value")],
            [
                ("status", run.status),
                ("run_started", labels.timestamp(run.started_at, "en")),
                ("read", str(run.read)),
                ("published", str(run.published)),
                ("quarantined", str(run.quarantined)),
                ("unchanged", str(run.unchanged)),
            ],
        )
        rules = ReportTable(
            f"run_{slug(run.run_id)}_rules",
            "rules",
            [
                Column("rule", "link"),
                Column("evaluated", "count"),
                Column("failed", "count"),
                Column("failure_rate", "share"),
                Column("result", "status"),
            ],
            [
                (
                    Link(name, f"../rules/{dataset}/{name}.html"),
                    rr.evaluated,
                    rr.failed,
                    rr.rate,
                    "passed" if rr.success else "not_passed",
                )
                for name, per_run in results.items()
                if (rr := per_run.get(run.run_id)) is not None
            ],
        )

        def context(lang: str) -> dict[str, Any]:
            summary.rows[1] = ("run_started", labels.timestamp(run.started_at, lang))
            return {
                "run_id": run.run_id,
                "dataset": dataset,
                "dataset_title": self.scope.title(dataset, lang),
                "data_docs": f"data-docs/{docs}" if docs else None,
                "tables": {"summary": summary, "rules": rules},
            }

        return _Page(
            "run.html",
            f"runs/{slug(run.run_id)}.html",
            dataset,
            lambda lang: f"{labels.label('run', lang)} {run.label}",
            context,
            [summary, rules],
        )

    # --- quarantine ---

    def _quarantine(self) -> _Page:
        breakdown = facts.quarantine_breakdown(self.conn)
        shown = list(facts.quarantined_records(self.conn, limit=PAGE_ROWS))
        streams = sorted(set(breakdown.by_stream) | set(breakdown.released_by_stream))
        keys = sorted(
            set(breakdown.by_rule) | set(breakdown.released_by_rule), key=lambda key: (-breakdown.by_rule[key], key)
        )
        by_source = ReportTable(
            "quarantine_by_source",
            "by_source",
            [Column("source_system"), Column("operator"), Column("open", "count"), Column("released", "count")],
            [],
        )
        by_rule = ReportTable(
            "quarantine_by_rule",
            "by_rule",
            [
                Column("source_system"),
                Column("rule", "link"),
                Column("meaning"),
                Column("open", "count"),
                Column("released", "count"),
            ],
            [],
        )
        records = ReportTable(
            "quarantine_records",
            "quarantine_list",
            [
                Column("quarantined_at", "time"),
                Column("source_system"),
                Column("masked_key"),
                Column("rule"),
                Column("run"),
                Column("status"),
            ],
            [(r.quarantined_at, r.stream, r.masked_id, r.rules, r.run_id, r.status) for r in shown],
            total=breakdown.total,
            all_rows=self._all_quarantined,
        )

        def context(lang: str) -> dict[str, Any]:
            from quality.report.plots import bars_svg

            g = self.guidance
            by_source.rows = [
                (
                    g.stream(s).system.in_(lang),
                    g.stream(s).operator.in_(lang),
                    breakdown.by_stream[s],
                    breakdown.released_by_stream[s],
                )
                for s in streams
            ]
            by_rule.rows = []
            reasons = []
            for stream, rule in keys:
                dataset = g.stream(stream).dataset or ""
                guide = g.rule(rule, dataset or None)
                by_rule.rows.append(
                    (
                        g.stream(stream).system.in_(lang),
                        Link(rule, f"rules/{dataset}/{rule}.html") if dataset else rule,
                        guide.title.in_(lang),
                        breakdown.by_rule[(stream, rule)],
                        breakdown.released_by_rule[(stream, rule)],
                    )
                )
                reasons.append(
                    {
                        "anchor": f"{dataset}-{rule}",
                        "rule": rule,
                        "title": guide.title.in_(lang),
                        "system": g.stream(stream).system.in_(lang),
                        "meaning": guide.meaning.in_(lang),
                        "action": guide.action.in_(lang),
                    }
                )
            cards = [
                _card(
                    "quarantine_open",
                    labels.label("open", lang),
                    labels.number(sum(breakdown.by_stream.values()), lang),
                ),
                _card(
                    "quarantine_released",
                    labels.label("released", lang),
                    labels.number(sum(breakdown.released_by_stream.values()), lang),
                ),
            ]
            bars = [
                (f"{g.stream(stream).dataset}: {rule}", float(breakdown.by_rule[(stream, rule)]))
                for stream, rule in keys
                if breakdown.by_rule[(stream, rule)]
            ]
            return {
                "cards": cards,
                "reasons": reasons,
                "tables": {"by_source": by_source, "by_rule": by_rule, "records": records},
                "by_rule_svg": _svg(
                    bars_svg(
                        bars,
                        x_title=labels.label("records", lang),
                        y_title=labels.label("rule", lang),
                        empty_text=labels.label("no_data", lang),
                    )
                ),
            }

        return _Page(
            "quarantine.html",
            "quarantine.html",
            "quarantine",
            lambda lang: labels.label("nav_quarantine", lang),
            context,
            [by_source, by_rule, records],
        )

    def _all_quarantined(self) -> Iterator[tuple[Any, ...]]:
        """Every quarantine row for the CSV, streamed on a connection of its own."""
        with self.engine.connect() as conn:
            for r in facts.quarantined_records(conn):
                yield (r.quarantined_at, r.stream, r.masked_id, r.rules, r.run_id, r.status)

    # --- exchanges ---

    def _exchanges(self) -> _Page:
        volumes = facts.exchange_volumes(self.conn)
        refused = facts.denials(self.conn)
        verification = self.verification
        summed: dict[tuple[str, str, str, str, str], list[int]] = {}
        for v in volumes:
            key = (v.agency or "—", v.dataset or "—", v.purpose or "—", v.action, v.outcome)
            entry = summed.setdefault(key, [0, 0])
            entry[0] += v.entries
            entry[1] += v.records
        by_agency = ReportTable(
            "exchanges_by_agency",
            "exchanges_by_agency",
            [
                Column("agency"),
                Column("dataset"),
                Column("purpose"),
                Column("exchange_action"),
                Column("outcome"),
                Column("entries", "count"),
                Column("records", "count"),
            ],
            [(*key, n, records) for key, (n, records) in sorted(summed.items())],
        )
        daily_rows = [
            (v.day, v.agency, v.dataset, v.purpose, v.action, v.outcome, v.entries, v.records) for v in volumes
        ]
        daily = ReportTable(
            "exchanges_daily",
            "volumes",
            [
                Column("day"),
                Column("agency"),
                Column("dataset"),
                Column("purpose"),
                Column("exchange_action"),
                Column("outcome"),
                Column("entries", "count"),
                Column("records", "count"),
            ],
            daily_rows[-PAGE_ROWS:],
            total=len(daily_rows),
            all_rows=lambda: daily_rows,
        )
        denial_table = ReportTable(
            "denials",
            "denials",
            [Column("agency"), Column("dataset"), Column("purpose"), Column("denial_rule"), Column("entries", "count")],
            list(refused),
        )

        def context(lang: str) -> dict[str, Any]:
            from quality.report.plots import stacked_svg

            points = [(v.day, v.agency or v.action, float(v.entries)) for v in volumes]
            return {
                "tables": {"by_agency": by_agency, "denials": denial_table, "daily": daily},
                "volume_svg": _svg(
                    stacked_svg(
                        points,
                        x_title=labels.label("day", lang),
                        y_title=labels.label("entries", lang),
                        empty_text=labels.label("no_data", lang),
                    )
                ),
                **_ledger_context(verification, lang),
            }

        return _Page(
            "exchanges.html",
            "exchanges.html",
            "exchanges",
            lambda lang: labels.label("nav_exchanges", lang),
            context,
            [by_agency, denial_table, daily],
        )


def _write_pages(pages: Sequence[_Page], site: Path, now: datetime, scope: ReportScope) -> int:
    """Render every page in both languages and write each page's tables as CSV; returns the CSVs written."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    written = 0
    for lang in labels.LANGUAGES:
        lang_root = site if lang == labels.DEFAULT_LANGUAGE else site / lang
        (lang_root / "csv").mkdir(parents=True, exist_ok=True)
        other = next(other for other in labels.LANGUAGES if other != lang)
        for page in pages:
            context = page.context(lang)  # fills per-language rows before the CSVs are written
            depth = page.path.count("/")
            root = "../" * depth
            assets = root + ("" if lang == labels.DEFAULT_LANGUAGE else "../")
            other_href = (
                (root + f"{other}/" + page.path) if lang == labels.DEFAULT_LANGUAGE else (root + "../" + page.path)
            )
            html = environment.get_template(page.template).render(
                lang=lang,
                other_lang=other,
                other_lang_href=other_href,
                root=root,
                assets=assets,
                section=page.section,
                page_title=page.title(lang),
                generated=labels.timestamp(now, lang),
                generated_iso=now.isoformat(timespec="seconds") + "Z",
                datasets=[{"dataset": d, "title": scope.title(d, lang)} for d in scope.datasets],
                t=lambda key, lang=lang, **values: labels.label(key, lang, **values),
                show=lambda value, kind, lang=lang: _show(value, kind, lang),
                raw=lambda value, kind, lang=lang: csv_value(value, kind, lang),
                number=lambda value, lang=lang: labels.number(value, lang),
                is_link=lambda value: isinstance(value, Link),
                **context,
            )
            target = lang_root / page.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(html, encoding="utf-8")
            for table in page.tables:
                write_csv(table, lang_root / "csv" / f"{table.name}.csv", lang)
                written += 1
    return written


def _show(value: Any, kind: Any, lang: str) -> str:
    if isinstance(value, str) and value.startswith("missed:"):
        return labels.label("missed", lang, n=value.split(":", 1)[1])
    return display(value, kind, lang)


def _svg(markup: str) -> Markup:
    """A plot for the page as is: vl-convert wrote it, and escaped every caller text as XML (``plots``)."""
    return Markup(markup)  # noqa: S704


def _card(key: str, label: str, value: str, *, alert: bool = False) -> dict[str, Any]:
    return {"key": key, "label": label, "value": value, "alert": alert}


_SYSTEM_COLUMNS = [Column("system"), Column("owner"), Column("connection", "status"), Column("connected_by")]


def _system_rows(scope: ReportScope, lang: str) -> list[tuple[Any, ...]]:
    """The province's systems, connected ones first: title, owner, connected or not, through what."""
    rows = []
    for link in sorted(scope.systems, key=lambda link: not link.connected):
        through = link.through
        rows.append(
            (
                link.system.title.vi if lang == "vi" else link.system.title.en,
                link.system.owner,
                "connected" if through is not None else "not_connected",
                ((through.title.vi if lang == "vi" else through.title.en) + f" ({through.name})") if through else None,
            )
        )
    return rows


def _ledger_context(verification: ledger.Verification, lang: str) -> dict[str, Any]:
    if verification.intact:
        text = labels.label("ledger_intact", lang, entries=labels.number(verification.entries, lang))
    else:
        text = labels.label("ledger_broken", lang, seq=verification.first_bad_seq, reason=verification.reason)
    if verification.walked_from == 1:
        walked = labels.label("ledger_walked_whole", lang)
    else:
        walked = labels.label(
            "ledger_walked_on",
            lang,
            first=labels.number(verification.walked_from, lang),
            whole=labels.timestamp(verification.whole_chain_at, lang),
            days=ledger.WHOLE_CHAIN_EVERY.days,
        )
    return {"ledger_intact": verification.intact, "ledger_text": f"{text}. {walked}"}


def _once_only(engine: Engine) -> dict[str, Any] | None:
    from hub.reporting.once_only import once_only_figures

    figures = once_only_figures(engine)
    return figures if figures["overall"]["dossiers"] else None


def _portal(engine: Engine) -> dict[str, Any]:
    from hub.reporting.figures import dossier_figures

    return dossier_figures(engine)
