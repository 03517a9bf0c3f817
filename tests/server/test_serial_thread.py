"""Store calls off the event loop: one thread per blocking store, in order; a memory store needs none."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from mcp_lmstudio.history import MemoryStore, NoStore, SqliteStore, StoredTurn, WouldWait
from mcp_lmstudio.server import conversations
from mcp_lmstudio.server.conversations import Continuation, continuation_for, save_turn
from mcp_lmstudio.server.serial_thread import SerialThread

pytestmark = pytest.mark.anyio


async def test_calls_run_in_order_on_one_thread_and_return_their_results() -> None:
    serial = SerialThread("test-serial")
    seen: list[tuple[int, str]] = []

    def record(index: int) -> int:
        time.sleep(0.001 * (index % 3))  # uneven durations must not reorder them
        seen.append((index, threading.current_thread().name))
        return index * 2

    results = await asyncio.gather(*(serial.run(record, index) for index in range(20)))
    assert results == [index * 2 for index in range(20)]
    assert [index for index, _ in seen] == list(range(20))
    assert {name for _, name in seen} == {"test-serial"}
    assert threading.current_thread().name != "test-serial"


async def test_an_exception_reaches_the_caller_and_the_thread_carries_on() -> None:
    serial = SerialThread("test-serial")

    def fail() -> None:
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await serial.run(fail)
    assert await serial.run(lambda: 7) == 7


async def test_a_cancelled_caller_is_released_and_the_call_still_completes() -> None:
    serial = SerialThread("test-serial")
    started, release, done = threading.Event(), threading.Event(), threading.Event()

    def slow() -> None:
        started.set()
        release.wait(5)
        done.set()

    task = asyncio.ensure_future(serial.run(slow))
    assert await asyncio.to_thread(started.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not done.is_set()  # released while the call runs
    release.set()
    assert await serial.run(lambda: "after") == "after"  # in order: the slow call finished first
    assert done.is_set()


async def test_the_thread_ends_when_idle_and_a_later_call_starts_another(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SerialThread, "IDLE_S", 0.05)
    serial = SerialThread("test-serial-idle")
    assert await serial.run(lambda: 1) == 1
    [thread] = [thread for thread in threading.enumerate() if thread.name == "test-serial-idle"]
    await asyncio.to_thread(thread.join, 5)
    assert not thread.is_alive()
    assert await serial.run(lambda: 2) == 2


async def test_a_memory_store_is_called_directly_and_a_blocking_one_on_the_loop_unless_it_would_wait(
    tmp_path: Path,
) -> None:
    memory, off = MemoryStore(3600.0), NoStore()
    sqlite = SqliteStore(tmp_path / "history.sqlite3", 3600.0)
    assert not memory.blocking and not off.blocking and sqlite.blocking
    threads: list[str] = []

    class Watched(MemoryStore):
        blocking = True  # as SQLite
        refuse = False  # as SQLite when another process holds the write lock

        def save(self, turn: StoredTurn, *, wait: bool = True) -> None:
            if self.refuse and not wait:
                raise WouldWait
            threads.append(threading.current_thread().name)
            super().save(turn)

    watched = Watched(3600.0)
    empty = Continuation([], None)
    for store in (memory, sqlite, watched, watched):
        first = await save_turn(store, empty, system=None, user_turn="hi", model="m", answer="hello")
        assert first is not None
        follow = await continuation_for(store, first, None, "and then?")  # the saved turn is there at once
        assert [turn.answer for turn in follow.turns] == ["hello"]
        watched.refuse = store is watched  # the second time, it would wait
    assert threads == [threading.current_thread().name, "mcp-lmstudio history"]
    assert memory not in conversations._threads and sqlite in conversations._threads
    assert await save_turn(off, empty, system=None, user_turn="hi", model="m", answer="hello") is None
    sqlite.close()


async def test_a_call_after_one_handed_to_the_thread_waits_its_turn_there() -> None:
    """Order holds across the two paths: while the thread has a call, later calls queue behind it."""
    order: list[str] = []
    release = threading.Event()

    class Slow(MemoryStore):
        blocking = True

        def save(self, turn: StoredTurn, *, wait: bool = True) -> None:
            if turn.user_text == "first":
                if not wait:
                    raise WouldWait
                release.wait(5)
            order.append(turn.user_text)
            super().save(turn)

    store, empty = Slow(3600.0), Continuation([], None)
    first = asyncio.ensure_future(save_turn(store, empty, system=None, user_turn="first", model="m", answer="a"))
    await asyncio.sleep(0.05)
    second = asyncio.ensure_future(save_turn(store, empty, system=None, user_turn="second", model="m", answer="b"))
    await asyncio.sleep(0.05)
    assert order == []  # "second" did not overtake "first" on the loop
    release.set()
    await asyncio.gather(first, second)
    assert order == ["first", "second"]


async def test_a_thread_that_fails_to_start_leaves_nothing_queued_and_the_next_call_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    serial = SerialThread("test-serial-start")
    ran: list[int] = []

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    with monkeypatch.context() as patched:
        patched.setattr(threading.Thread, "start", refuse)
        with pytest.raises(RuntimeError, match="can't start"):
            await serial.run(ran.append, 1)
    assert serial.idle
    await serial.run(ran.append, 2)
    assert ran == [2]  # the refused call never ran later
