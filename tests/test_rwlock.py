"""The readers-writer lock that guards the server's store switch, with real threads."""

from __future__ import annotations

import threading
import time

import pytest

from codegraph.server.rwlock import ReadWriteLock

pytestmark = pytest.mark.timeout(30)


def test_readers_share_and_a_writer_waits_for_them() -> None:
    lock = ReadWriteLock()
    inside, order = threading.Barrier(3), []

    def reader() -> None:
        with lock.reading():
            inside.wait(5)  # both readers are in at once
            time.sleep(0.2)
            order.append("read")

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in readers:
        t.start()
    inside.wait(5)
    with lock.writing():
        order.append("write")
    for t in readers:
        t.join(5)
    assert order == ["read", "read", "write"]


def test_a_waiting_writer_goes_before_new_readers() -> None:
    lock = ReadWriteLock()
    order: list[str] = []
    first_in = threading.Event()

    def first_reader() -> None:
        with lock.reading():
            first_in.set()
            time.sleep(0.3)
        order.append("first reader out")

    def writer() -> None:
        with lock.writing():
            order.append("writer")

    def late_reader() -> None:
        with lock.reading():
            order.append("late reader")

    threads = [threading.Thread(target=first_reader)]
    threads[0].start()
    assert first_in.wait(5)
    threads.append(threading.Thread(target=writer))
    threads[1].start()
    time.sleep(0.1)  # the writer waits now
    threads.append(threading.Thread(target=late_reader))
    threads[2].start()
    for t in threads:
        t.join(5)
    assert order == ["first reader out", "writer", "late reader"]


def test_a_writer_gives_up_after_its_timeout_and_lets_readers_on() -> None:
    lock = ReadWriteLock()
    release = threading.Event()
    entered = threading.Event()

    def stuck_reader() -> None:
        with lock.reading():
            entered.set()
            release.wait(10)

    t = threading.Thread(target=stuck_reader)
    t.start()
    assert entered.wait(5)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="1 reader"), lock.writing(timeout=0.2):
        pass
    assert 0.15 < time.monotonic() - started < 2
    with lock.reading():  # no writer is left waiting: readers are not held back
        pass
    release.set()
    t.join(5)
