"""Conversation history: the turns of earlier generations, so that a call with `previous_response_id` can
continue a conversation without reading its files again. Storage only; the tools wire it in.

A turn (`StoredTurn`) is a node of a tree: continuing from an id walks its parents to the root, so
continuing from an earlier id branches and the later turns stay reachable by their own ids. Every turn
belongs to an owner (`owner_key` of the HTTP `Authorization` header, None on stdio); to anyone else it is
unknown, exactly like an id that never existed.

Stores (`store_from_setting` parses `--history`):

- `SqliteStore` (`sqlite:PATH`, and the default: `history.sqlite3` in the user's data directory, created
  readable by the owner only): survives a restart; several processes may share the file.
- `MemoryStore` (`memory`): lost when the server exits.
- `NoStore` (`off`): keeps nothing, and results carry no `response_id`.

Expiry: a conversation not continued for `--history-ttl` seconds (default 7 days) is forgotten. Saving a
turn, or reading a conversation to continue it, marks every turn from the root to it as used now; a turn is
gone once it has gone unused for the TTL. Expired turns are never returned and are deleted lazily.

Bound: a `MemoryStore` keeps at most 10,000 turns and 256 MiB, an `SqliteStore` 100,000 turns and 1 GiB
(texts counted in UTF-8 bytes, images in base64 characters). Past the bound, the least recently used turns
are dropped first (a conversation's newest turns before its older ones, so no kept turn loses its parent).
A conversation that alone exceeds the bound is refused with `ConversationTooLongError`, never clipped.

Nothing here logs, and no error message quotes a conversation's contents.
"""

from __future__ import annotations

from .base import (
    ConversationStore,
    ConversationTooLongError,
    HistoryFileError,
    Image,
    StoredTurn,
    UnknownResponseError,
    WouldWait,
    describe_ttl,
    effective_system,
    new_response_id,
    owner_key,
    turn_size,
)
from .memory import MAX_MEMORY_BYTES, MAX_MEMORY_TURNS, MemoryStore
from .setting import DEFAULT_TTL_S, NoStore, default_history_path, store_from_setting
from .sqlite import MAX_SQLITE_BYTES, MAX_SQLITE_TURNS, SCHEMA_VERSION, SqliteStore

__all__ = [
    "DEFAULT_TTL_S",
    "MAX_MEMORY_BYTES",
    "MAX_MEMORY_TURNS",
    "MAX_SQLITE_BYTES",
    "MAX_SQLITE_TURNS",
    "SCHEMA_VERSION",
    "ConversationStore",
    "ConversationTooLongError",
    "HistoryFileError",
    "Image",
    "MemoryStore",
    "NoStore",
    "SqliteStore",
    "StoredTurn",
    "UnknownResponseError",
    "WouldWait",
    "default_history_path",
    "describe_ttl",
    "effective_system",
    "new_response_id",
    "owner_key",
    "store_from_setting",
    "turn_size",
]
