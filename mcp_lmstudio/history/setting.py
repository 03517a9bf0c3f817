"""`--history` and `--history-ttl`: which store a setting names, `NoStore` for `off`, and the defaults."""

from __future__ import annotations

from pathlib import Path

import platformdirs

from .base import ConversationStore, StoredTurn, UnknownResponseError, validate_bounds
from .memory import MemoryStore
from .sqlite import SqliteStore

__all__ = ["DEFAULT_TTL_S", "NoStore", "default_history_path", "parse_setting", "store_from_setting"]

#: How long a conversation not continued is kept by default: 7 days, in seconds.
DEFAULT_TTL_S = 7 * 24 * 3600.0

_FORMS = "'sqlite:PATH', 'memory' or 'off'"


class NoStore(ConversationStore):
    """`--history off`: keeps nothing; `new_response_id()` is None, so results carry no `response_id`."""

    blocking = False

    def __init__(self, ttl_s: float = DEFAULT_TTL_S) -> None:
        validate_bounds(ttl_s, 1, 1)
        self.ttl_s = float(ttl_s)

    @property
    def enabled(self) -> bool:
        return False

    @property
    def location(self) -> str:
        return "off"

    def new_response_id(self) -> str | None:
        return None

    def save(self, turn: StoredTurn, *, wait: bool = True) -> None:
        """Does nothing: history is off."""

    def history(self, response_id: str, owner: str | None, *, wait: bool = True) -> list[StoredTurn]:
        """Always raises UnknownResponseError: nothing is kept."""
        raise UnknownResponseError(
            "Conversation history is off on this server (--history off), so previous_response_id cannot be "
            "used; send the earlier turns as `messages` instead."
        )

    def __len__(self) -> int:
        return 0

    def close(self) -> None:
        pass


def default_history_path() -> Path:
    """The SQLite file used without `--history`: `history.sqlite3` in the user's data directory
    (e.g. ~/.local/share/mcp-lmstudio on Linux)."""
    return Path(platformdirs.user_data_dir("mcp-lmstudio", appauthor=False)) / "history.sqlite3"


def store_from_setting(setting: str | None, ttl_s: float = DEFAULT_TTL_S) -> ConversationStore:
    """The store `--history` (or `MCP_LMSTUDIO_HISTORY`) names, keeping conversations `ttl_s` seconds.

    `setting`: "sqlite:PATH" (`~` expanded; relative to the working directory), "memory", "off" (the
    keywords in any case, surrounding spaces ignored), or None for the default SQLite file
    (`default_history_path()`).

    Raises:
        ValueError: `setting` is none of these forms, or `ttl_s` is not a positive number of seconds.
        HistoryFileError, OSError: as `SqliteStore`.
    """
    validate_bounds(ttl_s, 1, 1)
    kind, path = parse_setting(setting)
    if kind == "off":
        return NoStore(ttl_s)
    if kind == "memory":
        return MemoryStore(ttl_s)
    assert path is not None
    return SqliteStore(path, ttl_s)


def parse_setting(setting: str | None) -> tuple[str, Path | None]:
    """("sqlite", path), ("memory", None) or ("off", None) for a `--history` value, opening nothing.

    Raises:
        ValueError: `setting` is none of the forms 'sqlite:PATH', 'memory' or 'off'.
    """
    if setting is None:
        return "sqlite", default_history_path()
    value = setting.strip()
    keyword, colon, rest = value.partition(":")
    if value.lower() in ("off", "memory"):
        return value.lower(), None
    if colon and keyword.lower() == "sqlite":
        if not rest.strip():
            raise ValueError(f"--history {setting!r} names no file; use {_FORMS}.")
        return "sqlite", Path(rest.strip()).expanduser()
    raise ValueError(f"--history {setting!r} is not a history setting; use {_FORMS}.")
