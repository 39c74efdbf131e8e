"""A hostile SOAP peer: a DTD or an entity bomb is a contract breach, and no peer's words reach a traceback or a log.

Every test runs the real client against a small peer of its own on loopback
(``soap_test_server``) that serves the real population WSDL and answers as told,
counting the requests it gets. The change feed is read as the hub reads it, through the
declared stream (national_population.yaml); zeep's object path (``SoapClient.call``),
which the hub no longer uses for this register, is called directly.
"""

from __future__ import annotations

import logging
import traceback
from datetime import date, datetime

import pytest
from population_source import SYSTEM, population_source
from soap_test_server import envelope, page, soap_peer

from connectors.retry import with_retries
from connectors.soap import SoapClient
from lgsp.errors import FatalSourceError, SourceError, TransientSourceError
from schemas.population import NAMESPACE

# What a peer's fault text may echo: ids and names, which must reach no message, traceback or log.
PERSONAL_ID, OTHER_ID = "001085000123", "079300000456"
NAME, OTHER_NAME = "Nguyen Van An", "Tran Thi Bich"
PERSONAL = (PERSONAL_ID, OTHER_ID, NAME, OTHER_NAME)

LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">' for n in range(1, 10))
    + "]>"
)
XXE = '<?xml version="1.0"?><!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
# A DTD without entities, whose system id names a person (a peer's words in the DOCTYPE itself).
PLAIN = f'<?xml version="1.0"?><!DOCTYPE soap:Envelope SYSTEM "http://127.0.0.1:9/{PERSONAL_ID}.dtd">'
HOSTILE = {"billion laughs": (LAUGHS, "&lol9;"), "external entity": (XXE, "&xxe;"), "plain DOCTYPE": (PLAIN, "true")}


def client_for(url: str) -> SoapClient:
    return SoapClient(system=SYSTEM, url=url, username="lgsp", password="s3cret-Pass", timeout=5)


def hostile_answer(prolog: str, text: str, operation: str) -> bytes:
    """A well-formed answer to ``operation`` after a hostile ``prolog``, ``text`` where a value goes."""
    if operation == "ListChangedCitizens":
        body = f'<ListChangedCitizensResponse xmlns="{NAMESPACE}"><NextPageToken>{text}</NextPageToken>'
        return envelope(body + "</ListChangedCitizensResponse>", prolog)
    return envelope(
        f'<VerifyCitizenResponse xmlns="{NAMESPACE}"><TonTai>{text}</TonTai><KhopHoTen>true</KhopHoTen>'
        "<KhopNgaySinh>true</KhopNgaySinh></VerifyCitizenResponse>",
        prolog,
    )


def run(url: str, operation: str, attempts: int = 3) -> object:
    """ListChangedCitizens: the declared stream (call_raw and lxml); VerifyCitizen: SoapClient.call (zeep's parser)."""
    if operation == "ListChangedCitizens":
        return list(population_source(url, attempts=attempts).changed_since(datetime(2000, 1, 1)))
    client = client_for(url)
    return with_retries(
        lambda: client.call("VerifyCitizen", SoDinhDanh=PERSONAL_ID, HoVaTen=NAME, NgaySinh=date(1985, 3, 1)),
        attempts=attempts,
        backoff=0.01,
    )


def full_traceback(error: BaseException) -> str:
    """The error as a traceback prints it, with every chained cause and context."""
    return "".join(traceback.format_exception(error))


def chain(error: BaseException) -> list[BaseException]:
    """The error and everything reachable through __cause__ and __context__."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__]
    return seen


def assert_quotes_nobody(error: BaseException, logs: str) -> None:
    printed = full_traceback(error)
    texts = printed + "".join(repr(e) for e in chain(error)) + logs
    leaked = [value for value in PERSONAL if value in texts]
    assert not leaked, f"{leaked} leaked:\n{printed}"


@pytest.mark.parametrize("operation", ["ListChangedCitizens", "VerifyCitizen"], ids=["call_raw", "call"])
def test_a_dtd_or_entity_bomb_is_a_contract_breach_not_retried(
    operation: str, caplog: pytest.LogCaptureFixture
) -> None:
    for kind, (prolog, text) in HOSTILE.items():
        answer = hostile_answer(prolog, text, operation)
        with soap_peer(lambda body, n, answer=answer: (200, answer)) as peer:  # type: ignore[misc]
            with pytest.raises(FatalSourceError) as caught, caplog.at_level(logging.DEBUG):
                run(peer.url, operation)
            posts = len(peer.posts)
        message = str(caught.value)
        assert "DTD or entity declarations" in message, f"{kind}: {message}"
        assert "cut in transit" not in message and "retry" not in message, kind
        assert posts == 1, f"{kind}: retried ({posts} requests)"
        assert "root:" not in full_traceback(caught.value) and "lollol" not in full_traceback(caught.value), kind
        assert_quotes_nobody(caught.value, caplog.text)
        caplog.clear()


def test_an_html_error_page_keeps_its_status() -> None:
    """A proxy's 503 page has a DOCTYPE too: that is an HTTP error to retry, not a contract breach."""
    html = b"<!DOCTYPE html><html><head><title>503</title></head><body><p>Try later &nbsp;</p></body></html>"
    with soap_peer(lambda body, n: (503, html)) as peer:
        with pytest.raises(TransientSourceError, match="HTTP 503"):
            run(peer.url, "ListChangedCitizens", attempts=2)
        assert len(peer.posts) == 2


def fault(code: str) -> bytes:
    return envelope(
        f"<soap:Fault><faultcode>{code}</faultcode>"
        f"<faultstring>no citizen {PERSONAL_ID} named {NAME}</faultstring>"
        f'<detail><tns:LoiChiTiet xmlns:tns="{NAMESPACE}"><tns:MaLoi>NotFound</tns:MaLoi>'
        f"<tns:MoTa>Hồ sơ {OTHER_ID} của {OTHER_NAME} không tồn tại</tns:MoTa></tns:LoiChiTiet></detail>"
        "</soap:Fault>"
    )


@pytest.mark.parametrize("operation", ["ListChangedCitizens", "VerifyCitizen"], ids=["call_raw", "call"])
@pytest.mark.parametrize("code", ["soap:Client.InvalidRequest", "soap:Server.Unavailable"])
def test_a_fault_quoting_a_person_reaches_no_traceback_and_no_log(
    operation: str, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        soap_peer(lambda body, n: (500, fault(code))) as peer,
        pytest.raises(SourceError) as caught,
        caplog.at_level(logging.DEBUG),
    ):
        run(peer.url, operation, attempts=2)
    assert caught.value.fault_code == code.removeprefix("soap:")
    assert isinstance(caught.value, TransientSourceError) == code.startswith("soap:Server")
    assert_quotes_nobody(caught.value, caplog.text)


def test_a_fault_on_the_wsdl_load_reaches_no_traceback_and_no_log(caplog: pytest.LogCaptureFixture) -> None:
    """The WSDL fetch answered with a fault: the status is kept, the reason phrase and body are not."""
    answer = (500, fault("soap:Server.Unavailable"))
    with soap_peer(lambda body, n: (200, page(None)), wsdl_answer=answer) as peer:
        peer.reason = f"no citizen {PERSONAL_ID}"  # the peer's words in the status line too
        with pytest.raises(TransientSourceError, match="load WSDL: HTTP 500") as caught, caplog.at_level(logging.DEBUG):
            run(peer.url, "ListChangedCitizens")  # the declared source loads the contract on its first listing
        assert peer.posts == []
    assert_quotes_nobody(caught.value, caplog.text)


def cut_answer(operation: str) -> bytes:
    """A response cut in transit, after it named a person."""
    if operation == "ListChangedCitizens":
        body = f'<ListChangedCitizensResponse xmlns="{NAMESPACE}"><CongDan><SoDinhDanh>{PERSONAL_ID}</SoDinhDanh>'
        return envelope(body + f"<HoVaTen>{NAME}</HoVaTen></CongDan>")[:-30]
    return envelope(f'<VerifyCitizenResponse xmlns="{NAMESPACE}"><TonTai>{PERSONAL_ID} {NAME}')[:-30]


@pytest.mark.parametrize("operation", ["ListChangedCitizens", "VerifyCitizen"], ids=["call_raw", "call"])
def test_a_transport_error_carrying_the_body_is_not_chained(operation: str, caplog: pytest.LogCaptureFixture) -> None:
    """zeep's TransportError holds the whole response (here a cut one naming a person): never in the chain."""
    cut = cut_answer(operation)
    with soap_peer(lambda body, n: (200, cut)) as peer:
        with pytest.raises(TransientSourceError, match="not well-formed") as caught, caplog.at_level(logging.DEBUG):
            run(peer.url, operation, attempts=2)
        assert len(peer.posts) == 2  # cut in transit: retried
    assert_quotes_nobody(caught.value, caplog.text)


def test_a_page_repeating_an_earlier_token_is_refused_before_it_is_yielded() -> None:
    tokens = {1: "dG9rZW4tMDAxMDg1MDAwMTIz", 2: "dG9rZW4tMg", 3: "dG9rZW4tMDAxMDg1MDAwMTIz"}  # page 3 repeats page 1's
    with soap_peer(lambda body, n: (200, page(tokens.get(n, tokens[1])))) as peer:
        seen: list[int] = []
        with pytest.raises(FatalSourceError) as caught:
            for number, got in enumerate(population_source(peer.url).changed_since(datetime(2000, 1, 1)), 1):
                seen.append(got.number)
                assert number < 10, "the client follows the loop"
    assert seen == [1, 2]  # page 3 and its looping token never reach the caller (nor its cursor commit)
    message = str(caught.value)
    assert "repeated cursor sha256:" in message and "on page 3 (first handed out by page 1)" in message
    assert tokens[1] not in message and "ListChangedCitizens" in message


@pytest.mark.parametrize(
    "document",
    [
        b'<?xml version="1.0"?><definitions xmlns="http://schemas.xmlsoap.org/wsdl/" targetNamespace="urn:x"/>',
        b"<html><body>Welcome to the portal</body></html>",
    ],
    ids=["a WSDL without a service", "an HTML page"],
)
def test_a_wsdl_address_that_serves_no_contract_is_one_clear_error(document: bytes) -> None:
    """A ?wsdl answered 200 with something else: a FatalSourceError naming the load, not a StopIteration."""
    with (
        soap_peer(lambda body, n: (200, page(None)), wsdl_answer=(200, document)) as peer,
        pytest.raises(FatalSourceError, match="load WSDL") as caught,
    ):
        run(peer.url, "ListChangedCitizens")
    assert "Traceback" not in str(caught.value)
