"""`SqliteStore`: conversations in an SQLite file, so they survive a restart (`--history sqlite:PATH`).

The file (and its directory, when this creates it) is readable by the owner only: 0600 and 0700; SQLite
gives its `-wal` and `-shm` files the database file's permissions. The file uses WAL with
`synchronous=NORMAL`: a crash of the server loses nothing, a power cut may lose the last turns. Each store
holds one connection behind a lock; other processes (or other stores) may use the same file at once, every
write being an immediate transaction that waits up to `busy_timeout_s` for the others.

Schema version: `PRAGMA user_version` (`SCHEMA_VERSION`). An older file is migrated on open; a newer one, or
a database that holds tables this did not create, is refused with `HistoryFileError`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .base import ConversationStore, HistoryFileError, StoredTurn, WouldWait, check_chain, turn_size, validate_bounds

__all__ = ["MAX_SQLITE_BYTES", "MAX_SQLITE_TURNS", "SCHEMA_VERSION", "SqliteStore"]

#: The most turns an `SqliteStore` keeps by default.
MAX_SQLITE_TURNS = 100_000
#: The most bytes (see `turn_size`) an `SqliteStore` keeps by default: 1 GiB. SQLite reuses the pages of
#: dropped turns, so the file stays near its largest size rather than shrinking.
MAX_SQLITE_BYTES = 1024 * 1024 * 1024
#: The schema this code reads and writes.
SCHEMA_VERSION = 1
#: Commits after which the write-ahead log is checkpointed, by a call allowed to wait (about SQLite's own
#: 1,000-page default for a turn of a page or two). A call made with `wait=False` never checkpoints: a
#: checkpoint syncs the file to disk.
CHECKPOINT_AFTER_COMMITS = 500

# _MIGRATIONS[v] takes a file from schema version v to v + 1 (0: a new, empty file).
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    0: (
        """CREATE TABLE turns (
            seq INTEGER PRIMARY KEY, response_id TEXT NOT NULL UNIQUE, parent_id TEXT, owner TEXT,
            model TEXT NOT NULL, system TEXT, user_text TEXT NOT NULL, answer TEXT NOT NULL,
            images TEXT NOT NULL, created_at REAL NOT NULL, last_used REAL NOT NULL, size INTEGER NOT NULL)""",
        # Eviction order: least recently used first and, among turns touched together, children first.
        "CREATE INDEX turns_by_use ON turns (last_used, seq DESC)",
        "CREATE TABLE totals (one INTEGER PRIMARY KEY CHECK (one = 1), turns INTEGER NOT NULL, bytes INTEGER NOT NULL)",
        "INSERT INTO totals VALUES (1, 0, 0)",
        """CREATE TRIGGER turns_added AFTER INSERT ON turns BEGIN
            UPDATE totals SET turns = turns + 1, bytes = bytes + NEW.size; END""",
        """CREATE TRIGGER turns_dropped AFTER DELETE ON turns BEGIN
            UPDATE totals SET turns = turns - 1, bytes = bytes - OLD.size; END""",
    ),
}

_CHAIN = """WITH RECURSIVE chain(seq, parent_id, depth) AS (
    SELECT seq, parent_id, 0 FROM turns WHERE response_id = ?
    UNION ALL
    SELECT t.seq, t.parent_id, c.depth + 1 FROM chain AS c JOIN turns AS t ON t.response_id = c.parent_id
    WHERE c.depth < ?)
SELECT t.seq, t.parent_id, t.owner, t.last_used, t.size{more} FROM chain AS c JOIN turns AS t ON t.seq = c.seq
ORDER BY c.depth DESC"""
_CHAIN_META = _CHAIN.format(more="")
_CHAIN_TURNS = _CHAIN.format(more=", t.response_id, t.model, t.system, t.user_text, t.answer, t.images, t.created_at")
_Row = tuple[int, str | None, str | None, float, int]


class SqliteStore(ConversationStore):
    """Turns in the SQLite file at `path`, created (with its directory) if missing.

    Args:
        path: the database file.
        ttl_s: seconds a conversation not continued is kept.
        max_turns, max_bytes: the bound; past it the least recently used turns are dropped first.
        clock: wall-clock seconds since the epoch (default `time.time`; the file outlives the process).
        busy_timeout_s: how long a write waits for another connection to the file.
        purge_interval_s: expired turns are deleted by a save at most this often (and never read).

    Raises:
        HistoryFileError: the file is not an SQLite database, holds foreign tables, or has a newer schema.
        OSError: the file or its directory cannot be created or opened.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        ttl_s: float,
        *,
        max_turns: int = MAX_SQLITE_TURNS,
        max_bytes: int = MAX_SQLITE_BYTES,
        clock: Callable[[], float] = time.time,
        busy_timeout_s: float = 10.0,
        purge_interval_s: float = 60.0,
    ) -> None:
        validate_bounds(ttl_s, max_turns, max_bytes)
        self.path = Path(path)
        self.ttl_s, self.max_turns, self.max_bytes = float(ttl_s), max_turns, max_bytes
        self._clock, self._purge_interval_s, self._next_purge = clock, purge_interval_s, float("-inf")
        self._lock = threading.Lock()
        self._busy_timeout_ms = int(busy_timeout_s * 1000)
        self._commits_since_checkpoint = 0
        _create_private(self.path)
        connection = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA wal_autocheckpoint = 0")  # see CHECKPOINT_AFTER_COMMITS
            _migrate(connection, self.path)
        except sqlite3.DatabaseError as error:
            connection.close()
            raise HistoryFileError(
                f"The history file {self.path} cannot be used ({error}); point --history at another file or remove it."
            ) from error
        except BaseException:
            connection.close()
            raise
        self._connection: sqlite3.Connection | None = connection

    @property
    def location(self) -> str:
        return f"sqlite:{self.path}"

    def __len__(self) -> int:
        with self._lock:
            row = self._open().execute("SELECT turns FROM totals").fetchone()
            return int(row[0])

    def save(self, turn: StoredTurn, *, wait: bool = True) -> None:
        size = turn_size(turn)
        images = json.dumps([[mime, data] for mime, data in turn.images])
        with self._transaction(wait) as db:
            now = self._clock()
            if now >= self._next_purge:
                if not wait:  # deleting every expired turn may take a while: a call that may wait does it
                    raise WouldWait
                db.execute("DELETE FROM turns WHERE last_used <= ?", (now - self.ttl_s,))
                self._next_purge = now + self._purge_interval_s
            chain: list[_Row] = []
            if turn.parent_id is not None:
                chain = db.execute(_CHAIN_META, (turn.parent_id, self.max_turns)).fetchall()
                if not check_chain([row[1:4] for row in chain], turn.owner, expired=now - self.ttl_s):
                    raise self.unknown(turn.parent_id)
            chain_turns, chain_bytes = len(chain) + 1, sum(row[4] for row in chain) + size
            if chain_turns > self.max_turns or chain_bytes > self.max_bytes:
                raise self.too_long(chain_turns, chain_bytes, self.max_turns, self.max_bytes)
            values = (turn.response_id, turn.parent_id, turn.owner, turn.model, turn.system, turn.user_text)
            try:
                cursor = db.execute(
                    "INSERT INTO turns (response_id, parent_id, owner, model, system, user_text, answer, images,"
                    " created_at, last_used, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*values, turn.answer, images, turn.created_at, now, size),
                )
            except sqlite3.IntegrityError:
                raise ValueError(f"a turn with response id {turn.response_id[:8]!r}… is already stored") from None
            keep = {row[0] for row in chain} | {int(cursor.lastrowid or 0)}
            db.executemany("UPDATE turns SET last_used = ? WHERE seq = ?", [(now, seq) for seq in keep])
            self._evict(db, keep)

    def history(self, response_id: str, owner: str | None, *, wait: bool = True) -> list[StoredTurn]:
        with self._transaction(wait) as db:
            now = self._clock()
            rows = db.execute(_CHAIN_TURNS, (response_id, self.max_turns)).fetchall()
            if not check_chain([row[1:4] for row in rows], owner, expired=now - self.ttl_s):
                raise self.unknown(response_id)
            db.executemany("UPDATE turns SET last_used = ? WHERE seq = ?", [(now, row[0]) for row in rows])
        return [
            StoredTurn(
                response_id=row[5],
                parent_id=row[1],
                owner=row[2],
                model=row[6],
                system=row[7],
                user_text=row[8],
                answer=row[9],
                images=tuple((mime, data) for mime, data in json.loads(row[10])),
                created_at=row[11],
            )
            for row in rows
        ]

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError(f"the history store {self.location} is closed")
        return self._connection

    @contextmanager
    def _transaction(self, wait: bool = True) -> Iterator[sqlite3.Connection]:
        """The connection inside an immediate (write-locked) transaction, committed unless the block raises.

        With `wait` False, `WouldWait` instead of waiting: for this store's lock, for another connection's write
        lock, or for a checkpoint that is due.
        """
        if not self._lock.acquire(blocking=wait):
            raise WouldWait
        try:
            db = self._open()
            if not wait and self._commits_since_checkpoint >= CHECKPOINT_AFTER_COMMITS:
                raise WouldWait
            try:
                self._begin(db, wait)
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # never leave the write lock held, whatever failed
                    db.execute("ROLLBACK")
                raise
            self._commits_since_checkpoint += 1
            if wait and self._commits_since_checkpoint >= CHECKPOINT_AFTER_COMMITS:
                self._checkpoint(db)
        finally:
            self._lock.release()

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        """Copy the log into the file. The call's own work is committed: a failed checkpoint is not its
        failure, and the next one comes after as many commits again (SQLite also checkpoints on close)."""
        self._commits_since_checkpoint = 0
        with contextlib.suppress(sqlite3.Error):
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _begin(self, db: sqlite3.Connection, wait: bool) -> None:
        if wait:
            db.execute("BEGIN IMMEDIATE")
            return
        db.execute("PRAGMA busy_timeout = 0")
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):  # extended codes too
                raise WouldWait from None
            raise
        finally:
            db.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")

    def _evict(self, db: sqlite3.Connection, keep: set[int]) -> None:
        """Drop least recently used turns, never those in `keep`, until the store is within its bound."""
        turns, size = db.execute("SELECT turns, bytes FROM totals").fetchone()
        if turns <= self.max_turns and size <= self.max_bytes:
            return
        victims: list[tuple[int]] = []
        cursor = db.execute("SELECT seq, size FROM turns ORDER BY last_used, seq DESC")
        for seq, turn_bytes in cursor:
            if turns <= self.max_turns and size <= self.max_bytes:
                break
            if seq not in keep:
                victims.append((seq,))
                turns, size = turns - 1, size - turn_bytes
        cursor.close()
        db.executemany("DELETE FROM turns WHERE seq = ?", victims)


def _create_private(path: Path) -> None:
    """Create `path`'s directory (0700) and the empty file (0600) if they are missing; leave existing ones be."""
    try:
        path.parent.mkdir(mode=0o700, parents=True)
        os.chmod(path.parent, 0o700)  # whatever the umask
    except FileExistsError:
        pass
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        os.chmod(path, 0o600)
    except FileExistsError:
        pass


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the file to `SCHEMA_VERSION`, in one transaction. Raises HistoryFileError for a newer schema
    or for a database this did not create."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise HistoryFileError(
                f"The history file {path} has schema version {version}, newer than this mcp-lmstudio understands "
                f"({SCHEMA_VERSION}); upgrade mcp-lmstudio, or point --history at another file."
            )
        if version == 0 and db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise HistoryFileError(
                f"The file {path} is an SQLite database that mcp-lmstudio did not create; "
                "point --history at a new file."
            )
        for step in range(version, SCHEMA_VERSION):
            for statement in _MIGRATIONS[step]:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
