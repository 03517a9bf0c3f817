"""Hunt (turn 3) cases 13-17, which passed, kept as regression tests: the real server over stdio (a subprocess,
raw JSON-RPC lines) against the emulator in this process."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import pytest

import mcp_lmstudio.testing._prediction as emulated_prediction
from mcp_lmstudio.testing import LMStudioEmulator, Reply
from mcp_lmstudio.testing._protocol import EndpointError, error_payload
from tests.stdio_support import RawStdioSession, raw_stdio_server

pytestmark = pytest.mark.anyio


async def read_for(server: RawStdioSession, seconds: float) -> list[dict[str, Any]]:
    """Every message the server writes within `seconds`."""
    start = len(server.stdout_lines)
    with anyio.move_on_after(seconds):
        while True:
            await server.read_message()
    return [json.loads(line) for line in server.stdout_lines[start:]]


async def read_until(server: RawStdioSession, ids: set[Any], seconds: float = 30) -> None:
    with anyio.fail_after(seconds):
        while not ids <= server.responses.keys():
            await server.read_message()


def text(response: dict[str, Any]) -> str:
    return "".join(block.get("text", "") for block in response["result"]["content"])


CRASH = "The model has crashed without additional information. (Exit code: null)"


async def test_13_an_engine_crash_mid_stream_ends_both_calls_clearly_and_the_next_reloads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crashing = {"on": False}
    send = emulated_prediction.Prediction._send_fragment

    async def send_then_crash(self: Any, content: str, reasoning_type: str, tokens: int) -> None:
        await send(self, content, reasoning_type, tokens)
        if not crashing["on"]:
            return
        if self.record.fragments >= 3 and self.emulator.running_count >= 2:
            self.emulator.unload(self.instance.identifier)  # the engine process is gone
            raise EndpointError(error_payload(CRASH))
        if self.instance.identifier not in self.emulator.loaded:
            raise EndpointError(error_payload(CRASH))

    monkeypatch.setattr(emulated_prediction.Prediction, "_send_fragment", send_then_crash)
    async with LMStudioEmulator(reply="one two three four five six seven eight nine ten", token_delay=0.05) as lms:
        async with raw_stdio_server(lms.api_host, "--timeout", "20") as server:
            with anyio.fail_after(30):
                await server.initialize()
                await server.call_tool("generate", {"prompt": "warm up", "model": "fake-echo-1b"})
            crashing["on"] = True
            for i in (1, 2):
                params = {"name": "generate_stream", "arguments": {"prompt": f"p{i}", "model": "fake-echo-1b"}}
                await server.send(
                    {
                        "jsonrpc": "2.0",
                        "id": f"c{i}",
                        "method": "tools/call",
                        "params": {**params, "_meta": {"progressToken": i}},
                    }
                )
            await read_until(server, {"c1", "c2"})
            for key in ("c1", "c2"):
                assert server.responses[key]["result"]["isError"] is True and "crashed" in text(server.responses[key])
            crashing["on"] = False
            with anyio.fail_after(30):
                after = await server.call_tool("generate", {"prompt": "after the crash", "model": "fake-echo-1b"})
            assert after["result"]["isError"] is False and text(after).startswith("one two three")
            assert "fake-echo-1b" in lms.loaded  # loaded again, just in time


async def test_14_a_multi_megabyte_answer_arrives_intact_plain_and_streamed() -> None:
    fragments = [f"{i:05d}{'abcdefghijklmnop' * 1023}\n" for i in range(384)]  # 6 MiB in 16 KiB fragments
    expected = "".join(fragments)
    async with LMStudioEmulator(reply=Reply("", fragments=fragments)) as lms:
        async with raw_stdio_server(lms.api_host, "--timeout", "120") as server:
            with anyio.fail_after(30):
                await server.initialize()
            for number, tool in enumerate(("generate", "generate_stream"), start=10):
                first = len(server.notifications)
                params = {"name": tool, "arguments": {"prompt": "dump"}, "_meta": {"progressToken": "big"}}
                await server.send({"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": params})
                await read_until(server, {number}, 120)
                result = server.responses[number]["result"]
                assert text(server.responses[number]) == expected and result["structuredContent"]["text"] == expected
                if tool == "generate_stream":
                    streamed = "".join(
                        note["params"].get("message") or ""
                        for note in server.notifications[first:]
                        if note.get("method") == "notifications/progress" and note["params"]["progress"] >= 1
                    )
                    assert streamed == expected
            with anyio.fail_after(10):
                assert (await server.request("ping"))["result"] == {}


async def test_15_a_cancelled_call_gets_no_answer_and_stray_cancels_are_ignored() -> None:
    def script(record: Any) -> str:
        return "ok" if record.last_user_text == "quick" else "w " * 200

    async with LMStudioEmulator(reply=script, token_delay=0.05) as lms:
        async with raw_stdio_server(lms.api_host) as server:
            with anyio.fail_after(30):
                await server.initialize()
                await server.call_tool("generate", {"prompt": "quick"})
            params = {"name": "generate", "arguments": {"prompt": "long"}, "_meta": {"progressToken": "pt"}}
            await server.send({"jsonrpc": "2.0", "id": "call-1", "method": "tools/call", "params": params})
            await lms.wait_for(lambda: any(p.last_user_text == "long" and p.fragments > 3 for p in lms.predictions), 10)
            cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled"}
            await server.send({**cancel, "params": {"requestId": "call-1", "reason": "user pressed Esc"}})
            record = next(p for p in lms.predictions if p.last_user_text == "long")
            await lms.wait_for(lambda: record.finished, 5)
            for stray in ({"requestId": "call-1"}, {"requestId": 1}, {"requestId": 99999}, {"requestId": "never"}, {}):
                await server.send({**cancel, "params": stray})
            later = await read_for(server, 2.5)
            assert [m for m in later if "id" in m and "method" not in m] == []
            assert record.cancelled
            with anyio.fail_after(5):
                assert (await server.request("ping"))["result"] == {}


async def test_16_a_burst_of_tasks_on_parallel_slots_with_a_third_cancelled() -> None:
    count, cancelled = 24, 8
    async with LMStudioEmulator(token_delay=0.01, max_parallel_predictions=4) as lms:
        async with raw_stdio_server(lms.api_host) as server:
            with anyio.fail_after(30):
                await server.initialize()
            for i in range(count):
                params = {
                    "name": "generate",
                    "arguments": {"prompt": f"task {i} " + "w " * 20},
                    "task": {"ttl": 600000},
                }
                await server.send({"jsonrpc": "2.0", "id": f"t{i}", "method": "tools/call", "params": params})
            await read_until(server, {f"t{i}" for i in range(count)})
            task_ids = [server.responses[f"t{i}"]["result"]["task"]["taskId"] for i in range(count)]
            with anyio.fail_after(60):
                for task_id in task_ids[count - cancelled :]:
                    await server.request("tasks/cancel", {"taskId": task_id})
                for i, task_id in enumerate(task_ids[: count - cancelled]):
                    assert f"task {i} " in text(await server.request("tasks/result", {"taskId": task_id}))
                statuses = [task["status"] for task in (await server.request("tasks/list"))["result"]["tasks"]]
            assert sorted(statuses) == ["cancelled"] * cancelled + ["completed"] * (count - cancelled)
            await anyio.sleep(0.3)
            assert lms.running_count == lms.queued_count == 0 and lms.peak_concurrent_predictions <= 4


@pytest.mark.parametrize("state", ["JIT load in progress", "call queued for a slot", "task generating"])
async def test_17_stdin_eof_ends_the_server_within_2_s_in_every_waiting_state(state: str) -> None:
    def call(request_id: int, model: str = "fake-echo-1b", task: bool = False) -> dict[str, Any]:
        params: dict[str, Any] = {"name": "generate", "arguments": {"prompt": "x", "model": model}}
        return {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tools/call",
            "params": params | ({"task": {"ttl": 60000}} if task else {}),
        }

    async with LMStudioEmulator(
        reply="word " * 400, token_delay=0.05, load_delay=6.0, max_parallel_predictions=1
    ) as lms:
        async with raw_stdio_server(lms.api_host) as server:
            with anyio.fail_after(30):
                await server.initialize()
                if state == "JIT load in progress":
                    lms.unload_all()
                    await server.send(call(2, model="fake-unloaded-7b"))
                    await anyio.sleep(1.5)
                elif state == "call queued for a slot":
                    await server.send(call(2))
                    await server.send(call(3))
                    await lms.wait_for(lambda: lms.queued_count == 1 and lms.running_count == 1, 10)
                else:
                    await server.send(call(2, task=True))
                    await read_until(server, {2})
                    await lms.wait_for(lambda: lms.running_count == 1, 10)
            started = time.monotonic()
            await server.close_stdin()
            with anyio.fail_after(10):
                status = await server.drain_until_exit()
            assert status == 0 and time.monotonic() - started <= 2.0
            await anyio.sleep(0.3)
            assert lms.running_count == lms.queued_count == 0
