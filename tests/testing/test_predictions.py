"""The emulator's prediction features: raw fragments, tool calls, parallel slots, pacing, API tokens."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import anyio
import httpx_ws
import lmstudio
import pytest

from mcp_lmstudio.testing import LMStudioEmulator, Reply, ToolCall, tool_round_trip

pytestmark = pytest.mark.anyio


async def _raw_predict(api_host: str, text: str) -> list[str]:
    """The raw `content` strings of one prediction's fragments, read off the websocket without the SDK."""
    async with httpx_ws.aconnect_ws(f"http://{api_host}/llm") as ws:
        await ws.send_json({"authVersion": 1, "clientIdentifier": str(uuid.uuid4()), "clientPasskey": "p"})
        assert (await ws.receive_json())["success"]
        history = {"messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]}
        parameter = {
            "modelSpecifier": {"type": "query", "query": {"identifier": "fake-echo-1b"}},
            "history": history,
            "predictionConfigStack": {"layers": []},
        }
        await ws.send_json(
            {"type": "channelCreate", "endpoint": "predict", "channelId": 1, "creationParameter": parameter}
        )
        raw: list[str] = []
        while True:
            frame = await ws.receive_text()
            message = json.loads(frame)
            if message.get("type") == "channelClose":
                return raw
            if message.get("message", {}).get("type") == "fragment":
                raw.append(frame)


async def test_scripted_fragments_go_out_exactly_even_lone_surrogates(emulator: LMStudioEmulator) -> None:
    emulator.reply = Reply("", fragments=["Hi ", "\ud83d", "\ude00", "!"])
    frames = await _raw_predict(emulator.api_host, "hello")
    assert [json.loads(frame)["message"]["fragment"]["content"] for frame in frames] == ["Hi ", "\ud83d", "\ude00", "!"]
    assert '"content": "\\ud83d"' in frames[1]


async def test_an_agent_runs_a_whole_tool_round_trip(emulator: LMStudioEmulator, client: lmstudio.AsyncClient) -> None:
    emulator.reply = tool_round_trip(ToolCall("add", {"a": 123, "b": 3210}), then="The sum is {result}.")
    calls: list[tuple[int, int]] = []

    def add(a: int, b: int) -> int:
        """Add two integers."""
        calls.append((a, b))
        return a + b

    llm = await client.llm.model("fake-echo-1b")
    rounds: list[lmstudio.PredictionRoundResult] = []
    result = await llm.act("What is 123 + 3210?", [add], on_prediction_completed=rounds.append)
    assert (calls, result.rounds) == ([(123, 3210)], 2)
    assert rounds[0].stats.stop_reason == "eosFound"  # as LM Studio reports a tool-call round
    assert rounds[-1].content == "The sum is 3333."


async def test_predictions_beyond_the_slots_queue_and_a_cancelled_one_never_starts() -> None:
    async with LMStudioEmulator(max_parallel_predictions=1, reply="a b c d e f", token_delay=0.02) as lms:
        async with lmstudio.AsyncClient(lms.api_host) as sdk:
            llm = await sdk.llm.model("fake-echo-1b")
            first = asyncio.ensure_future(llm.respond("one"))
            await lms.wait_for(lambda: lms.running_count == 1)
            queued = await llm.respond_stream("two")
            await queued.__aenter__()
            await lms.wait_for(lambda: lms.queued_count == 1)
            await queued.cancel()
            result = await queued.wait_for_result()
            assert result.stats.stop_reason == "userStopped" and result.content == ""
            assert (await first).content == "a b c d e f"
            assert [(r.started, r.stop_reason) for r in lms.predictions] == [(True, "eosFound"), (False, "userStopped")]
            assert lms.peak_concurrent_predictions == 1


async def test_tokens_are_paced_to_deadlines(emulator: LMStudioEmulator, client: lmstudio.AsyncClient) -> None:
    emulator.reply = " ".join(["w"] * 64)
    emulator.token_delay = 0.01
    llm = await client.llm.model("fake-echo-1b")
    started = time.perf_counter()
    await llm.respond("go")
    assert time.perf_counter() - started < 0.64 + 0.06


async def test_an_api_token_is_required_when_set() -> None:
    token = "sk-lm-AbCd1234:abcdefghij0123456789"
    identifier, passkey = "AbCd1234", "abcdefghij0123456789"  # as lmstudio-python 1.6 and lmstudio-js split it
    async with LMStudioEmulator(api_token=token) as lms:
        async with httpx_ws.aconnect_ws(f"http://{lms.api_host}/system") as ws:
            await ws.send_json({"authVersion": 1, "clientIdentifier": identifier, "clientPasskey": "wrong"})
            answer = await ws.receive_json()
        assert answer["success"] is False and "API token" in answer["error"]
        async with httpx_ws.aconnect_ws(f"http://{lms.api_host}/system") as ws:
            await ws.send_json({"authVersion": 1, "clientIdentifier": identifier, "clientPasskey": passkey})
            assert (await ws.receive_json())["success"] is True
        # Without the token: SDK 1.5 sends random credentials and gets a bare ValueError, 1.6 sends none (or its
        # own from LMSTUDIO_API_TOKEN, unset here) and gets LMStudioServerError ("Authentication failed").
        with anyio.fail_after(5), pytest.raises((ValueError, lmstudio.LMStudioServerError)):
            async with lmstudio.AsyncClient(lms.api_host):
                pass


async def test_unscripted_the_model_calls_the_first_tool_once_then_reports(client: lmstudio.AsyncClient) -> None:
    def divide(numerator: float, denominator: float) -> float:
        """Divide two numbers."""
        return numerator / (denominator or 1.0)

    llm = await client.llm.model("fake-echo-1b")
    rounds: list[lmstudio.PredictionRoundResult] = []
    result = await llm.act("Divide 1 by 2", [divide], on_prediction_completed=rounds.append)
    assert result.rounds == 2
    assert [r.content for r in rounds] == ["Calling divide.", "The tool returned: 0.0"]
