"""Fault injection, observed the way a client sees it: over real HTTP with httpx."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import zeep
from lxml import etree
from mock_soap_helpers import NS, call, envelope, fault, get_citizen, list_changed, payload

from mocks.faults import FaultInjector, FaultRule, truncate
from mocks.population.dataset import PopulationDataset
from mocks.server import MockServer
from mocks.settings import MockSettings

HARDENED = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def arm(client: httpx.Client, **rule: Any) -> None:
    client.post("/_admin/faults", json=rule).raise_for_status()


def test_latency_delays_the_normal_answer(client: httpx.Client) -> None:
    arm(client, fault="latency", seconds=0.4)
    started = time.perf_counter()
    response = call(client, list_changed(size=1))
    assert response.status_code == 200 and time.perf_counter() - started >= 0.4


def test_timeout_outlasts_the_client(client: httpx.Client) -> None:
    arm(client, fault="timeout")  # the server's default: 3 s in these tests
    with pytest.raises(httpx.ReadTimeout):
        client.post("/population", content=envelope(list_changed()), timeout=0.5)
    assert call(client, list_changed(size=1)).status_code == 200


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_http_5xx(client: httpx.Client, status: int) -> None:
    arm(client, fault=f"http_{status}")
    assert call(client, list_changed()).status_code == status
    assert call(client, list_changed()).status_code == 200


def test_429_says_when_to_retry(client: httpx.Client) -> None:
    arm(client, fault="http_429")
    arm(client, fault="http_429", seconds=2)
    assert call(client, list_changed()).headers["Retry-After"] == "7"  # the settings' default
    assert call(client, list_changed()).headers["Retry-After"] == "2"


def test_connection_reset_drops_the_connection_without_a_response(client: httpx.Client) -> None:
    arm(client, fault="connection_reset")
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)) as caught:
        call(client, list_changed())
    assert "reset" in str(caught.value).lower() or "disconnected" in str(caught.value).lower()
    assert call(client, list_changed()).status_code == 200  # the server itself is fine


def test_malformed_and_truncated_bodies_do_not_parse(client: httpx.Client) -> None:
    arm(client, fault="malformed_body")
    arm(client, fault="truncated_body")
    for _ in range(2):
        response = call(client, list_changed(size=20))
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == len(response.content)
        with pytest.raises(etree.XMLSyntaxError):
            etree.fromstring(response.content, HARDENED)


def test_truncation_cuts_inside_an_element() -> None:
    body = b"<a><bee>1</bee><bee>2</bee><bee>3</bee><bee>4</bee></a>"
    cut = truncate(body)
    assert body.startswith(cut) and len(cut) < len(body) and cut.rsplit(b"<", 1)[1] in (b"be", b"/b")


def test_unavailable_is_a_soap_server_fault(client: httpx.Client) -> None:
    arm(client, fault="unavailable_fault")
    assert fault(call(client, list_changed())) == ("soap:Server.Unavailable", "Unavailable")


def test_dtd_entity_response_is_refused_by_a_hardened_client(client: httpx.Client, server: MockServer) -> None:
    arm(client, fault="dtd_entity", count=2)
    response = call(client, get_citizen("001099000000"))
    assert response.status_code == 200
    assert b"<!DOCTYPE" in response.content and b"file:///etc/passwd" in response.content
    settings = zeep.Settings(forbid_dtd=True, forbid_entities=True)
    wsdl = zeep.Client(f"{server.base_url}/population?wsdl", settings=settings)
    with pytest.raises(zeep.exceptions.DTDForbidden):
        wsdl.service.GetCitizen(SoDinhDanh="001099000000")


def test_rules_count_matching_calls_per_operation(client: httpx.Client) -> None:
    arm(client, fault="http_503", count=2, operation="ListChangedCitizens", after=3)
    statuses = []
    for _ in range(6):
        assert call(client, get_citizen("001099000000")).status_code == 500  # NotFound, never 503
        statuses.append(call(client, list_changed()).status_code)
    assert statuses == [200, 200, 200, 503, 503, 200]
    described = client.get("/_admin/faults").json()["rules"]
    assert described[0]["passed"] == 3 and described[0]["fired"] == 2


def test_rules_due_together_queue_up_and_aliases_work(client: httpx.Client) -> None:
    for kind in ("http_503", "reset", "truncated_xml", "soap_server_fault", "malformed_xml"):
        arm(client, fault=kind, operation="ListChangedCitizens", after=1)
    outcomes: list[int | str] = []
    for _ in range(7):
        try:
            outcomes.append(call(client, list_changed()).status_code)
        except httpx.TransportError:
            outcomes.append("reset")
    assert outcomes == [200, 503, "reset", 200, 500, 200, 200]  # truncated and malformed are 200s


def test_system_narrows_a_rule(client: httpx.Client) -> None:
    arm(client, fault="http_502", system="some-other-system")
    assert call(client, list_changed()).status_code == 200


def test_delete_clears_and_bad_rules_are_refused(client: httpx.Client) -> None:
    arm(client, fault="http_500", count=5)
    client.delete("/_admin/faults").raise_for_status()
    assert call(client, list_changed()).status_code == 200
    for bad in ({"fault": "meteor"}, {"fault": "http_500", "count": 0}, {"fault": "latency", "after": -1}):
        response = client.post("/_admin/faults", json=bad)
        assert response.status_code == 422 and response.json()["details"]
    assert client.get("/_admin/faults").json()["rules"] == []


def test_random_rates_are_deterministic_for_a_seed() -> None:
    def draws(seed: int) -> list[str | None]:
        injector = FaultInjector({"http_503": 0.2, "latency": 0.1}, seed=seed)
        return [(drawn.kind if (drawn := injector.draw("population", "x")) else None) for _ in range(2000)]

    first = draws(1)
    assert first == draws(1) and first != draws(2)
    assert 0.25 < sum(kind is not None for kind in first) / len(first) < 0.33  # 1 - 0.8 * 0.9 = 0.28


def test_rules_win_over_random_rates() -> None:
    injector = FaultInjector({"http_503": 1.0}, seed=0)
    injector.add(FaultRule(fault="http_429"))
    assert [f.kind for f in (injector.draw("s", "o"), injector.draw("s", "o")) if f] == ["http_429", "http_503"]


def test_random_rates_from_settings_reach_the_server(population: PopulationDataset) -> None:
    settings = MockSettings(citizens=population.citizens, seed=1, fault_rates={"http_503": 0.5})
    with MockServer(settings, population=population) as server, httpx.Client(base_url=server.base_url) as http:
        statuses = [call(http, list_changed(size=1)).status_code for _ in range(40)]
    assert set(statuses) == {200, 503}


def test_faults_apply_before_authentication(client: httpx.Client) -> None:
    arm(client, fault="http_503")
    assert call(client, list_changed(), password="wrong").status_code == 503
    assert payload(call(client, list_changed(size=1))).find(f"{NS}CongDan") is not None
