"""A hostile SOAP peer for the connector tests: the real population contract on loopback, answers scripted by a test.

``with soap_peer(answer) as peer:`` serves ``GET ?wsdl`` and ``GET ?xsd=population.xsd``
from ``schemas/population/`` and answers the n-th POST (from 1) with
``answer(body, n) -> (status, bytes)``. ``peer.posts`` holds the request bodies it got,
so a test can count attempts and read the client's real envelope; ``wsdl_answer``
replaces the WSDL with a hostile one, and ``reason`` the reason phrase of every status line.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lxml import etree

from schemas.population import NAMESPACE, WSDL_PATH, XSD_PATH

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
Answer = Callable[[bytes, int], tuple[int, bytes]]


def envelope(body: str, prolog: str = '<?xml version="1.0" encoding="UTF-8"?>') -> bytes:
    """A SOAP 1.1 response envelope around ``body``, after ``prolog`` (where a hostile DTD goes)."""
    return (f'{prolog}<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>{body}</soap:Body></soap:Envelope>').encode()


def page(token: str | None) -> bytes:
    """An empty ListChangedCitizens page whose NextPageToken is ``token`` (None: the last page)."""
    next_token = f"<NextPageToken>{token}</NextPageToken>" if token is not None else ""
    return envelope(f'<ListChangedCitizensResponse xmlns="{NAMESPACE}">{next_token}</ListChangedCitizensResponse>')


def verdict() -> bytes:
    """A VerifyCitizen answer: the id exists, name and birth date match."""
    return envelope(
        f'<VerifyCitizenResponse xmlns="{NAMESPACE}"><TonTai>true</TonTai><KhopHoTen>true</KhopHoTen>'
        "<KhopNgaySinh>true</KhopNgaySinh></VerifyCitizenResponse>"
    )


def security_header(body: bytes) -> etree._Element:
    """The wsse:Security header of a request the peer got."""
    header = etree.fromstring(body).find(f"{{{SOAP_ENV}}}Header/{{{WSSE}}}Security")
    assert header is not None, "no WS-Security header"
    return header


@dataclass
class SoapPeer:
    """What a running peer answers, and what it saw."""

    url: str
    answer: Answer
    wsdl_answer: tuple[int, bytes] | None = None
    reason: str | None = None  # the status line's reason phrase, if not the standard one
    posts: list[bytes] = field(default_factory=list)
    wsdl_gets: int = 0


@contextmanager
def soap_peer(answer: Answer, wsdl_answer: tuple[int, bytes] | None = None) -> Iterator[SoapPeer]:
    """Run a peer on a free loopback port until the block ends."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.endswith("?wsdl"):
                with lock:
                    peer.wsdl_gets += 1
                if peer.wsdl_answer is not None:
                    self._send(*peer.wsdl_answer)
                else:
                    self._send(200, WSDL_PATH.read_bytes())
            elif self.path.endswith("?xsd=population.xsd"):
                self._send(200, XSD_PATH.read_bytes())
            else:
                self._send(404, b"")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                peer.posts.append(body)
                number = len(peer.posts)
            self._send(*peer.answer(body, number))

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status, peer.reason)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    peer = SoapPeer(url=f"http://127.0.0.1:{httpd.server_address[1]}/population", answer=answer)
    peer.wsdl_answer = wsdl_answer
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        httpd.shutdown()
        httpd.server_close()
