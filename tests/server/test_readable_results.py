"""What a reader of the content sees: a cut-off answer says so, and progress reads well where hosts show it."""

from __future__ import annotations

import re

import anyio
import pytest
from mcp import Client
from mcp.types import TextContent

from mcp_lmstudio.models.events import TextFragment
from mcp_lmstudio.server.progress import ProgressReporter
from mcp_lmstudio.testing import LMStudioEmulator, Reply
from tests.stdio_support import raw_stdio_server

pytestmark = pytest.mark.anyio

LONG = "one two three four five six seven eight nine ten"


def texts(content: list[object]) -> list[str]:
    return [block.text for block in content if isinstance(block, TextContent)]


async def test_an_answer_cut_off_at_max_tokens_says_so_after_the_exact_text(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    emulator.reply = LONG
    result = await mcp_client.call_tool("generate", {"prompt": "count", "max_tokens": 3})
    answer, note = texts(result.content)
    assert answer == "one two three"
    assert note == (
        "[Cut off: the answer above reached max_tokens (3) after 3 tokens and is incomplete. Raise max_tokens, or "
        "ask for a shorter answer.]"
    )
    assert result.structured_content is not None
    assert result.structured_content["text"] == "one two three"  # structured content stays as it was
    assert result.structured_content["stop_reason"] == "maxPredictedTokensReached"


async def test_a_reasoning_model_that_spent_the_budget_thinking_says_there_is_no_answer(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    emulator.reply = Reply("Paris.", reasoning=LONG)
    result = await mcp_client.call_tool("generate_stream", {"prompt": "capital?", "max_tokens": 4})
    answer, note = texts(result.content)
    assert answer == ""
    assert note.startswith("[No answer: the model spent all 4 tokens of max_tokens (4) reasoning")
    assert "Raise max_tokens" in note


async def test_a_complete_answer_has_one_text_content(emulator: LMStudioEmulator, mcp_client: Client) -> None:
    result = await mcp_client.call_tool("generate", {"prompt": "hi", "max_tokens": 100})
    assert texts(result.content) == ["You said: hi"]


async def test_the_cut_off_note_reaches_a_stdio_client(emulator: LMStudioEmulator) -> None:
    emulator.reply = LONG
    async with raw_stdio_server(emulator.api_host, "--log-level", "ERROR") as server:
        with anyio.fail_after(30):
            await server.initialize()
            response = await server.call_tool("generate", {"prompt": "count", "max_tokens": 2})
    content = response["result"]["content"]
    assert [block["text"] for block in content][0] == "one two"
    assert content[1]["text"].startswith("[Cut off: the answer above reached max_tokens (2) after 2 tokens")


async def test_generate_progress_names_the_phase_the_tokens_and_the_speed(emulator: LMStudioEmulator) -> None:
    from mcp_lmstudio.server.app import create_server
    from mcp_lmstudio.settings import Settings

    emulator.reply = Reply(" ".join(["word"] * 40), reasoning="think " * 10)
    emulator.token_delay = 0.03
    emulator.prompt_processing_delay = 0.2
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    async with Client(create_server(Settings(host=emulator.api_host)), mode="auto") as client:
        arguments = {"prompt": "go", "model": "fake-unloaded-7b"}
        result = await client.call_tool("generate", arguments, progress_callback=on_progress)
    assert not result.is_error
    assert any(re.fullmatch(r"Loading model fake-unloaded-7b: \d+%", message) for message in messages), messages
    assert any(re.fullmatch(r"Processing the prompt: \d+%", message) for message in messages), messages
    generating = [m for m in messages if m.startswith(("Generating", "Reasoning"))]
    assert generating, messages
    assert any(re.fullmatch(r"(Generating|Reasoning): \d+ tokens, \d+\.\d tokens/s", m) for m in generating), messages
    assert all(len(message) <= 200 for message in messages)


async def test_status_lines_count_tokens_in_words() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.sent: list[str | None] = []

        async def report_progress(self, progress: float, total: float | None, message: str | None) -> None:
            self.sent.append(message)

    recorder = Recorder()
    reporter = ProgressReporter(recorder, stream_text=False)  # type: ignore[arg-type]
    await reporter.on_event(TextFragment("Hi", False, 1))
    assert recorder.sent == ["Generating: 1 token"]


def test_an_answer_cut_off_by_the_context_names_its_size() -> None:
    from mcp_lmstudio.models.events import GenerationResult, GenerationStats
    from mcp_lmstudio.server.results import generation_result

    stats = GenerationStats(
        prompt_tokens=4000, predicted_tokens=96, tokens_per_second=30.0, time_to_first_token_s=0.5, context_length=4096
    )
    result = GenerationResult(text="Partial", reasoning="", model="m", stop_reason="contextLengthReached", stats=stats)
    answer, note = texts(generation_result(result).content)
    assert answer == "Partial"
    assert note == (
        "[Cut off: the answer above filled the model's context window (4,096 tokens) after 96 tokens, so the answer "
        "is incomplete. Shorten the prompt or the conversation, or load the model with a longer context (load_model "
        "with context_length).]"
    )
