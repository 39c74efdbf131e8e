"""A hostile SOAP/REST peer for the transport tests, run as its own process so that it can drip and flood.

``python hostile_server.py --redirect-to URL`` serves on a free loopback port and prints
``READY <port>``. The population contract (schemas/population) is served at every path:
``/<mode>?wsdl`` and ``/<mode>?xsd=population.xsd``; what a call (any POST, or a GET
without ?wsdl/?xsd) gets depends on the path's last segment, the mode:

    redirect301 ... redirect308  that status, Location: the --redirect-to URL
    redirect302_drip             a 302 like the above whose body then drips a byte a second
    drip_headers                 a status line, then a header a byte a second
    drip_body                    headers (Content-Length 100000), then the body a byte a second
    flood                        a 200 MB SOAP response generated on the fly, no Content-Length
    gzip_bomb                    200 MB of SOAP response gzipped to a few hundred KB
    anything else                an empty ListChangedCitizens response

and what the WSDL fetch gets: ``wsdl301`` (301 to --redirect-to), ``wsdl_drip`` (dripped);
the XSD fetch: ``xsd302`` (302 to --redirect-to), ``xsd302same`` (302 to this origin),
``xsd_drip`` (dripped).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
import zlib
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CONTRACT = Path(__file__).resolve().parents[2] / "schemas" / "population"
DRIP_SECONDS = 20  # far beyond the tests' timeouts: a client without a deadline waits all of it
FLOOD_BYTES = 200 * 1024 * 1024
_ENVELOPE_HEAD = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    b'<p:ListChangedCitizensResponse xmlns:p="urn:lgsp:mock:population:1">'
)
_ENVELOPE_TAIL = b"</p:ListChangedCitizensResponse></soap:Body></soap:Envelope>"
_RECORD = b"<p:CongDan><p:SoDinhDanh>001085000123</p:SoDinhDanh><p:HoVaTen>Nguyen Van An</p:HoVaTen></p:CongDan>"


@cache
def _gzip_bomb() -> bytes:
    """The envelope with 200 MB of whitespace inside, gzipped (whitespace between elements is valid XML)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip format
    parts = [packer.compress(_ENVELOPE_HEAD)]
    blank = b" " * (1024 * 1024)
    parts += [packer.compress(blank) for _ in range(FLOOD_BYTES // len(blank))]
    parts += [packer.compress(_ENVELOPE_TAIL), packer.flush()]
    return b"".join(parts)


def _client_gone() -> contextlib.suppress:
    """The client hanging up on us, as it should when we misbehave, is no error here."""
    return contextlib.suppress(BrokenPipeError, ConnectionResetError)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    redirect_to = ""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        mode = path.rsplit("/", 1)[-1]
        with _client_gone():
            if query == "wsdl":
                self._wsdl(mode, path)
            elif query.startswith("xsd="):
                self._xsd(mode, path)
            else:
                self._call(mode)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with _client_gone():
            self._call(self.path.partition("?")[0].rsplit("/", 1)[-1])

    def _wsdl(self, mode: str, path: str) -> None:
        if mode == "wsdl301":
            self._redirect(301, self.redirect_to)
        elif mode == "wsdl_drip":
            self._drip_body()
        else:
            self._send(200, (CONTRACT / "population.wsdl").read_bytes())

    def _xsd(self, mode: str, path: str) -> None:
        if mode == "xsd302":
            self._redirect(302, self.redirect_to)
        elif mode == "xsd302same":
            self._redirect(302, f"{path}?xsd=moved.xsd")
        elif mode == "xsd_drip":
            self._drip_body()
        else:
            self._send(200, (CONTRACT / "population.xsd").read_bytes())

    def _call(self, mode: str) -> None:
        if mode == "redirect302_drip":
            self.wfile.write(
                f"HTTP/1.1 302 Found\r\nLocation: {self.redirect_to}\r\nContent-Length: 100000\r\n\r\n".encode()
            )
            self._drip(b" " * 1000)
        elif mode.startswith("redirect"):
            self._redirect(int(mode.removeprefix("redirect")), self.redirect_to)
        elif mode == "drip_headers":
            self._drip_headers()
        elif mode == "drip_body":
            self._drip_body()
        elif mode == "flood":
            self._flood()
        elif mode == "gzip_bomb":
            self._send(200, _gzip_bomb(), extra={"Content-Encoding": "gzip"})
        else:
            self._send(200, _ENVELOPE_HEAD + _ENVELOPE_TAIL)

    def _send(self, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, status: int, location: str) -> None:
        self.send_response(status)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _drip(self, data: bytes) -> None:
        for index in range(min(len(data), DRIP_SECONDS)):
            self.wfile.write(data[index : index + 1])
            time.sleep(1)
        self.close_connection = True

    def _drip_headers(self) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
        self._drip(b"X-Slow: " + b"a" * 100)

    def _drip_body(self) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 100000\r\n\r\n")
        self._drip(_ENVELOPE_HEAD + b" " * 1000)

    def _flood(self) -> None:
        # No Content-Length: the body runs until we close, so only counting can stop the client.
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nConnection: close\r\n\r\n")
        self.wfile.write(_ENVELOPE_HEAD)
        block = _RECORD * (64 * 1024 // len(_RECORD))
        for _ in range(FLOOD_BYTES // len(block)):
            self.wfile.write(block)
        self.wfile.write(_ENVELOPE_TAIL)
        self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is what we expect
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redirect-to", required=True)
    Handler.redirect_to = parser.parse_args().redirect_to
    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=_gzip_bomb, daemon=True).start()  # warm the cache while the tests start
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
