"""Issue 9: whatever LM Studio sends, through the real mcp client (in memory and over stdio) and the real SDK.

Each test fails on the code before the fix: split surrogate pairs and lone surrogates, several instances of
one model, concurrent first loads, non-standard JSON, and one unencodable message.
"""

from __future__ import annotations

from typing import Any

import anyio
import lmstudio
import pytest
from mcp import Client

from mcp_lmstudio import LMStudio
from mcp_lmstudio.server import create_server
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import EmulatedModel, EmulatorThread, LMStudioEmulator, Reply
from tests.stdio_support import raw_stdio_server
from tests.support import text_of
from tests.test_server import ProgressLog

pytestmark = pytest.mark.anyio

SPLIT_PAIR = Reply("", fragments=["Smile ", "\ud83d", "\ude00", " done"])
SMILE = "Smile \U0001f600 done"


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- 1. every string from LM Studio reaches MCP as valid Unicode ---------------------------------------------


async def test_a_surrogate_pair_split_across_fragments_is_joined(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    emulator.reply = SPLIT_PAIR
    result = await mcp_client.call_tool("generate", {"prompt": "smile"})
    assert not result.is_error
    assert text_of(result) == SMILE
    assert result.structured_content is not None and result.structured_content["text"] == SMILE


async def test_streamed_text_with_a_split_pair_concatenates_to_the_final_text(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    emulator.reply = SPLIT_PAIR
    emulator.token_delay = 0.03  # one notification per fragment, so that the pair really arrives split
    log = ProgressLog()
    result = await mcp_client.call_tool("generate_stream", {"prompt": "smile"}, progress_callback=log)
    await log.wait_for_text(SMILE)
    assert text_of(result) == SMILE
    assert all(_encodes(message or "") for _progress, message in log.events)


@pytest.mark.parametrize(
    ("fragments", "expected"),
    [
        (["a", "\ud83d", "b"], "a\ufffdb"),  # a high surrogate with no low one after it
        (["a", "\ude00", "b"], "a\ufffdb"),  # a low surrogate with no high one before it
        (["end \ud83d"], "end \ufffd"),  # a high surrogate at the very end of the stream
        (["\ude00\ud83d", "\ude00"], "\ufffd\U0001f600"),
    ],
)
async def test_a_lone_surrogate_becomes_the_replacement_character(
    emulator: LMStudioEmulator, mcp_client: Client, fragments: list[str], expected: str
) -> None:
    emulator.reply = Reply("", fragments=fragments)
    result = await mcp_client.call_tool("generate", {"prompt": "x"})
    assert text_of(result) == expected


async def test_reasoning_with_surrogate_escapes_is_valid_unicode(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    emulator.reply = Reply("ok \ud83d", reasoning="think \ud83d\ude00 hard")  # each surrogate sent as an escape
    result = await mcp_client.call_tool("generate", {"prompt": "x"})
    assert result.structured_content is not None
    assert result.structured_content["reasoning"] == "think \U0001f600 hard"
    assert text_of(result) == "ok \ufffd"


async def test_names_and_error_texts_from_lm_studio_are_valid_unicode() -> None:
    odd = EmulatedModel("odd-\ud83d-model", "Odd \ude00 Name", loaded=True)
    async with LMStudioEmulator(models=[odd]) as lms:
        server = create_server(Settings(host=lms.api_host, timeout=10))
        async with Client(server) as mcp:
            listing = await mcp.call_tool("list_models", {})
            assert not listing.is_error
            assert "Odd \ufffd Name" in text_of(listing) and "odd-\ufffd-model" in text_of(listing)
            answer = await mcp.call_tool("generate", {"prompt": "hi"})
            assert answer.structured_content is not None and answer.structured_content["model"] == "odd-\ufffd-model"
            unknown = await mcp.call_tool("generate", {"prompt": "hi", "model": "missing"})
            assert unknown.is_error and "odd-\ufffd-model" in text_of(unknown)


async def test_the_sync_model_layer_joins_split_pairs_too() -> None:
    with EmulatorThread(reply=SPLIT_PAIR) as lms, lmstudio.Client(lms.api_host) as client:
        model = LMStudio(client)
        assert model.generate("smile") == SMILE
        assert "".join(model.generate_stream("smile")) == SMILE


# -- the process survives: over stdio, a split pair used to end the server ------------------------------------


async def test_over_stdio_a_split_pair_neither_ends_the_server_nor_other_calls(emulator: LMStudioEmulator) -> None:
    emulator.reply = lambda record: SPLIT_PAIR if "smile" in record.last_user_text else Reply("plain")
    async with raw_stdio_server(emulator.api_host) as session:
        await session.initialize()
        prompts = {10: "smile", 11: "other", 12: "smile again"}
        for request_id, prompt in prompts.items():  # all three in flight at once
            params = {"name": "generate", "arguments": {"prompt": prompt}}
            await session.send({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params})
        with anyio.fail_after(20):
            while not set(prompts) <= set(session.responses):
                await session.read_message()
        texts = {prompts[i]: session.responses[i]["result"]["content"][0]["text"] for i in prompts}
        assert texts == {"smile": SMILE, "other": "plain", "smile again": SMILE}
        assert session.process.returncode is None
        assert all(_encodes(line.decode("utf-8")) for line in session.stdout_lines)


# -- fault isolation: one message that cannot be encoded ends its own request --------------------------------

UNSERIALISABLE = "tests.unserialisable_server"


async def test_over_stdio_an_unencodable_result_fails_its_call_alone(emulator: LMStudioEmulator) -> None:
    emulator.token_delay = 0.02
    async with raw_stdio_server(emulator.api_host, module=UNSERIALISABLE) as session:
        await session.initialize()
        slow = {"name": "generate", "arguments": {"prompt": "one two three four five six seven eight"}}
        await session.send({"jsonrpc": "2.0", "id": 20, "method": "tools/call", "params": slow})
        await emulator.wait_for(lambda: emulator.running_count == 1)
        bad = await session.call_tool("unserialisable", {})
        logged = await session.call_tool("unserialisable_log", {})
        with anyio.fail_after(10):
            while 20 not in session.responses:
                await session.read_message()
        after = await session.call_tool("generate", {"prompt": "still here"})
        assert session.process.returncode is None
    assert bad["result"]["isError"] is True
    assert "could not be encoded as JSON" in bad["result"]["content"][0]["text"]
    assert logged["result"]["content"][0]["text"] == "sent"  # its notification was dropped, the call answered
    assert session.responses[20]["result"]["content"][0]["text"] == "You said: one two three four five six seven eight"
    assert after["result"]["content"][0]["text"] == "You said: still here"
    assert all(_encodes(line.decode("utf-8")) for line in session.stdout_lines)


async def test_over_http_an_unencodable_result_fails_its_call_alone(emulator: LMStudioEmulator) -> None:
    from mcp.client.streamable_http import streamable_http_client

    from tests.test_http import http_server

    emulator.token_delay = 0.02
    async with http_server(emulator.api_host, module=UNSERIALISABLE) as (url, process):
        async with Client(streamable_http_client(url)) as mcp:
            results: dict[str, Any] = {}

            async def slow() -> None:
                results["slow"] = await mcp.call_tool("generate", {"prompt": "one two three four five six"})

            async with anyio.create_task_group() as tg:
                tg.start_soon(slow)
                await emulator.wait_for(lambda: emulator.running_count == 1)
                bad = await mcp.call_tool("unserialisable", {})
            after = await mcp.call_tool("generate", {"prompt": "still here"})
        assert process.returncode is None
    assert bad.is_error and "could not be encoded as JSON" in text_of(bad)
    assert text_of(results["slow"]) == "You said: one two three four five six"
    assert text_of(after) == "You said: still here"
