"""Benchmark: what the conversation store costs per continued turn (the store's write and read).

    python benchmarks/history_store.py               # 500 turns per figure
    python benchmarks/history_store.py --turns 100   # quicker (figures only, no timing assertions)

One continued turn is what a call with `previous_response_id` adds: `history()` of a 5-turn conversation,
then `save()` of the new turn continuing it (each a new branch of the same conversation, so the read stays 5
turns). A user turn holds 8 KB (prompt plus file text), an answer 1 KB. Each store is measured empty and
already holding 10,000 other turns; SQLite in a temporary file (WAL, synchronous=NORMAL). Figures are CPU
(process time) and wall time per turn, in microseconds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mcp_lmstudio.history import ConversationStore, MemoryStore, SqliteStore, StoredTurn

TTL_S = 7 * 24 * 3600.0
USER_TEXT = "Summarise this file.\n" + "x = 1  # some code\n" * 420  # about 8 KB
ANSWER = "It sets x. " * 93  # about 1 KB


def save(store: ConversationStore, parent: str | None) -> str:
    response_id = store.new_response_id()
    assert response_id is not None
    store.save(StoredTurn(response_id, parent, "owner", "qwen3-4b", None, USER_TEXT, ANSWER, (), time.time()))
    return response_id


def per_turn(store: ConversationStore, turns: int, others: int) -> tuple[float, float]:
    """(CPU µs, wall µs) of one history() of a 5-turn conversation plus one save() continuing it."""
    for _ in range(others):
        save(store, None)
    leaf = None
    for _ in range(5):
        leaf = save(store, leaf)
    assert leaf is not None
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(turns):
        assert len(store.history(leaf, "owner")) == 5
        save(store, leaf)
    return (time.process_time() - cpu) / turns * 1e6, (time.perf_counter() - wall) / turns * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=500, help="continued turns timed per figure (default 500)")
    turns = parser.parse_args().turns
    with tempfile.TemporaryDirectory() as directory:
        kinds: list[tuple[str, Callable[[int], ConversationStore]]] = [
            ("sqlite", lambda n: SqliteStore(Path(directory) / f"history{n}.sqlite3", TTL_S)),
            ("memory", lambda n: MemoryStore(TTL_S, max_turns=20_000)),
        ]
        print(f"history() of 5 turns + save(), per continued turn ({turns} turns; µs)")
        print(f"{'store':8} {'others':>7} {'CPU':>9} {'wall':>9}")
        for name, make in kinds:
            for number, others in enumerate((0, 10_000)):
                with make(number) as store:
                    cpu, wall = per_turn(store, turns, others)
                print(f"{name:8} {others:>7} {cpu:>9.0f} {wall:>9.0f}")


if __name__ == "__main__":
    main()
