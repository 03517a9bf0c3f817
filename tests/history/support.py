"""Shared pieces of the history tests: a clock the test moves, and a shorthand to save a turn."""

from __future__ import annotations

from mcp_lmstudio.history import ConversationStore, Image, StoredTurn

TTL_S = 3600.0


class FakeClock:
    """Seconds that move only when the test says: `clock.now += 10`."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def add(
    store: ConversationStore,
    parent: str | None = None,
    text: str = "prompt",
    *,
    owner: str | None = None,
    system: str | None = None,
    images: tuple[Image, ...] = (),
    answer: str | None = None,
) -> str:
    """Save one turn continuing `parent`; returns its response id."""
    response_id = store.new_response_id()
    assert response_id is not None
    store.save(
        StoredTurn(
            response_id=response_id,
            parent_id=parent,
            owner=owner,
            model="qwen3-4b",
            system=system,
            user_text=text,
            answer=answer if answer is not None else f"answer to {text}",
            images=images,
            created_at=1.5e9,
        )
    )
    return response_id


def texts(store: ConversationStore, response_id: str, owner: str | None = None) -> list[str]:
    """The user texts of `response_id`'s conversation, root first."""
    return [turn.user_text for turn in store.history(response_id, owner)]
