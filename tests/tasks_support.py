"""Clients for MCP Tasks in tests: the real `mcp` Client with a tasks client extension (2026-07-28), and raw
JSON-RPC peers for 2025-11-25, whose `CreateTaskResult` the SDK client cannot receive (it validates a
2025-11-25 `tools/call` result as `CallToolResult` only)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio
import mcp_types
from mcp import Client, MCPError
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.session import ClientSession
from mcp.server.mcpserver import MCPServer
from mcp.shared._context_streams import create_context_streams
from mcp.shared.message import SessionMessage
from mcp_types import CallToolResult, Request, RequestParams, Result
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ConfigDict, Field, TypeAdapter

TASKS = "io.modelcontextprotocol/tasks"
TERMINAL = {"completed", "failed", "cancelled"}
_ANY_RESULT = TypeAdapter(dict[str, Any])


class TaskIdParams(RequestParams):
    model_config = ConfigDict(populate_by_name=True)
    task_id: str = Field(alias="taskId")


class TaskRequest(Request[TaskIdParams, str]):
    """`tasks/get`, `tasks/cancel`, ...: the SDK puts `params.taskId` in the `Mcp-Name` header (SEP-2663)."""

    method: str
    params: TaskIdParams
    name_param = "taskId"


class CreatedTask(Result):
    """A 2026-07-28 `CreateTaskResult`, as the client receives it."""

    model_config = ConfigDict(populate_by_name=True)
    result_type: Literal["task"] = Field(alias="resultType")
    task_id: str = Field(alias="taskId")
    status: str
    status_message: str | None = Field(default=None, alias="statusMessage")
    created_at: str = Field(alias="createdAt")
    last_updated_at: str = Field(alias="lastUpdatedAt")
    ttl_ms: int | None = Field(alias="ttlMs")
    poll_interval_ms: int | None = Field(default=None, alias="pollIntervalMs")


async def task_request(session: ClientSession, method: str, task_id: str) -> dict[str, Any]:
    """Send `method` for `task_id`; the raw result (an error raises `MCPError`)."""
    request = TaskRequest(method=method, params=TaskIdParams(task_id=task_id))
    return await session.send_request(request, _ANY_RESULT)


async def poll(session: ClientSession, task_id: str, *, interval: float = 0.01) -> dict[str, Any]:
    """`tasks/get` until the task is terminal."""
    with anyio.fail_after(20):
        while True:
            task = await task_request(session, "tasks/get", task_id)
            if task["status"] in TERMINAL:
                return task
            await anyio.sleep(interval)  # polling is the protocol: there is no event to wait on


class PollingTasksClient(ClientExtension):
    """Declares the tasks extension; a task result is polled to its end and returned as the call's result."""

    identifier = TASKS

    def __init__(self) -> None:
        self.created: list[CreatedTask] = []

    def claims(self) -> list[ResultClaim[Any]]:
        modern = frozenset(MODERN_PROTOCOL_VERSIONS)
        return [ResultClaim(result_type="task", model=CreatedTask, resolve=self._resolve, protocol_versions=modern)]

    async def _resolve(self, created: CreatedTask, ctx: ClaimContext) -> CallToolResult:
        self.created.append(created)
        task = await poll(ctx.session, created.task_id)
        if task["status"] == "completed":
            return CallToolResult.model_validate(task["result"], by_name=False)
        raise MCPError(code=-1, message=f"task {task['status']}: {task.get('error')}")


async def start_task(client: Client, tool: str, arguments: dict[str, Any]) -> CreatedTask:
    """Call `tool` and return the task it started (the server must answer with a task)."""
    result = await client.session.call_tool(tool, arguments, allow_claimed=True)
    assert isinstance(result, CreatedTask), result
    return result


# -- 2025-11-25: raw JSON-RPC ---------------------------------------------------------------------------------


Send = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class LegacyPeer:
    """A 2025-11-25 client speaking raw JSON-RPC through `send(method, params) -> response message`."""

    def __init__(self, send: Send) -> None:
        self.send = send

    async def initialize(self) -> dict[str, Any]:
        client = {"name": "t", "version": "0"}
        params = {"protocolVersion": "2025-11-25", "capabilities": {"tasks": {}}, "clientInfo": client}
        return await self.result("initialize", params)

    async def result(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        response = await self.send(method, params)
        assert "result" in response, response
        return dict(response["result"])

    async def start(self, tool: str, arguments: dict[str, Any], ttl: int | None = 60_000) -> dict[str, Any]:
        result = await self.result("tools/call", {"name": tool, "arguments": arguments, "task": {"ttl": ttl}})
        return dict(result["task"])

    async def poll(self, task_id: str) -> dict[str, Any]:
        with anyio.fail_after(20):
            while True:
                task = await self.result("tasks/get", {"taskId": task_id})
                if task["status"] in TERMINAL:
                    return task
                await anyio.sleep(0.01)  # polling is the protocol: there is no event to wait on


@asynccontextmanager
async def legacy_in_memory(server: MCPServer[Any]) -> AsyncIterator[LegacyPeer]:
    """The server's low-level loop on memory streams, driven by raw JSON-RPC (as over stdio, minus the pipe)."""
    to_server, server_reads = create_context_streams[SessionMessage | Exception](32)
    server_writes, from_server = create_context_streams[SessionMessage](32)
    waiting: dict[int, anyio.Event] = {}
    responses: dict[int, dict[str, Any]] = {}
    next_id = 0

    async def read_responses() -> None:
        async for message in from_server:
            data = message.message.model_dump(by_alias=True, mode="json", exclude_none=True)
            if "id" in data and data["id"] in waiting:
                responses[data["id"]] = data
                waiting.pop(data["id"]).set()

    async def send(method: str, params: dict[str, Any]) -> dict[str, Any]:
        nonlocal next_id
        next_id += 1
        request_id, done = next_id, anyio.Event()
        waiting[request_id] = done
        raw = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        await to_server.send(SessionMessage(mcp_types.jsonrpc_message_adapter.validate_python(raw, by_name=False)))
        with anyio.fail_after(20):
            await done.wait()
        return responses.pop(request_id)

    lowlevel = server._lowlevel_server
    async with to_server, server_reads, server_writes, from_server, anyio.create_task_group() as tg:
        tg.start_soon(lambda: lowlevel.run(server_reads, server_writes, lowlevel.create_initialization_options()))
        tg.start_soon(read_responses)
        peer = LegacyPeer(send)
        await peer.initialize()
        await to_server.send(
            SessionMessage(
                mcp_types.jsonrpc_message_adapter.validate_python(
                    {"jsonrpc": "2.0", "method": "notifications/initialized"}, by_name=False
                )
            )
        )
        yield peer
        await to_server.aclose()
        tg.cancel_scope.cancel()
