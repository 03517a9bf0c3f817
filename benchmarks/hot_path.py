"""CPU per call of the checks that run on every tool call or every fragment, in process (no I/O).

    python benchmarks/hot_path.py       # also run at the end of benchmarks/run.py

Each figure is the median over several repeats of `timeit`, in microseconds of CPU (process time) per
operation, beside what the same work costs without the check, so that a change to a check shows here.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

from mcp.types import CallToolResult, TextContent

from mcp_lmstudio import strict_json
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
    ]


def main() -> None:
    rows = measure()
    width = max(len(name) for name, _us, _per in rows)
    print(f"{'hot-path check'.ljust(width)}  CPU")
    for name, us, per in rows:
        print(f"{name.ljust(width)}  {us:.2f} µs per {per}")


if __name__ == "__main__":
    main()
