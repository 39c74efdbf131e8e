"""The auditors' site, built from a store synced from the real mocks and read in a real browser.

One store for the module (syncing takes a while): every inbound flow twice (the declared
streams' too), the portal delivery, an agency's API read and a denied one. The pages are served by the hub API
under /reports/ and read by headless chromium; the figures a reader looks for are
compared with counts made straight from the store.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser import dump_dom, screenshot
from lxml import html as lxml_html
from report_store import synced_store
from sqlalchemy import Engine, func, select, update

from hub import ledger
from hub.api.app import build_app
from hub.api.server import ApiServer
from hub.settings import Settings
from hub.sharing.client_secrets import DEMO_CLIENT_SECRET
from hub.store.engine import open_store
from hub.store.tables import audit_ledger, outbox, quality_result, quarantine, sync_run
from hub.systems.catalogue import catalogue, connections, province_systems
from hub.systems.loader import DeclaredStream, load_systems, streams
from quality.report import labels
from quality.report.build import build_site
from quality.report.guidance import load_guidance

ARTIFACTS = Path(
    os.environ.get("LGSP_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "build" / "test-artifacts")
)


@dataclass
class Site:
    engine: Engine
    settings: Settings
    root: Path
    url: str  # the site under the hub API, ending in /reports/
    people: dict[str, set[str]]  # ids, names, birth dates, addresses of the mock's data set
    profile: Path

    def dom(self, page: str) -> Any:
        return lxml_html.fromstring(dump_dom(self.url + page, self.profile))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from mocks.server import MockServer
    from mocks.settings import MockSettings

    home = tmp_path_factory.mktemp("lgsp-home")
    url = f"sqlite:///{home / 'hub.sqlite'}"
    with MockServer(MockSettings(citizens=600, seed=7, one_stop_dossiers=400)) as server:
        engine, settings = synced_store(server, url, home)
        people = _people(server)
    with ApiServer(build_app(settings, engine)) as api:
        _agency_reads(api.base_url, next(iter(sorted(people["ids"]))))
        build_site(engine, home / "reports")
        yield Site(engine, settings, home / "reports", f"{api.base_url}/reports/", people, home / "chromium")
    engine.dispose()


def _people(server: Any) -> dict[str, set[str]]:
    """Every personal value the mocks hold: each citizen version and each civil event's subject."""
    found: dict[str, set[str]] = {"ids": set(), "names": set(), "dates": set(), "addresses": set()}
    for person in server.dataset.versions:
        found["ids"].update(
            v
            for v in (
                person.so_dinh_danh,
                person.so_dinh_danh_cha,
                person.so_dinh_danh_me,
                person.so_dinh_danh_vo_chong,
            )
            if v
        )
        found["names"].add(person.ho_va_ten)
        found["dates"].update(v for v in (person.ngay_sinh, person.ngay_mat) if v)
        found["addresses"].add(person.chi_tiet)
    for event in server.civil_status.events:
        found["ids"].update(v for v in (event.so_dinh_danh, event.so_dinh_danh_vo_chong) if v)
        if event.loai_su_kien == "KhaiSinh":
            found["dates"].add(event.ngay_su_kien)
    # The declared registers: the insured and their insurance numbers, the business owners and registrations.
    for coverage in server.social_insurance.versions:
        found["ids"].update(v for v in (coverage.so_dinh_danh, coverage.ma_so_bhxh) if v)
    for business in server.household_business.versions:
        found["ids"].update(v for v in (business.so_dinh_danh_chu_ho, business.so_dang_ky) if v)
        found["names"].add(business.ten_ho_kinh_doanh)
    # Defects may blank or garble a value: only values that could identify someone are searched for.
    return {kind: {v.strip() for v in values if len(v.strip()) >= 6} for kind, values in found.items()}


def _agency_reads(base_url: str, personal_id: str) -> None:
    """One granted read and one refused (a purpose the agency has no agreement for): both reach the ledger."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        token = http.post(
            "/v1/token",
            data={"grant_type": "client_credentials", "client_id": "tu-phap-app", "client_secret": DEMO_CLIENT_SECRET},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert http.get(
            f"/v1/citizens/{personal_id}", params={"purpose": "judicial_record"}, headers=headers
        ).status_code in (200, 404)
        assert (
            http.get(f"/v1/citizens/{personal_id}", params={"purpose": "tax_collection"}, headers=headers).status_code
            == 403
        )


def _cells(dom: Any, table: str) -> list[list[str]]:
    return [
        [cell.text_content().strip() for cell in row.findall("td")]
        for row in dom.xpath(f'//table[@data-table="{table}"]/tbody/tr')
    ]


def _figure(dom: Any, key: str) -> str:
    return str(dom.xpath(f'//div[@data-figure="{key}"]/span[@class="value"]')[0].text_content()).strip()


def declared_streams() -> list[DeclaredStream]:
    return list(streams(load_systems()))


def test_the_overview_shows_every_flow_with_the_stores_counts(site: Site) -> None:
    dom = site.dom("")  # index.html, served by the hub API
    rows = {row[0]: row for row in _cells(dom, "flows")}
    declared = {stream.dag_id: stream.qualified for stream in declared_streams()}
    assert set(rows) == {"agency_push", *declared}
    assert {"national_population_sync", "civil_status_sync", "one_stop_sync"} <= set(declared)
    assert [rows[flow][1] for flow in declared] == [stream.stream.schedule for stream in declared_streams()]
    with site.engine.connect() as conn:
        for flow, stream in (*declared.items(),):
            last = (
                conn.execute(
                    select(sync_run).where(sync_run.c.stream == stream).order_by(sync_run.c.started_at.desc()).limit(1)
                )
                .mappings()
                .one()
            )
            assert rows[flow][6:9] == [labels.number(last[k], "vi") for k in ("read", "published", "quarantined")]
            assert rows[flow][3] == "Công bố" and rows[flow][5] == "Đúng lịch"
        pending = conn.execute(select(func.count()).where(outbox.c.state == "pending")).scalar_one()
        portal_acked = conn.execute(
            select(func.count()).where(outbox.c.topic == "portal.dossier_status", outbox.c.state == "acknowledged")
        ).scalar_one()
    assert rows["agency_push"][5] == "Chưa chạy thành công"  # nobody delivered the queued pushes
    assert _figure(dom, "outbox_pending") == labels.number(pending, "vi") and pending > 0
    outbox_rows = {row[0]: row for row in _cells(dom, "outbox")}
    assert outbox_rows["portal.dossier_status"][3] == labels.number(portal_acked, "vi")
    verification = ledger.verify(site.engine)
    assert dom.xpath('//section[@id="ledger-status"]')[0].get("class") == "ledger ok"
    assert labels.number(verification.entries, "vi") in dom.xpath('//section[@id="ledger-status"]')[0].text_content()
    once = {row[0]: row for row in _cells(dom, "once_only")}
    from hub.reporting.once_only import once_only_figures

    figures = once_only_figures(site.engine)
    assert once["Σ"][2] == labels.percent(figures["overall"]["prefilled_share"], "vi")
    shot = screenshot(site.url, ARTIFACTS / "report-overview.png", site.profile)
    assert shot.stat().st_size > 20_000  # a page, not a blank


def test_the_overview_counts_the_provinces_systems_connected_through_the_lgsp(site: Site) -> None:
    links = connections(province_systems(), catalogue())
    connected = [link for link in links if link.connected]
    assert len(links) == 12 and len(connected) == 5  # config/province_systems.yaml, against the declarations
    for lang, page in (("vi", ""), ("en", "en/index.html")):
        dom = site.dom(page)
        assert _figure(dom, "systems_connected") == labels.label("n_of_m", lang, n=5, m=12)
        rows = _cells(dom, "connected_systems")
        title = (lambda t: t.vi) if lang == "vi" else (lambda t: t.en)
        assert [row[0] for row in rows[:5]] == [title(link.system.title) for link in connected]
        assert {row[2] for row in rows[:5]} == {labels.label("connected", lang)}
        assert {row[2] for row in rows[5:]} == {labels.label("not_connected", lang)} and len(rows) == 12
        assert {row[3].rsplit(" (", 1)[-1].rstrip(")") for row in rows[:5]} == {
            link.system.connected_by for link in connected
        }
    declared = {stream.system.system for stream in declared_streams()}
    assert declared <= {link.system.connected_by for link in connected}


def test_a_declared_dataset_shows_its_declared_titles_rules_and_trends(site: Site) -> None:
    for stream in declared_streams():
        dataset = stream.stream.dataset
        title = stream.stream.title or stream.system.title
        vi, en = site.dom(f"datasets/{dataset}.html"), site.dom(f"en/datasets/{dataset}.html")
        assert vi.xpath("//h1")[0].text_content() == title.vi and en.xpath("//h1")[0].text_content() == title.en
        assert title.vi in [a.text_content() for a in site.dom("").xpath("//nav/a")]
        with site.engine.connect() as conn:
            latest = conn.execute(
                select(sync_run.c.run_id)
                .where(sync_run.c.stream == stream.qualified)
                .order_by(sync_run.c.started_at.desc())
                .limit(1)
            ).scalar_one()
            results = {
                row.rule: row for row in conn.execute(select(quality_result).where(quality_result.c.run_id == latest))
            }
        rules = {row[0]: row for row in _cells(en, f"{dataset}_rules")}
        assert set(rules) == set(results) and len(rules) > len(stream.stream.rules)  # a rule per (rule, field)
        assert next(iter(rules)) == "contract.valid"
        written = {rule for dataset_name, rule in load_guidance().rules if dataset_name == dataset}  # by hand
        for rule, result in results.items():
            assert rules[rule][2:4] == [labels.number(result.evaluated, "en"), labels.number(result.failed, "en")]
            field = rule.split(".")[0]
            if rule in written:  # guidance.yaml's title (civil status): the auditors' own words
                assert rules[rule][1] == load_guidance().rule(rule, dataset).title.en, rule
                continue
            assert rules[rule][1].startswith("Field " if field in stream.stream.fields else "The record"), rule
        assert len(en.xpath("//figure[@class='plot']/svg")) == 2 and len(_cells(en, f"{dataset}_runs")) == 2
        # Each rule's page: what it means and what to do, from the declaration (wire names, owner, system).
        for rule in rules:
            page = site.dom(f"en/rules/{dataset}/{rule}.html").xpath("//main")[0].text_content()
            assert rule in page and "No guidance has been written" not in page
            if rule in written:
                continue
            assert stream.system.title.en in page and stream.system.owner in page
            field = stream.stream.fields.get(rule.split(".")[0])
            assert field is None or field.from_ in page
            assert "No guidance has been written" not in page  # generated, not the generic fallback


def test_the_english_site_has_the_same_figures_in_english(site: Site) -> None:
    vi, en = site.dom(""), site.dom("en/index.html")
    assert en.xpath("//html/@lang") == ["en"] and en.xpath("//h1")[0].text_content() == "Overview"
    assert _figure(en, "outbox_pending") == _figure(vi, "outbox_pending").replace(".", ",")
    assert [row[6] for row in _cells(en, "flows")] == [row[6].replace(".", ",") for row in _cells(vi, "flows")]
    assert en.xpath('//a[@class="lang"]/@href') == ["../index.html"]


def test_every_rule_of_a_dataset_shows_its_failures_per_run(site: Site) -> None:
    dom = site.dom("datasets/dossier.html")
    with site.engine.connect() as conn:
        latest = conn.execute(
            select(sync_run.c.run_id)
            .where(sync_run.c.stream == "one_stop.dossiers")
            .order_by(sync_run.c.started_at.desc())
            .limit(1)
        ).scalar_one()
        results = {
            row.rule: row for row in conn.execute(select(quality_result).where(quality_result.c.run_id == latest))
        }
        matrix = conn.execute(
            select(func.count())
            .select_from(quality_result)
            .join(sync_run, sync_run.c.run_id == quality_result.c.run_id)
            .where(sync_run.c.stream == "one_stop.dossiers")
        ).scalar_one()
    rules = {row[0]: row for row in _cells(dom, "dossier_rules")}
    assert set(rules) == set(results)
    for rule, result in results.items():
        assert rules[rule][2:4] == [labels.number(result.evaluated, "vi"), labels.number(result.failed, "vi")]
    assert any(result.failed for result in results.values())  # the mock's defects show
    assert len(dom.xpath("//figure[@class='plot']/svg")) == 2
    assert len(_cells(dom, "dossier_rule_runs")) == matrix  # every rule x run, both runs
    # Drill down: a rule's page, then its run's Data Docs page (GX's own rendering).
    failing = next(rule for rule, result in results.items() if result.failed)
    rule_dom = site.dom(f"rules/dossier/{failing}.html")
    docs = rule_dom.xpath('//table[@data-table]//a[text()="Data Docs"]/@href')
    assert docs, "every run of the rule links its Data Docs"
    page = httpx.get(httpx.URL(site.url + f"rules/dossier/{failing}.html").join(docs[0]))
    assert page.status_code == 200 and failing in page.text


def test_quarantine_is_broken_down_by_rule_and_source_with_masked_keys(site: Site) -> None:
    dom = site.dom("quarantine.html")
    with site.engine.connect() as conn:
        rows = conn.execute(select(quarantine.c.stream, quarantine.c.rules, quarantine.c.personal_id)).all()
    per_rule = Counter(rule for _, rules, _ in rows for rule in rules.split(","))
    shown = Counter()
    for row in _cells(dom, "quarantine_by_rule"):
        shown[row[1]] += int(row[3].replace(".", ""))
    assert shown == per_rule
    by_source = {row[0]: int(row[2].replace(".", "")) for row in _cells(dom, "quarantine_by_source")}
    assert sum(by_source.values()) == len(rows) and len(by_source) == len({stream for stream, _, _ in rows})
    assert dom.xpath('//section[@id="reasons"]//dt')  # each reason says what it means and what to do
    with (site.root / "csv" / "quarantine_records.csv").open(encoding="utf-8-sig") as handle:
        records = list(csv.reader(handle))[1:]
    assert len(records) == len(rows)  # the CSV has every row, the page the first 200
    masked = [record[2] for record in records]
    assert all(re.fullmatch(r"[0-9]{3}\*{4,}[0-9]{2}|\*+|<empty>", key) for key in masked)
    assert {key for key in masked if key[:1].isdigit()} <= {
        f"{pid[:3]}{'*' * (len(pid) - 5)}{pid[-2:]}" for _, _, pid in rows if pid
    }


def test_exchanges_show_volumes_denials_and_the_ledger(site: Site) -> None:
    dom = site.dom("exchanges.html")
    denials = _cells(dom, "denials")
    assert ["TU-PHAP", "citizen", "tax_collection", "purpose_not_agreed", "1"] in denials
    with site.engine.connect() as conn:
        entries = conn.execute(select(func.count()).select_from(audit_ledger)).scalar_one()
    total = sum(int(row[5].replace(".", "")) for row in _cells(dom, "exchanges_by_agency"))
    assert total == entries
    assert dom.xpath("//figure[@class='plot']/svg")


def test_a_tampered_ledger_is_reported_with_its_first_bad_entry(site: Site, tmp_path: Path) -> None:
    copy = tmp_path / "hub.sqlite"
    shutil.copyfile(site.engine.url.database or "", copy)
    engine = open_store(f"sqlite:///{copy}")
    with engine.begin() as conn:
        conn.execute(update(audit_ledger).where(audit_ledger.c.seq == 3).values(record_count=999))
    build_site(engine, tmp_path / "reports")
    engine.dispose()
    page = (tmp_path / "reports" / "exchanges.html").read_text(encoding="utf-8")
    assert "KHÔNG toàn vẹn" in page and "số 3" in page
    assert 'class="ledger broken"' in (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")


def test_every_table_has_a_csv_with_its_columns(site: Site) -> None:
    for lang_root in (site.root, site.root / "en"):
        for page in lang_root.rglob("*.html"):
            if "data-docs" in page.parts:
                continue
            dom = lxml_html.fromstring(page.read_text(encoding="utf-8"))
            for section in dom.xpath('//section[@class="table"]'):
                href = section.xpath('.//p[@class="download"]/a/@href')[0]
                target = (page.parent / href).resolve()
                assert target.is_file(), (page, href)
                with target.open(encoding="utf-8-sig") as handle:
                    header = next(csv.reader(handle))
                assert len(header) == len(section.xpath(".//th")) or not section.xpath(".//table")


def test_no_personal_value_appears_anywhere_in_the_site(site: Site) -> None:
    text = "\n".join(
        path.read_text(encoding="utf-8", errors="replace") for path in site.root.rglob("*") if path.is_file()
    )
    assert len(text) > 100_000 and len(site.people["ids"]) > 600
    dates = set(re.findall(r"\d{4}-\d{2}-\d{2}", text))
    vietnamese = set(re.findall(r"\d{2}/\d{2}/\d{4}", text))
    digits = set(re.findall(r"\d{6,}", text))
    leaked = {
        "ids": {v for v in site.people["ids"] if v in digits or any(v in run for run in digits if len(run) > 12)},
        "dates": {v for v in site.people["dates"] if v in dates or "/".join(reversed(v.split("-"))) in vietnamese},
        "names": {v for v in site.people["names"] if v in text},
        "addresses": {v for v in site.people["addresses"] if v in text},
    }
    assert leaked == {"ids": set(), "dates": set(), "names": set(), "addresses": set()}


def test_the_api_serves_the_site_and_nothing_beside_it(site: Site) -> None:
    assert httpx.get(site.url).headers["content-type"].startswith("text/html")
    assert httpx.get(site.url + "style.css").status_code == 200
    for probe in ("../hub.sqlite", "%2e%2e/hub.sqlite", "..%2fhub.sqlite", "../keys/ledger.key"):
        assert httpx.get(site.url + probe).status_code == 404, probe


def test_a_failed_build_leaves_the_previous_site(site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import quality.report.facts as facts

    target = tmp_path / "reports"
    build_site(site.engine, target)
    before = (target / "index.html").read_text(encoding="utf-8")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the disk filled up")

    monkeypatch.setattr(facts, "exchange_volumes", broken)
    with pytest.raises(RuntimeError):
        build_site(site.engine, target)
    assert (target / "index.html").read_text(encoding="utf-8") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports"]  # no half-built folder left behind
