"""Keeping the rollup repair (repair.py) away from inserts in flight, inside one process."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class InsertGate:
    """Inserts pass together; a rollup repair passes alone, once the inserts in flight end.

    A repair compares raw rows with rollup rows, so an insert whose raw part is visible and
    whose rollup part is not yet would be counted twice. New inserts wait while one waits.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._inserts = 0
        self._alone = False

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._alone)
            self._inserts += 1
        try:
            yield
        finally:
            with self._cond:
                self._inserts -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._alone)
            self._alone = True
            self._cond.wait_for(lambda: self._inserts == 0)
        try:
            yield
        finally:
            with self._cond:
                self._alone = False
                self._cond.notify_all()
