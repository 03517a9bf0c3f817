"""Conversations for the tools: a follow-up names the response it continues (`previous_response_id`), and the
server replays the stored turns, so the host sends only its new words.

The store (`mcp_lmstudio.history`) is synchronous and short. A store that may wait on I/O (SQLite) is called
on a thread of its own (`SerialThread`), so that a write never stalls the event loop; one that only touches
memory is called directly, which costs less than any thread hand-off. History is never logged here. Over
HTTP an id belongs to the `Authorization` header that created it; another header gets the same "unknown or
expired" answer as an id that never existed.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import InvalidInputError
from ..history import ConversationStore, StoredTurn, WouldWait, effective_system, owner_key
from ..text import valid_unicode
from ..types import Chat, Image
from .serial_thread import SerialThread

__all__ = ["Continuation", "continuation_for", "owner_of", "save_chat", "save_turn"]


@dataclass(frozen=True, slots=True)
class Continuation:
    """The earlier turns a call continues (root first; empty for a new conversation) and who owns them."""

    turns: list[StoredTurn]
    owner: str | None

    @property
    def system(self) -> str | None:
        return effective_system(self.turns)

    @property
    def model(self) -> str | None:
        """The model that gave the response continued from: the default for the follow-up."""
        return self.turns[-1].model if self.turns else None

    def messages(self) -> list[dict[str, Any]]:
        """The stored turns as chat messages: each prompt (with the files read then) and answer, no reasoning."""
        messages: list[dict[str, Any]] = []
        for turn in self.turns:
            images = [Image(data, mime) for mime, data in turn.images]
            messages.append({"role": "user", "content": [turn.user_text, *images] if images else turn.user_text})
            messages.append({"role": "assistant", "content": turn.answer})
        return messages


def owner_of(request: object) -> str | None:
    """The owner key of a call: its HTTP `Authorization` header, hashed; None on stdio and in memory."""
    headers = getattr(request, "headers", None)
    header = headers.get("authorization") if headers is not None else None
    return owner_key(header) if header else None


async def continuation_for(
    store: ConversationStore, previous_response_id: str | None, owner: str | None, model_input: object
) -> Continuation:
    """The turns `previous_response_id` continues (none without it).

    Raises:
        InvalidInputError: `previous_response_id` came with `messages` (it goes with `prompt`).
        UnknownResponseError: the id is unknown, expired, another owner's, or history is off.
    """
    if previous_response_id is None:
        return Continuation([], owner)
    if isinstance(model_input, Chat):
        raise InvalidInputError(
            "`previous_response_id` goes with `prompt`, not `messages`: the server replays the earlier turns "
            "itself. Send only the new question as `prompt`."
        )
    turns = await _call(store, store.history, previous_response_id, owner)
    return Continuation(turns, owner)


async def save_turn(
    store: ConversationStore,
    continuation: Continuation,
    *,
    system: str | None,
    user_turn: str | list[str | Image],
    model: str,
    answer: str,
) -> str | None:
    """Store the turn just answered and return its `response_id` (None when history is off)."""
    parent = continuation.turns[-1].response_id if continuation.turns else None
    # Stored only where it changes, so that a later system prompt takes over for the rest of the branch.
    changed = system if system != continuation.system else None
    return await _store(store, continuation.owner, parent, changed, user_turn, model, answer)


async def save_chat(store: ConversationStore, owner: str | None, chat: Chat, *, model: str, answer: str) -> str | None:
    """Store a `messages` conversation and its answer as a chain of turns; return the last one's `response_id`
    (None when history is off), so that a follow-up with `prompt` continues it like any other.

    Each run of user messages up to an assistant message is one turn (texts joined, images kept); a first
    system message is the chain's system prompt; the trailing user messages are the turn `answer` answers.
    """
    if not store.enabled:
        return None
    messages = list(chat.messages)
    first = messages.pop(0) if messages and messages[0].get("role") == "system" else None
    system = first["content"] if first is not None and isinstance(first.get("content"), str) else None
    parent: str | None = None
    user: list[str | Image] = []
    for message in [*messages, {"role": "assistant", "content": answer}]:
        content = message.get("content")
        parts: list[str | Image] = [content] if isinstance(content, str) else list(content or [])
        if message.get("role") != "assistant":
            user += ["\n\n", *parts] if user else parts
            continue
        said = "".join(part for part in parts if isinstance(part, str))
        parent = await _store(store, owner, parent, system, user, model, said)
        system, user = None, []
    return parent


async def _store(
    store: ConversationStore,
    owner: str | None,
    parent: str | None,
    system: str | None,
    user_turn: str | list[str | Image],
    model: str,
    answer: str,
) -> str | None:
    response_id = store.new_response_id()
    if response_id is None:
        return None
    parts = [user_turn] if isinstance(user_turn, str) else user_turn
    text = valid_unicode("".join(p for p in parts if isinstance(p, str)))  # a file's odd name, say, must encode
    images = tuple((part.mime_type, part.data) for part in parts if isinstance(part, Image))
    turn = StoredTurn(
        response_id=response_id,
        parent_id=parent,
        owner=owner,
        model=model,
        system=system,
        user_text=text,
        answer=answer,
        images=images,
    )
    await _call(store, store.save, turn)
    return response_id


_T = TypeVar("_T")
_threads: weakref.WeakKeyDictionary[ConversationStore, SerialThread] = weakref.WeakKeyDictionary()


async def _call(store: ConversationStore, method: Callable[..., _T], *args: Any) -> _T:
    """`method(*args)` of `store`: directly unless the store is `blocking`; else on the loop when the store's
    own thread is idle and the call needs no wait (`WouldWait` otherwise), else on that thread. Calls stay in
    order either way, so a save is complete before any later read.

    Why try the loop first: an SQLite save takes about 0.1 ms, while handing it to a thread and back costs the
    process about 1 ms of CPU when calls run concurrently (`benchmarks/run.py`, history rows).
    """
    if not store.blocking:
        return method(*args)
    thread = _threads.get(store)
    if thread is None:
        thread = _threads[store] = SerialThread("mcp-lmstudio history")
    if thread.idle:
        try:
            return method(*args, wait=False)
        except WouldWait:
            pass
    return await thread.run(method, *args)
