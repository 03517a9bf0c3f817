"""CPU per call of the checks that run on every tool call or every fragment, in process (no I/O).

    python benchmarks/hot_path.py       # also run at the end of benchmarks/run.py

Each figure is the median over several repeats of `timeit`, in microseconds of CPU (process time) per
operation, beside what the same work costs without the check, so that a change to a check shows here.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio.to_thread
from mcp.types import CallToolResult, TextContent

from mcp_lmstudio import strict_json
from mcp_lmstudio.cli.command import configure_logging
from mcp_lmstudio.history import MemoryStore, SqliteStore, StoredTurn
from mcp_lmstudio.models.events import GenerationResult, GenerationStats
from mcp_lmstudio.server.call_log import logged_call, note_generation
from mcp_lmstudio.server.conversations import Continuation, save_turn
from mcp_lmstudio.server.serial_thread import SerialThread
from mcp_lmstudio.server.tool_errors import sendable_tool_result
from mcp_lmstudio.text import SurrogateJoiner, valid_unicode

ANSWER = " ".join(f"word{i}" for i in range(64))
STRUCTURED = {"text": ANSWER, "model": "fake-echo-1b", "stop_reason": "eosFound", "stats": {"prompt_tokens": 9}}
RESULT = CallToolResult(content=[TextContent(type="text", text=ANSWER)], structured_content=STRUCTURED)
DOCUMENT = json.dumps({"name": "Rex", "age": 3.5, "tags": ["a", "b"], "owner": {"name": "Ann", "score": 1e3}})


def cpu_us(operation: Callable[[], object], number: int = 2000, repeats: int = 7) -> float:
    """Median CPU time of one `operation()`, in microseconds."""
    samples = []
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(number):
            operation()
        samples.append((time.process_time() - started) / number * 1e6)
    return statistics.median(samples)


def joiner_per_fragment(fragments: list[str]) -> Callable[[], object]:
    def run() -> object:
        joiner = SurrogateJoiner()
        return [joiner.feed(fragment) for fragment in fragments]

    return run


def async_cpu_us(operation: Callable[[], Awaitable[object]], number: int = 500, repeats: int = 5) -> float:
    """`cpu_us` of an awaited operation, on one event loop."""

    async def run() -> float:
        samples = []
        for _ in range(repeats):
            started = time.process_time()
            for _ in range(number):
                await operation()
            samples.append((time.process_time() - started) / number * 1e6)
        return statistics.median(samples)

    return asyncio.run(run())


def _turn(index: int) -> StoredTurn:
    return StoredTurn(f"id-{index}-{time.perf_counter_ns()}", None, None, "fake-echo-1b", None, "prompt", ANSWER)


def store_rows() -> list[tuple[str, float, str]]:
    """One turn saved: the store alone, and how the server calls it. SQLite: first a worker of `anyio.to_thread`,
    then the store's own thread, now on the loop itself when that thread is idle and the call needs no wait
    (`WouldWait` otherwise); memory: called directly. On a quiet loop a thread hand-off looks cheap; with 32
    calls running it cost about 1 ms of CPU per call (benchmarks/run.py, "c=32 CPU per call")."""
    turns = iter(range(10**9))
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SqliteStore(Path(tmp) / "history.sqlite3", 3600.0)
        memory = MemoryStore(3600.0)
        thread = SerialThread("bench")
        empty = Continuation([], None)

        def noop() -> None:
            return None

        async def via_anyio() -> None:
            await anyio.to_thread.run_sync(noop)

        async def via_own_thread() -> None:
            await thread.run(noop)

        async def saved(store: SqliteStore | MemoryStore) -> None:
            await save_turn(store, empty, system=None, user_turn="prompt", model="m", answer=ANSWER)

        async def saved_on_thread() -> None:
            await thread.run(sqlite.save, _turn(next(turns)))

        rows = [
            ("SQLite save of one turn, the store alone", cpu_us(lambda: sqlite.save(_turn(next(turns))), 300), "turn"),
            ("memory save of one turn, the store alone", cpu_us(lambda: memory.save(_turn(next(turns))), 300), "turn"),
            ("hand-off to a thread: anyio.to_thread (before)", async_cpu_us(via_anyio), "store call"),
            ("hand-off to a thread: the store's own", async_cpu_us(via_own_thread), "store call"),
            ("SQLite save on the store's thread (before)", async_cpu_us(saved_on_thread, 300), "turn"),
            ("save_turn, SQLite (on the loop when it need not wait)", async_cpu_us(lambda: saved(sqlite), 300), "turn"),
            ("save_turn, memory (called directly)", async_cpu_us(lambda: saved(memory), 300), "turn"),
        ]
        sqlite.close()
    return rows


RESULT_EVENT = GenerationResult(
    text=ANSWER,
    reasoning="",
    model="fake-echo-1b",
    stop_reason="eosFound",
    stats=GenerationStats(prompt_tokens=9, predicted_tokens=64, tokens_per_second=1234.5, time_to_first_token_s=0.001),
)


def call_log_rows() -> list[tuple[str, float, str]]:
    """The one log line per call, at the default level (INFO, written to stderr: here a buffer) and above it."""

    def one_call() -> None:
        with logged_call("generate", {"prompt": "p", "model": "fake-echo-1b"}) as call:
            note_generation(RESULT_EVENT)
            call.finish(RESULT)

    rows = []
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        for level in ("INFO", "WARNING"):
            configure_logging(level)
            root.handlers[0].setStream(io.StringIO())  # type: ignore[attr-defined]
            rows.append((f"call log line, --log-level {level}", cpu_us(one_call, 1000), "call"))
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return rows


def measure() -> list[tuple[str, float, str]]:
    """Rows of (what, microseconds of CPU, per what)."""
    ascii_tokens = [f" word{i}" for i in range(64)]
    emoji_tokens = [" smile \U0001f600", " done"] * 32
    return [
        ("tool result encodability check (64-word answer)", cpu_us(lambda: sendable_tool_result(RESULT, "g")), "call"),
        ("  for scale: encoding that result once", cpu_us(lambda: RESULT.model_dump_json(by_alias=True)), "call"),
        ("surrogate joiner, ASCII fragments", cpu_us(joiner_per_fragment(ascii_tokens), 500) / 64, "fragment"),
        ("surrogate joiner, non-ASCII fragments", cpu_us(joiner_per_fragment(emoji_tokens), 500) / 64, "fragment"),
        ("valid_unicode on a model name", cpu_us(lambda: valid_unicode("qwen3-8b-instruct:2")), "name"),
        ("strict JSON parse (structured output)", cpu_us(lambda: strict_json.loads(DOCUMENT)), "document"),
        ("  for scale: json.loads", cpu_us(lambda: json.loads(DOCUMENT)), "document"),
        *store_rows(),
        *call_log_rows(),
    ]


def main() -> None:
    rows = measure()
    width = max(len(name) for name, _us, _per in rows)
    print(f"{'hot-path check'.ljust(width)}  CPU")
    for name, us, per in rows:
        print(f"{name.ljust(width)}  {us:.2f} µs per {per}")


if __name__ == "__main__":
    main()
