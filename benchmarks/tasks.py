"""Benchmark: what running a call as an MCP task costs, and how much memory the task store can hold.

    python benchmarks/tasks.py            # 200 calls per figure
    python benchmarks/tasks.py --quick    # 30 calls per figure (CI; figures only, no timing assertions)

1. Server CPU per call, over stdio (the server's own user+system time from /proc, so the client's work is not
   counted), for `generate` called plainly and as a 2026-07-28 task (the `tools/call` that creates the task,
   then `tasks/get` polled until the task has completed), and per `tasks/get`.
2. The task store's memory (tracemalloc) when full: `MAX_TASKS` finished tasks, each holding a `generate`
   result of 64 and of 4,096 answer tokens.

Prints a table and writes JSON to benchmarks/results/tasks.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.run import emulator_process, server_params, server_pid
from mcp_lmstudio.server.tasks import MAX_TASKS, TaskStore
from tests.tasks_support import PollingTasksClient, start_task, task_request

ROOT = Path(__file__).resolve().parent
ANSWER = " ".join(f"word{i}" for i in range(64))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid`, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure_cpu(calls: int) -> dict[str, float]:
    async with emulator_process(ANSWER, 0.0, 0.0) as host:
        async with Client(server_params(host)) as plain_client:  # no tasks extension: plain calls
            pid = server_pid()
            await plain_client.call_tool("generate", {"prompt": "warm up"})
            before = cpu_seconds(pid)
            for i in range(calls):
                await plain_client.call_tool("generate", {"prompt": f"plain {i}"})
            plain = (cpu_seconds(pid) - before) / calls
        async with Client(server_params(host), extensions=[PollingTasksClient()]) as client:
            pid = server_pid()
            await client.call_tool("generate", {"prompt": "warm up"})
            polls = 0
            before = cpu_seconds(pid)
            for i in range(calls):
                created = await start_task(client, "generate", {"prompt": f"task {i}"})
                while (await task_request(client.session, "tasks/get", created.task_id))["status"] != "completed":
                    polls += 1
                    await anyio.sleep(0.005)  # polling is the protocol
                polls += 1
            task = (cpu_seconds(pid) - before) / calls
            before = cpu_seconds(pid)
            for _ in range(calls):
                await task_request(client.session, "tasks/get", created.task_id)
            get = (cpu_seconds(pid) - before) / calls
    return {"plain_call_ms": plain * 1000, "task_call_ms": task * 1000, "tasks_get_ms": get * 1000,
            "polls_per_task": polls / calls}  # fmt: skip


def generate_result(tokens: int) -> dict[str, Any]:
    """The wire form of a `generate` result with an answer of `tokens` words."""
    text = " ".join(f"word{i}" for i in range(tokens))
    stats = {"prompt_tokens": 20, "predicted_tokens": tokens, "tokens_per_second": 40.0, "time_to_first_token_s": 0.2}
    structured = {"text": text, "model": "qwen3-8b", "stop_reason": "eosFound", "stats": stats}
    return {"content": [{"type": "text", "text": text}], "structuredContent": structured, "isError": False}


async def measure_store(tokens: int) -> float:
    """MiB that a full store of finished `generate` tasks (answers of `tokens` words) holds."""
    tracemalloc.start()
    baseline = tracemalloc.take_snapshot()
    store = TaskStore(ttl_s=3600, time_limit_s=3600)
    for _ in range(MAX_TASKS):
        store.create("http:session:token", "generate").finish("completed", "The call completed.",
                                                              result=generate_result(tokens))  # fmt: skip
    used = sum(stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(baseline, "filename"))
    tracemalloc.stop()
    assert len(store) == MAX_TASKS
    return used / 2**20


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 calls per figure instead of 200")
    calls = 30 if parser.parse_args().quick else 200
    cpu = await measure_cpu(calls)
    small, large = await measure_store(64), await measure_store(4096)
    figures = {**cpu, "calls": calls, "max_tasks": MAX_TASKS, "store_full_64_tokens_mib": small,
               "store_full_4096_tokens_mib": large}  # fmt: skip
    print(f"server CPU per plain generate call:        {cpu['plain_call_ms']:.2f} ms")
    print(f"server CPU per generate run as a task:     {cpu['task_call_ms']:.2f} ms "
          f"(create + {cpu['polls_per_task']:.1f} tasks/get)")  # fmt: skip
    print(f"server CPU per tasks/get:                  {cpu['tasks_get_ms']:.2f} ms")
    print(f"task store, full ({MAX_TASKS} finished tasks):  {small:.1f} MiB with 64-token answers, "
          f"{large:.1f} MiB with 4,096-token answers")  # fmt: skip
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "tasks.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
