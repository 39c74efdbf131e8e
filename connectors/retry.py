"""Retry with exponential backoff for transient source errors; everything else passes through."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from lgsp.errors import TransientSourceError

T = TypeVar("T")
log = logging.getLogger(__name__)

_MAX_DELAY = 60.0


def with_retries(
    call: Callable[[], T],
    *,
    attempts: int,
    backoff: float,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call``; on TransientSourceError wait and try again, up to ``attempts`` times.

    The wait doubles each time (with jitter so that many workers do not retry in
    step) and honours a server's Retry-After when it is longer.

    Raises:
        TransientSourceError: the last error, once the attempts are used up.
    """
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except TransientSourceError as exc:
            if attempt == attempts:
                raise
            delay = min(backoff * 2 ** (attempt - 1), _MAX_DELAY) * (0.5 + random.random() / 2)  # noqa: S311 - jitter
            if exc.retry_after is not None:
                delay = max(delay, min(exc.retry_after, _MAX_DELAY))
            log.warning(
                "%s %s failed (%s); attempt %d of %d, retrying in %.1f s",
                exc.system,
                exc.operation,
                exc,
                attempt,
                attempts,
                delay,
            )
            sleep(delay)
    raise AssertionError("unreachable: the loop returns or raises")
