"""What every store that keeps history does: the same cases against SQLite (a real file) and memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mcp_lmstudio.errors import InvalidInputError
from mcp_lmstudio.history import (
    ConversationStore,
    ConversationTooLongError,
    MemoryStore,
    SqliteStore,
    StoredTurn,
    UnknownResponseError,
    turn_size,
)
from tests.history.support import TTL_S, FakeClock, add, texts

MakeStore = Callable[..., ConversationStore]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sqlite", "memory"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[MakeStore]:
    """Makes a fresh store of the parametrised kind on `clock` (SQLite: a new file each time)."""
    stores: list[ConversationStore] = []

    def make(**bounds: Any) -> ConversationStore:
        store: ConversationStore
        if request.param == "sqlite":
            path = tmp_path / f"history{len(stores)}.sqlite3"
            store = SqliteStore(path, TTL_S, clock=clock, purge_interval_s=0, **bounds)
        else:
            store = MemoryStore(TTL_S, clock=clock, **bounds)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store: MakeStore) -> ConversationStore:
    return make_store()


def unknown_message(store: ConversationStore, response_id: str, owner: str | None = None) -> str:
    with pytest.raises(UnknownResponseError) as caught:
        store.history(response_id, owner)
    return str(caught.value).replace(response_id[:8], "<id>")


def test_a_chain_is_returned_root_first_exactly_as_saved(store: ConversationStore) -> None:
    first = add(store, text="read a.py", system="Be terse.", owner="k")
    second = add(store, first, "and b.py", owner="k")
    third = add(store, second, "compare them", owner="k", answer="They differ.\n\u00e9\u6f22\U0001f600\x00")
    turns = store.history(third, "k")
    assert [turn.response_id for turn in turns] == [first, second, third]
    assert turns[0] == StoredTurn(
        first, None, "k", "qwen3-4b", "Be terse.", "read a.py", "answer to read a.py", (), 1.5e9
    )
    assert turns[2].answer == "They differ.\n\u00e9\u6f22\U0001f600\x00"
    assert turns[1].system is None and turns[1].parent_id == first
    assert len(store) == 3


def test_continuing_an_earlier_turn_branches_and_later_turns_stay_reachable(store: ConversationStore) -> None:
    root = add(store, text="root")
    left = add(store, root, "left")
    left_more = add(store, left, "left more")
    right = add(store, root, "right")
    right_more = add(store, right, "right more")
    assert texts(store, left_more) == ["root", "left", "left more"]
    assert texts(store, right_more) == ["root", "right", "right more"]
    assert texts(store, left) == ["root", "left"]
    assert texts(store, root) == ["root"]


def test_an_unknown_id_is_an_invalid_input_saying_how_long_conversations_are_kept(store: ConversationStore) -> None:
    add(store, text="something")
    with pytest.raises(UnknownResponseError) as caught:
        store.history("no-such-id", None)
    assert isinstance(caught.value, InvalidInputError) and isinstance(caught.value, ValueError)
    assert str(caught.value) == (
        "Conversation 'no-such-id' is unknown or expired (conversations are kept for 1 hour after their last "
        "turn); start a new one without previous_response_id."
    )


def test_another_owners_id_is_exactly_like_an_unknown_one(store: ConversationStore) -> None:
    mine = add(store, owner="alice")
    local = add(store, owner=None)
    never = "x" * len(mine)
    assert unknown_message(store, mine, "bob") == unknown_message(store, never, "bob")
    assert unknown_message(store, mine, None) == unknown_message(store, never, None)
    assert unknown_message(store, local, "alice") == unknown_message(store, never, "alice")
    with pytest.raises(UnknownResponseError):  # nor may another owner continue it
        add(store, mine, owner="bob")
    assert texts(store, mine, "alice") == ["prompt"] and len(store) == 2


def test_a_conversation_not_continued_for_the_ttl_is_forgotten(store: ConversationStore, clock: FakeClock) -> None:
    old = add(store, text="old")
    clock.now += TTL_S - 0.5
    assert texts(store, old) == ["old"]  # reading it to continue it counts as use
    clock.now += TTL_S - 0.5
    assert texts(store, old) == ["old"]
    clock.now += TTL_S
    unknown_message(store, old)
    with pytest.raises(UnknownResponseError):
        add(store, old)


def test_continuing_refreshes_the_whole_chain_but_not_other_branches(
    store: ConversationStore, clock: FakeClock
) -> None:
    root = add(store, text="root")
    stale = add(store, root, "stale branch")
    live = add(store, root, "live branch")
    clock.now += TTL_S - 1
    latest = add(store, live, "continued")
    clock.now += TTL_S - 1
    assert texts(store, latest) == ["root", "live branch", "continued"]
    unknown_message(store, stale)
    assert texts(store, root) == ["root"]


def test_expired_turns_are_deleted_by_a_later_save(store: ConversationStore, clock: FakeClock) -> None:
    for _ in range(3):
        add(store)
    clock.now += TTL_S
    add(store)
    assert len(store) == 1


def test_at_the_turn_bound_the_least_recently_used_go_first(make_store: MakeStore, clock: FakeClock) -> None:
    store = make_store(max_turns=4)
    ids = []
    for text in ("a", "b", "c", "d"):
        ids.append(add(store, text=text))
        clock.now += 1
    store.history(ids[0], None)  # "a" is now the most recently used; "b" the least
    clock.now += 1
    e = add(store, text="e")
    assert len(store) == 4
    unknown_message(store, ids[1])
    assert [texts(store, i)[0] for i in (ids[0], ids[2], ids[3], e)] == ["a", "c", "d", "e"]


def test_the_bound_drops_a_conversations_newest_turn_before_its_parent(make_store: MakeStore, clock: FakeClock) -> None:
    store = make_store(max_turns=3)
    parent = add(store, text="parent")
    child = add(store, parent, "child")  # parent and child used at the same instant
    clock.now += 1
    add(store, text="other")
    clock.now += 1
    add(store, text="newest")
    unknown_message(store, child)
    assert texts(store, parent) == ["parent"]


def test_at_the_byte_bound_the_least_recently_used_go_first(make_store: MakeStore, clock: FakeClock) -> None:
    probe = StoredTurn("x" * 32, None, None, "qwen3-4b", None, "p" * 1000, "answer to " + "p" * 1000)
    store = make_store(max_bytes=3 * turn_size(probe) + 10)
    ids = []
    for letter in "pqrs":
        ids.append(add(store, text=letter * 1000))
        clock.now += 1
    assert len(store) == 3
    unknown_message(store, ids[0])
    assert texts(store, ids[1]) == ["q" * 1000]


def test_a_conversation_longer_than_the_bound_is_refused_and_nothing_changes(make_store: MakeStore) -> None:
    store = make_store(max_turns=2)
    first = add(store, text="one")
    second = add(store, first, "two")
    with pytest.raises(ConversationTooLongError, match=r"too long to keep \(3 turns"):
        add(store, second, "three")
    assert len(store) == 2 and texts(store, second) == ["one", "two"]


def test_images_round_trip(store: ConversationStore) -> None:
    images = (("image/png", "iVBORw0KGgo" + "A" * 5000), ("image/jpeg", "/9j/4AAQSkZJRg=="))
    first = add(store, text="what is this?", images=images)
    second = add(store, first, "and now?")
    turns = store.history(second, None)
    assert turns[0].images == images and turns[1].images == ()


def test_saving_an_id_twice_is_refused(store: ConversationStore) -> None:
    first = add(store)
    turn = StoredTurn(first, None, None, "m", None, "again", "again")
    with pytest.raises(ValueError, match="already stored"):
        store.save(turn)
    assert texts(store, first) == ["prompt"]


def test_response_ids_are_192_random_url_safe_bits(store: ConversationStore) -> None:
    ids = {store.new_response_id() for _ in range(1000)}
    assert len(ids) == 1000
    for response_id in ids:
        assert response_id is not None and len(response_id) == 32
        assert set(response_id) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert store.enabled
