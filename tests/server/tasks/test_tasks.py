"""MCP Tasks in memory, in both protocol eras, against the emulator.

2026-07-28 through the real `mcp` Client with a tasks client extension; 2025-11-25 through raw JSON-RPC on
the server's own loop (the SDK client cannot receive a 2025-11-25 `CreateTaskResult`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from mcp import Client, MCPError
from mcp.client.extension import advertise
from mcp_types.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, MISSING_REQUIRED_CLIENT_CAPABILITY

from mcp_lmstudio.server.app import create_server
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import LMStudioEmulator
from tests.conformance_fixture import create_fixture_server
from tests.support import text_of
from tests.tasks_support import (
    TASKS,
    LegacyPeer,
    PollingTasksClient,
    legacy_in_memory,
    poll,
    start_task,
    task_request,
)

pytestmark = pytest.mark.anyio

SLOW_REPLY = " ".join(f"w{i}" for i in range(200))


@pytest.fixture
async def tasks_client(emulator: LMStudioEmulator) -> AsyncIterator[Client]:
    async with Client(create_server(Settings(host=emulator.api_host)), extensions=[PollingTasksClient()]) as client:
        yield client


@pytest.fixture
async def legacy(emulator: LMStudioEmulator) -> AsyncIterator[LegacyPeer]:
    async with legacy_in_memory(create_server(Settings(host=emulator.api_host))) as peer:
        yield peer


def result_body(result: dict[str, Any]) -> dict[str, Any]:
    """A tool result without the envelope keys that differ by path (`_meta`, `resultType`) and without its
    `response_id` (each call's own)."""
    body = {key: value for key, value in result.items() if key not in ("_meta", "resultType")}
    structured = body.get("structuredContent")
    if isinstance(structured, dict) and "response_id" in structured:
        body["structuredContent"] = {key: value for key, value in structured.items() if key != "response_id"}
    return body


# -- 2026-07-28 -----------------------------------------------------------------------------------------------


async def test_a_declared_call_becomes_a_task_whose_result_is_exactly_the_plain_call_result(
    tasks_client: Client, emulator: LMStudioEmulator
) -> None:
    created = await start_task(tasks_client, "generate", {"prompt": "as a task"})
    assert (created.status, created.ttl_ms, created.poll_interval_ms) == ("working", 4_200_000, 1000)
    task = await poll(tasks_client.session, created.task_id)
    assert task["status"] == "completed" and "error" not in task
    async with Client(create_server(Settings(host=emulator.api_host))) as plain:
        direct = await plain.call_tool("generate", {"prompt": "as a task"})
    assert result_body(task["result"]) == result_body(direct.model_dump(by_alias=True, mode="json", exclude_none=True))


async def test_the_client_library_resolves_a_task_transparently(emulator: LMStudioEmulator) -> None:
    polling = PollingTasksClient()
    async with Client(create_server(Settings(host=emulator.api_host)), extensions=[polling]) as client:
        for tool in ("generate", "generate_stream"):
            assert text_of(await client.call_tool(tool, {"prompt": tool})) == f"You said: {tool}"
        result = await client.call_tool("structured_generate", {"prompt": "json", "json_schema": {"type": "object"}})
        assert result.structured_content is not None
    assert len(polling.created) == 3  # every generation call ran as a task


async def test_the_status_message_carries_the_phase_and_tokens_so_far(
    tasks_client: Client, emulator: LMStudioEmulator
) -> None:
    emulator.reply, emulator.token_delay, emulator.prompt_processing_delay = SLOW_REPLY, 0.02, 0.3
    created = await start_task(tasks_client, "generate_stream", {"prompt": "slow"})
    seen: list[str] = []
    with anyio.fail_after(10):
        while not any("token" in message for message in seen):
            task = await task_request(tasks_client.session, "tasks/get", created.task_id)
            assert task["status"] == "working"
            seen.append(task.get("statusMessage", ""))
            await anyio.sleep(0.02)  # polling is the protocol
    assert any("prompt" in message.lower() for message in seen), seen  # the phase before the first token
    await task_request(tasks_client.session, "tasks/cancel", created.task_id)


async def test_a_tool_error_is_a_completed_task_with_is_error(tasks_client: Client) -> None:
    created = await start_task(tasks_client, "generate", {"prompt": "x", "model": "no-such-model"})
    task = await poll(tasks_client.session, created.task_id)
    assert task["status"] == "completed"
    assert task["result"]["isError"] is True and "no-such-model" in task["result"]["content"][0]["text"]


async def test_the_task_time_limit_cancels_the_prediction_and_ends_the_task(emulator: LMStudioEmulator) -> None:
    emulator.reply, emulator.token_delay = SLOW_REPLY, 0.05
    server = create_server(Settings(host=emulator.api_host, timeout=0.1, task_timeout=0.5))
    async with Client(server, extensions=[PollingTasksClient()]) as client:
        created = await start_task(client, "generate", {"prompt": "too long"})
        task = await poll(client.session, created.task_id)
    # The text generated before the limit comes back, with a note naming the task's limit and its flags.
    assert task["status"] == "completed" and task["result"]["isError"] is False
    answer, note = (block["text"] for block in task["result"]["content"])
    assert answer and SLOW_REPLY.startswith(answer)
    assert "0.5 s" in note and "--task-timeout" in note  # the task's limit, not the per-call 0.1 s
    assert task["result"]["structuredContent"]["stop_reason"] == "timeout"
    assert emulator.predictions[0].cancelled


async def test_cancel_stops_the_prediction_and_settles_to_cancelled(
    tasks_client: Client, emulator: LMStudioEmulator
) -> None:
    emulator.reply, emulator.token_delay = SLOW_REPLY, 0.05
    created = await start_task(tasks_client, "generate", {"prompt": "cancel me"})
    await emulator.wait_for(lambda: emulator.running_count == 1)
    assert await task_request(tasks_client.session, "tasks/cancel", created.task_id) == {
        "resultType": "complete",
        "_meta": {"io.modelcontextprotocol/serverInfo": tasks_client.server_info.model_dump(exclude_none=True)},
    }
    await emulator.wait_for(lambda: emulator.running_count == 0)
    assert emulator.predictions[0].cancelled
    task = await task_request(tasks_client.session, "tasks/get", created.task_id)
    assert task["status"] == "cancelled" and "result" not in task
    # Idempotent on a terminal task, as SEP-2663 asks.
    assert (await task_request(tasks_client.session, "tasks/cancel", created.task_id))["resultType"] == "complete"


async def test_a_finished_task_is_kept_for_its_ttl_then_forgotten(emulator: LMStudioEmulator) -> None:
    server = create_server(Settings(host=emulator.api_host, task_timeout=1.5, task_retention=0.5))
    async with Client(server, extensions=[PollingTasksClient()]) as client:
        await client.call_tool("generate", {"prompt": "connect first"})  # so that the task finishes well in time
        created = await start_task(client, "generate", {"prompt": "short-lived"})
        assert created.ttl_ms == 2000
        assert (await poll(client.session, created.task_id))["status"] == "completed"
        with anyio.fail_after(10), pytest.raises(MCPError) as gone:
            while True:
                await task_request(client.session, "tasks/get", created.task_id)
                await anyio.sleep(0.05)  # the TTL is wall-clock time; nothing to wait on
    assert gone.value.code == INVALID_PARAMS


async def test_many_concurrent_tasks_each_get_their_own_answer(
    tasks_client: Client, emulator: LMStudioEmulator
) -> None:
    emulator.token_delay = 0.005
    created = [await start_task(tasks_client, "generate", {"prompt": f"n{i}"}) for i in range(40)]
    results: dict[str, dict[str, Any]] = {}

    async def finish(task_id: str) -> None:
        results[task_id] = await poll(tasks_client.session, task_id, interval=0.05)

    async with anyio.create_task_group() as tg:
        for task in created:
            tg.start_soon(finish, task.task_id)
    for i, task in enumerate(created):
        assert results[task.task_id]["result"]["content"][0]["text"] == f"You said: n{i}"
    assert emulator.peak_concurrent_predictions > 1


async def test_without_the_extension_calls_are_plain_and_tasks_methods_are_refused(
    emulator: LMStudioEmulator,
) -> None:
    async with Client(create_server(Settings(host=emulator.api_host))) as client:
        assert text_of(await client.call_tool("generate", {"prompt": "plain"})) == "You said: plain"
        for method in ("tasks/get", "tasks/cancel"):
            with pytest.raises(MCPError) as refused:
                await task_request(client.session, method, "anything")
            assert refused.value.code == MISSING_REQUIRED_CLIENT_CAPABILITY


async def test_removed_methods_and_unknown_ids_answer_the_spec_codes(tasks_client: Client) -> None:
    for method, code in (("tasks/result", METHOD_NOT_FOUND), ("tasks/list", METHOD_NOT_FOUND)):
        with pytest.raises(MCPError) as refused:
            await task_request(tasks_client.session, method, "x")
        assert refused.value.code == code
    with pytest.raises(MCPError) as unknown:
        await task_request(tasks_client.session, "tasks/get", "no-such-task")
    assert unknown.value.code == INVALID_PARAMS and "no-such-task" in unknown.value.message


async def test_list_models_never_runs_as_a_task(emulator: LMStudioEmulator) -> None:
    async with Client(create_server(Settings(host=emulator.api_host)), extensions=[advertise(TASKS)]) as client:
        result = await client.session.call_tool("list_models", {}, allow_claimed=True)
        assert result.model_dump().get("result_type") != "task"


async def test_shutdown_cancels_running_tasks_and_their_predictions(emulator: LMStudioEmulator) -> None:
    emulator.reply, emulator.token_delay = SLOW_REPLY, 0.05
    tasks_before = len(asyncio.all_tasks())
    async with Client(create_server(Settings(host=emulator.api_host)), extensions=[PollingTasksClient()]) as client:
        for i in range(5):
            await start_task(client, "generate", {"prompt": f"running {i}"})
        await emulator.wait_for(lambda: emulator.running_count == 5)
    await emulator.wait_for(lambda: emulator.running_count == 0)
    assert all(record.cancelled for record in emulator.predictions)
    assert len(asyncio.all_tasks()) <= tasks_before


# -- 2025-11-25 -----------------------------------------------------------------------------------------------


async def test_legacy_capability_and_tool_task_support_are_advertised(emulator: LMStudioEmulator) -> None:
    server = create_server(Settings(host=emulator.api_host))
    async with legacy_in_memory(server) as peer:
        initialized = await peer.initialize()
        assert initialized["capabilities"]["tasks"] == {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
        tools = {tool["name"]: tool for tool in (await peer.result("tools/list", {}))["tools"]}
    assert {name: tool.get("execution") for name, tool in tools.items()} == {
        "generate": {"taskSupport": "optional"},
        "generate_stream": {"taskSupport": "optional"},
        "structured_generate": {"taskSupport": "optional"},
        "list_models": None,
        "load_model": None,
        "unload_model": None,
        "embed": None,
    }


async def test_legacy_task_create_poll_result_and_list(legacy: LegacyPeer) -> None:
    task = await legacy.start("generate", {"prompt": "legacy"})
    assert set(task) >= {"taskId", "status", "createdAt", "lastUpdatedAt", "ttl", "pollInterval"}
    assert "ttlMs" not in task and task["status"] == "working"
    result = await legacy.result("tasks/result", {"taskId": task["taskId"]})  # waits for the end
    assert result["content"] == [{"type": "text", "text": "You said: legacy"}]
    assert result["_meta"]["io.modelcontextprotocol/related-task"] == {"taskId": task["taskId"]}
    assert (await legacy.poll(task["taskId"]))["status"] == "completed"
    listed = (await legacy.result("tasks/list", {}))["tasks"]
    assert [entry["taskId"] for entry in listed] == [task["taskId"]]


async def test_legacy_tool_error_is_a_failed_task_whose_result_is_the_error(legacy: LegacyPeer) -> None:
    task = await legacy.start("generate", {"prompt": "x", "model": "no-such-model"})
    finished = await legacy.poll(task["taskId"])
    assert finished["status"] == "failed" and "no-such-model" in finished["statusMessage"]
    result = await legacy.result("tasks/result", {"taskId": task["taskId"]})
    assert result["isError"] is True


async def test_legacy_cancel_answers_the_cancelled_task_and_refuses_a_terminal_one(
    legacy: LegacyPeer, emulator: LMStudioEmulator
) -> None:
    emulator.reply, emulator.token_delay = SLOW_REPLY, 0.05
    task = await legacy.start("generate", {"prompt": "cancel"})
    await emulator.wait_for(lambda: emulator.running_count == 1)
    cancelled = await legacy.result("tasks/cancel", {"taskId": task["taskId"]})
    assert cancelled["status"] == "cancelled" and cancelled["taskId"] == task["taskId"]
    await emulator.wait_for(lambda: emulator.running_count == 0)
    assert emulator.predictions[0].cancelled
    again = await legacy.send("tasks/cancel", {"taskId": task["taskId"]})
    assert again["error"]["code"] == INVALID_PARAMS


async def test_legacy_refuses_a_task_for_a_tool_without_task_support(legacy: LegacyPeer) -> None:
    response = await legacy.send("tools/call", {"name": "list_models", "arguments": {}, "task": {}})
    assert response["error"]["code"] == METHOD_NOT_FOUND and "list_models" in response["error"]["message"]
    plain = await legacy.result("tools/call", {"name": "generate", "arguments": {"prompt": "no task"}})
    assert plain["content"][0]["text"] == "You said: no task"


async def test_legacy_unknown_task_is_invalid_params(legacy: LegacyPeer) -> None:
    for method in ("tasks/get", "tasks/result", "tasks/cancel"):
        response = await legacy.send(method, {"taskId": "nope"})
        assert response["error"]["code"] == INVALID_PARAMS


async def test_legacy_connections_never_see_each_others_tasks(emulator: LMStudioEmulator) -> None:
    server = create_server(Settings(host=emulator.api_host))
    async with legacy_in_memory(server) as first, legacy_in_memory(server) as second:
        mine = await first.start("generate", {"prompt": "mine"})
        assert (await second.result("tasks/list", {}))["tasks"] == []
        response = await second.send("tasks/get", {"taskId": mine["taskId"]})
        assert response["error"]["code"] == INVALID_PARAMS


async def test_a_json_rpc_error_during_the_work_is_a_failed_task_with_the_error_inlined() -> None:
    async with Client(create_fixture_server(), extensions=[PollingTasksClient()]) as client:
        created = await start_task(client, "protocol_error_job", {})
        task = await poll(client.session, created.task_id)
        assert task["status"] == "failed" and "result" not in task
        assert task["error"]["code"] == -32603 and "on purpose" in task["error"]["message"]
        # A tool error is not a failure: the task completes with the error result.
        tool_error = await poll(client.session, (await start_task(client, "failing_job", {})).task_id)
        assert tool_error["status"] == "completed" and tool_error["result"]["isError"] is True


async def test_a_required_task_tool_refuses_a_client_without_the_extension() -> None:
    async with Client(create_fixture_server()) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("failing_job", {})
    assert refused.value.code == MISSING_REQUIRED_CLIENT_CAPABILITY
