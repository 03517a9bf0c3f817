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
    """`SingleFlight` for threads: each load runs in a thread of its own, so that a caller can report its
    progress (and give up at a time limit) while it runs; concurrent callers of one key share it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[K, tuple[concurrent.futures.Future[T], list[Callable[[float], object]]]] = {}

    def start(
        self, key: K, load: Callable[[Callable[[float], None]], T], on_progress: Callable[[float], object]
    ) -> concurrent.futures.Future[T]:
        """The future of the one load of `key`, starting it unless one is under way.

        `on_progress` receives the load's progress (0.0 to 1.0) from the load's thread, until `leave`.
        """
        with self._lock:
            flight = self._flights.get(key)
            if flight is None:
                flight = self._flights[key] = (concurrent.futures.Future(), [])
                worker = threading.Thread(target=self._run, args=(key, load, flight), name=f"load {key}", daemon=True)
                worker.start()
            flight[1].append(on_progress)
        return flight[0]

    def leave(self, key: K, on_progress: Callable[[float], object]) -> None:
        """Stop sending `key`'s progress to `on_progress`."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None and on_progress in flight[1]:
                flight[1].remove(on_progress)

    def _run(
        self,
        key: K,
        load: Callable[[Callable[[float], None]], T],
        flight: tuple[concurrent.futures.Future[T], list[Callable[[float], object]]],
    ) -> None:
        future, listeners = flight

        def report(fraction: float) -> None:
            with self._lock:
                current = list(listeners)
            for listener in current:
                listener(fraction)

        try:
            result = load(report)
        except BaseException as exc:  # handed to every waiter; a failed load is forgotten first
            with self._lock:
                self._flights.pop(key, None)
            future.set_exception(exc)
            return
        with self._lock:
            self._flights.pop(key, None)
        future.set_result(result)
