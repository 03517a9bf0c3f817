"""`structured_generate` with `think_first`: reason unconstrained, then write the JSON under the schema."""

from __future__ import annotations

import json

import anyio
import pytest
from mcp import Client

from mcp_lmstudio.models.think_first import ANSWER_INSTRUCTION
from mcp_lmstudio.server.app import create_server
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import LMStudioEmulator, PredictionRecord, Reply
from tests.stdio_support import assert_only_json_rpc, raw_stdio_server
from tests.support import PNG_B64, USER_SCHEMA
from tests.tasks_support import PollingTasksClient, poll, start_task

pytestmark = pytest.mark.anyio

THINKING = "The user is Ada Lovelace, and her id must be an integer."
PLAN = "Plan: name Ada, user_id 1815."
ANSWER = {"user_id": 1815, "name": "Ada"}


def reasoning_model(record: PredictionRecord) -> Reply:
    """Thinks and plans when free; under the schema (where LM Studio turns thinking off) writes the JSON."""
    if record.structured is None:
        return Reply(PLAN, reasoning=THINKING)
    return Reply(json.dumps(ANSWER))


def plain_model(record: PredictionRecord) -> Reply:
    return Reply(PLAN if record.structured is None else json.dumps(ANSWER))


def _texts(history: list[dict[str, object]]) -> list[tuple[object, str]]:
    return [
        (message["role"], "".join(part["text"] for part in message["content"] if part["type"] == "text"))  # type: ignore[attr-defined, index]
        for message in history
    ]


async def test_a_reasoning_model_thinks_first_then_answers_under_the_schema(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    emulator.reply = reasoning_model
    result = await mcp_client.call_tool(
        "structured_generate",
        {"prompt": "Who wrote the first program?", "json_schema": USER_SCHEMA, "think_first": True},
    )
    assert not result.is_error
    json_text, reasoning = (block.text for block in result.content)  # type: ignore[union-attr]
    assert json.loads(json_text) == ANSWER == result.structured_content
    assert reasoning == f"{THINKING}\n\n{PLAN}"
    thinking, answering = emulator.predictions
    assert thinking.structured is None  # the first step is free
    assert answering.structured is not None and answering.structured["jsonSchema"] == USER_SCHEMA
    # The second step sees the question, the request to think, the reasoning, and the request for JSON.
    roles_and_texts = _texts(answering.history)
    assert [role for role, _text in roles_and_texts] == ["user", "assistant", "user"]
    assert roles_and_texts[0][1].startswith("Who wrote the first program?\n\nBefore answering, think")
    assert '"user_id"' in roles_and_texts[0][1]  # the schema is shown to the thinking step
    assert roles_and_texts[1:] == [("assistant", f"{THINKING}\n\n{PLAN}"), ("user", ANSWER_INSTRUCTION)]
    assert _texts(thinking.history) == roles_and_texts[:1]
    assert thinking.identifier == answering.identifier


async def test_a_non_reasoning_model_plans_instead(emulator: LMStudioEmulator, mcp_client: Client) -> None:
    emulator.reply = plain_model
    result = await mcp_client.call_tool(
        "structured_generate", {"prompt": "Name a user.", "json_schema": USER_SCHEMA, "think_first": True}
    )
    assert [block.text for block in result.content] == [json.dumps(ANSWER), PLAN]  # type: ignore[union-attr]


async def test_without_think_first_there_is_one_prediction_and_one_text(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    emulator.reply = reasoning_model
    result = await mcp_client.call_tool("structured_generate", {"prompt": "Name a user.", "json_schema": USER_SCHEMA})
    assert len(result.content) == 1 and len(emulator.predictions) == 1


async def test_both_steps_report_one_rising_progress_sequence(emulator: LMStudioEmulator, mcp_client: Client) -> None:
    emulator.reply = reasoning_model
    seen: list[float] = []

    async def record(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    result = await mcp_client.call_tool(
        "structured_generate",
        {"prompt": "Name a user.", "json_schema": USER_SCHEMA, "think_first": True},
        progress_callback=record,
    )
    assert not result.is_error
    assert seen == sorted(set(seen)) and len(seen) >= 3
    first_step_tokens = emulator.predictions[0].fragments
    assert seen[-1] > first_step_tokens  # the JSON step's tokens continue from the thinking step's


async def test_one_time_limit_covers_both_steps(emulator: LMStudioEmulator) -> None:
    emulator.reply = plain_model
    emulator.token_delay = 0.1  # the plan takes ~0.5 s and the JSON ~0.4 s: each fits 0.7 s alone, not both
    async with Client(create_server(Settings(host=emulator.api_host, timeout=0.7))) as mcp:
        result = await mcp.call_tool(
            "structured_generate", {"prompt": "Name a user.", "json_schema": USER_SCHEMA, "think_first": True}
        )
    assert result.is_error
    assert "0.7 s time limit, which covers both think_first steps" in result.content[0].text  # type: ignore[union-attr]
    assert "writing the JSON" in result.content[0].text  # type: ignore[union-attr]
    thinking, answering = emulator.predictions
    assert (thinking.stop_reason, answering.cancelled) == ("eosFound", True)
    assert emulator.running_predictions == []


@pytest.mark.parametrize("step", [0, 1])
async def test_cancelling_in_either_step_stops_that_prediction_and_starts_no_other(
    emulator: LMStudioEmulator, mcp_client: Client, step: int
) -> None:
    emulator.reply = plain_model
    emulator.token_delay = 0.05
    arguments = {"prompt": "Name a user.", "json_schema": USER_SCHEMA, "think_first": True}
    async with anyio.create_task_group() as tg:
        tg.start_soon(mcp_client.call_tool, "structured_generate", arguments)
        # Cancel once the step's prediction has sent its first fragment.
        await emulator.wait_for(lambda: len(emulator.predictions) > step and emulator.predictions[step].fragments > 0)
        tg.cancel_scope.cancel()
    with anyio.fail_after(5):
        await emulator.wait_for(lambda: emulator.running_count == 0)
    assert len(emulator.predictions) == step + 1
    assert emulator.predictions[-1].cancelled


async def test_think_first_over_stdio(emulator: LMStudioEmulator) -> None:
    emulator.reply = reasoning_model
    async with raw_stdio_server(emulator.api_host) as server:
        await server.initialize()
        response = await server.call_tool(
            "structured_generate", {"prompt": "Name a user.", "json_schema": USER_SCHEMA, "think_first": True}
        )
        await server.close_stdin()
        assert await server.drain_until_exit() == 0
        assert_only_json_rpc(server.stdout_lines)
    content = response["result"]["content"]
    assert [block["text"] for block in content] == [json.dumps(ANSWER), f"{THINKING}\n\n{PLAN}"]
    assert response["result"]["structuredContent"] == ANSWER


async def test_reasoning_the_json_step_still_produced_is_kept_after_the_plan(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    emulator.reply = lambda record: Reply(PLAN) if record.structured is None else Reply(json.dumps(ANSWER), "Check.")
    arguments = {"prompt": "Name a user.", "json_schema": USER_SCHEMA, "think_first": True}
    result = await mcp_client.call_tool("structured_generate", arguments)
    assert result.content[1].text == f"{PLAN}\n\nCheck."  # type: ignore[union-attr]


async def test_a_conversation_ending_with_the_assistant_gets_the_request_as_a_new_user_turn(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    emulator.reply = plain_model
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Name a user."},
        {"role": "assistant", "content": "Ada?"},
    ]
    arguments = {"messages": messages, "json_schema": USER_SCHEMA, "think_first": True}
    assert not (await mcp_client.call_tool("structured_generate", arguments)).is_error
    roles = [role for role, _text in _texts(emulator.predictions[1].history)]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]


async def test_images_reach_both_steps(emulator: LMStudioEmulator, mcp_client: Client) -> None:
    emulator.reply = plain_model
    arguments = {
        "prompt": "Who is pictured?",
        "images": [{"data": PNG_B64, "mimeType": "image/png"}],
        "model": "fake-vision-2b",
        "json_schema": USER_SCHEMA,
        "think_first": True,
    }
    assert not (await mcp_client.call_tool("structured_generate", arguments)).is_error
    assert [record.image_count for record in emulator.predictions] == [1, 1]


async def test_as_an_mcp_task_both_steps_share_the_task_s_time_limit(emulator: LMStudioEmulator) -> None:
    emulator.reply, emulator.token_delay = plain_model, 0.1  # each step ~0.5 s; both do not fit 0.7 s
    server = create_server(Settings(host=emulator.api_host, timeout=0.1, task_timeout=0.7))
    arguments = {"prompt": "Name a user.", "json_schema": USER_SCHEMA, "think_first": True}
    async with Client(server, extensions=[PollingTasksClient()]) as client:
        created = await start_task(client, "structured_generate", arguments)
        task = await poll(client.session, created.task_id)
    message = task["result"]["content"][0]["text"]
    assert task["result"]["isError"] is True and "0.7 s time limit, which covers both think_first steps" in message
    assert "--task-timeout" in message  # the task's limit, not the per-call 0.1 s
    assert [record.cancelled for record in emulator.predictions] == [False, True]


async def test_as_an_mcp_task_the_result_carries_the_json_and_the_plan(emulator: LMStudioEmulator) -> None:
    emulator.reply = plain_model
    arguments = {"prompt": "Name a user.", "json_schema": USER_SCHEMA, "think_first": True}
    async with Client(create_server(Settings(host=emulator.api_host)), extensions=[PollingTasksClient()]) as client:
        created = await start_task(client, "structured_generate", arguments)
        task = await poll(client.session, created.task_id)
    assert [block["text"] for block in task["result"]["content"]] == [json.dumps(ANSWER), PLAN]
