"""The MCP server through the real `mcp` client, in memory in both protocol modes, against the emulator."""

from __future__ import annotations

import json
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from mcp import Client

from mcp_lmstudio.models.session import LMStudioSession
from mcp_lmstudio.server.app import create_server
from mcp_lmstudio.server.progress import STREAM_INTERVAL_S
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import LMStudioEmulator, Reply
from tests.support import PNG_B64, PNG_BYTES, closed_port, text_of

pytestmark = pytest.mark.anyio

TOOLS = ["generate", "generate_stream", "structured_generate", "list_models", "load_model", "unload_model", "embed"]
#: The tools that change what LM Studio has loaded (their annotations are in tests/server/test_model_tools.py).
CHANGING = ("load_model", "unload_model")


class ProgressLog:
    """Collects progress notifications; legacy mode may deliver the last ones after the result."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str | None]] = []
        self._changed = anyio.Event()

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.events.append((progress, message))
        self._changed.set()
        self._changed = anyio.Event()

    @property
    def streamed_text(self) -> str:
        """Every message, concatenated, as the contract promises for generate_stream."""
        return "".join(message or "" for _progress, message in self.events)

    async def wait_for_text(self, expected: str) -> None:
        with anyio.fail_after(5):
            while self.streamed_text != expected:
                await self._changed.wait()

    async def wait_for_any(self) -> None:
        with anyio.fail_after(5):
            while not self.events:
                await self._changed.wait()


async def test_tools_list_names_the_tools_with_annotations_and_schemas(mcp_client: Client) -> None:
    tools = {tool.name: tool for tool in (await mcp_client.list_tools()).tools}
    assert sorted(tools) == sorted(TOOLS)
    for tool in tools.values():
        assert tool.annotations is not None
        read_only = tool.name not in CHANGING
        assert (tool.annotations.read_only_hint, tool.annotations.open_world_hint) == (read_only, False)
        assert tool.description and len(tool.description) > 100
    generate = tools["generate"].input_schema["properties"]
    assert set(generate) == {
        "prompt", "images", "messages", "model", "temperature", "max_tokens", "top_p", "top_k", "min_p",
        "repeat_penalty", "stop", "context_overflow", "system", "files", "output_file", "overwrite",
        "previous_response_id",
    }  # fmt: skip
    structured = tools["structured_generate"].input_schema["properties"]
    assert set(structured) >= {"json_schema", "regex", "cfg", "think_first", "context_overflow"}
    output = tools["generate"].output_schema
    assert output is not None and set(output["required"]) == {"text", "model", "stop_reason", "stats"}


async def test_the_server_sends_instructions(emulator: LMStudioEmulator) -> None:
    async with Client(create_server(Settings(host=emulator.api_host)), mode="legacy") as client:
        assert client.instructions and "LM Studio" in client.instructions


async def test_generate_returns_the_answer_and_structured_details(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    emulator.reply = Reply("Paris.", reasoning="The capital of France is Paris.")
    result = await mcp_client.call_tool("generate", {"prompt": "Capital of France?"})
    assert (result.is_error, text_of(result)) == (False, "Paris.")
    content = result.structured_content
    assert content is not None
    assert {key: content[key] for key in ("text", "model", "stop_reason", "reasoning")} == {
        "text": "Paris.",
        "model": "fake-echo-1b",
        "stop_reason": "eosFound",
        "reasoning": "The capital of France is Paris.",
    }
    assert set(content["stats"]) == {
        "prompt_tokens", "predicted_tokens", "tokens_per_second", "time_to_first_token_s", "context_length",
    }  # fmt: skip
    assert content["stats"]["context_length"] == 4096  # fake-echo-1b's loaded context
    assert content["stats"]["predicted_tokens"] == 1 + 1 + 6 + 1  # answer, <think>, reasoning words, </think>


async def test_reasoning_is_absent_when_the_model_did_not_reason(mcp_client: Client) -> None:
    result = await mcp_client.call_tool("generate", {"prompt": "hi"})
    assert result.structured_content is not None and "reasoning" not in result.structured_content


async def test_every_sampling_field_reaches_lm_studio_under_its_own_key(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    arguments = {
        "prompt": "hi",
        "model": "fake-vision-2b",
        "temperature": 0.3,
        "max_tokens": 40,
        "top_p": 0.8,
        "top_k": 12,
        "min_p": 0.1,
        "repeat_penalty": 1.2,
        "stop": ["###"],
    }
    result = await mcp_client.call_tool("generate", arguments)
    assert not result.is_error
    record = emulator.predictions[0]
    assert record.model == "fake-vision-2b"
    assert record.config == {
        "llm.prediction.temperature": 0.3,
        "llm.prediction.maxPredictedTokens": {"checked": True, "value": 40},
        "llm.prediction.topPSampling": {"checked": True, "value": 0.8},
        "llm.prediction.topKSampling": 12.0,
        "llm.prediction.minPSampling": {"checked": True, "value": 0.1},
        "llm.prediction.repeatPenalty": {"checked": True, "value": 1.2},
        "llm.prediction.stopStrings": ["###"],
        "llm.prediction.contextOverflowPolicy": "stopAtLimit",
    }


async def test_a_prompt_with_images_uploads_them(emulator: LMStudioEmulator, mcp_client: Client) -> None:
    result = await mcp_client.call_tool(
        "generate",
        {"prompt": "Describe", "images": [{"data": PNG_B64, "mimeType": "image/png"}], "model": "fake-vision-2b"},
    )
    assert text_of(result) == "I see 1 image. You said: Describe"
    assert [upload.content for upload in emulator.uploads] == [PNG_BYTES]


async def test_messages_become_the_conversation(emulator: LMStudioEmulator, mcp_client: Client) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "data": PNG_B64, "mimeType": "image/png"},
            ],
        },
    ]
    result = await mcp_client.call_tool("generate", {"messages": messages, "model": "fake-vision-2b"})
    assert text_of(result) == "I see 1 image. You said: What is this?"
    history = emulator.predictions[0].history
    assert [message["role"] for message in history] == ["system", "user", "assistant", "user"]
    assert history[-1]["content"][1]["type"] == "file"


async def test_generate_reports_prompt_processing_progress(mcp_client: Client) -> None:
    progress = ProgressLog()
    result = await mcp_client.call_tool("generate", {"prompt": "hi"}, progress_callback=progress)
    assert not result.is_error
    with anyio.fail_after(5):
        while not progress.events:
            await anyio.lowlevel.checkpoint()  # legacy mode delivers notifications on their own task
    values = [value for value, _ in progress.events]
    assert values == sorted(set(values)) and values[0] == 0.5  # prompt processing spans 0.5 to 0.99
    assert any(message and "Processing the prompt" in message for _, message in progress.events)


async def test_generate_stream_streams_text_that_concatenates_to_the_answer(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    emulator.reply = " ".join(f"w{i}" for i in range(40))
    emulator.token_delay = STREAM_INTERVAL_S  # one notification per token, at most
    progress = ProgressLog()
    result = await mcp_client.call_tool("generate_stream", {"prompt": "count"}, progress_callback=progress)
    final = text_of(result)
    assert final == emulator.reply
    await progress.wait_for_text(final)
    token_events = [(p, m) for p, m in progress.events if p >= 1]
    assert len(token_events) > 5  # streamed, not sent in one piece
    values = [p for p, _ in progress.events]
    assert values == sorted(values) and len(values) == len(set(values))
    assert token_events[-1][0] == 40


async def test_generate_stream_coalesces_a_fast_model(emulator: LMStudioEmulator, mcp_client: Client) -> None:
    emulator.reply = " ".join(["x"] * 2000)
    progress = ProgressLog()
    result = await mcp_client.call_tool("generate_stream", {"prompt": "go"}, progress_callback=progress)
    await progress.wait_for_text(text_of(result))
    assert len([p for p, _ in progress.events if p >= 1]) < 200  # 2,000 tokens in far fewer notifications


async def test_generate_stream_without_a_progress_token_is_generate(mcp_client: Client) -> None:
    result = await mcp_client.call_tool("generate_stream", {"prompt": "plain"})
    assert text_of(result) == "You said: plain"
    assert result.structured_content is not None and result.structured_content["stop_reason"] == "eosFound"


PET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
}


@pytest.mark.parametrize("as_string", [False, True])
async def test_structured_generate_returns_the_parsed_object(
    emulator: LMStudioEmulator, mcp_client: Client, as_string: bool
) -> None:
    schema = json.dumps(PET_SCHEMA) if as_string else PET_SCHEMA
    result = await mcp_client.call_tool("structured_generate", {"prompt": "a pet", "json_schema": schema})
    assert not result.is_error
    assert result.structured_content == {"name": "emulated", "age": 0}
    assert json.loads(text_of(result)) == {"name": "emulated", "age": 0}
    assert emulator.predictions[0].structured == {"type": "json", "jsonSchema": PET_SCHEMA}


async def test_structured_generate_wraps_non_objects(emulator: LMStudioEmulator, mcp_client: Client) -> None:
    schema = {"type": "array", "items": {"type": "integer"}, "minItems": 2}
    result = await mcp_client.call_tool("structured_generate", {"prompt": "numbers", "json_schema": schema})
    assert result.structured_content == {"value": [0, 1]}


@pytest.mark.parametrize(
    ("reply", "arguments", "message"),
    [
        ('{"name": "Rex"}', {}, "does not satisfy the schema at (root): 'age' is a required property"),
        ('{"name": "Rex", "age": -1}', {}, "at age: -1 is less than the minimum of 0"),
        ("not json at all", {}, "not valid JSON"),
        ('{"name": "Rex", "age": 3}', {"max_tokens": 2}, "cut off (maxPredictedTokensReached)"),
    ],
)
async def test_structured_output_that_fails_the_schema_is_an_error_with_the_raw_text(
    emulator: LMStudioEmulator, mcp_client: Client, reply: str, arguments: dict[str, Any], message: str
) -> None:
    emulator.reply = reply
    result = await mcp_client.call_tool(
        "structured_generate", {"prompt": "pet", "json_schema": PET_SCHEMA, **arguments}
    )
    assert result.is_error
    assert message in text_of(result)
    assert "Raw output: " in text_of(result)


@pytest.mark.parametrize("field", ["regex", "cfg"])
async def test_regex_and_cfg_are_refused_and_nothing_is_sent(
    emulator: LMStudioEmulator, mcp_client: Client, field: str
) -> None:
    result = await mcp_client.call_tool("structured_generate", {"prompt": "x", field: "[0-9]+"})
    assert result.is_error
    assert "LM Studio supports only JSON-schema structured output" in text_of(result)
    assert emulator.predictions == [] and emulator.connections["llm"] == 0


async def test_list_models_reports_loaded_and_downloaded_llms(mcp_client: Client) -> None:
    result = await mcp_client.call_tool("list_models", {})

    def entry(key: str, name: str, loaded: bool, context: int, vision: bool, kind: str = "llm") -> dict[str, Any]:
        return {
            "key": key,
            "model_key": key,
            "display_name": name,
            "loaded": loaded,
            "context_length": context,
            "vision": vision,
            "type": kind,
        }

    assert result.structured_content == {
        "models": [
            entry("fake-echo-1b", "Fake Echo 1B", True, 4096, False) | {"default": True},
            entry("fake-vision-2b", "Fake Vision 2B", True, 4096, True),  # loaded at LM Studio's default
            entry("fake-embed-small", "Fake Embed Small", True, 512, False, "embedding"),
            entry("fake-unloaded-7b", "Fake Unloaded 7B", False, 32768, False),
        ]
    }
    assert "fake-unloaded-7b (not loaded" in text_of(result)
    assert "fake-echo-1b (loaded, context 4096, the default)" in text_of(result)
    assert "fake-embed-small (embedding model, loaded" in text_of(result)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "Give exactly one of `prompt` (a single user turn) and `messages` (a conversation); neither was given"),
        ({"prompt": "a", "messages": [{"role": "user", "content": "b"}]}, "both were given"),
        ({"prompt": "   "}, "`prompt` is empty"),
        ({"messages": []}, "`messages` has no user message"),
        (
            {"prompt": "x", "model": "qwen-typo"},
            "Model 'qwen-typo' is not available in LM Studio. Available model keys",
        ),
        ({"prompt": "x", "images": [{"data": "@@@", "mimeType": "image/png"}]}, "not valid base64"),
        ({"prompt": "x", "images": [{"data": PNG_B64, "mimeType": "image/gif"}]}, "Unsupported image MIME type"),
        (
            {"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]},
            "a system message may only come first",
        ),
    ],
)
async def test_bad_input_is_a_tool_error_and_nothing_is_generated(
    emulator: LMStudioEmulator, mcp_client: Client, arguments: dict[str, Any], message: str
) -> None:
    result = await mcp_client.call_tool("generate", arguments)
    assert result.is_error
    assert message in text_of(result)
    assert emulator.predictions == []
    assert text_of(await mcp_client.call_tool("generate", {"prompt": "still here?"})) == "You said: still here?"


async def test_lm_studio_not_reachable_is_a_tool_error_naming_the_address_and_fix(mode: str) -> None:
    host = f"127.0.0.1:{closed_port()}"
    async with Client(create_server(Settings(host=host)), mode=mode) as client:  # type: ignore[arg-type]
        assert [tool.name for tool in (await client.list_tools()).tools]  # answers without LM Studio
        with anyio.fail_after(5):
            result = await client.call_tool("generate", {"prompt": "hi"})
    assert result.is_error
    assert f"LM Studio is not reachable at {host}" in text_of(result)
    assert "lms server start" in text_of(result)


async def test_lm_studio_absent_at_start_is_used_once_it_is_up(mode: str) -> None:
    emulator = LMStudioEmulator(port=closed_port())
    async with Client(create_server(Settings(host=emulator.api_host)), mode=mode) as client:  # type: ignore[arg-type]
        assert (await client.call_tool("generate", {"prompt": "hi"})).is_error
        async with emulator:
            assert text_of(await client.call_tool("generate", {"prompt": "now?"})) == "You said: now?"


async def test_lm_studio_restarted_mid_session_is_reconnected(emulator: LMStudioEmulator, mcp_client: Client) -> None:
    assert not (await mcp_client.call_tool("generate", {"prompt": "one"})).is_error
    await emulator.restart()
    with anyio.fail_after(5):
        result = await mcp_client.call_tool("generate", {"prompt": "two"})
    assert text_of(result) == "You said: two"
    assert emulator.connections["llm"] == 2


async def test_many_calls_share_one_llm_connection(emulator: LMStudioEmulator, mcp_client: Client) -> None:
    for index in range(10):
        await mcp_client.call_tool("generate", {"prompt": f"call {index}"})
    await mcp_client.call_tool("list_models", {})
    assert emulator.connections["llm"] == 1 and len(emulator.predictions) == 10


async def test_the_time_limit_returns_a_tool_error_and_cancels_the_prediction(
    emulator: LMStudioEmulator, mode: str
) -> None:
    emulator.hang_predictions = True
    async with Client(create_server(Settings(host=emulator.api_host, timeout=0.3)), mode=mode) as client:  # type: ignore[arg-type]
        with anyio.fail_after(5):
            result = await client.call_tool("generate", {"prompt": "hang"})
        assert result.is_error and "0.3 s time limit" in text_of(result)
        with anyio.fail_after(5):
            await emulator.wait_for(lambda: emulator.predictions[0].finished)
        assert emulator.predictions[0].cancelled


@pytest.mark.parametrize("tool", ["generate", "generate_stream"])
async def test_cancelling_a_call_cancels_its_prediction(
    emulator: LMStudioEmulator, mcp_client: Client, tool: str
) -> None:
    emulator.reply = " ".join(["slow"] * 1000)
    emulator.token_delay = 0.01
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(mcp_client.call_tool, tool, {"prompt": "go"})
            await emulator.wait_for(lambda: bool(emulator.predictions) and emulator.predictions[0].fragments > 2)
            tg.cancel_scope.cancel()
        await emulator.wait_for(lambda: emulator.predictions[0].finished)
    assert emulator.predictions[0].cancelled
    emulator.reply, emulator.token_delay = None, 0.0
    assert text_of(await mcp_client.call_tool("generate", {"prompt": "next"})) == "You said: next"


async def test_an_explicit_session_is_used_and_closed_with_the_server(emulator: LMStudioEmulator) -> None:
    session = LMStudioSession(host=emulator.api_host)
    async with Client(create_server(Settings(), session=session)) as client:
        await client.call_tool("generate", {"prompt": "hi"})
    assert session.connects == 1
    with anyio.fail_after(5):
        await emulator.wait_for(lambda: emulator.open_sockets == 0)


async def test_the_configured_default_model_is_used_when_none_is_named(emulator: LMStudioEmulator) -> None:
    async with Client(create_server(Settings(host=emulator.api_host, model="fake-vision-2b"))) as client:
        result = await client.call_tool("generate", {"prompt": "which model?"})
    assert result.structured_content is not None and result.structured_content["model"] == "fake-vision-2b"
    assert emulator.predictions[0].model == "fake-vision-2b"


async def test_generate_stream_messages_concatenate_to_the_answer_even_through_a_jit_load(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    emulator.load_delay = 0.2
    progress = ProgressLog()
    arguments = {"prompt": "load me", "model": "fake-unloaded-7b"}
    result = await mcp_client.call_tool("generate_stream", arguments, progress_callback=progress)
    await progress.wait_for_text(text_of(result))
    assert [value for value, _ in progress.events if value < 0.5]  # load progress was reported, without text


@pytest.mark.parametrize("prompt", ['{"a": 1}', "[1, 2]", "null", "42", "true"])
async def test_a_prompt_that_looks_like_json_reaches_the_model_as_text(mcp_client: Client, prompt: str) -> None:
    result = await mcp_client.call_tool("generate", {"prompt": prompt})
    assert text_of(result) == f"You said: {prompt}"


async def test_an_empty_answer_has_no_time_to_first_token(emulator: LMStudioEmulator, mcp_client: Client) -> None:
    emulator.reply = ""
    result = await mcp_client.call_tool("generate", {"prompt": "say nothing"})
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert result.structured_content["stats"]["time_to_first_token_s"] is None
    assert result.structured_content["text"] == ""


async def test_mcp_content_blocks_with_annotations_are_accepted(mcp_client: Client) -> None:
    image = {"type": "image", "data": PNG_B64, "mimeType": "image/png", "annotations": {"priority": 1}, "_meta": {}}
    text = {"type": "text", "text": "Describe", "annotations": {"audience": ["user"]}}
    messages = [{"role": "user", "content": [text, image]}]
    result = await mcp_client.call_tool("generate", {"messages": messages, "model": "fake-vision-2b"})
    assert text_of(result) == "I see 1 image. You said: Describe"


async def test_a_lost_connection_is_reopened_on_the_next_call(emulator: LMStudioEmulator) -> None:
    session = LMStudioSession(host=emulator.api_host)
    async with Client(create_server(Settings(), session=session)) as client:
        await client.call_tool("generate", {"prompt": "one"})
        session.connection_lost(await session.model())  # as when a call fails with a lost connection
        assert text_of(await client.call_tool("generate", {"prompt": "two"})) == "You said: two"
    assert session.connects == 2


class RecordingContext:
    """Stands in for the MCP Context at the reporter's seam: records report_progress calls."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, str | None]] = []

    async def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        self.sent.append((progress, message))


async def test_streamed_text_from_a_fragment_without_new_tokens_is_not_lost() -> None:
    from mcp_lmstudio.models.events import TextFragment
    from mcp_lmstudio.server.progress import ProgressReporter

    ctx = RecordingContext()
    reporter = ProgressReporter(ctx, stream_text=True)  # type: ignore[arg-type]
    await reporter.on_event(TextFragment("a b", False, 2))
    await reporter.on_event(TextFragment(" END", False, 2))  # LM Studio counted no new token
    await reporter.flush()
    assert "".join(message or "" for _, message in ctx.sent) == "a b END"
    progress = [value for value, _ in ctx.sent]
    assert progress == sorted(set(progress))
