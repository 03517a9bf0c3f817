"""Single-flight loads: concurrent resolutions of one model share one load.

LM Studio's JIT loader does not merge concurrent `getOrLoad`s of one model: each loads another copy. So
concurrent resolutions of one model (by any specifier) share one load (`SingleFlight` for asyncio,
`SyncSingleFlight` for threads): every waiter gets the load's progress and its outcome, and a failed load is
forgotten so that the next call tries again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["SingleFlight", "SyncSingleFlight"]

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class SingleFlight(Generic[K, T]):
    """Runs at most one `load(key, report)` per key at a time; concurrent callers share its outcome.

    The load runs in a task of its own, so a caller that is cancelled (a time limit, an MCP cancel) leaves
    it running for the others; its result is whatever the caller caches.
    """

    def __init__(self) -> None:
        self._flights: dict[K, tuple[asyncio.Future[T], list[Callable[[float], object]]]] = {}

    async def run(
        self,
        key: K,
        load: Callable[[Callable[[float], None]], Awaitable[T]],
        on_progress: Callable[[float], object] | None = None,
    ) -> T:
        """The outcome of the one load of `key`, starting it unless one is under way.

        `on_progress` receives the load's progress (0.0 to 1.0) from when this caller joined.
        """
        flight = self._flights.get(key)
        if flight is None:
            flight = self._start(key, load)
        future, listeners = flight
        if on_progress is not None:
            listeners.append(on_progress)
        try:
            return await asyncio.shield(future)
        finally:
            if on_progress is not None:
                listeners.remove(on_progress)

    def _start(
        self, key: K, load: Callable[[Callable[[float], None]], Awaitable[T]]
    ) -> tuple[asyncio.Future[T], list[Callable[[float], object]]]:
        listeners: list[Callable[[float], object]] = []

        def report(fraction: float) -> None:
            for listener in listeners:
                listener(fraction)

        future: asyncio.Future[T] = asyncio.ensure_future(load(report))
        flight = (future, listeners)
        self._flights[key] = flight
        future.add_done_callback(lambda done: self._finished(key, done))
        return flight

    def _finished(self, key: K, future: asyncio.Future[T]) -> None:
        self._flights.pop(key, None)
        if not future.cancelled():
            future.exception()  # retrieved here: every waiter may have gone


class SyncSingleFlight(Generic[K, T]):
    """`SingleFlight` for threads: concurrent callers of one key wait for the first caller's load."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[K, concurrent.futures.Future[T]] = {}

    def run(self, key: K, load: Callable[[], T]) -> T:
        """The outcome of the one load of `key`, running it in this thread unless one is under way."""
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = concurrent.futures.Future()
        if not leader:
            return flight.result()
        try:
            flight.set_result(load())
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._flights.pop(key, None)
        return flight.result()
