"""Parallel prediction slots: at most `limit` predictions run at once; the rest wait their turn (FIFO)."""

from __future__ import annotations

import asyncio
import collections

from ._protocol import Channel

__all__ = ["Slots"]


class Slots:
    """A FIFO counting semaphore whose waiters give up when their channel is cancelled.

    `limit=None` means unlimited. A freed slot is handed straight to the oldest waiter, so a newcomer
    can never overtake the queue.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.active = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def queued(self) -> int:
        """How many predictions wait for a slot."""
        return sum(1 for waiter in self._waiters if not waiter.done())

    async def acquire(self, channel: Channel) -> bool:
        """Take a slot (waiting if none is free); False if the client cancelled while waiting."""
        if self.limit is None or (self.active < self.limit and not self.queued):
            self.active += 1
            return True
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        cancelled: asyncio.Future[None] = asyncio.ensure_future(_wait(channel.cancelled))
        try:
            await asyncio.wait({turn, cancelled}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            self._give_up(turn)
            raise
        finally:
            cancelled.cancel()
        if channel.cancelled.is_set():
            self._give_up(turn)
            return False
        return True

    def _give_up(self, turn: asyncio.Future[None]) -> None:
        if turn.done() and not turn.cancelled():
            self.release()  # the slot was already handed over: pass it on
        else:
            turn.cancel()
        if turn in self._waiters:
            self._waiters.remove(turn)

    def release(self) -> None:
        """Free a slot: hand it to the oldest waiter, or count it free."""
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.active -= 1


async def _wait(event: asyncio.Event) -> None:
    await event.wait()
