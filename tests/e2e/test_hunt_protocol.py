"""Hunt (turn 3) cases 04-06: every request gets its JSON-RPC answer and no line ends the process, over stdio
and over Streamable HTTP. The real server runs as a subprocess; LM Studio is the emulator."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest

from mcp_lmstudio.testing import LMStudioEmulator
from mcp_lmstudio.transports.jsonrpc import MAX_MESSAGE_DEPTH
from tests.stdio_support import RawStdioSession, raw_stdio_server
from tests.transports.test_http import HEADERS, INITIALIZE, http_server

pytestmark = pytest.mark.anyio

BATCHES = {
    "two requests": [
        {"jsonrpc": "2.0", "id": 11, "method": "ping"},
        {"jsonrpc": "2.0", "id": 12, "method": "tools/list"},
    ],
    "empty": [],
}
ODD_IDS = [None, 1.5, True, {"n": 1}, 2.0]


def deep_call(depth: int) -> bytes:
    """A tools/call whose `stop` argument is nested `depth` deep (1,000 deep is a 2 KB line)."""
    nested = "[" * depth + "]" * depth
    return (
        '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"generate",'
        '"arguments":{"prompt":"x","stop":' + nested + "}}}"
    ).encode()


async def answer_to(server: RawStdioSession, line: bytes) -> dict[str, Any]:
    """Send `line` and return the next message the server writes (within 10 s, else the test fails)."""
    assert server.process.stdin is not None
    await server.process.stdin.send(line + b"\n")
    with anyio.fail_after(10):
        await server.read_message()
    message: dict[str, Any] = json.loads(server.stdout_lines[-1])
    return message


def assert_null_id_error(message: dict[str, Any], code: int) -> str:
    assert message["jsonrpc"] == "2.0" and message["id"] is None and message["error"]["code"] == code, message
    return str(message["error"]["message"])


async def test_stdio_answers_batches_odd_ids_and_deep_lines_and_keeps_serving(emulator: LMStudioEmulator) -> None:
    async with raw_stdio_server(emulator.api_host) as server:
        with anyio.fail_after(30):
            await server.initialize()
        for batch in BATCHES.values():  # case 04
            message = assert_null_id_error(await answer_to(server, json.dumps(batch).encode()), -32600)
            assert "batches (arrays) are not supported" in message
        for request_id in ODD_IDS:  # case 05
            line = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "ping"}).encode()
            message = assert_null_id_error(await answer_to(server, line), -32600)
            assert message.startswith("Invalid request: the id must be a string or an integer")
        for depth in (1000, 100_000):  # case 06
            message = assert_null_id_error(await answer_to(server, deep_call(depth)), -32700)
            assert f"more than {MAX_MESSAGE_DEPTH} levels deep" in message
        with anyio.fail_after(30):
            assert (await server.request("ping"))["result"] == {}
            result = (await server.call_tool("generate", {"prompt": "still here"}))["result"]
        assert result["content"][0]["text"] == "You said: still here"
        assert server.process.returncode is None


async def test_stdio_refuses_a_deep_argument_within_the_line_limit_as_a_tool_error(emulator: LMStudioEmulator) -> None:
    depth = MAX_MESSAGE_DEPTH - 3  # the deepest `stop` a line may carry: the tool refuses it, by name
    async with raw_stdio_server(emulator.api_host) as server:
        with anyio.fail_after(30):
            await server.initialize()
            message = await answer_to(server, deep_call(depth))
        assert message["id"] == 7 and message["result"]["isError"] is True
        assert message["result"]["content"][0]["text"].startswith("`stop[0]` must be a string")
        assert emulator.predictions == []


async def post(http: httpx.AsyncClient, url: str, body: bytes, session: str | None) -> httpx.Response:
    headers = {**HEADERS, "MCP-Protocol-Version": "2025-11-25"} | ({"Mcp-Session-Id": session} if session else {})
    return await http.post(url, content=body, headers=headers)


async def test_http_answers_batches_odd_ids_and_deep_bodies_with_json_rpc_errors(emulator: LMStudioEmulator) -> None:
    async with http_server(emulator.api_host) as (url, _process), httpx.AsyncClient(timeout=30) as http:
        initialized = await http.post(url, json=INITIALIZE, headers=HEADERS)
        assert initialized.status_code == 200
        session = initialized.headers.get("mcp-session-id")
        notified = b'{"jsonrpc": "2.0", "method": "notifications/initialized"}'
        assert (await post(http, url, notified, session)).status_code == 202
        for batch in BATCHES.values():
            response = await post(http, url, json.dumps(batch).encode(), session)
            assert response.status_code == 400
            assert "batches (arrays) are not supported" in assert_null_id_error(response.json(), -32600)
        for request_id in ODD_IDS:
            body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "ping"}).encode()
            response = await post(http, url, body, session)
            assert response.status_code == 400  # was 202 with no body: read as a notification
            assert "the id must be a string or an integer" in assert_null_id_error(response.json(), -32600)
        for depth in (1000, 100_000):
            response = await post(http, url, deep_call(depth), session)
            assert response.status_code == 400
            assert f"more than {MAX_MESSAGE_DEPTH} levels deep" in assert_null_id_error(response.json(), -32700)
        ping = await post(http, url, b'{"jsonrpc": "2.0", "id": 5, "method": "ping"}', session)
        assert ping.status_code == 200 and '"id":5' in ping.text.replace(" ", "")
