"""MCP Tasks over the real transports: the server as a subprocess on stdio and on Streamable HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp_types.jsonrpc import INVALID_PARAMS

from mcp_lmstudio.testing import LMStudioEmulator
from tests.stdio_support import assert_only_json_rpc, raw_stdio_server, server_params
from tests.support import text_of
from tests.tasks_support import LegacyPeer, PollingTasksClient, poll, start_task, task_request
from tests.transports.test_http import http_server

pytestmark = pytest.mark.anyio

SLOW_REPLY = " ".join(f"w{i}" for i in range(200))


async def test_modern_tasks_over_stdio(emulator: LMStudioEmulator) -> None:
    polling = PollingTasksClient()
    async with Client(server_params(emulator.api_host), extensions=[polling]) as client:
        assert text_of(await client.call_tool("generate", {"prompt": "stdio task"})) == "You said: stdio task"
        assert len(polling.created) == 1
        emulator.reply, emulator.token_delay = SLOW_REPLY, 0.05
        created = await start_task(client, "generate", {"prompt": "cancel over stdio"})
        await emulator.wait_for(lambda: emulator.running_count == 1)
        await task_request(client.session, "tasks/cancel", created.task_id)
        await emulator.wait_for(lambda: emulator.running_count == 0)
        assert (await poll(client.session, created.task_id))["status"] == "cancelled"
    assert emulator.predictions[-1].cancelled


async def test_legacy_tasks_over_stdio_and_shutdown_cancels_running_ones(emulator: LMStudioEmulator) -> None:
    async with raw_stdio_server(emulator.api_host) as raw:
        await raw.initialize()
        peer = LegacyPeer(raw.request)
        done = await peer.start("generate", {"prompt": "legacy stdio"})
        result = await peer.result("tasks/result", {"taskId": done["taskId"]})
        assert result["content"][0]["text"] == "You said: legacy stdio"
        emulator.reply, emulator.token_delay = SLOW_REPLY, 0.05
        for i in range(3):
            await peer.start("generate", {"prompt": f"running {i}"})
        await emulator.wait_for(lambda: emulator.running_count == 3)
        await raw.close_stdin()  # the client goes away with three tasks running
        with anyio.fail_after(10):
            assert await raw.drain_until_exit() == 0
    await emulator.wait_for(lambda: emulator.running_count == 0)
    assert [record.cancelled for record in emulator.predictions] == [False, True, True, True]
    assert_only_json_rpc(raw.stdout_lines)


# -- Streamable HTTP -------------------------------------------------------------------------------------------

HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


class LegacyHttpSession:
    """A raw 2025-11-25 Streamable HTTP session (its own `mcp-session-id`)."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http, self.url = http, url
        self.headers = dict(HEADERS)
        self.next_id = 0

    async def send(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        response = await self.http.post(self.url, json=body, headers=self.headers)
        if "mcp-session-id" in response.headers:
            self.headers["mcp-session-id"] = response.headers["mcp-session-id"]
            self.headers["mcp-protocol-version"] = "2025-11-25"
        return _json_rpc_response(response)

    async def open(self) -> LegacyPeer:
        peer = LegacyPeer(self.send)
        await peer.initialize()
        notified = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        await self.http.post(self.url, json=notified, headers=self.headers)
        return peer


def _json_rpc_response(response: httpx.Response) -> dict[str, Any]:
    if response.headers.get("content-type", "").startswith("application/json"):
        return dict(response.json())
    events = [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
    return next(event for event in events if "id" in event)


@asynccontextmanager
async def legacy_http(url: str) -> AsyncIterator[LegacyPeer]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield await LegacyHttpSession(http, url).open()


async def test_tasks_over_http_in_both_eras_and_sessions_never_see_each_others(emulator: LMStudioEmulator) -> None:
    async with http_server(emulator.api_host) as (url, _process):
        async with Client(url, extensions=[PollingTasksClient()]) as client:
            assert text_of(await client.call_tool("generate", {"prompt": "modern http"})) == "You said: modern http"
        async with legacy_http(url) as first, legacy_http(url) as second:
            task = await first.start("generate", {"prompt": "legacy http"})
            assert (await first.poll(task["taskId"]))["status"] == "completed"
            result = await first.result("tasks/result", {"taskId": task["taskId"]})
            assert result["content"][0]["text"] == "You said: legacy http"
            assert [entry["taskId"] for entry in (await first.result("tasks/list", {}))["tasks"]] == [task["taskId"]]
            assert (await second.result("tasks/list", {}))["tasks"] == []
            assert (await second.send("tasks/get", {"taskId": task["taskId"]}))["error"]["code"] == INVALID_PARAMS


@asynccontextmanager
async def modern_http_client(url: str, token: str) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, extensions=[PollingTasksClient()]) as client:
            yield client


async def test_a_task_is_bound_to_the_bearer_token_that_started_it(emulator: LMStudioEmulator) -> None:
    async with http_server(emulator.api_host) as (url, _process):
        async with modern_http_client(url, "alice") as alice, modern_http_client(url, "bob") as bob:
            created = await start_task(alice, "generate", {"prompt": "alice's"})
            assert (await poll(alice.session, created.task_id))["result"]["content"][0]["text"] == "You said: alice's"
            for method in ("tasks/get", "tasks/cancel"):
                with pytest.raises(MCPError) as refused:
                    await task_request(bob.session, method, created.task_id)
                assert refused.value.code == INVALID_PARAMS


async def test_sigterm_on_http_cancels_running_tasks_and_their_predictions(emulator: LMStudioEmulator) -> None:
    emulator.reply, emulator.token_delay = SLOW_REPLY, 0.05
    async with http_server(emulator.api_host) as (url, process), legacy_http(url) as peer:
        for i in range(2):
            await peer.start("generate", {"prompt": f"running {i}"})
        await emulator.wait_for(lambda: emulator.running_count == 2)
        process.terminate()
        with anyio.fail_after(10):
            assert await process.wait() == 0
    await emulator.wait_for(lambda: emulator.running_count == 0)
    assert all(record.cancelled for record in emulator.predictions)
