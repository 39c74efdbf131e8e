"""How many requests run their (blocking) handlers at once in one API process.

FastAPI runs a plain ``def`` route in anyio's worker threads, 40 by default. Past a few,
more threads add no throughput to a process that holds the GIL, but each request then
waits its turn for the GIL among all the others, in no order: the slowest requests wait
longest. With fewer threads the rest wait in the event loop, first come first served, and
the grouped ledger writer's thread (``hub.api.grouped_ledger``) gets the GIL sooner.
"""

from __future__ import annotations

from anyio import to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

HANDLER_THREADS = 8


class HandlerThreads:
    """ASGI middleware that sets the event loop's thread limit on the first request (the limiter is per loop)."""

    def __init__(self, app: ASGIApp, threads: int = HANDLER_THREADS) -> None:
        """Limit ``app``'s handlers to ``threads`` at once."""
        self.app, self.threads = app, threads
        self._limited: set[int] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Set the limit once per event loop, then pass the request on."""
        limiter = to_thread.current_default_thread_limiter()
        if id(limiter) not in self._limited:
            limiter.total_tokens = self.threads
            self._limited.add(id(limiter))
        await self.app(scope, receive, send)
