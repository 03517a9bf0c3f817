"""LM Studio 0.4 parallel slots: more calls than slots queue in LM Studio, all complete, a queued one
can be cancelled before it starts, and time spent queued counts against the per-call time limit."""

from __future__ import annotations

import anyio
import lmstudio
import pytest
from mcp import Client

from mcp_lmstudio.server.app import create_server
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import LMStudioEmulator, PredictionRecord, Reply
from tests.stdio_support import server_params
from tests.support import text_of

pytestmark = pytest.mark.anyio

SLOTS = 4
CALLS = 32


def short_or_hog(record: PredictionRecord) -> Reply:
    """A long answer for prompts starting 'hog' (to hold a slot), an echo otherwise."""
    if record.last_user_text.startswith("hog"):
        return Reply(" ".join(["busy"] * 2000))
    return Reply(f"You said: {record.last_user_text}")


@pytest.fixture
async def slotted() -> object:
    async with LMStudioEmulator(max_parallel_predictions=SLOTS, reply=short_or_hog, token_delay=0.005) as lms:
        yield lms


async def _call_many(mcp: Client, results: dict[int, str]) -> None:
    async def one(index: int) -> None:
        result = await mcp.call_tool("generate", {"prompt": f"call {index}"})
        results[index] = "error" if result.is_error else text_of(result)

    async with anyio.create_task_group() as tg:
        for index in range(CALLS):
            tg.start_soon(one, index)


def _assert_all_answered(lms: LMStudioEmulator, results: dict[int, str]) -> None:
    assert results == {index: f"You said: call {index}" for index in range(CALLS)}
    assert lms.peak_concurrent_predictions == SLOTS
    assert len(lms.predictions) == CALLS and all(record.started for record in lms.predictions)
    assert lms.running_count == lms.queued_count == 0


async def test_32_calls_on_4_slots_all_complete_in_memory(slotted: LMStudioEmulator) -> None:
    results: dict[int, str] = {}
    async with Client(create_server(Settings(host=slotted.api_host, timeout=30))) as mcp:
        with anyio.fail_after(30):
            await _call_many(mcp, results)
    _assert_all_answered(slotted, results)


async def test_32_calls_on_4_slots_all_complete_over_stdio(slotted: LMStudioEmulator) -> None:
    results: dict[int, str] = {}
    with anyio.fail_after(60):
        async with Client(server_params(slotted.api_host, "--timeout", "30")) as mcp:
            await _call_many(mcp, results)
    _assert_all_answered(slotted, results)


async def _hog_every_slot(sdk: lmstudio.AsyncClient, lms: LMStudioEmulator) -> list[lmstudio.AsyncPredictionStream]:
    """Another LM Studio client takes every slot with a long prediction."""
    llm = await sdk.llm.model("fake-echo-1b")
    streams = [await llm.respond_stream(f"hog {index}") for index in range(SLOTS)]
    for stream in streams:
        await stream.__aenter__()
    await lms.wait_for(lambda: lms.running_count == SLOTS)
    return streams


async def test_a_queued_call_cancelled_never_starts_and_the_server_keeps_serving(slotted: LMStudioEmulator) -> None:
    async with lmstudio.AsyncClient(slotted.api_host) as sdk:
        hogs = await _hog_every_slot(sdk, slotted)
        async with Client(create_server(Settings(host=slotted.api_host, timeout=30))) as mcp:
            async with anyio.create_task_group() as tg:
                tg.start_soon(mcp.call_tool, "generate", {"prompt": "queued"})
                await slotted.wait_for(lambda: slotted.queued_count == 1)
                tg.cancel_scope.cancel()  # the MCP call is cancelled while LM Studio queues it
            await slotted.wait_for(lambda: slotted.queued_count == 0)
            queued = next(record for record in slotted.predictions if record.last_user_text == "queued")
            assert (queued.started, queued.cancelled, queued.stop_reason) == (False, True, "userStopped")
            for hog in hogs:
                await hog.cancel()
            assert text_of(await mcp.call_tool("generate", {"prompt": "after"})) == "You said: after"
    assert slotted.running_count == 0


async def test_time_spent_queued_counts_against_the_time_limit(slotted: LMStudioEmulator) -> None:
    async with lmstudio.AsyncClient(slotted.api_host) as sdk:
        hogs = await _hog_every_slot(sdk, slotted)
        async with Client(create_server(Settings(host=slotted.api_host, timeout=0.5))) as mcp:
            result = await mcp.call_tool("generate", {"prompt": "queued"})
        assert result.is_error and "0.5 s time limit" in text_of(result)
        assert "prediction slot" in text_of(result)
        queued = next(record for record in slotted.predictions if record.last_user_text == "queued")
        await slotted.wait_for(lambda: queued.finished)
        assert (queued.started, queued.cancelled) == (False, True)
        for hog in hogs:
            await hog.cancel()
