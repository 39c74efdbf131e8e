"""The social insurance register as an ASGI app: coverages as a change feed, paged by number.

Routes, relative to where the caller mounts the app (``/social-insurance/v1``); contract
in ``schemas/social_insurance/openapi.yaml``; the fault operation name in brackets:
    GET /coverages?updated_since=&page=&page_size=   changed coverages, one numbered page  [list_coverages]
    GET /openapi.yaml                                the contract, ``servers`` pointing here (no key)

A request is answered in this order: fault injection, the X-Api-Key, parameters, the
page. Errors are RFC 9457 problems typed ``urn:lgsp:mock:social-insurance:problem:<slug>``
that never repeat request data. What a client sees is what the mock clock (the
population mock's) has reached.
"""

from __future__ import annotations

import math
import re

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mocks.clock import MockClock
from mocks.contracts import SCHEMAS_DIR
from mocks.faults import FaultInjector
from mocks.one_stop.rest import Problem, endpoint, parse_rfc3339
from mocks.population.dataset import PopulationDataset
from mocks.rest_faults import JSON, JsonFaults
from mocks.settings import MockSettings
from mocks.social_insurance import render
from mocks.social_insurance.dataset import SocialInsuranceDataset

OPENAPI_PATH = SCHEMAS_DIR / "social_insurance" / "openapi.yaml"

SYSTEM = "social_insurance"
PROBLEM_TYPES = "urn:lgsp:mock:social-insurance:problem:"
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000
MAX_PAGE = 10**9
_SERVERS = re.compile(r"(?m)^(servers:\n  - url: ).*$")


def _invalid(detail: str) -> Problem:
    return Problem(400, "invalid-parameter", detail)


def updated_since(request: Request) -> int:
    """``updated_since`` (required, RFC 3339 with Z or an offset) as whole epoch seconds (records carry whole seconds).

    Raises:
        Problem: 400 missing or not RFC 3339.
    """
    text = request.query_params.get("updated_since")
    if text is None:
        raise _invalid("updated_since is required: an RFC 3339 date-time, e.g. 2026-01-01T00:00:00Z")
    try:
        return math.floor(parse_rfc3339(text).timestamp())
    except ValueError as exc:
        raise _invalid("updated_since must be an RFC 3339 date-time with Z or an offset") from exc


def _whole(request: Request, name: str, default: int, high: int) -> int:
    """Query parameter ``name``: a whole number 1..``high``, ``default`` when absent.

    Raises:
        Problem: 400 not a whole number in range.
    """
    text = request.query_params.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(high))) or not 1 <= int(text) <= high:
        raise _invalid(f"{name} must be a whole number from 1 to {high}")
    return int(text)


class _Endpoints:
    """The handlers, bound to one data set and the clock."""

    def __init__(self, dataset: SocialInsuranceDataset, clock: MockClock) -> None:
        self.dataset, self.clock = dataset, clock
        self.contract = OPENAPI_PATH.read_text(encoding="utf-8")

    async def coverages(self, request: Request) -> Response:
        """GET /coverages: one numbered page of the coverages changed after ``updated_since``."""
        since = updated_since(request)
        page = _whole(request, "page", 1, MAX_PAGE)
        size = _whole(request, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        return Response(render.page_body(self.dataset.page(since, self.clock.now, page, size)), media_type=JSON)

    async def openapi(self, request: Request) -> Response:
        """GET /openapi.yaml: the contract, its server URL pointing here."""
        here = f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"
        served = _SERVERS.sub(lambda match: match.group(1) + here, self.contract, count=1)
        return Response(served.encode(), media_type="application/yaml")

    async def index(self, request: Request) -> Response:
        """GET /: where things are."""
        return JSONResponse(
            {
                "service": "lgsp mock social insurance register (not a government service)",
                "contract": "openapi.yaml",
                "coverages": "coverages",
            }
        )


def build_social_insurance_app(
    population: PopulationDataset, settings: MockSettings, faults: FaultInjector, clock: MockClock
) -> Starlette:
    """The social insurance REST service over ``population``'s adults; mount it at ``/social-insurance/v1``.

    ``app.state.dataset`` is the `SocialInsuranceDataset` (records and ground truth).

    Raises:
        ValueError: the settings ask for more coverages than ``population`` has adults.
    """
    dataset = SocialInsuranceDataset.generate(
        population,
        settings.seed,
        settings.social_insurance_records,
        settings.social_insurance_defect_rate,
        settings.feed_days,
    )
    endpoints = _Endpoints(dataset, clock)
    key, json_faults = settings.social_insurance_api_key, JsonFaults(PROBLEM_TYPES)
    guarded = endpoint(SYSTEM, "list_coverages", faults, json_faults, key, endpoints.coverages)
    app = Starlette(
        routes=[
            Route("/", endpoints.index, methods=["GET"]),
            Route("/coverages", guarded, methods=["GET"]),
            Route("/openapi.yaml", endpoints.openapi, methods=["GET"]),
        ]
    )
    app.state.dataset = dataset
    return app
