"""The one-stop system as an ASGI app: dossiers as a change feed, and the unit inbox API for routing.

Routes, relative to where the caller mounts the app (``/one-stop/v1``); contract in
``schemas/one_stop/openapi.yaml``; fault operation names in brackets:
    GET  /dossiers?updated_since=&cursor=&limit=        changed dossiers, paged  [list_dossiers]
    POST /units/{MaDonVi}/inbox     Idempotency-Key     route a dossier there    [inbox]
    GET  /units/{MaDonVi}/results?since=&cursor=&limit= the commune's decisions  [results]
    POST /units/{MaDonVi}/returns   Idempotency-Key     hand a result back       [returns]
    GET  /openapi.yaml                                  the contract (no key needed)

Everything a client sees is as of the mock clock, the one the population mock moves.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mocks.clock import MockClock
from mocks.faults import FaultInjector
from mocks.one_stop.cursors import Cursors
from mocks.one_stop.dataset import FeedKey
from mocks.one_stop.idempotency import IdempotencyConflict, IdempotencyStore
from mocks.one_stop.record import format_time
from mocks.one_stop.rest import (
    Handler,
    Problem,
    endpoint,
    fingerprint,
    idempotency_key,
    parse_body,
    query_limit,
    query_time,
    read_json,
)
from mocks.one_stop.routing import RoutingError
from mocks.one_stop.system import OneStopSystem
from mocks.one_stop.wire import ReturnRequest, TransferRequest, unit
from mocks.population.dataset import PopulationDataset
from mocks.rest_faults import JsonFaults
from mocks.settings import MockSettings
from schemas.one_stop import OPENAPI_PATH

PROBLEM_TYPES = "urn:lgsp:mock:one-stop:problem:"  # our own namespace, as every mock's
SYSTEM = "one_stop"


def _bad_cursor() -> Problem:
    return Problem(422, "invalid-cursor", "cursor is malformed, altered, or belongs to another query")


class _Endpoints:
    """The handlers, bound to one system, clock and settings."""

    def __init__(self, system: OneStopSystem, settings: MockSettings, clock: MockClock) -> None:
        self.system, self.settings, self.clock = system, settings, clock
        self.dossier_cursors = Cursors("one-stop-dossiers", settings.seed)
        self.result_cursors = Cursors("one-stop-results", settings.seed)
        self.keys = IdempotencyStore()

    async def list_dossiers(self, request: Request) -> Response:
        """Dossiers visible at the clock with NgayCapNhat after ``updated_since``, in (NgayCapNhat, MaHoSo) order."""
        since, limit = query_time(request, "updated_since"), query_limit(request)
        after = self._dossier_position(request.query_params.get("cursor"), since)
        dataset, _ = await self.system.ready()
        page = dataset.changed(since, self.clock.now, after, limit)
        items = [dataset.render(index, position) for index, position in page.entries]
        cursor = self.dossier_cursors.issue(str(since), page.last) if page.more and page.last else None
        return JSONResponse({"items": items, "next_cursor": cursor})

    def _dossier_position(self, cursor: str | None, since: int) -> FeedKey | None:
        if not cursor:
            return None
        try:
            match self.dossier_cursors.open(cursor, str(since)):
                case [int(time), str(ma_ho_so), int(copy)]:
                    return time, ma_ho_so, copy
        except ValueError:
            pass
        raise _bad_cursor()

    async def inbox(self, request: Request) -> Response:
        """Route a dossier to the commune ``MaDonVi``; the same Idempotency-Key gives the same MaChuyen."""
        target, key = unit(request.path_params["MaDonVi"]), idempotency_key(request)
        body = parse_body(TransferRequest, await read_json(request, self.settings.max_request_bytes))
        request_print = fingerprint(target, body.model_dump())
        _, desk = await self.system.ready()  # before the key check: nothing awaits between it and the answer
        if (replay := self._recall("inbox", key, request_print)) is not None:
            return replay
        try:
            transfer = desk.route(body.MaHoSo, target, body.MaDonViGui, self.clock.now)
        except RoutingError as error:
            raise _problem(error) from error
        return self._remember("inbox", key, request_print, {"MaChuyen": transfer.ma_chuyen})

    async def results(self, request: Request) -> Response:
        """Decisions the commune ``MaDonVi`` made after ``since`` and by the clock, in (ThoiDiem, MaChuyen) order."""
        commune, since, limit = unit(request.path_params["MaDonVi"]), query_time(request, "since"), query_limit(request)
        bound = f"{commune}|{since}"
        after = self._result_position(request.query_params.get("cursor"), bound)
        _, desk = await self.system.ready()
        decided, more = desk.results(commune, since, self.clock.now, after, limit)
        items = [
            {"MaChuyen": t.ma_chuyen, "MaHoSo": t.ma_ho_so, "KetQua": t.ket_qua, "ThoiDiem": format_time(t.decided_at)}
            for t in decided
        ]
        cursor = self.result_cursors.issue(bound, [decided[-1].decided_at, decided[-1].ma_chuyen]) if more else None
        return JSONResponse({"items": items, "next_cursor": cursor})

    def _result_position(self, cursor: str | None, bound: str) -> tuple[int, str] | None:
        if not cursor:
            return None
        try:
            match self.result_cursors.open(cursor, bound):
                case [int(time), str(ma_chuyen)]:
                    return time, ma_chuyen
        except ValueError:
            pass
        raise _bad_cursor()

    async def returns(self, request: Request) -> Response:
        """Hand the commune's result back to the receiving unit ``MaDonVi``; the dossier moves on."""
        receiver, key = unit(request.path_params["MaDonVi"]), idempotency_key(request)
        body = parse_body(ReturnRequest, await read_json(request, self.settings.max_request_bytes))
        request_print = fingerprint(receiver, body.model_dump())
        _, desk = await self.system.ready()  # before the key check: nothing awaits between it and the answer
        if (replay := self._recall("returns", key, request_print)) is not None:
            return replay
        try:
            status = desk.give_back(receiver, body.MaHoSo, body.MaChuyen, body.KetQua, self.clock.now)
        except RoutingError as error:
            raise _problem(error) from error
        answer = {"MaHoSo": body.MaHoSo, "MaChuyen": body.MaChuyen, "TrangThai": status}
        return self._remember("returns", key, request_print, answer)

    def _recall(self, scope: str, key: str, request_print: str) -> Response | None:
        """The first answer under ``key`` (200: a replay), None for a new key, 422 if the key served another request."""
        try:
            remembered = self.keys.recall(scope, key, request_print)
        except IdempotencyConflict as exc:
            raise Problem(422, "idempotency-key-reused", str(exc)) from exc
        return None if remembered is None else JSONResponse(remembered.body, 200)

    def _remember(self, scope: str, key: str, request_print: str, answer: dict[str, Any]) -> Response:
        self.keys.remember(scope, key, request_print, answer)
        return JSONResponse(answer, 201)

    async def contract(self, request: Request) -> Response:
        """The OpenAPI contract this mock honours."""
        return Response(OPENAPI_PATH.read_bytes(), media_type="application/yaml")


def _problem(error: RoutingError) -> Problem:
    slug = "not-found" if error.status == 404 else "conflict"
    return Problem(error.status, slug, error.reason)


def build_one_stop_app(
    population: PopulationDataset, settings: MockSettings, faults: FaultInjector, clock: MockClock
) -> Starlette:
    """The one-stop system over residents of ``population``, at ``clock``; mount it at ``/one-stop/v1``.

    ``app.state.one_stop`` is the `OneStopSystem` (data set and ground truth, generated on first use).
    """
    system = OneStopSystem(population, settings)
    endpoints = _Endpoints(system, settings, clock)
    key, json_faults = settings.one_stop_api_key, JsonFaults(PROBLEM_TYPES)

    def guarded(operation: str, handler: Handler) -> Handler:
        return endpoint(SYSTEM, operation, faults, json_faults, key, handler)

    app = Starlette(
        routes=[
            Route("/dossiers", guarded("list_dossiers", endpoints.list_dossiers), methods=["GET"]),
            Route("/units/{MaDonVi}/inbox", guarded("inbox", endpoints.inbox), methods=["POST"]),
            Route("/units/{MaDonVi}/results", guarded("results", endpoints.results), methods=["GET"]),
            Route("/units/{MaDonVi}/returns", guarded("returns", endpoints.returns), methods=["POST"]),
            Route("/openapi.yaml", endpoints.contract, methods=["GET"]),
        ]
    )
    app.state.one_stop = system
    return app
