"""Benchmark: what issue 11's features cost, over stdio against the emulator in its own process.

* the context pre-flight per call: `generate` with `context_overflow: "error"` (counted first) against the
  same call with `"truncate_middle"` (nothing counted), for a short prompt (template only) and a long one
  (template and tokenizer); wall time p50 and the server process's CPU time per call;
* `think_first`: `structured_generate` with and without it, paced (10 ms per token, 50 ms of prompt);
* 32 concurrent calls on 4 parallel slots (paced), against the same with no slot limit.

    python benchmarks/local_models.py            # the full run
    python benchmarks/local_models.py --quick    # a smaller run (CI); no timing assertions anywhere

`benchmarks/run.py` runs it too and adds its rows to the main table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

from mcp import Client, StdioServerParameters

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["name", "score"],
}
LONG_PROMPT = " ".join(f"word{i}" for i in range(3000))  # ~3,000 tokens: past the bytes bound of a 4,096 context
SLOT_ANSWER = " ".join(f"t{i}" for i in range(64))


class Table(Protocol):
    def add(self, metric: str, sdk: float | None, mcp: float | None, unit: str, target: str, key: str) -> None: ...


@asynccontextmanager
async def emulator(*extra: str) -> AsyncIterator[str]:
    command = [sys.executable, "-m", "mcp_lmstudio.testing", "--port", "0", *extra]
    process = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    banner = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    try:
        yield banner.split("listening on ")[1].split()[0]
    finally:
        process.terminate()
        await process.wait()


def _params(host: str) -> StdioServerParameters:
    args = ["-m", "mcp_lmstudio", "--host", host, "--log-level", "WARNING", "--timeout", "120"]
    return StdioServerParameters(command=sys.executable, args=args, env=dict(os.environ))


def _server_cpu_seconds() -> float:
    """User + system CPU time of the newest `python -m mcp_lmstudio` child of this process."""
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    for pid in reversed(children):
        if "mcp_lmstudio\0--host" in Path(f"/proc/{pid}/cmdline").read_text():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    raise RuntimeError("server process not found")


class _Sample:
    """Wall times (ms) and the server's CPU time (s) over a number of calls, accumulated across rounds."""

    def __init__(self) -> None:
        self.walls: list[float] = []
        self.cpu_s = 0.0

    async def run(self, call: Callable[[], Awaitable[Any]], n: int) -> None:
        cpu_before = _server_cpu_seconds()
        for _ in range(n):
            started = time.perf_counter()
            await call()
            self.walls.append((time.perf_counter() - started) * 1000)
        self.cpu_s += _server_cpu_seconds() - cpu_before

    @property
    def p50(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu_ms_per_call(self) -> float:
        # CPU time is counted in clock ticks (10 ms): only the total over many calls is meaningful.
        return self.cpu_s * 1000 / len(self.walls)


async def measure_preflight(table: Table, n: int) -> None:
    async with emulator("--reply", "ok") as host, Client(_params(host)) as mcp:
        for label, prompt in (("short prompt", "Say ok."), ("3,000-token prompt", LONG_PROMPT)):

            async def call(overflow: str, prompt: str = prompt) -> None:
                result = await mcp.call_tool("generate", {"prompt": prompt, "context_overflow": overflow})
                assert not result.is_error, result

            await call("error"), await call("truncate_middle")  # connect, cache the context length
            # Alternating calls, so that drift (other load on the machine) hits both modes alike.
            on, off = _Sample(), _Sample()
            for _ in range(n):
                await on.run(lambda: call("error"), 1)
                await off.run(lambda: call("truncate_middle"), 1)
            key = f"preflight.{label.split()[0]}"
            table.add(f"pre-flight, {label}: wall p50 (off / on)", off.p50, on.p50, "ms", "", key)
            table.add(f"pre-flight, {label}: server CPU/call", off.cpu_ms_per_call, on.cpu_ms_per_call, "ms", "", key)


async def measure_think_first(table: Table, n: int) -> None:
    async with emulator("--token-delay", "0.01", "--prompt-delay", "0.05") as host, Client(_params(host)) as mcp:
        plans: list[int] = []

        async def call(think: bool) -> None:
            arguments = {"prompt": "Rate this: fine.", "json_schema": SCHEMA, "think_first": think}
            result = await mcp.call_tool("structured_generate", arguments)
            assert not result.is_error, result
            if think:  # the emulator's tokens are words: the plan's length in tokens
                plans.append(len(result.content[1].text.split()))  # type: ignore[union-attr]

        await call(False)
        on, off = _Sample(), _Sample()
        for _ in range(n):
            await off.run(lambda: call(False), 1)
            await on.run(lambda: call(True), 1)
        table.add("think_first, paced: wall p50 (off / on)", off.p50, on.p50, "ms", "", "think_first.wall")
        table.add("think_first, paced: server CPU/call", off.cpu_ms_per_call, on.cpu_ms_per_call, "ms", "", "tf.cpu")
        table.add("think_first, paced: plan length", None, statistics.median(plans), "tokens", "", "tf.plan")


async def _burst(host: str, calls: int) -> dict[str, float]:
    async with Client(_params(host)) as mcp:
        await mcp.call_tool("generate", {"prompt": "warm up"})
        latencies: list[float] = []
        errors = 0

        async def one(index: int) -> None:
            nonlocal errors
            started = time.perf_counter()
            result = await mcp.call_tool("generate", {"prompt": f"call {index}"})
            errors += bool(result.is_error)
            latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(one(index) for index in range(calls)))
        return {
            "wall_s": time.perf_counter() - started,
            "completed": len(latencies) - errors,
            "min_s": min(latencies),
            "p50_s": statistics.median(latencies),
            "max_s": max(latencies),
        }


async def measure_slots(table: Table, calls: int = 32, slots: int = 4) -> dict[str, Any]:
    paced = ["--reply", SLOT_ANSWER, "--token-delay", "0.01", "--prompt-delay", "0.05"]
    async with emulator(*paced, "--max-parallel", str(slots)) as host:
        limited = await _burst(host, calls)
    async with emulator(*paced) as host:
        unlimited = await _burst(host, calls)
    label = f"{calls} calls, paced"
    table.add(
        f"{label}: wall (no limit / {slots} slots)", unlimited["wall_s"], limited["wall_s"], "s", "", "slots.wall"
    )
    table.add(f"{label}: max latency", unlimited["max_s"], limited["max_s"], "s", "", "slots.max")
    table.add(f"{label}: completed", unlimited["completed"], limited["completed"], "", f"= {calls}", "slots.completed")
    return {"limited": limited, "unlimited": unlimited}


async def measure(table: Table, quick: bool) -> dict[str, Any]:
    """Add this module's rows to `table`; return the 32-on-4 details."""
    await measure_preflight(table, 50 if quick else 200)
    await measure_think_first(table, 5 if quick else 20)
    return await measure_slots(table)


class _PrintedTable:
    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []

    def add(self, metric: str, sdk: float | None, mcp: float | None, unit: str, target: str, key: str) -> None:
        self.rows.append((metric, _fmt(sdk, unit), _fmt(mcp, unit), target))

    def print(self) -> None:
        header = ("metric", "baseline", "with the feature", "target")
        widths = [max(len(row[i]) for row in [header, *self.rows]) for i in range(4)]
        for row in [header, tuple("-" * w for w in widths), *self.rows]:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def _fmt(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.2f} {unit}".strip()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smaller run (CI)")
    args = parser.parse_args()
    table = _PrintedTable()
    details = asyncio.run(measure(table, args.quick))
    table.print()
    for name, burst in details.items():
        print(f"{name}: " + ", ".join(f"{key} {value:.2f}" for key, value in burst.items()))


if __name__ == "__main__":
    cli()
