"""Issue 9: whatever LM Studio sends, through the real mcp client (in memory and over stdio) and the real SDK.

Each test fails on the code before the fix: split surrogate pairs and lone surrogates, several instances of
one model, concurrent first loads, non-standard JSON, and one unencodable message.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import lmstudio
import pytest
from mcp import Client

from mcp_lmstudio import AsyncLMStudio, LMStudio, McpLmStudioError, ModelNotFoundError
from mcp_lmstudio.server.app import create_server
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import EmulatedModel, EmulatorThread, LMStudioEmulator, Reply
from tests.server.test_tools import ProgressLog
from tests.stdio_support import raw_stdio_server
from tests.support import text_of

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

    from tests.transports.test_http import http_server

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


# -- 2. several instances of one model ------------------------------------------------------------------------


async def test_list_models_shows_every_instance_with_its_own_context(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    second = await emulator.load_instance("fake-echo-1b", context_length=2048)
    custom = await emulator.load_instance("fake-echo-1b", "my-echo", context_length=1024)
    result = await mcp_client.call_tool("list_models", {})
    assert result.structured_content is not None
    entries = {entry["key"]: entry for entry in result.structured_content["models"]}
    echo = {key: entries[key] for key in ("fake-echo-1b", second, custom)}
    assert {key: (e["model_key"], e["loaded"], e["context_length"]) for key, e in echo.items()} == {
        "fake-echo-1b": ("fake-echo-1b", True, 4096),
        "fake-echo-1b:2": ("fake-echo-1b", True, 2048),
        "my-echo": ("fake-echo-1b", True, 1024),
    }
    assert entries["fake-unloaded-7b"]["loaded"] is False  # downloaded, no instance: listed once
    keys = [entry["key"] for entry in result.structured_content["models"]]
    assert len(keys) == len(set(keys))
    assert "fake-echo-1b:2 (loaded instance of fake-echo-1b, context 2048)" in text_of(result)


async def test_a_model_with_instances_is_not_listed_again_as_downloaded(mcp_client: Client) -> None:
    result = await mcp_client.call_tool("list_models", {})
    assert result.structured_content is not None
    assert [entry["key"] for entry in result.structured_content["models"]].count("fake-echo-1b") == 1


@pytest.mark.parametrize("model", ["fake-echo-1b:2", "my-echo"])
async def test_model_takes_an_instance_identifier(emulator: LMStudioEmulator, mcp_client: Client, model: str) -> None:
    await emulator.load_instance("fake-echo-1b", context_length=2048)
    await emulator.load_instance("fake-echo-1b", "my-echo")
    result = await mcp_client.call_tool("generate", {"prompt": "hi", "model": model})
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None and result.structured_content["model"] == model
    assert emulator.predictions[-1].identifier == model


# -- 13.5: the specifiers LM Studio resolves pass the model check; others are refused before any load -----


@pytest.mark.parametrize(
    "specifier",
    ["fake-unloaded-7b", "emulator/fake-unloaded-7b", "EMULATOR/Fake-Unloaded-7B/fake-unloaded-7b-q4_k_m.gguf"],
)
async def test_a_specifier_lm_studio_resolves_is_accepted(
    emulator: LMStudioEmulator, mcp_client: Client, specifier: str
) -> None:
    result = await mcp_client.call_tool("generate", {"prompt": "hi", "model": specifier})
    assert not result.is_error, text_of(result)
    assert emulator.predictions[-1].model == "fake-unloaded-7b"


@pytest.mark.parametrize("specifier", ["fake-unloaded", "unloaded-7b", "other/fake-unloaded-7b", "emulator/x"])
async def test_a_specifier_lm_studio_would_not_resolve_is_refused_before_any_load(
    emulator: LMStudioEmulator, mcp_client: Client, specifier: str
) -> None:
    result = await mcp_client.call_tool("generate", {"prompt": "hi", "model": specifier})
    assert result.is_error and repr(specifier) in text_of(result)
    assert "fake-unloaded-7b" not in emulator.loaded
    assert emulator.predictions == []


async def test_the_model_layer_resolves_the_same_specifiers(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    model = AsyncLMStudio(client)
    assert await model.generate("hi", model="emulator/fake-vision") == "You said: hi"
    with pytest.raises(ModelNotFoundError):
        await model.generate("hi", model="emulator/nothing")
    with EmulatorThread() as lms, lmstudio.Client(lms.api_host) as sync_client:
        assert LMStudio(sync_client).generate("hi", model="emulator/fake-vision") == "You said: hi"
        with pytest.raises(ModelNotFoundError):
            LMStudio(sync_client).generate("hi", model="emulator/nothing")


# -- 3. concurrent first use of a model loads it once ---------------------------------------------------------


async def test_concurrent_calls_naming_an_unloaded_model_share_one_load(emulator: LMStudioEmulator) -> None:
    emulator.load_delay = 0.4
    server = create_server(Settings(host=emulator.api_host, timeout=10))
    logs = [ProgressLog() for _ in range(4)]
    async with Client(server) as mcp:
        results: list[Any] = [None] * 4

        async def call(index: int) -> None:
            arguments = {"prompt": f"call {index}", "model": "fake-unloaded-7b"}
            results[index] = await mcp.call_tool("generate", arguments, progress_callback=logs[index])

        async with anyio.create_task_group() as tg:
            for index in range(4):
                tg.start_soon(call, index)
    assert [text_of(result) for result in results] == [f"You said: call {index}" for index in range(4)]
    assert len([i for i in emulator.instances.values() if i.model.key == "fake-unloaded-7b"]) == 1
    for log in logs:  # every waiting call saw the load's progress
        assert any(message and "Loading" in message for _progress, message in log.events), log.events


async def test_concurrent_calls_naming_one_model_differently_share_one_load(emulator: LMStudioEmulator) -> None:
    emulator.load_delay = 0.4
    specifiers = ["fake-unloaded-7b", "emulator/fake-unloaded-7b", "EMULATOR/FAKE-UNLOADED", None]
    server = create_server(Settings(host=emulator.api_host, model="emulator/fake-unloaded-7b", timeout=10))
    async with Client(server) as mcp, anyio.create_task_group() as tg:
        for specifier in specifiers:
            arguments = {"prompt": "x"} | ({"model": specifier} if specifier else {})
            tg.start_soon(mcp.call_tool, "generate", arguments)
    assert len([i for i in emulator.instances.values() if i.model.key == "fake-unloaded-7b"]) == 1
    assert len(emulator.predictions) == 4


async def test_a_failed_shared_load_fails_every_waiter_and_the_next_call_tries_again(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    emulator.load_delay = 0.2
    emulator.load_failure = "Failed to load model: not enough memory"
    results: list[Any] = [None] * 3

    async def call(index: int) -> None:
        results[index] = await mcp_client.call_tool("generate", {"prompt": "x", "model": "fake-unloaded-7b"})

    async with anyio.create_task_group() as tg:
        for index in range(3):
            tg.start_soon(call, index)
    assert all(result.is_error for result in results)
    assert len({text_of(result) for result in results}) == 1
    assert "not enough memory" in text_of(results[0])
    emulator.load_failure = None
    again = await mcp_client.call_tool("generate", {"prompt": "x", "model": "fake-unloaded-7b"})
    assert not again.is_error, text_of(again)


async def test_the_sync_model_layer_loads_once_under_concurrent_threads() -> None:
    import concurrent.futures

    with EmulatorThread(load_delay=0.4) as lms, lmstudio.Client(lms.api_host) as client:
        model = LMStudio(client)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda i: model.generate(f"t{i}", model="fake-unloaded-7b"), range(4)))
        assert answers == [f"You said: t{i}" for i in range(4)]
        instances = lms.emulator.instances.values()
        assert len([i for i in instances if i.model.key == "fake-unloaded-7b"]) == 1


# -- 4. structured output is strict RFC 8259 JSON -----------------------------------------------------------

SCORE_SCHEMA = {"type": "object", "properties": {"score": {"type": ["number", "null"]}}, "required": ["score"]}


@pytest.mark.parametrize(
    "raw",
    ['{"score": NaN}', '{"score": Infinity}', '{"score": -Infinity}', '{"score": 1e999}', '{"score": -1E400}'],
)
async def test_non_standard_json_is_an_error_carrying_the_raw_text(
    emulator: LMStudioEmulator, mcp_client: Client, raw: str
) -> None:
    emulator.reply = raw
    result = await mcp_client.call_tool("structured_generate", {"prompt": "score", "json_schema": SCORE_SCHEMA})
    assert result.is_error
    assert "not valid JSON" in text_of(result) and f"Raw output: {raw}" in text_of(result)


async def test_finite_numbers_still_parse(emulator: LMStudioEmulator, mcp_client: Client) -> None:
    emulator.reply = '{"score": 1.5e300}'
    result = await mcp_client.call_tool("structured_generate", {"prompt": "score", "json_schema": SCORE_SCHEMA})
    assert not result.is_error and result.structured_content == {"score": 1.5e300}


@pytest.mark.parametrize("schema", ['{"type": "object", "maximum": NaN}', '{"type": "number", "maximum": 1e999}'])
async def test_a_schema_string_with_non_standard_json_is_refused(
    emulator: LMStudioEmulator, mcp_client: Client, schema: str
) -> None:
    result = await mcp_client.call_tool("structured_generate", {"prompt": "x", "json_schema": schema})
    assert result.is_error and "NaN" in text_of(result)  # the SDK parsed it leniently; the schema check did not
    assert emulator.predictions == []


def test_strict_json_refuses_what_python_accepts() -> None:
    from mcp_lmstudio import strict_json

    for text in ("NaN", "[Infinity]", '{"a": -Infinity}', "1e400"):
        with pytest.raises(strict_json.NonStandardJSONError):
            strict_json.loads(text)
    with pytest.raises(json.JSONDecodeError):
        strict_json.loads("{nope")
    assert strict_json.loads('{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}


async def test_a_model_argument_with_a_lone_surrogate_is_refused(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    result = await mcp_client.call_tool("generate", {"prompt": "x", "model": "fake\ud800"})
    assert result.is_error and "model" in text_of(result)  # never echoed into a progress message or a load
    assert emulator.predictions == [] and "fake\ud800" not in emulator.loaded


async def test_an_lm_studio_error_text_with_a_lone_surrogate_reaches_the_caller_as_valid_unicode(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    emulator.load_failure = "Failed to load \ud83d model"
    result = await mcp_client.call_tool("generate", {"prompt": "x", "model": "fake-unloaded-7b"})
    assert result.is_error
    assert "Failed to load \ufffd model" in text_of(result)


async def test_the_model_layer_raises_lm_studio_errors_as_valid_unicode(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    emulator.load_failure = "Failed to load \ud83d model"
    with pytest.raises(McpLmStudioError) as raised:
        await AsyncLMStudio(client).generate("x", model="fake-unloaded-7b")
    assert "Failed to load \ufffd model" in str(raised.value)


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ('{"name": "smile \\ud83d"}', {"name": "smile \ufffd"}),
        (
            '{"name": "ok \\uD83D\\uDE00", "\\udc00key": ["\\ude00"]}',
            {"name": "ok \U0001f600", "\ufffdkey": ["\ufffd"]},
        ),
    ],
)
async def test_structured_output_with_escaped_lone_surrogates_is_valid_unicode(
    emulator: LMStudioEmulator, mcp_client: Client, raw: str, parsed: dict[str, Any]
) -> None:
    emulator.reply = raw
    schema = {"type": "object"}
    result = await mcp_client.call_tool("structured_generate", {"prompt": "x", "json_schema": schema})
    assert not result.is_error, text_of(result)
    assert result.structured_content == parsed
    assert text_of(result) == raw  # the document itself, exactly as the model wrote it


async def test_over_stdio_every_unreadable_request_is_answered(emulator: LMStudioEmulator) -> None:
    async with raw_stdio_server(emulator.api_host) as session:
        await session.initialize()
        assert session.process.stdin is not None
        surrogate = b'{"jsonrpc":"2.0","id":31,"method":"tools/call","params":{"name":"generate",'
        surrogate += b'"arguments":{"prompt":"cut \\ud83d"}}}\n'  # valid JSON, as a JS host cutting an emoji writes it
        await session.process.stdin.send(surrogate)
        await session.process.stdin.send(b"this is not json\n")
        await session.process.stdin.send(b'{"jsonrpc":"2.0","id":32,"method":5}\n')
        with anyio.fail_after(10):
            while not {31, 32, None} <= set(session.responses):
                await session.read_message()
        after = await session.call_tool("generate", {"prompt": "still here"})
        assert session.process.returncode is None
    refused = session.responses[31]["result"]
    assert refused["isError"] is True and "unpaired UTF-16 surrogate" in refused["content"][0]["text"]
    assert session.responses[32]["error"]["code"] == -32600
    assert session.responses[None]["error"]["code"] == -32700  # a parse error has no id to answer
    assert after["result"]["content"][0]["text"] == "You said: still here"
    assert emulator.predictions[-1].last_user_text == "still here" and len(emulator.predictions) == 1


async def test_over_stdio_a_request_id_with_a_lone_surrogate_does_not_end_the_server(
    emulator: LMStudioEmulator,
) -> None:
    async with raw_stdio_server(emulator.api_host) as session:
        await session.initialize()
        assert session.process.stdin is not None
        await session.process.stdin.send(b'{"jsonrpc":"2.0","id":"r\\ud800","method":"tools/list"}\n')
        with anyio.fail_after(10):
            while None not in session.responses:  # its answer cannot echo that id: JSON-RPC's null id
                await session.read_message()
        after = await session.call_tool("generate", {"prompt": "still here"})
        assert session.process.returncode is None
    assert session.responses[None]["error"]["code"] == -32603
    assert after["result"]["content"][0]["text"] == "You said: still here"
