"""`MemoryStore`: conversations in this process's memory, gone when it exits (`--history memory`)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from .base import ConversationStore, StoredTurn, check_chain, turn_size, validate_bounds

__all__ = ["MAX_MEMORY_BYTES", "MAX_MEMORY_TURNS", "MemoryStore"]

#: The most turns a `MemoryStore` keeps by default.
MAX_MEMORY_TURNS = 10_000
#: The most bytes (see `turn_size`) a `MemoryStore` keeps by default: 256 MiB.
MAX_MEMORY_BYTES = 256 * 1024 * 1024


@dataclass(slots=True)
class _Entry:
    turn: StoredTurn
    size: int
    last_used: float


class MemoryStore(ConversationStore):
    """Turns in a dict, least recently used first, behind one lock.

    Args:
        ttl_s: seconds a conversation not continued is kept.
        max_turns, max_bytes: the bound; past it the least recently used turns are dropped first.
        clock: seconds on a clock that never goes back (default `time.monotonic`).
    """

    blocking = False  # a dict behind a lock: called directly, with no worker thread

    def __init__(
        self,
        ttl_s: float,
        *,
        max_turns: int = MAX_MEMORY_TURNS,
        max_bytes: int = MAX_MEMORY_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        validate_bounds(ttl_s, max_turns, max_bytes)
        self.ttl_s, self.max_turns, self.max_bytes = float(ttl_s), max_turns, max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        # Least recently used first. Touching a chain moves it to the end leaf first, root last, so every
        # turn sits before its ancestors: dropping from the front never leaves a turn without its parent.
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0

    @property
    def location(self) -> str:
        return "memory"

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def save(self, turn: StoredTurn, *, wait: bool = True) -> None:  # never waits
        size = turn_size(turn)
        with self._lock:
            now = self._clock()
            self._purge(now)
            if turn.response_id in self._entries:
                raise ValueError(f"a turn with response id {turn.response_id[:8]!r}… is already stored")
            chain = [] if turn.parent_id is None else self._usable_chain(turn.parent_id, turn.owner, now)
            chain_turns, chain_bytes = len(chain) + 1, sum(entry.size for entry in chain) + size
            if chain_turns > self.max_turns or chain_bytes > self.max_bytes:
                raise self.too_long(chain_turns, chain_bytes, self.max_turns, self.max_bytes)
            entry = _Entry(turn, size, now)
            self._entries[turn.response_id] = entry
            self._bytes += size
            self._touch([*chain, entry], now)
            # The chain just touched is at the end and fits the bound alone, so this never reaches it.
            while len(self._entries) > self.max_turns or self._bytes > self.max_bytes:
                self._bytes -= self._entries.popitem(last=False)[1].size

    def history(self, response_id: str, owner: str | None, *, wait: bool = True) -> list[StoredTurn]:
        with self._lock:
            now = self._clock()
            chain = self._usable_chain(response_id, owner, now)
            self._touch(chain, now)
            return [entry.turn for entry in chain]

    def close(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def _usable_chain(self, response_id: str, owner: str | None, now: float) -> list[_Entry]:
        """`response_id`'s chain, root first. Raises UnknownResponseError unless `owner` may continue it."""
        chain: list[_Entry] = []
        entry = self._entries.get(response_id)
        while entry is not None and len(chain) <= self.max_turns:
            chain.append(entry)
            parent = entry.turn.parent_id
            entry = None if parent is None else self._entries.get(parent)
        chain.reverse()
        meta = [(entry.turn.parent_id, entry.turn.owner, entry.last_used) for entry in chain]
        if not check_chain(meta, owner, expired=now - self.ttl_s):
            raise self.unknown(response_id)
        return chain

    def _touch(self, chain: list[_Entry], now: float) -> None:
        for entry in reversed(chain):
            entry.last_used = now
            self._entries.move_to_end(entry.turn.response_id)

    def _purge(self, now: float) -> None:
        expired = now - self.ttl_s
        while self._entries:
            key, oldest = next(iter(self._entries.items()))
            if oldest.last_used > expired:
                break
            del self._entries[key]
            self._bytes -= oldest.size
