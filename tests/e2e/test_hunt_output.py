"""Hunt (turn 3) cases 07-09: what the model writes, however deep, long or empty, comes back as a clear result
through the real MCP client; LM Studio is the emulator, which the real `lmstudio` SDK talks to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client

from mcp_lmstudio.server.app import create_server
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import LMStudioEmulator, PredictionRecord, Reply
from tests.support import text_of

pytestmark = pytest.mark.anyio

REASONING = 'The user wants a joke. {"joke": "Why did the chicken cross the road?"}'
JOKE_SCHEMA = {"type": "object", "properties": {"joke": {"type": "string"}}, "required": ["joke"]}
PRICE_SCHEMA = {"type": "object", "properties": {"price_usd": {"type": "integer"}}, "required": ["price_usd"]}


class Script:
    """The emulator's reply, set by each test step."""

    def __init__(self) -> None:
        self.reply = Reply("[1]")

    def __call__(self, _record: PredictionRecord) -> Reply:
        return self.reply

    def answer(self, text: str) -> None:
        self.reply = Reply("", fragments=[text[i : i + 500] for i in range(0, len(text), 500)])


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
async def client(script: Script, mode: str) -> AsyncIterator[Client]:
    async with LMStudioEmulator(reply=script) as lms:
        async with Client(create_server(Settings(host=lms.api_host, timeout=20)), mode=mode) as mcp:  # type: ignore[arg-type]
            yield mcp


async def structured(client: Client, schema: dict[str, Any]) -> tuple[bool, str]:
    result = await client.call_tool("structured_generate", {"prompt": "p", "json_schema": schema})
    return result.is_error, text_of(result)


DEEP = {
    "10,000 unclosed [": ("[" * 10_000, {"type": "array"}),
    "valid array 3,000 deep": ("[" * 3000 + "]" * 3000, {"type": "array"}),
    "valid object 2,000 deep": ('{"a":' * 2000 + "1" + "}" * 2000, {"type": "object"}),
}


@pytest.mark.parametrize("case", list(DEEP))
async def test_deep_structured_output_is_a_clear_error_and_the_server_keeps_serving(
    client: Client, script: Script, case: str
) -> None:
    text, schema = DEEP[case]
    script.answer(text)
    is_error, message = await structured(client, schema)
    assert is_error and "Error executing tool" not in message
    assert "nested too deeply" in message or "levels deep" in message
    script.answer("[1]")
    assert await structured(client, {"type": "array"}) == (False, "[1]")


async def test_output_deeper_than_the_limit_but_readable_by_the_sdk_carries_the_raw_text(
    client: Client, script: Script
) -> None:
    text = "[" * 200 + "]" * 200
    script.answer(text)
    is_error, message = await structured(client, {"type": "array"})
    assert is_error
    assert message == (
        "The model's output is not valid JSON (it nests arrays and objects more than 128 levels deep at position "
        f"128; at most 128 are read). Raw output: {text}"
    )


# lmstudio 1.5.0 itself parses a structured answer with `json.loads` when the prediction ends, and raises
# (RecursionError; ValueError for a 5,000-digit integer) before the model layer has handed the text on; the
# model layer has to return the answer text when the SDK fails to decode its final packet (as for hunt #3).


@pytest.mark.parametrize("case", list(DEEP))
async def test_deep_structured_output_error_carries_the_raw_text(client: Client, script: Script, case: str) -> None:
    text, schema = DEEP[case]
    script.answer(text)
    is_error, message = await structured(client, schema)
    assert is_error and message.startswith("The model's output is not valid JSON (it nests") and text[:200] in message


async def test_a_400_digit_integer_is_read(client: Client, script: Script) -> None:
    script.answer('{"price_usd": 24' + "9" * 398 + "}")
    result = await client.call_tool("structured_generate", {"prompt": "price?", "json_schema": PRICE_SCHEMA})
    assert not result.is_error and result.structured_content == {"price_usd": int("24" + "9" * 398)}


async def test_a_5000_digit_integer_is_invalid_json_carrying_the_raw_text(client: Client, script: Script) -> None:
    text = '{"price_usd": 24' + "9" * 4998 + "}"
    script.answer(text)
    is_error, message = await structured(client, PRICE_SCHEMA)
    assert is_error and "set_int_max_str_digits" not in message
    assert message.startswith("The model's output is not valid JSON (it holds an integer with 5,000 digits")
    assert text in message


@pytest.mark.parametrize("tool", ["generate", "generate_stream"])
async def test_a_reasoning_only_answer_says_there_is_no_answer(client: Client, script: Script, tool: str) -> None:
    script.reply = Reply("", reasoning=REASONING)
    result = await client.call_tool(tool, {"prompt": "Tell me a joke"})
    assert not result.is_error
    assert [block.text for block in result.content] == [  # type: ignore[union-attr]
        "",
        "[No answer: the model only reasoned and wrote no answer (its reasoning is in structuredContent.reasoning). "
        "Ask again, asking for the answer itself; raise max_tokens if you set it low; or turn the model's thinking "
        "off in LM Studio.]",
    ]
    assert result.structured_content is not None
    assert result.structured_content["reasoning"] == REASONING and result.structured_content["text"] == ""


@pytest.mark.parametrize("answer", [Reply(""), Reply("", fragments=["\n", "  \n"])], ids=["nothing", "whitespace"])
async def test_an_empty_answer_says_there_is_no_answer(client: Client, script: Script, answer: Reply) -> None:
    script.reply = answer
    result = await client.call_tool("generate", {"prompt": "Tell me a joke"})
    assert not result.is_error and len(result.content) == 2
    assert result.content[1].text == (  # type: ignore[union-attr]
        "[No answer: the model stopped (eosFound) without writing anything. Ask again or rephrase the prompt, or "
        "try another model.]"
    )


async def test_a_real_answer_has_no_note(client: Client, script: Script) -> None:
    script.reply = Reply("Because.", reasoning=REASONING)
    result = await client.call_tool("generate", {"prompt": "Tell me a joke"})
    assert [block.text for block in result.content] == ["Because."]  # type: ignore[union-attr]


async def test_structured_output_with_only_reasoning_says_the_answer_was_empty(client: Client, script: Script) -> None:
    script.reply = Reply("", reasoning=REASONING)
    is_error, message = await structured(client, JOKE_SCHEMA)
    assert is_error
    assert message.startswith("The model's answer was empty: it only reasoned")
    assert "not valid JSON" not in message and message.endswith(REASONING)
