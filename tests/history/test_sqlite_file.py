"""What only the SQLite store does: its file, its schema, restarts, and sharing the file."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_lmstudio.history import SCHEMA_VERSION, HistoryFileError, SqliteStore
from mcp_lmstudio.history import sqlite as sqlite_module
from tests.history.support import TTL_S, add, texts

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "history.sqlite3"


@pytest.fixture
def store(path: Path) -> Iterator[SqliteStore]:
    with SqliteStore(path, TTL_S) as opened:
        assert isinstance(opened, SqliteStore)
        yield opened


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def pragma(path: Path, name: str) -> object:
    with sqlite3.connect(path) as db:
        value = db.execute(f"PRAGMA {name}").fetchone()[0]
    db.close()
    return value


def test_conversations_survive_closing_and_reopening_the_file(path: Path) -> None:
    with SqliteStore(path, TTL_S) as before:
        first = add(before, text="one", owner="k", images=(("image/png", "AAAA"),))
        second = add(before, first, "two", owner="k")
    with SqliteStore(path, TTL_S) as after:
        assert texts(after, second, "k") == ["one", "two"]
        assert after.history(first, "k")[0].images == (("image/png", "AAAA"),)
        third = add(after, second, "three", owner="k")
        assert texts(after, third, "k") == ["one", "two", "three"] and len(after) == 3


def test_the_file_and_the_directories_it_creates_are_the_owners_only(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        path = tmp_path / "data" / "mcp-lmstudio" / "history.sqlite3"
        with SqliteStore(path, TTL_S) as store:
            add(store, text="secret")
            assert mode(path) == 0o600
            for suffix in ("-wal", "-shm"):
                assert mode(Path(f"{path}{suffix}")) == 0o600
            assert mode(path.parent) == 0o700
    finally:
        os.umask(previous)


def test_an_existing_directory_keeps_its_permissions(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    with SqliteStore(tmp_path / "history.sqlite3", TTL_S):
        pass
    assert mode(tmp_path) == 0o755


def test_the_file_is_in_wal_mode_with_the_current_schema(store: SqliteStore, path: Path) -> None:
    add(store)
    assert pragma(path, "journal_mode") == "wal"
    assert pragma(path, "user_version") == SCHEMA_VERSION == 1


def test_a_newer_schema_is_refused_clearly(path: Path) -> None:
    SqliteStore(path, TTL_S).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(HistoryFileError, match=r"schema version 2, newer than this mcp-lmstudio understands \(1\)"):
        SqliteStore(path, TTL_S)


def test_an_older_schema_is_migrated_on_open(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with SqliteStore(path, TTL_S) as old:
        kept = add(old, text="kept")
    monkeypatch.setattr(sqlite_module, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(sqlite_module._MIGRATIONS, 1, ("ALTER TABLE turns ADD COLUMN extra TEXT",))
    with SqliteStore(path, TTL_S) as new:
        assert texts(new, kept) == ["kept"]
    assert pragma(path, "user_version") == 2
    with sqlite3.connect(path) as db:
        assert "extra" in [row[1] for row in db.execute("PRAGMA table_info(turns)")]
    db.close()


def test_a_database_it_did_not_create_is_left_alone(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE accounts (name TEXT)")
    db.close()
    with pytest.raises(HistoryFileError, match="did not create"):
        SqliteStore(path, TTL_S)
    assert pragma(path, "user_version") == 0


def test_a_file_that_is_not_a_database_is_refused(path: Path) -> None:
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HistoryFileError, match="cannot be used"):
        SqliteStore(path, TTL_S)


def test_a_closed_store_refuses_use(path: Path) -> None:
    store = SqliteStore(path, TTL_S)
    store.close()
    store.close()
    with pytest.raises(ValueError, match="closed"):
        add(store)


def save_children(store: SqliteStore, parent: str, count: int, start: threading.Barrier, out: list[str]) -> None:
    start.wait()
    for index in range(count):
        child = add(store, parent, f"child {index}")
        assert texts(store, child) == ["root", f"child {index}"]
        out.append(child)


def test_eight_threads_continuing_one_id_all_keep_their_turns(store: SqliteStore) -> None:
    root = add(store, text="root")
    start, saved = threading.Barrier(8), [list[str]() for _ in range(8)]
    threads = [threading.Thread(target=save_children, args=(store, root, 25, start, saved[i])) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(len(ids) for ids in saved) == 200 and len(store) == 201
    assert all(texts(store, child)[0] == "root" for ids in saved for child in ids)


def test_two_stores_on_one_file_share_it_while_both_write(path: Path) -> None:
    with SqliteStore(path, TTL_S, busy_timeout_s=30) as one, SqliteStore(path, TTL_S, busy_timeout_s=30) as two:
        root = add(one, text="root")
        start, saved = threading.Barrier(8), [list[str]() for _ in range(8)]
        threads = [
            threading.Thread(target=save_children, args=(one if i % 2 else two, root, 20, start, saved[i]))
            for i in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        every = [child for ids in saved for child in ids]
        assert len(every) == 160 and len(one) == len(two) == 161
        assert all(texts(one, child) == texts(two, child) for child in every)


CHILD_PROCESS = """
import sys
from mcp_lmstudio.history import SqliteStore
from tests.history.support import add
with SqliteStore(sys.argv[1], 3600.0, busy_timeout_s=30) as store:
    sys.stdout.write(" ".join(add(store, sys.argv[2], "from the child") for _ in range(40)))
"""


def test_another_process_can_write_the_same_file_at_the_same_time(path: Path) -> None:
    with SqliteStore(path, TTL_S, busy_timeout_s=30) as store:
        root = add(store, text="root")
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD_PROCESS, str(path), root],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            text=True,
        )
        mine: list[str] = []
        while child.poll() is None or len(mine) < 40:  # keep writing for as long as the child does
            mine.append(add(store, root, "from the parent"))
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        theirs = out.split()
        assert len(theirs) == 40 and len(store) == 1 + 40 + len(mine)
        assert {texts(store, i)[1] for i in theirs} == {"from the child"}
        assert {texts(store, i)[1] for i in mine} == {"from the parent"}
