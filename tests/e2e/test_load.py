"""Load: 64 concurrent calls over one stdio connection, and a soak of sequential calls measured in-process.

The soak makes 1,000 calls by default; `MCP_LMSTUDIO_SOAK_CALLS=10000 python -m pytest tests/e2e/test_load.py -k soak`
runs the full 10,000.
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
from pathlib import Path

import anyio
import pytest
from mcp import Client

from mcp_lmstudio.server.app import create_server
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import LMStudioEmulator
from tests.stdio_support import server_params
from tests.support import text_of

pytestmark = pytest.mark.anyio

SOAK_CALLS = int(os.environ.get("MCP_LMSTUDIO_SOAK_CALLS", "1000"))


async def test_64_concurrent_calls_over_one_stdio_connection_get_their_own_answers(emulator: LMStudioEmulator) -> None:
    emulator.token_delay = 0.05  # long enough that all 64 overlap in LM Studio
    answers: dict[int, str] = {}
    with anyio.fail_after(120):
        async with Client(server_params(emulator.api_host)) as client:

            async def ask(index: int) -> None:
                tool = "generate_stream" if index % 2 else "generate"
                answers[index] = text_of(await client.call_tool(tool, {"prompt": f"request number {index}"}))

            async with anyio.create_task_group() as tg:
                for index in range(64):
                    tg.start_soon(ask, index)
    assert answers == {index: f"You said: request number {index}" for index in range(64)}
    assert emulator.peak_concurrent_predictions == 64
    assert emulator.connections["llm"] == 1


def rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()


def open_fds() -> tuple[int, int]:
    """(open file descriptors, of which sockets), read from /proc/self/fd."""
    fds = sockets = 0
    for entry in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(entry)
        except OSError:
            continue
        fds += 1
        sockets += target.startswith("socket:")
    return fds, sockets


async def test_soak_of_sequential_calls_does_not_grow(mode: str) -> None:
    if mode == "legacy" and SOAK_CALLS > 1000:
        pytest.skip("the full soak runs in one mode")
    async with LMStudioEmulator(max_records=50) as emulator:
        async with Client(create_server(Settings(host=emulator.api_host)), mode=mode) as client:  # type: ignore[arg-type]

            async def calls(count: int) -> None:
                for index in range(count):
                    result = await client.call_tool("generate", {"prompt": f"soak {index % 7}"})
                    assert not result.is_error

            await calls(200)  # warm up caches, pools and lazily imported code
            gc.collect()
            before = (rss_bytes(), *open_fds(), len(asyncio.all_tasks()))
            with anyio.fail_after(600):
                await calls(SOAK_CALLS)
            gc.collect()
            after = (rss_bytes(), *open_fds(), len(asyncio.all_tasks()))
    growth_mb = (after[0] - before[0]) / 2**20
    print(
        f"soak of {SOAK_CALLS} calls ({mode}): RSS {before[0] / 2**20:.1f} -> {after[0] / 2**20:.1f} MB, "
        f"fds {before[1]} -> {after[1]}, sockets {before[2]} -> {after[2]}, tasks {before[3]} -> {after[3]}"
    )
    assert growth_mb < 10
    assert after[1:] <= before[1:]
    assert emulator.total_predictions == SOAK_CALLS + 200
