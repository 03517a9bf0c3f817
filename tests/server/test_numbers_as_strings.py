"""Hosts that send numbers and booleans as strings ("20", "0.5", "true") get them read exactly; any other
string, and a boolean where a number belongs, is still refused with the usual plain message."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from mcp_lmstudio.server.arguments import boolean_from_text, integer_from_text, number_from_text
from mcp_lmstudio.testing import LMStudioEmulator
from tests.support import text_of

pytestmark = pytest.mark.anyio

SCHEMA = '{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}'


async def test_numbers_sent_as_strings_reach_lm_studio_exactly(emulator: LMStudioEmulator, mcp_client: Client) -> None:
    arguments = {"max_tokens": "20", "temperature": "0.5", "top_p": "1", "top_k": "40", "min_p": "5e-2"}
    result = await mcp_client.call_tool("generate", {"prompt": "x", "repeat_penalty": "1.1", **arguments})
    assert not result.is_error, text_of(result)
    config = emulator.predictions[-1].config
    assert config["llm.prediction.maxPredictedTokens"] == {"checked": True, "value": 20}
    assert config["llm.prediction.temperature"] == 0.5
    assert config["llm.prediction.topPSampling"] == {"checked": True, "value": 1}
    assert config["llm.prediction.topKSampling"] == 40
    assert config["llm.prediction.minPSampling"] == {"checked": True, "value": 0.05}
    assert config["llm.prediction.repeatPenalty"] == {"checked": True, "value": 1.1}


@pytest.mark.parametrize("flag", ["true", "false"])
async def test_a_boolean_sent_as_a_string_is_read(emulator: LMStudioEmulator, mcp_client: Client, flag: str) -> None:
    result = await mcp_client.call_tool(
        "structured_generate", {"prompt": "x", "json_schema": SCHEMA, "think_first": flag}
    )
    assert not result.is_error, text_of(result)
    assert len(emulator.predictions) == (2 if flag == "true" else 1)  # think_first costs a second prediction


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_tokens", " 20", '`max_tokens` must be a whole number; got " 20".'),
        ("max_tokens", "20abc", '`max_tokens` must be a whole number; got "20abc".'),
        ("max_tokens", "20.0", '`max_tokens` must be a whole number; got "20.0".'),
        ("max_tokens", "0x10", '`max_tokens` must be a whole number; got "0x10".'),
        ("max_tokens", "+5", '`max_tokens` must be a whole number; got "+5".'),
        ("max_tokens", "9" * 30, f'`max_tokens` must be a whole number; got "{"9" * 30}".'),
        ("max_tokens", True, "`max_tokens` must be a whole number; got true."),
        ("max_tokens", "0", "`max_tokens` must be from 1 to 1,000,000; got 0."),
        ("temperature", "NaN", '`temperature` must be a number; got "NaN".'),
        ("temperature", "1e999", '`temperature` must be a number; got "1e999".'),
        ("temperature", "Infinity", '`temperature` must be a number; got "Infinity".'),
        ("temperature", ".5", '`temperature` must be a number; got ".5".'),
        ("temperature", "", '`temperature` must be a number; got "".'),
        ("temperature", False, "`temperature` must be a number; got false."),
        ("temperature", "true", '`temperature` must be a number; got "true".'),
        ("temperature", "9", "`temperature` must be from 0 to 5; got 9."),
    ],
)
async def test_anything_else_is_still_refused(
    emulator: LMStudioEmulator, mcp_client: Client, field: str, value: Any, message: str
) -> None:
    result = await mcp_client.call_tool("generate", {"prompt": "x", field: value})
    assert result.is_error and text_of(result) == message
    assert emulator.predictions == []


@pytest.mark.parametrize("value", ["True", "1", "yes", " true", 1])
async def test_only_exact_boolean_text_is_a_boolean(emulator: LMStudioEmulator, mcp_client: Client, value: Any) -> None:
    result = await mcp_client.call_tool(
        "structured_generate", {"prompt": "x", "json_schema": SCHEMA, "think_first": value}
    )
    assert result.is_error and text_of(result).startswith("`think_first` must be true or false; got ")


async def test_the_advertised_schemas_are_unchanged(mcp_client: Client) -> None:
    tools = {tool.name: tool.input_schema["properties"] for tool in (await mcp_client.list_tools()).tools}
    generate = tools["generate"]
    assert generate["max_tokens"]["anyOf"][0]["type"] == "integer"
    assert generate["temperature"]["anyOf"][0]["type"] == "number"
    assert tools["structured_generate"]["think_first"]["type"] == "boolean"


def test_the_readers() -> None:
    assert integer_from_text("-3") == -3 and integer_from_text("03") == "03" and integer_from_text(3.0) == 3.0
    assert number_from_text("-0.25") == -0.25 and number_from_text("1E3") == 1000.0 and number_from_text("1.") == "1."
    assert boolean_from_text("false") is False and boolean_from_text("FALSE") == "FALSE"


async def test_the_range_is_still_advertised(mcp_client: Client) -> None:
    tools = {tool.name: tool.input_schema["properties"] for tool in (await mcp_client.list_tools()).tools}
    assert {k: v for k, v in tools["generate"]["max_tokens"].items() if k != "description"} == {
        "anyOf": [{"type": "integer", "minimum": 1, "maximum": 1_000_000}, {"type": "null"}]
    }
