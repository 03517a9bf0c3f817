"""The shapes every conversation store shares: a stored turn, the store interface, its errors, and helpers.

Nothing here logs: conversation contents never reach a log, a message or an exception text (an error names
at most the first characters of the id it was given).
"""

from __future__ import annotations

import hashlib
import math
import secrets
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

from ..errors import InvalidInputError, McpLmStudioError

__all__ = [
    "ConversationStore",
    "ConversationTooLongError",
    "HistoryFileError",
    "Image",
    "StoredTurn",
    "UnknownResponseError",
    "WouldWait",
    "check_chain",
    "describe_ttl",
    "effective_system",
    "new_response_id",
    "owner_key",
    "turn_size",
    "validate_bounds",
]

#: An image of a user turn: (MIME type such as "image/png", base64 data without a `data:` prefix).
Image = tuple[str, str]


class UnknownResponseError(InvalidInputError):
    """`previous_response_id` names no conversation this caller may continue: it never existed, it expired,
    it was dropped at the store's bound, or another owner created it (indistinguishable on purpose)."""


class ConversationTooLongError(InvalidInputError):
    """A turn was not stored because its conversation alone (root to this turn) exceeds the store's bound."""


class HistoryFileError(McpLmStudioError, RuntimeError):
    """The history file cannot be used: not an SQLite database, or written by a newer mcp-lmstudio."""


@dataclass(frozen=True, slots=True)
class StoredTurn:
    """One generation: the user turn as sent to the model and the answer (reasoning excluded).

    A turn is a node of a tree: `parent_id` is the turn it continued (None for the first turn of a
    conversation). `owner` is `owner_key(...)` of the caller (None on stdio). `system` is the system prompt
    this call set (None: it set none and inherits the conversation's, see `effective_system`). `user_text`
    is the prompt plus the text of the files read for it; `images` the images sent with it. `created_at` is
    wall-clock seconds since the epoch (informational; expiry uses the store's own clock).
    """

    response_id: str
    parent_id: str | None
    owner: str | None
    model: str
    system: str | None
    user_text: str
    answer: str
    images: tuple[Image, ...] = ()
    created_at: float = 0.0


def new_response_id() -> str:
    """A fresh response id: 192 random bits, URL-safe base64 (32 characters)."""
    return secrets.token_urlsafe(24)


def owner_key(authorization_header: str | None) -> str | None:
    """Who may continue a conversation: the SHA-256 hex of the HTTP `Authorization` header (the header itself
    is never stored), or None without one (stdio, or HTTP without a token)."""
    if authorization_header is None:
        return None
    return hashlib.sha256(authorization_header.encode("utf-8", "surrogatepass")).hexdigest()


def turn_size(turn: StoredTurn) -> int:
    """What `turn` counts against a store's byte bound: the UTF-8 bytes of its texts plus its images'
    base64 characters (about what SQLite stores)."""
    texts = (turn.response_id, turn.parent_id or "", turn.owner or "", turn.model, turn.system or "")
    size = sum(len(text.encode("utf-8", "surrogatepass")) for text in texts)
    size += len(turn.user_text.encode("utf-8", "surrogatepass")) + len(turn.answer.encode("utf-8", "surrogatepass"))
    return size + sum(len(mime) + len(data) for mime, data in turn.images)


def effective_system(turns: Sequence[StoredTurn]) -> str | None:
    """The system prompt a continuation of `turns` (root first) replays: the latest one any turn set, so a
    call that sets a new system prompt changes it for the rest of that branch; None if no turn set one."""
    for turn in reversed(turns):
        if turn.system is not None:
            return turn.system
    return None


_UNITS = (("day", 86400.0), ("hour", 3600.0), ("minute", 60.0), ("second", 1.0))


def describe_ttl(seconds: float) -> str:
    """`seconds` in words: 604800 -> "7 days", 3600 -> "1 hour", 5400 -> "90 minutes", 100000 -> "1.2 days"."""
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"a time to live must be a positive number of seconds, not {seconds!r}")

    def words(count: float, unit: str) -> str:
        shown = str(int(count)) if count.is_integer() else f"{count:g}"
        return f"{shown} {unit}{'' if shown == '1' else 's'}"

    larger = [(unit, size) for unit, size in _UNITS if seconds >= size] or [_UNITS[-1]]
    for unit, size in larger[:2]:  # the largest unit, or the next one down when it is a whole number there
        if (seconds / size).is_integer():
            return words(seconds / size, unit)
    unit, size = larger[0]
    return words(round(seconds / size, 1) if size > 1 else seconds, unit)


def check_chain(chain: Sequence[tuple[str | None, str | None, float]], owner: str | None, *, expired: float) -> bool:
    """Whether a chain read from a store (root-most first, each `(parent_id, owner, last_used)`) can be
    continued by `owner`: complete up to its root, all `owner`'s, and none used at or before `expired`."""
    return (
        bool(chain)
        and chain[0][0] is None
        and all(turn_owner == owner and last_used > expired for _, turn_owner, last_used in chain)
    )


class WouldWait(Exception):
    """A call made with `wait=False` would have had to wait (another connection's write lock, maintenance that
    is due); nothing was done, and the same call made with `wait=True` does it."""


class ConversationStore(ABC):
    """Where the turns of conversations live, by response id, each visible only to the owner that made it.

    Every method is synchronous, short and thread-safe (an SQLite call takes well under a millisecond on a
    local disk); an async caller runs it in a worker thread where `blocking` says so, or first tries it with
    `wait=False`, which a store that would have to wait refuses with `WouldWait`. `ttl_s` is how long a
    conversation not continued is kept, in seconds.
    """

    ttl_s: float

    #: Whether a call may wait on I/O (a disk, another process's lock), so that an async caller should run it
    #: in a worker thread; False for a store that only touches memory, whose calls are cheaper made directly.
    blocking: bool = True

    @property
    def enabled(self) -> bool:
        """False for `--history off`: nothing is kept and results carry no `response_id`."""
        return True

    @property
    @abstractmethod
    def location(self) -> str:
        """Where history lives, for a startup message: "sqlite:/path", "memory" or "off"."""

    def new_response_id(self) -> str | None:
        """A fresh id for the next result (see `new_response_id`), or None when history is off."""
        return new_response_id()

    @abstractmethod
    def save(self, turn: StoredTurn, *, wait: bool = True) -> None:
        """Keep `turn`, and mark it and every turn it continues as used now.

        Raises:
            WouldWait: `wait` is False and the store would have had to wait (nothing was saved).
            UnknownResponseError: `turn.parent_id` is unknown, expired, dropped or another owner's.
            ConversationTooLongError: the conversation up to `turn` alone exceeds the store's bound.
            ValueError: a turn with this `response_id` is already stored.
        """

    @abstractmethod
    def history(self, response_id: str, owner: str | None, *, wait: bool = True) -> list[StoredTurn]:
        """The turns from the root of `response_id`'s conversation to it, root first; they count as used now.

        Raises:
            WouldWait: `wait` is False and the store would have had to wait (nothing was read or marked).
            UnknownResponseError: unknown, expired, dropped, or created by another owner.
        """

    @abstractmethod
    def __len__(self) -> int:
        """How many turns are stored (expired ones not yet purged included)."""

    @abstractmethod
    def close(self) -> None:
        """Release the store's resources; a closed store must not be used again."""

    def __enter__(self) -> ConversationStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def unknown(self, response_id: str) -> UnknownResponseError:
        """The error for an id this caller cannot continue (the same whatever the reason)."""
        shown = response_id if len(response_id) <= 12 else response_id[:8] + "…"
        return UnknownResponseError(
            f"Conversation {shown!r} is unknown or expired (conversations are kept for {describe_ttl(self.ttl_s)} "
            "after their last turn); start a new one without previous_response_id."
        )

    def too_long(self, turns: int, size: int, max_turns: int, max_bytes: int) -> ConversationTooLongError:
        return ConversationTooLongError(
            f"This conversation is too long to keep ({turns} turns, {size / 1e6:.1f} MB; this server keeps at most "
            f"{max_turns} turns and {max_bytes / 1e6:.1f} MB), so its last answer was not stored; start a new "
            "conversation without previous_response_id."
        )


def validate_bounds(ttl_s: float, max_turns: int, max_bytes: int) -> None:
    """Raises ValueError unless `ttl_s` is positive and finite and both bounds are at least 1."""
    if not (isinstance(ttl_s, int | float) and math.isfinite(ttl_s) and ttl_s > 0):
        raise ValueError(f"the history time to live must be a positive number of seconds, not {ttl_s!r}")
    for name, bound in (("max_turns", max_turns), ("max_bytes", max_bytes)):
        if isinstance(bound, bool) or not isinstance(bound, int) or bound < 1:
            raise ValueError(f"{name} must be a positive integer, not {bound!r}")
