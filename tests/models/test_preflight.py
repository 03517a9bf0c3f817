"""Context pre-flight (`context_overflow`) and `stats.context_length`, in memory and over stdio."""

from __future__ import annotations

import lmstudio
import pytest
from mcp import Client

from mcp_lmstudio.models import AsyncLMStudio
from mcp_lmstudio.models.preflight import IMAGE_TOKENS, ContextOverflowError
from mcp_lmstudio.server.app import create_server
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import LMStudioEmulator
from tests.stdio_support import assert_only_json_rpc, raw_stdio_server
from tests.support import PNG_B64, text_of

pytestmark = pytest.mark.anyio

#: The small instance's context, in the emulator's word-sized tokens.
TINY = 64


@pytest.fixture
async def tiny(emulator: LMStudioEmulator) -> str:
    """An instance of fake-echo-1b loaded with a 64-token context."""
    return await emulator.load_instance("fake-echo-1b", identifier="tiny", context_length=TINY)


async def _prompt_tokens(client: lmstudio.AsyncClient, model: str, prompt: str) -> int:
    """What LM Studio counts for `prompt` as one user turn, through its own template and tokenizer."""
    llm = await client.llm.model(model)
    return await llm.count_tokens(await llm.apply_prompt_template(prompt))


def _words(count: int) -> str:
    return " ".join(f"w{index}" for index in range(count))


def _predict_calls(emulator: LMStudioEmulator, endpoint: str) -> int:
    return sum(1 for call in emulator.rpc_calls if call == ("llm", endpoint))


async def test_a_prompt_that_cannot_fit_is_refused_before_anything_is_predicted(
    emulator: LMStudioEmulator, mcp_client: Client, client: lmstudio.AsyncClient, tiny: str
) -> None:
    prompt = _words(100)
    counted = await _prompt_tokens(client, tiny, prompt)
    result = await mcp_client.call_tool("generate", {"prompt": prompt, "model": tiny})
    assert result.is_error
    message = text_of(result)
    assert f"it is {counted} tokens" in message and f"{TINY}-token context" in message
    assert "load the model with a longer context" in message and "truncate_middle" in message
    assert emulator.predictions == []
    # The server keeps serving.
    assert text_of(await mcp_client.call_tool("generate", {"prompt": "hi", "model": tiny})) == "You said: hi"


async def test_the_check_is_exact_at_the_boundary_and_counts_max_tokens(
    emulator: LMStudioEmulator, mcp_client: Client, client: lmstudio.AsyncClient, tiny: str
) -> None:
    prompt = _words(30)
    room = TINY - await _prompt_tokens(client, tiny, prompt)
    fits = await mcp_client.call_tool("generate", {"prompt": prompt, "model": tiny, "max_tokens": room})
    assert not fits.is_error, text_of(fits)
    over = await mcp_client.call_tool("generate", {"prompt": prompt, "model": tiny, "max_tokens": room + 1})
    assert over.is_error and f"max_tokens asks for {room + 1} more" in text_of(over)
    assert len(emulator.predictions) == 1


async def test_stats_report_each_instance_s_own_context_length(
    emulator: LMStudioEmulator, mcp_client: Client, tiny: str
) -> None:
    for model, length in (("fake-echo-1b", 4096), (tiny, TINY)):
        result = await mcp_client.call_tool("generate", {"prompt": "hi", "model": model})
        assert result.structured_content is not None
        stats = result.structured_content["stats"]
        assert (stats["context_length"], stats["prompt_tokens"] <= length) == (length, True)


@pytest.mark.parametrize(
    ("overflow", "policy"), [("truncate_middle", "truncateMiddle"), ("rolling_window", "rollingWindow")]
)
async def test_the_other_policies_hand_lm_studio_its_own_and_skip_the_count(
    emulator: LMStudioEmulator, mcp_client: Client, tiny: str, overflow: str, policy: str
) -> None:
    # A long middle: LM Studio's truncateMiddle keeps the first message whole, so that one is short.
    messages = [
        {"role": "user", "content": "Summarise what follows."},
        {"role": "assistant", "content": "Go on."},
        {"role": "user", "content": _words(100)},
    ]
    arguments = {"messages": messages, "model": tiny, "context_overflow": overflow, "max_tokens": 5}
    result = await mcp_client.call_tool("generate", arguments)
    assert not result.is_error, text_of(result)
    assert emulator.predictions[0].config["llm.prediction.contextOverflowPolicy"] == policy
    assert _predict_calls(emulator, "applyPromptTemplate") == 0
    assert result.structured_content is not None
    assert result.structured_content["stats"]["prompt_tokens"] <= TINY


async def test_truncate_middle_with_a_first_message_too_long_says_what_lm_studio_keeps(
    emulator: LMStudioEmulator, mcp_client: Client, tiny: str
) -> None:
    arguments = {"prompt": _words(100), "model": tiny, "context_overflow": "truncate_middle"}
    result = await mcp_client.call_tool("generate", arguments)
    assert result.is_error
    assert "keeps the system prompt and the first message whole" in text_of(result)
    assert f"{TINY}-token context" in text_of(result) and "'rolling_window'" in text_of(result)


async def test_an_unknown_policy_is_a_clear_argument_error(emulator: LMStudioEmulator, mcp_client: Client) -> None:
    result = await mcp_client.call_tool("generate", {"prompt": "hi", "context_overflow": "truncate"})
    assert result.is_error and "context_overflow" in text_of(result)
    assert emulator.predictions == []


async def test_the_context_length_and_template_size_are_cached_and_short_prompts_are_not_counted(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    for prompt in ("hi", "hello there", "a third short prompt"):
        assert not (await mcp_client.call_tool("generate", {"prompt": prompt})).is_error
    assert _predict_calls(emulator, "getModelInfo") == 1
    assert _predict_calls(emulator, "applyPromptTemplate") == 1  # then known to fit from its size alone
    assert _predict_calls(emulator, "countTokens") == 0  # a few bytes cannot exceed 4096 tokens
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "yo"},
        {"role": "user", "content": "?"},
    ]
    assert not (await mcp_client.call_tool("generate", {"messages": messages})).is_error
    assert _predict_calls(emulator, "applyPromptTemplate") == 2  # a conversation of another length: measured


async def test_a_long_prompt_is_counted_with_the_model_s_tokenizer(
    emulator: LMStudioEmulator, mcp_client: Client, tiny: str
) -> None:
    assert not (await mcp_client.call_tool("generate", {"prompt": _words(20), "model": tiny})).is_error
    assert _predict_calls(emulator, "countTokens") == 1


async def test_a_reload_with_a_longer_context_is_noticed(
    emulator: LMStudioEmulator, mcp_client: Client, tiny: str
) -> None:
    prompt = _words(100)
    assert (await mcp_client.call_tool("generate", {"prompt": prompt, "model": tiny})).is_error
    emulator.unload(tiny)
    await emulator.load_instance("fake-echo-1b", identifier=tiny, context_length=1024)
    result = await mcp_client.call_tool("generate", {"prompt": prompt, "model": tiny})
    assert not result.is_error, text_of(result)


async def test_a_reload_with_a_shorter_context_gets_the_same_message_from_lm_studio_s_refusal(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    await emulator.load_instance("fake-echo-1b", identifier="shrinks", context_length=1024)
    assert not (await mcp_client.call_tool("generate", {"prompt": "hi", "model": "shrinks"})).is_error
    emulator.unload("shrinks")
    await emulator.load_instance("fake-echo-1b", identifier="shrinks", context_length=TINY)
    # The cached 1024 lets the prompt through; LM Studio refuses it, and the refusal reads like ours.
    result = await mcp_client.call_tool("generate", {"prompt": _words(100), "model": "shrinks"})
    assert result.is_error and f"{TINY}-token context" in text_of(result), text_of(result)


async def test_images_count_conservatively(emulator: LMStudioEmulator, mcp_client: Client) -> None:
    await emulator.load_instance("fake-vision-2b", identifier="small-eyes", context_length=IMAGE_TOKENS + 32)
    image = {"data": PNG_B64, "mimeType": "image/png"}
    one = await mcp_client.call_tool("generate", {"prompt": "What?", "images": [image], "model": "small-eyes"})
    assert not one.is_error, text_of(one)
    two = await mcp_client.call_tool("generate", {"prompt": "What?", "images": [image, image], "model": "small-eyes"})
    assert two.is_error and f"counting each of its 2 images as {IMAGE_TOKENS}" in text_of(two)


async def test_the_python_api_refuses_with_the_same_error(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient, tiny: str
) -> None:
    model = AsyncLMStudio(client, tiny)
    with pytest.raises(ContextOverflowError) as caught:
        await model.generate(_words(100), config={"contextOverflowPolicy": "stopAtLimit"})
    assert caught.value.context_length == TINY
    # Without the policy nothing is counted first; LM Studio's own refusal still reads the same.
    calls = len(emulator.rpc_calls)
    with pytest.raises(ContextOverflowError, match="LM Studio refused it as too long"):
        await model.generate(_words(100))
    assert ("llm", "applyPromptTemplate") not in emulator.rpc_calls[calls:]


async def test_over_stdio_a_refusal_is_a_tool_error_and_stdout_stays_clean(
    emulator: LMStudioEmulator, tiny: str
) -> None:
    async with raw_stdio_server(emulator.api_host) as server:
        await server.initialize()
        refused = await server.call_tool("generate", {"prompt": _words(100), "model": tiny})
        assert refused["result"]["isError"] is True
        assert f"{TINY}-token context" in refused["result"]["content"][0]["text"]
        ok = await server.call_tool("generate", {"prompt": "hi", "model": tiny})
        assert ok["result"]["structuredContent"]["stats"]["context_length"] == TINY
        await server.close_stdin()
        assert await server.drain_until_exit() == 0
        assert_only_json_rpc(server.stdout_lines)
    assert emulator.predictions[0].last_user_text == "hi" and len(emulator.predictions) == 1


async def test_each_instance_of_one_model_is_checked_against_its_own_context(
    emulator: LMStudioEmulator,
) -> None:
    await emulator.load_instance("fake-echo-1b", context_length=TINY)  # fake-echo-1b:2
    async with Client(create_server(Settings(host=emulator.api_host, timeout=10))) as mcp:
        big = await mcp.call_tool("generate", {"prompt": _words(100), "model": "fake-echo-1b:2"})
        assert big.is_error and "'fake-echo-1b:2'" in text_of(big)
        fine = await mcp.call_tool("generate", {"prompt": _words(100), "model": "fake-echo-1b"})
        assert not fine.is_error, text_of(fine)
