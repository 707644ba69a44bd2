"""A readers-writer lock that prefers the writer: once a writer waits, new readers wait
behind it, so a steady stream of queries cannot keep a store switch waiting for ever.
Not reentrant: a reader must not take it again while it holds it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ReadWriteLock:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._writing and not self._writers_waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._changed:
                self._readers -= 1
                if not self._readers:
                    self._changed.notify_all()

    @contextmanager
    def writing(self, timeout: float | None = None) -> Iterator[None]:
        """Exclusive, once the readers inside have left; ``timeout``: TimeoutError if they
        have not left by then."""
        with self._changed:
            self._writers_waiting += 1
            try:
                if not self._changed.wait_for(
                        lambda: not self._writing and not self._readers, timeout):
                    raise TimeoutError(f"{self._readers} reader(s) still inside")
            finally:
                self._writers_waiting -= 1
                self._changed.notify_all()  # readers held back by this writer go on
            self._writing = True
        try:
            yield
        finally:
            with self._changed:
                self._writing = False
                self._changed.notify_all()
