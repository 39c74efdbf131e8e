"""The read-ahead a declared source reads its pages through: in order, one ahead, errors where they belong."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from connectors.declared.read_ahead import ReadAhead
from lgsp.errors import FatalSourceError, TransientSourceError


class Producer:
    """A generator of ``count`` items that records how far it got, in which thread, and whether it was closed."""

    def __init__(self, count: int, fail_at: int | None = None, error: Exception | None = None) -> None:
        self.count, self.fail_at, self.error = count, fail_at, error
        self.produced = 0
        self.threads: set[str] = set()
        self.closed_in: str | None = None

    def __iter__(self) -> Iterator[int]:
        try:
            for item in range(1, self.count + 1):
                self.threads.add(threading.current_thread().name)
                if item == self.fail_at and self.error is not None:
                    raise self.error
                self.produced = item
                yield item
        finally:
            self.closed_in = threading.current_thread().name


def test_items_arrive_in_order_from_a_reader_never_more_than_one_ahead() -> None:
    producer = Producer(50)
    seen = []
    for item in ReadAhead(producer, name="test-reader"):
        # When the consumer holds item n the reader may be fetching n + 1, never n + 2.
        assert producer.produced <= item + 1
        seen.append(item)
    assert seen == list(range(1, 51))
    assert producer.threads == {"test-reader"}  # the work ran in the reader, not in this thread


@pytest.mark.parametrize("error", [FatalSourceError("peer x: refused"), TransientSourceError("peer x: timed out")])
def test_an_error_is_raised_in_the_consumer_after_the_items_before_it(error: Exception) -> None:
    producer = Producer(10, fail_at=4, error=error)
    seen = []
    with pytest.raises(type(error)) as caught:
        seen.extend(ReadAhead(producer, name="test-reader"))
    assert caught.value is error and seen == [1, 2, 3]
    assert producer.closed_in == "test-reader"


def test_leaving_the_loop_stops_the_reader_and_closes_the_producer_in_its_thread() -> None:
    producer = Producer(1000)
    reader = ReadAhead(producer, name="test-reader")
    for item in reader:
        if item == 2:
            break
    reader.thread.join()  # it ends by itself once told to stop (close does not wait for it)
    assert producer.closed_in == "test-reader" and producer.produced <= 3  # nothing asked for after the stop


def test_close_does_not_wait_for_the_item_in_flight() -> None:
    release, asked = threading.Event(), threading.Event()

    def stuck() -> Iterator[int]:
        yield 1
        asked.set()
        release.wait()  # a peer dripping its answer
        yield 2

    reader = ReadAhead(stuck(), name="test-reader")
    items = iter(reader)
    assert next(items) == 1
    asked.wait()
    reader.close()  # returns while the reader is still stuck: a time limit in the consumer ends the task now
    assert reader.thread.is_alive()
    release.set()
    reader.thread.join()
    items.close()


def test_closing_before_reading_starts_nothing() -> None:
    producer = Producer(3)
    reader = ReadAhead(producer, name="test-reader")
    reader.close()
    assert producer.produced == 0 and producer.closed_in is None


def test_a_read_ahead_is_read_once() -> None:
    reader = ReadAhead(Producer(2), name="test-reader")
    assert list(reader) == [1, 2]
    with pytest.raises(RuntimeError, match="once"):
        list(reader)
