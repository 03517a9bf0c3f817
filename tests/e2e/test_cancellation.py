"""Cancel running calls at random points: every prediction ends in LM Studio, and the server keeps serving."""

from __future__ import annotations

import asyncio
import random

import anyio
import pytest
from mcp import Client

from mcp_lmstudio.server.app import create_server
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import LMStudioEmulator
from tests.stdio_support import server_params
from tests.support import text_of

pytestmark = pytest.mark.anyio

REPLY = " ".join(f"t{i}" for i in range(40))


async def cancel_at_random_points(client: Client, emulator: LMStudioEmulator, count: int, seed: int) -> int:
    """Make `count` calls, each cancelled after a random delay; return how many were cut short."""
    rng = random.Random(seed)
    cut_short = 0
    for _ in range(count):
        tool = rng.choice(["generate", "generate_stream"])
        with anyio.move_on_after(rng.uniform(0, 0.06)) as scope:
            await client.call_tool(tool, {"prompt": "cancel me"}, progress_callback=_ignore)
        cut_short += scope.cancelled_caught
    with anyio.fail_after(10):
        await emulator.wait_for(lambda: emulator.running_count == 0)
    return cut_short


async def _ignore(progress: float, total: float | None, message: str | None) -> None:
    pass


def assert_every_prediction_ended(emulator: LMStudioEmulator) -> None:
    assert emulator.running_predictions == []
    for record in emulator.predictions:
        assert record.cancelled or record.stop_reason == "eosFound", record


async def test_200_random_cancellations_in_memory(emulator: LMStudioEmulator, mode: str) -> None:
    emulator.reply, emulator.token_delay = REPLY, 0.001
    tasks_before = len(asyncio.all_tasks())
    async with Client(create_server(Settings(host=emulator.api_host)), mode=mode) as client:  # type: ignore[arg-type]
        cut_short = await cancel_at_random_points(client, emulator, 200, seed=2026)
        emulator.reply, emulator.token_delay = None, 0.0
        assert text_of(await client.call_tool("generate", {"prompt": "after"})) == "You said: after"
    assert_every_prediction_ended(emulator)
    assert cut_short > 100  # most calls really were cancelled mid-flight
    assert sum(record.cancelled for record in emulator.predictions) > 50
    assert len(asyncio.all_tasks()) <= tasks_before


async def test_random_cancellations_over_stdio(emulator: LMStudioEmulator) -> None:
    emulator.reply, emulator.token_delay = REPLY, 0.001
    with anyio.fail_after(120):
        async with Client(server_params(emulator.api_host)) as client:
            await cancel_at_random_points(client, emulator, 60, seed=7)
            emulator.reply, emulator.token_delay = None, 0.0
            assert text_of(await client.call_tool("generate", {"prompt": "after"})) == "You said: after"
    assert_every_prediction_ended(emulator)
    assert sum(record.cancelled for record in emulator.predictions) > 10
