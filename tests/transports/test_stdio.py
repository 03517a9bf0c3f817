"""The server as a stdio subprocess: the real `mcp` client, raw JSON-RPC, stdout purity and shutdown."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.types import TextContent

from mcp_lmstudio.testing import LMStudioEmulator
from tests.stdio_support import assert_only_json_rpc, raw_stdio_server, server_command, server_params

pytestmark = pytest.mark.anyio


async def test_the_real_client_lists_and_calls_every_tool_over_stdio(emulator: LMStudioEmulator) -> None:
    streamed: list[str] = []
    loading: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if progress >= 1 and message:
            streamed.append(message)

    async def on_load_progress(progress: float, total: float | None, message: str | None) -> None:
        loading.append(message or "")

    emulator.token_delay, emulator.load_delay = 0.03, 0.2
    with anyio.fail_after(30):
        async with Client(server_params(emulator.api_host)) as client:
            assert sorted(tool.name for tool in (await client.list_tools()).tools) == [
                "embed", "generate", "generate_stream", "list_models", "load_model", "structured_generate",
                "unload_model",
            ]  # fmt: skip
            models = await client.call_tool("list_models", {})
            answer = await client.call_tool("generate", {"prompt": "over stdio"})
            stream = await client.call_tool(
                "generate_stream", {"prompt": "one two three"}, progress_callback=on_progress
            )
            structured = await client.call_tool(
                "structured_generate",
                {"prompt": "x", "json_schema": {"type": "object", "properties": {"n": {"type": "integer"}}}},
            )
            loaded = await client.call_tool(
                "load_model", {"model": "fake-unloaded-7b", "context_length": 8192}, progress_callback=on_load_progress
            )
            embedded = await client.call_tool("embed", {"input": ["a", "b"]})
            unloaded = await client.call_tool("unload_model", {"identifier": "fake-unloaded-7b"})
    assert models.structured_content is not None and len(models.structured_content["models"]) == 4
    assert loaded.structured_content is not None and loaded.structured_content["context_length"] == 8192
    assert loading[-1] == "Loading model fake-unloaded-7b: 100%"
    assert embedded.structured_content is not None and embedded.structured_content["dimensions"] == 768
    assert (unloaded.is_error, "fake-unloaded-7b" in emulator.instances) == (False, False)
    assert answer.content == [TextContent(type="text", text="You said: over stdio")]
    assert structured.structured_content == {"n": 0}
    assert stream.structured_content is not None
    assert stream.structured_content["text"] == "You said: one two three"
    assert len(streamed) > 1  # the text arrived in pieces while it was generated
    assert emulator.connections["llm"] == 1


async def test_a_whole_session_writes_only_json_rpc_to_stdout(emulator: LMStudioEmulator) -> None:
    emulator.unknown_packets = True  # the lmstudio SDK warns (warnings.warn) about each one
    with anyio.fail_after(30):
        async with raw_stdio_server(emulator.api_host, "--log-level", "DEBUG") as server:
            init = await server.initialize()
            assert init["result"]["serverInfo"]["name"] == "mcp-lmstudio"
            await server.request("tools/list")
            await server.call_tool("generate", {"prompt": "hello"})
            await server.call_tool("generate", {"prompt": "x", "model": "nope"})
            await server.call_tool("generate", {"prompt": "x", "temperature": -3})
            await server.call_tool("structured_generate", {"prompt": "x", "regex": "a+"})
            await server.call_tool("no_such_tool", {})
            await emulator.restart()  # the SDK logs websocket failures: they must go to stderr
            await server.call_tool("generate", {"prompt": "after restart"})
            emulator.reply, emulator.token_delay = " ".join(["w"] * 500), 0.01
            await server.send(
                {
                    "jsonrpc": "2.0",
                    "id": 50,
                    "method": "tools/call",
                    "params": {"name": "generate", "arguments": {"prompt": "drop"}},
                }
            )
            await emulator.wait_for(lambda: emulator.predictions[-1].fragments > 3)
            await emulator.drop_connections()
            while 50 not in server.responses:
                await server.read_message()
            await server.close_stdin()
            status = await server.drain_until_exit()
    assert status == 0
    assert len(server.responses) == 9
    assert server.responses[50]["result"]["isError"] is True
    assert_only_json_rpc(server.stdout_lines)


@pytest.mark.parametrize("ending", ["eof", "sigterm", "sigint"])
async def test_shutdown_is_clean_and_prompt(emulator: LMStudioEmulator, ending: str) -> None:
    async with raw_stdio_server(emulator.api_host) as server:
        with anyio.fail_after(30):
            await server.initialize()
            response = await server.call_tool("generate", {"prompt": "warm up"})
            assert response["result"]["isError"] is False
            assert emulator.open_sockets == 5
        started = time.monotonic()
        if ending == "eof":
            await server.close_stdin()
        else:
            server.signal(signal.SIGTERM if ending == "sigterm" else signal.SIGINT)
        with anyio.fail_after(10):
            status = await server.drain_until_exit()
        elapsed = time.monotonic() - started
        with anyio.fail_after(5):
            await emulator.wait_for(lambda: emulator.open_sockets == 0)
    assert status == 0
    assert elapsed < 2.0
    assert_only_json_rpc(server.stdout_lines)


@pytest.mark.parametrize("ending", ["eof", "sigterm", "sigint"])
async def test_shutdown_cancels_a_prediction_in_flight(emulator: LMStudioEmulator, ending: str) -> None:
    emulator.reply = " ".join(["long"] * 2000)
    emulator.token_delay = 0.01
    async with raw_stdio_server(emulator.api_host) as server:
        with anyio.fail_after(30):
            await server.initialize()
            await server.send(
                {
                    "jsonrpc": "2.0",
                    "id": 99,
                    "method": "tools/call",
                    "params": {"name": "generate", "arguments": {"prompt": "go"}},
                }
            )
            await emulator.wait_for(lambda: bool(emulator.predictions) and emulator.predictions[0].fragments > 2)
            started = time.monotonic()
            if ending == "eof":
                await server.close_stdin()
            else:
                server.signal(signal.SIGTERM if ending == "sigterm" else signal.SIGINT)
            assert await server.drain_until_exit() == 0
            assert time.monotonic() - started < 2.0
            await emulator.wait_for(lambda: emulator.predictions[0].finished)
    assert emulator.predictions[0].cancelled
    assert emulator.predictions[0].fragments < 2000


async def test_stdin_from_a_file_falls_back_to_the_sdk_transport(emulator: LMStudioEmulator, tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "file", "version": "0"}}
    lines = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    requests.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    with requests.open("rb") as stdin:
        with anyio.fail_after(30):
            completed = await anyio.run_process(server_command(emulator.api_host), stdin=stdin, check=False)
    responses = [json.loads(line) for line in completed.stdout.splitlines()]
    assert completed.returncode == 0
    # initialize is answered before the next line is read; EOF right after may cancel tools/list in flight.
    assert responses[0]["id"] == 1 and responses[0]["result"]["serverInfo"]["name"] == "mcp-lmstudio"
    assert all(response["jsonrpc"] == "2.0" for response in responses)


async def test_a_line_with_invalid_utf8_is_still_answered(emulator: LMStudioEmulator) -> None:
    async with raw_stdio_server(emulator.api_host) as server:
        with anyio.fail_after(30):
            await server.initialize()
            assert server.process.stdin is not None
            request = b'{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "generate", '
            await server.process.stdin.send(request + b'"arguments": {"prompt": "caf\xe9"}}}\n')  # Latin-1 byte
            while 7 not in server.responses:
                await server.read_message()
    assert server.responses[7]["result"]["content"][0]["text"].startswith("You said: caf")
