"""Conversations through the real `mcp` client: `response_id`, `previous_response_id`, branching, `system`, files
not read again, unknown ids, across a restart of the server, over stdio and over HTTP (bound to the token)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from mcp_lmstudio.server import create_server
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import LMStudioEmulator, Reply
from tests.stdio_support import server_params
from tests.support import text_of
from tests.tasks_support import PollingTasksClient, poll, start_task
from tests.transports.test_http import http_server

pytestmark = pytest.mark.anyio


def _id(result: CallToolResult) -> str:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return str(result.structured_content["response_id"])


def _roles_and_texts(history: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["role"], "".join(p.get("text", "") for p in m["content"] if p["type"] == "text")) for m in history]


async def test_a_follow_up_replays_the_conversation_and_branches(emulator: LMStudioEmulator, tmp_path: Path) -> None:
    settings = Settings(host=emulator.api_host, history=f"sqlite:{tmp_path / 'h.sqlite3'}")
    async with Client(create_server(settings)) as client:
        first = _id(await client.call_tool("generate", {"prompt": "one", "system": "Be brief."}))
        second = _id(await client.call_tool("generate", {"prompt": "two", "previous_response_id": first}))
        assert _roles_and_texts(emulator.predictions[-1].history) == [
            ("system", "Be brief."), ("user", "one"), ("assistant", "You said: one"), ("user", "two"),
        ]  # fmt: skip
        branch = await client.call_tool("generate", {"prompt": "other", "previous_response_id": first})
        assert _roles_and_texts(emulator.predictions[-1].history)[-2:] == [
            ("assistant", "You said: one"),
            ("user", "other"),
        ]
        await client.call_tool("generate", {"prompt": "three", "previous_response_id": second})
    assert [t for _, t in _roles_and_texts(emulator.predictions[-1].history)] == [
        "Be brief.", "one", "You said: one", "two", "You said: two", "three",
    ]  # fmt: skip
    assert _id(branch) not in (first, second)


async def test_the_follow_up_uses_the_model_that_answered(emulator: LMStudioEmulator) -> None:
    async with Client(create_server(Settings(host=emulator.api_host, history="memory"))) as client:
        first = _id(await client.call_tool("generate", {"prompt": "hi", "model": "fake-vision-2b"}))
        await client.call_tool("generate", {"prompt": "again", "previous_response_id": first})
    assert emulator.predictions[-1].model == "fake-vision-2b"


async def test_files_read_in_a_turn_are_not_read_again(emulator: LMStudioEmulator, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("the launch code is 1234")
    settings = Settings(host=emulator.api_host, history="memory", allow_dirs=(str(tmp_path),))
    async with Client(create_server(settings)) as client:
        first = _id(await client.call_tool("generate", {"prompt": "read", "files": ["notes.txt"]}))
        (tmp_path / "notes.txt").unlink()
        follow = await client.call_tool("generate", {"prompt": "and the code?", "previous_response_id": first})
    assert (
        not follow.is_error and follow.structured_content is not None and follow.structured_content.get("files") is None
    )
    assert "the launch code is 1234" in _roles_and_texts(emulator.predictions[-1].history)[0][1]


async def test_reasoning_is_not_replayed(emulator: LMStudioEmulator) -> None:
    emulator.reply = Reply("Paris.", reasoning="secret thoughts")
    async with Client(create_server(Settings(host=emulator.api_host, history="memory"))) as client:
        first = _id(await client.call_tool("generate", {"prompt": "capital?"}))
        await client.call_tool("generate", {"prompt": "sure?", "previous_response_id": first})
    assert "secret thoughts" not in str(emulator.predictions[-1].history)


@pytest.mark.parametrize("history", ["memory", "off"])
async def test_an_unknown_id_says_so_and_nothing_is_generated(emulator: LMStudioEmulator, history: str) -> None:
    async with Client(create_server(Settings(host=emulator.api_host, history=history))) as client:
        result = await client.call_tool("generate", {"prompt": "x", "previous_response_id": "no-such-id"})
        plain = await client.call_tool("generate", {"prompt": "y"})
    assert result.is_error and emulator.predictions[0].last_user_text == "y"
    assert ("7 days" if history == "memory" else "--history off") in text_of(result)
    assert plain.structured_content is not None
    assert (plain.structured_content.get("response_id") is not None) == (history != "off")


async def test_previous_response_id_goes_with_prompt_not_messages(emulator: LMStudioEmulator) -> None:
    async with Client(create_server(Settings(host=emulator.api_host, history="memory"))) as client:
        first = _id(await client.call_tool("generate", {"prompt": "x"}))
        result = await client.call_tool(
            "generate", {"messages": [{"role": "user", "content": "y"}], "previous_response_id": first}
        )
    assert result.is_error and "`prompt`" in text_of(result)


async def test_conversations_survive_a_restart_of_the_server(emulator: LMStudioEmulator, tmp_path: Path) -> None:
    history = f"sqlite:{tmp_path / 'history.sqlite3'}"
    async with Client(server_params(emulator.api_host, "--history", history)) as client:
        first = _id(await client.call_tool("generate", {"prompt": "before the restart"}))
    async with Client(server_params(emulator.api_host, "--history", history)) as client:
        result = await client.call_tool("generate", {"prompt": "after", "previous_response_id": first})
    assert not result.is_error, text_of(result)
    assert ("user", "before the restart") in _roles_and_texts(emulator.predictions[-1].history)
    assert (tmp_path / "history.sqlite3").stat().st_mode & 0o077 == 0  # readable by the owner only


async def test_over_http_an_id_belongs_to_the_authorization_that_made_it(
    emulator: LMStudioEmulator, tmp_path: Path
) -> None:
    """Behind a proxy that passes each user's token (no --auth-token here), one user cannot continue another's."""
    history = f"sqlite:{tmp_path / 'history.sqlite3'}"

    async def call(token: str, arguments: dict[str, Any]) -> CallToolResult:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                return await client.call_tool("generate", arguments)

    async with http_server(emulator.api_host, "--history", history) as (url, _process):
        first = _id(await call("alice", {"prompt": "mine"}))
        again = await call("alice", {"prompt": "more", "previous_response_id": first})
        stolen = await call("bob", {"prompt": "steal", "previous_response_id": first})
    assert not again.is_error, text_of(again)
    assert stolen.is_error and "unknown or expired" in text_of(stolen)
    assert len(emulator.predictions) == 2


async def test_a_conversation_that_outgrows_the_context_says_how_many_turns(emulator: LMStudioEmulator) -> None:
    emulator.reply = Reply("word " * 1500)  # each answer fills a good part of the 4,096-token default context
    async with Client(create_server(Settings(host=emulator.api_host, history="memory"))) as client:
        previous = _id(await client.call_tool("generate", {"prompt": "talk"}))
        for _ in range(3):
            result = await client.call_tool("generate", {"prompt": "more", "previous_response_id": previous})
            if result.is_error:
                break
            previous = _id(result)
    assert result.is_error
    message = text_of(result)
    assert "earlier turn" in message and "new conversation" in message and "rolling_window" in message


async def test_a_conversation_continues_as_an_mcp_task(emulator: LMStudioEmulator) -> None:
    server = create_server(Settings(host=emulator.api_host, history="memory"))
    async with Client(server, extensions=[PollingTasksClient()]) as client:
        created = await start_task(client, "generate", {"prompt": "first as a task"})
        task = await poll(client.session, created.task_id)
        first = task["result"]["structuredContent"]["response_id"]
        created = await start_task(client, "generate", {"prompt": "second", "previous_response_id": first})
        task = await poll(client.session, created.task_id)
    assert task["status"] == "completed" and "error" not in task
    assert ("user", "first as a task") in _roles_and_texts(emulator.predictions[-1].history)


async def test_a_messages_call_gets_a_response_id_that_a_prompt_continues(emulator: LMStudioEmulator) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "two"},
    ]
    async with Client(create_server(Settings(host=emulator.api_host, history="memory"))) as client:
        answered = _id(await client.call_tool("generate", {"messages": messages}))
        await client.call_tool("generate", {"prompt": "three", "previous_response_id": answered})
    assert _roles_and_texts(emulator.predictions[-1].history) == [
        ("system", "Be brief."), ("user", "one"), ("assistant", "first answer"), ("user", "two"),
        ("assistant", "You said: two"), ("user", "three"),
    ]  # fmt: skip
