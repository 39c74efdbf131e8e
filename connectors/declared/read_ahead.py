"""Read the next page while the current one is used: a read-ahead of one item, in a thread of its own.

A peer renders a page while we wait for it, and waits while we map and stage the one
before: run in turn, the two add up. Here the producer (a walk over a peer's pages:
the request, its retries, parsing, mapping) runs in a reader thread, so that the peer
renders page n+1 while the consumer stages page n.

    bounded    the reader fetches an item only once the consumer has taken the one before:
               at most the consumer's item and the next are held (two pages of memory)
    errors     what the producer raises (after its own retries) is raised in the consumer's
               thread, the same exception, where the item it did not produce would have been
    closing    ``close()`` (or leaving the loop) stops the reader: no request after the one in
               flight, whose result is dropped, and the producer is closed in the reader's
               thread, where it ran. Close does not wait for that request: a task's time limit
               (raised in the consumer's thread) must end the task now, not when a peer that
               drips its answer lets go. The request ends by its own deadline; the reader is a
               daemon thread, which never keeps the process alive.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()  # the producer ended


class ReadAhead(Generic[T]):
    """``for item in ReadAhead(items, name=...)``: ``items`` iterated in a reader thread, one item ahead."""

    def __init__(self, items: Iterable[T], *, name: str) -> None:
        """``name`` names the reader thread (no data in it)."""
        self._items = items
        self._handoff: queue.SimpleQueue[tuple[object, BaseException | None]] = queue.SimpleQueue()
        self._credit = threading.Semaphore(1)  # released by the consumer for each item it takes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name=name, daemon=True)
        self._started = False

    def __iter__(self) -> Iterator[T]:
        """The producer's items, in order.

        Raises:
            Exception: whatever the producer raised, once the items before it were taken.
        """
        if self._started:
            raise RuntimeError("a read-ahead is iterated once")
        self._started = True
        self._thread.start()
        try:
            while True:
                item, error = self._handoff.get()
                if error is not None:
                    raise error
                if item is _DONE:
                    return
                self._credit.release()  # the reader fetches the next while this one is used
                yield item  # type: ignore[misc]  # anything but _DONE is a T
        finally:
            self.close()

    def close(self) -> None:
        """Stop the reader: it asks for nothing after the item in flight (not waited for, see above)."""
        self._stop.set()
        self._credit.release()  # a reader waiting for credit wakes, sees the stop and ends

    @property
    def thread(self) -> threading.Thread:
        """The reader thread (started by the first iteration)."""
        return self._thread

    def _read(self) -> None:
        iterator = iter(self._items)
        try:
            while True:
                self._credit.acquire()
                if self._stop.is_set():
                    return
                try:
                    item = next(iterator)
                except StopIteration:
                    self._handoff.put((_DONE, None))
                    return
                self._handoff.put((item, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            self._handoff.put((_DONE, exc))
        finally:
            close = getattr(iterator, "close", None)
            if callable(close):
                close()  # a generator is closed in the thread that ran it
