"""Streamable HTTP: the real `mcp` client over HTTP, DNS-rebinding protection, and the bearer token."""

from __future__ import annotations

import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx
import httpx2
import pytest
from anyio.abc import ByteReceiveStream, Process
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mcp_lmstudio.testing import LMStudioEmulator
from tests.support import closed_port, text_of

pytestmark = pytest.mark.anyio

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@asynccontextmanager
async def http_server(api_host: str, *extra: str, module: str = "mcp_lmstudio") -> AsyncIterator[tuple[str, Process]]:
    port = closed_port()
    command = [sys.executable, "-m", module, "--transport", "http", "--port", str(port), "--host", api_host]
    async with await anyio.open_process([*command, *extra]) as process:
        url = f"http://127.0.0.1:{port}/mcp"
        try:
            await wait_until_listening(url)
            yield url, process
        finally:
            if process.returncode is None:
                process.terminate()
                with anyio.fail_after(10):
                    await process.wait()


async def wait_until_listening(url: str) -> None:
    async with httpx.AsyncClient() as http:
        with anyio.fail_after(30):
            while True:
                try:
                    await http.get(url)
                    return
                except httpx.ConnectError:
                    await anyio.sleep(0.05)  # polling a port that has no event to wait on


async def test_the_real_client_calls_tools_over_http(emulator: LMStudioEmulator) -> None:
    async with http_server(emulator.api_host) as (url, _process):
        for mode in ("auto", "legacy"):
            async with Client(url, mode=mode) as client:  # type: ignore[arg-type]
                assert len((await client.list_tools()).tools) == 7
                result = await client.call_tool("generate", {"prompt": f"over http {mode}"})
                assert text_of(result) == f"You said: over http {mode}"
    assert emulator.connections["llm"] == 1  # one LM Studio session shared by both HTTP clients


async def test_dns_rebinding_is_refused(emulator: LMStudioEmulator) -> None:
    async with http_server(emulator.api_host) as (url, _process), httpx.AsyncClient() as http:
        response = await http.post(url, json=INITIALIZE, headers={**HEADERS, "Host": "attacker.example"})
        assert response.status_code in (400, 403, 421)
        allowed = await http.post(url, json=INITIALIZE, headers=HEADERS)
        assert allowed.status_code == 200


async def test_a_token_is_required_on_every_request(emulator: LMStudioEmulator) -> None:
    async with http_server(emulator.api_host, "--auth-token", "s3cret") as (url, _process):
        async with httpx.AsyncClient() as http:
            assert (await http.post(url, json=INITIALIZE, headers=HEADERS)).status_code == 401
            wrong = {**HEADERS, "Authorization": "Bearer wrong"}
            assert (await http.post(url, json=INITIALIZE, headers=wrong)).status_code == 401
        async with httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret"}) as authorised:
            async with Client(streamable_http_client(url, http_client=authorised)) as client:
                assert text_of(await client.call_tool("generate", {"prompt": "with token"})) == "You said: with token"


async def read_all(stream: ByteReceiveStream | None) -> bytes:
    assert stream is not None
    chunks = [chunk async for chunk in stream]
    return b"".join(chunks)


async def test_sigterm_stops_the_http_server_cleanly_and_stdout_stays_empty(emulator: LMStudioEmulator) -> None:
    async with http_server(emulator.api_host) as (url, process):
        async with Client(url) as client:
            await client.call_tool("generate", {"prompt": "warm"})
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(5):
            stdout, stderr = await read_all(process.stdout), await read_all(process.stderr)
            assert await process.wait() == 0
        with anyio.fail_after(5):
            await emulator.wait_for(lambda: emulator.open_sockets == 0)
    assert stdout == b""  # access logs and everything else go to stderr
    assert b"Traceback" not in stderr and b"ERROR" not in stderr
