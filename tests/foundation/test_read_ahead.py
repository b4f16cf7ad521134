"""Read-ahead (contacts/read_ahead.py): a report's batches parsed in a thread while earlier ones are staged."""

import threading

import pytest

from contacts.read_ahead import read_ahead


def test_items_come_in_order_and_all_of_them():
    assert list(read_ahead(iter(range(1000)), depth=3)) == list(range(1000))


def test_an_empty_source_gives_nothing():
    assert list(read_ahead(iter([]))) == []


def test_the_sources_error_is_raised_in_the_consumers_thread_after_the_items_before_it():
    def source():
        yield 1
        yield 2
        raise ValueError("line 3: not a number")

    seen = []
    with pytest.raises(ValueError, match="line 3"):
        for item in read_ahead(source()):
            seen.append(item)
    assert seen == [1, 2]


def test_items_are_drawn_in_another_thread_at_most_depth_ahead():
    drawn = []
    consumer = threading.get_ident()

    def source():
        for n in range(10):
            drawn.append((n, threading.get_ident()))
            yield n

    items = read_ahead(source(), depth=2)
    assert next(items) == 0
    for _ in range(50):  # let the thread run as far as it may
        threading.Event().wait(0.01)
    # One item handed over, two waiting, one drawn and blocked on the full queue: never the whole source.
    assert len(drawn) <= 4
    assert all(thread != consumer for _, thread in drawn)
    assert list(items) == list(range(1, 10))


def test_a_consumer_that_stops_early_closes_the_source():
    closed = threading.Event()

    def source():
        try:
            yield from range(1_000_000)
        finally:
            closed.set()

    for item in read_ahead(source()):
        if item == 5:
            break
    assert closed.wait(5)


def test_a_consumer_that_fails_stops_the_thread():
    def source():
        yield from range(1_000_000)

    before = threading.active_count()
    with pytest.raises(RuntimeError):
        for item in read_ahead(source(), name="failing-consumer"):
            if item == 3:
                raise RuntimeError("staging failed")
    assert threading.active_count() == before
    assert not any(t.name == "failing-consumer" for t in threading.enumerate())
