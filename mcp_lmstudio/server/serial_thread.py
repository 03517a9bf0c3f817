"""`SerialThread`: blocking calls run one at a time, in the order given, on one thread of their own.

`anyio.to_thread.run_sync` costs about 100 µs of CPU a call (a cancel scope, the worker pool's bookkeeping,
the running library looked up several times); a conversation store's call is shorter than that. Handing the
call to one long-lived thread through a queue and settling an asyncio future from it costs about a third.
Calls made in order also complete in order, so a turn saved before a result went out is there for the next
call's read.

The thread starts with the first call and ends after `IDLE_S` without one, so an idle server holds none.
`idle` tells a caller on the loop that nothing is queued or running, so that a call it makes itself, there
and then, keeps the order (`server/conversations.py` does so for a store call that needs no wait).
A caller cancelled while its call runs is released at once; the call itself still completes, as it would in
`anyio.to_thread.run_sync`, so a write is never cut in half.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["SerialThread"]

_T = TypeVar("_T")

#: One queued call: the loop to answer on, the future to settle, the function and its arguments.
_Call = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


class SerialThread:
    """Runs blocking calls in order on one thread, started on demand and ended after `IDLE_S` idle."""

    #: Seconds without a call after which the thread ends (the next call starts a new one).
    IDLE_S = 10.0

    def __init__(self, name: str) -> None:
        self._name = name
        self._calls: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._lock = threading.Lock()  # guards `_running` against the thread deciding to end
        self._running = False
        self._unsettled = 0  # calls given and not yet answered on their loop (see `idle`)

    @property
    def idle(self) -> bool:
        """True when every call given has been answered: a call made now, on the loop itself, comes after all
        of them. A call whose loop closed before its answer keeps this False (the thread is used from then on)."""
        return self._unsettled == 0

    async def run(self, function: Callable[..., _T], *args: Any) -> _T:
        """`function(*args)` on the thread, after every call given before it; its result or its exception."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()
        with self._lock:
            if not self._running:  # started before the call is queued: a thread that fails to start runs nothing
                threading.Thread(target=self._serve, name=self._name, daemon=True).start()
                self._running = True
            self._calls.put((loop, future, function, args))
            # Counted until the call is answered on its loop, even if its caller is cancelled meanwhile: `idle`
            # must not let a call on the loop overtake one still running here.
            self._unsettled += 1
        return await future

    def _serve(self) -> None:
        while True:
            try:
                loop, future, function, args = self._calls.get(timeout=self.IDLE_S)
            except queue.Empty:
                with self._lock:
                    if self._calls.empty():
                        self._running = False
                        return
                continue
            try:
                result, error = function(*args), None
            except BaseException as exc:  # handed to the caller, never the end of this thread
                result, error = None, exc
            try:
                loop.call_soon_threadsafe(self._settle, future, result, error)
            except RuntimeError:  # the loop closed: nobody waits for this call any more
                pass
            del loop, future, function, args, result, error  # hold nothing while idle

    def _settle(self, future: asyncio.Future[Any], result: object, error: BaseException | None) -> None:
        with self._lock:
            self._unsettled -= 1
        if future.done():  # the caller was cancelled
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
