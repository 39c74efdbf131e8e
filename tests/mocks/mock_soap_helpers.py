"""Hand-written SOAP 1.1 requests and response readers for the population mock's tests."""

from __future__ import annotations

from typing import Any

import httpx
from lxml import etree

from schemas.population import NAMESPACE

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS = f"{{{NAMESPACE}}}"
USERNAME, PASSWORD = "lgsp-demo", "demo-only-password"


def envelope(body: str, username: str | None = USERNAME, password: str = PASSWORD) -> bytes:
    """A request envelope; ``username=None`` leaves the WS-Security header out."""
    header = ""
    if username is not None:
        header = (
            f'<soap:Header><wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken>'
            f"<wsse:Username>{username}</wsse:Username><wsse:Password>{password}</wsse:Password>"
            "</wsse:UsernameToken></wsse:Security></soap:Header>"
        )
    return (
        f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:p="{NAMESPACE}">{header}<soap:Body>{body}</soap:Body>'
        "</soap:Envelope>"
    ).encode()


def get_citizen(personal_id: str) -> str:
    return f"<p:GetCitizenRequest><p:SoDinhDanh>{personal_id}</p:SoDinhDanh></p:GetCitizenRequest>"


def verify_citizen(personal_id: str, name: str, birth: str) -> str:
    return (
        f"<p:VerifyCitizenRequest><p:SoDinhDanh>{personal_id}</p:SoDinhDanh><p:HoVaTen>{name}</p:HoVaTen>"
        f"<p:NgaySinh>{birth}</p:NgaySinh></p:VerifyCitizenRequest>"
    )


def list_changed(since: str = "2000-01-01T00:00:00Z", token: str | None = None, size: int | None = None) -> str:
    parts = [f"<p:Since>{since}</p:Since>"]
    if token is not None:
        parts.append(f"<p:PageToken>{token}</p:PageToken>")
    if size is not None:
        parts.append(f"<p:PageSize>{size}</p:PageSize>")
    return f"<p:ListChangedCitizensRequest>{''.join(parts)}</p:ListChangedCitizensRequest>"


def call(client: httpx.Client, body: str, **auth: Any) -> httpx.Response:
    """POST one operation to /population (no SOAPAction header: dispatch is on the body)."""
    return client.post("/population", content=envelope(body, **auth), headers={"Content-Type": "text/xml"})


def payload(response: httpx.Response) -> etree._Element:
    """The Body's first child of a response."""
    root = etree.fromstring(response.content)
    body = root.find(f"{{{SOAP}}}Body")
    assert body is not None
    return body[0]


def fault(response: httpx.Response) -> tuple[str, str]:
    """(faultcode, MaLoi) of a fault response, after checking it is a proper SOAP fault."""
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/xml")
    element = payload(response)
    assert element.tag == f"{{{SOAP}}}Fault"
    assert element.findtext("faultstring")
    detail = element.find(f"detail/{NS}LoiChiTiet")
    assert detail is not None and detail.findtext(f"{NS}MoTa")
    return element.findtext("faultcode") or "", detail.findtext(f"{NS}MaLoi") or ""


def page_through(client: httpx.Client, size: int, since: str = "2000-01-01T00:00:00Z") -> list[etree._Element]:
    """Every CongDan of a ListChangedCitizens query, following NextPageToken to the end."""
    records: list[etree._Element] = []
    token: str | None = None
    while True:
        response = call(client, list_changed(since, token, size))
        assert response.status_code == 200, response.text
        page = payload(response)
        found = page.findall(f"{NS}CongDan")
        assert len(found) <= size
        records += found
        token = page.findtext(f"{NS}NextPageToken")
        if token is None:
            return records
        assert len(found) == size  # only the last page may be short


def key(record: etree._Element) -> tuple[str, str]:
    """(NgayCapNhat, SoDinhDanh) of a CongDan element."""
    return record.findtext(f"{NS}NgayCapNhat") or "", record.findtext(f"{NS}SoDinhDanh") or ""
