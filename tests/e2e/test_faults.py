"""Fault matrix: the server as a stdio subprocess, driven by the real `mcp` client, against a misbehaving LM Studio.

Each row asserts the outcome, a time bound, and that the next call after recovery succeeds, without
restarting the server.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult

from mcp_lmstudio.testing import LMStudioEmulator
from tests.stdio_support import server_params
from tests.support import closed_port, text_of

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def stdio_client(api_host: str, *extra: str) -> AsyncIterator[Client]:
    with anyio.fail_after(60):
        async with Client(server_params(api_host, *extra)) as client:
            yield client


async def timed_call(client: Client, arguments: dict[str, Any], **kwargs: Any) -> tuple[CallToolResult, float]:
    started = time.monotonic()
    with anyio.fail_after(30):
        result = await client.call_tool("generate", arguments, **kwargs)
    return result, time.monotonic() - started


async def assert_recovered(client: Client) -> None:
    result, elapsed = await timed_call(client, {"prompt": "recovered?"})
    assert (result.is_error, text_of(result)) == (False, "You said: recovered?")
    assert elapsed < 5


async def test_lm_studio_absent_at_start() -> None:
    emulator = LMStudioEmulator(port=closed_port())
    async with stdio_client(emulator.api_host) as client:
        result, elapsed = await timed_call(client, {"prompt": "hi"})
        assert result.is_error and f"LM Studio is not reachable at {emulator.api_host}" in text_of(result)
        assert elapsed < 3
        async with emulator:
            await assert_recovered(client)


async def test_lm_studio_stops_between_calls(emulator: LMStudioEmulator) -> None:
    async with stdio_client(emulator.api_host) as client:
        await assert_recovered(client)
        await emulator.stop()
        result, elapsed = await timed_call(client, {"prompt": "anyone?"})
        assert result.is_error and "LM Studio is not reachable" in text_of(result)
        assert elapsed < 3
        await emulator.start()
        await assert_recovered(client)


async def test_sockets_dropped_mid_stream(emulator: LMStudioEmulator) -> None:
    emulator.reply = " ".join(["token"] * 1000)
    emulator.token_delay = 0.01
    async with stdio_client(emulator.api_host) as client:
        async with anyio.create_task_group() as tg:
            outcome: list[tuple[CallToolResult, float]] = []

            async def call() -> None:
                outcome.append(await timed_call(client, {"prompt": "long"}))

            tg.start_soon(call)
            with anyio.fail_after(10):
                await emulator.wait_for(lambda: bool(emulator.predictions) and emulator.predictions[0].fragments > 5)
            await emulator.drop_connections()
        result, elapsed = outcome[0]
        assert result.is_error and "Lost the connection to LM Studio" in text_of(result)
        assert elapsed < 5
        emulator.reply, emulator.token_delay = None, 0.0
        await assert_recovered(client)
        assert emulator.connections["llm"] == 2


async def test_lm_studio_restarted_on_the_same_port(emulator: LMStudioEmulator) -> None:
    async with stdio_client(emulator.api_host) as client:
        await assert_recovered(client)
        await emulator.restart()
        await assert_recovered(client)  # the dropped session is noticed and re-opened before the call


async def test_a_hung_prediction_hits_the_time_limit_and_is_cancelled(emulator: LMStudioEmulator) -> None:
    emulator.hang_predictions = True
    async with stdio_client(emulator.api_host, "--timeout", "1") as client:
        result, elapsed = await timed_call(client, {"prompt": "hang"})
        assert result.is_error and "did not finish within the 1 s time limit" in text_of(result)
        assert 1 <= elapsed < 4
        with anyio.fail_after(5):
            await emulator.wait_for(lambda: emulator.predictions[0].finished)
        assert emulator.predictions[0].cancelled
        emulator.hang_predictions = False
        await assert_recovered(client)


async def test_authentication_rejected(emulator: LMStudioEmulator) -> None:
    emulator.reject_auth = True
    async with stdio_client(emulator.api_host) as client:
        result, elapsed = await timed_call(client, {"prompt": "let me in"})
        assert result.is_error and "refused the connection: it requires an API token" in text_of(result)
        assert "LMSTUDIO_API_TOKEN" in text_of(result)
        assert elapsed < 3
        emulator.reject_auth = False
        await assert_recovered(client)


async def test_a_malformed_frame_from_lm_studio(emulator: LMStudioEmulator) -> None:
    async with stdio_client(emulator.api_host) as client:
        await assert_recovered(client)
        await emulator.send_malformed_frame("llm")
        with anyio.fail_after(5):
            await emulator.wait_for(lambda: emulator.open_sockets < 5)  # the SDK gave up on that socket
        await assert_recovered(client)
        assert emulator.connections["llm"] == 2


async def test_a_slow_jit_load_keeps_progress_flowing(emulator: LMStudioEmulator) -> None:
    emulator.load_delay = 2.0
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    async with stdio_client(emulator.api_host) as client:
        result, elapsed = await timed_call(
            client, {"prompt": "wake up", "model": "fake-unloaded-7b"}, progress_callback=on_progress
        )
        assert (result.is_error, text_of(result)) == (False, "You said: wake up")
        assert elapsed < 6
        loading = [message for _, message in progress if message and message.startswith("Loading model")]
        assert loading[-1] == "Loading model fake-unloaded-7b: 100%"
        assert len(loading) >= 4
        await assert_recovered(client)
