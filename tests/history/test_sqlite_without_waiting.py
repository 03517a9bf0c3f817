"""`wait=False`: an SQLite call short enough for the event loop, or `WouldWait` with nothing done.

The server makes a store call on its event loop when the store's thread is idle, and hands it to the thread
when the store answers `WouldWait`; these are the cases where it must: another connection's write lock,
a purge that is due, a checkpoint that is due.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_lmstudio.history import SqliteStore, StoredTurn, WouldWait
from mcp_lmstudio.history import sqlite as sqlite_module
from tests.history.support import TTL_S, add, texts


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "history.sqlite3"


@pytest.fixture
def store(path: Path) -> Iterator[SqliteStore]:
    with SqliteStore(path, TTL_S, busy_timeout_s=5.0) as opened:
        assert isinstance(opened, SqliteStore)
        add(opened, text="purged first")  # the first save is due to purge: a call that may wait does it
        yield opened


def turn(text: str, parent: str | None = None) -> StoredTurn:
    return StoredTurn(f"id-{text}-{time.perf_counter_ns()}", parent, None, "m", None, text, f"answer to {text}")


def test_a_call_that_needs_no_wait_is_made(store: SqliteStore) -> None:
    first = turn("one")
    store.save(first, wait=False)
    second = turn("two", first.response_id)
    store.save(second, wait=False)
    assert [t.user_text for t in store.history(second.response_id, None, wait=False)] == ["one", "two"]


def test_another_connections_write_lock_is_not_waited_for(store: SqliteStore, path: Path) -> None:
    kept = add(store, text="kept")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process writing
    try:
        started = time.monotonic()
        with pytest.raises(WouldWait):
            store.save(turn("refused"), wait=False)
        with pytest.raises(WouldWait):
            store.history(kept, None, wait=False)
        assert time.monotonic() - started < 1.0  # the store's busy timeout is 5 s: it did not wait
        threading.Timer(0.2, other.execute, ("COMMIT",)).start()
        waited = turn("waited")
        store.save(waited)  # wait=True: waits for the other writer, then saves
    finally:
        time.sleep(0.3)
        other.close()
    assert texts(store, waited.response_id) == ["waited"]
    assert len(store) == 3  # "purged first", "kept", "waited": the refused turn left nothing behind


def test_a_due_purge_is_left_to_a_call_that_may_wait(path: Path) -> None:
    clock = [1000.0]
    with SqliteStore(path, 10.0, clock=lambda: clock[0], purge_interval_s=60.0) as store:
        with pytest.raises(WouldWait):
            store.save(turn("first"), wait=False)  # nothing purged yet: due at once
        add(store, text="old")  # purges (nothing yet); the next purge is due at 1060
        clock[0] += 30
        store.save(turn("inline"), wait=False)  # "old" has expired, but no purge is due
        clock[0] += 40
        with pytest.raises(WouldWait):
            store.save(turn("purge due"), wait=False)
        assert len(store) == 2  # both expired, neither purged yet
        add(store, text="purges")
        assert len(store) == 1


def test_a_due_checkpoint_is_left_to_a_call_that_may_wait(
    store: SqliteStore, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "CHECKPOINT_AFTER_COMMITS", 3)
    add(store, text="second commit")
    add(store, text="third commit")  # a call that may wait checkpoints once it is due: from zero again
    store.save(turn("a" * 20_000), wait=False)
    store.save(turn("b" * 20_000), wait=False)
    size_before = path.stat().st_size  # the turns are in the write-ahead log, not yet in the file
    store.save(turn("c" * 20_000), wait=False)
    with pytest.raises(WouldWait):
        store.save(turn("due"), wait=False)
    add(store, text="checkpoints")
    assert path.stat().st_size > size_before + 40_000  # the log was copied into the file
    store.save(turn("inline again"), wait=False)


def test_the_stores_own_lock_held_by_its_thread_is_not_waited_for(store: SqliteStore) -> None:
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store._lock:
            entered.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert entered.wait(5)
        with pytest.raises(WouldWait):
            store.save(turn("refused"), wait=False)
    finally:
        release.set()
        holder.join(5)
    assert len(store) == 1
