"""Malformed calls to every tool: a clear error each, nothing reaches LM Studio, and the server keeps serving."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from mcp import Client, MCPError

from mcp_lmstudio.testing import LMStudioEmulator
from tests.support import JPEG_B64, PNG_B64, PNG_BYTES, text_of

pytestmark = pytest.mark.anyio

IMAGE = {"data": PNG_B64, "mimeType": "image/png"}
TEXT_B64 = base64.b64encode(b"just some text, not an image").decode()
OVERSIZE_B64 = base64.b64encode(PNG_BYTES + b"\0" * (20 * 1024 * 1024)).decode()
SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}}


def nested_schema(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"x": schema}}
    return schema


def user(content: Any, **extra: Any) -> dict[str, Any]:
    return {"role": "user", "content": content, **extra}


# (tool, arguments, a piece of the expected error message)
BAD_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("generate", {}, "Give exactly one of `prompt`"),
    ("generate", {"prompt": "a", "messages": [user("b")]}, "both were given"),
    ("generate", {"prompt": ""}, "`prompt` is empty"),
    ("generate", {"prompt": " \n\t "}, "`prompt` is empty"),
    ("generate", {"prompt": 123}, "Input should be a valid string"),
    ("generate", {"prompt": ["a", "b"]}, "Input should be a valid string"),
    ("generate", {"prompt": "x" * 2_000_001}, "over the 2,000,000-character limit"),
    ("generate", {"prompt": "bad \ud800 surrogate"}, "unpaired UTF-16 surrogate"),
    ("generate", {"messages": "hello"}, "Input should be a valid list"),
    ("generate", {"messages": []}, "`messages` has no user message"),
    ("generate", {"messages": [{"role": "system", "content": "only a system prompt"}]}, "has no user message"),
    ("generate", {"messages": [user([{"type": "text", "text": "x" * 1_500_000}] * 2)]}, "2,000,000-character limit"),
    (
        "generate",
        {"messages": [user([{"type": "text", "text": "x"}, *[{"type": "image", **IMAGE}] * 17])]},
        "at most 16",
    ),
    ("generate", {"messages": [{"role": "tool", "content": "x"}]}, "Input should be 'system', 'user' or 'assistant'"),
    ("generate", {"messages": [{"role": "user"}]}, "Field required"),
    ("generate", {"messages": [user("a"), {"role": "system", "content": "b"}]}, "system message may only come first"),
    (
        "generate",
        {"messages": [user("q"), {"role": "assistant", "content": [{"type": "image", **IMAGE}]}]},
        "only user messages may",
    ),
    ("generate", {"messages": [user([{"type": "audio", "data": "AAAA"}])]}, "does not match any of the expected tags"),
    ("generate", {"messages": [user("x", name="bob")]}, "Extra inputs are not permitted"),
    ("generate", {"messages": [user([{"type": "text", "text": "\udfff"}])]}, "unpaired UTF-16 surrogate"),
    ("generate", {"messages": [user("x")], "images": [IMAGE]}, "`images` goes with `prompt`"),
    ("generate", {"prompt": "x", "images": [{"data": "%%%", "mimeType": "image/png"}]}, "not valid base64"),
    ("generate", {"prompt": "x", "images": [{"data": TEXT_B64, "mimeType": "image/png"}]}, "not a PNG, JPEG or WebP"),
    ("generate", {"prompt": "x", "images": [{"data": PNG_B64, "mimeType": "image/gif"}]}, "Unsupported image MIME"),
    ("generate", {"prompt": "x", "images": [{"data": PNG_B64, "mimeType": "image/jpeg"}]}, "declared as 'image/jpeg'"),
    ("generate", {"prompt": "x", "images": [{"data": JPEG_B64}]}, "Field required"),
    ("generate", {"prompt": "x", "images": [{"data": OVERSIZE_B64, "mimeType": "image/png"}]}, "-byte limit"),
    ("generate", {"prompt": "x", "images": [IMAGE] * 17}, "at most 16 are accepted"),
    ("generate", {"prompt": "x", "temperature": -1}, "greater than or equal to 0"),
    ("generate", {"prompt": "x", "temperature": 1e9}, "less than or equal to 5"),
    ("generate", {"prompt": "x", "temperature": "hot"}, "valid number"),
    ("generate", {"prompt": "x", "max_tokens": 0}, "greater than or equal to 1"),
    ("generate", {"prompt": "x", "max_tokens": 2.5}, "valid integer"),
    ("generate", {"prompt": "x", "max_tokens": 10**12}, "less than or equal to 1000000"),
    ("generate", {"prompt": "x", "top_p": 1.5}, "less than or equal to 1"),
    ("generate", {"prompt": "x", "top_k": -1}, "greater than or equal to 0"),
    ("generate", {"prompt": "x", "min_p": -0.1}, "greater than or equal to 0"),
    ("generate", {"prompt": "x", "repeat_penalty": 0}, "greater than 0"),
    ("generate", {"prompt": "x", "stop": "###"}, "valid list"),
    ("generate", {"prompt": "x", "stop": [""]}, "at least 1 character"),
    ("generate", {"prompt": "x", "stop": ["s"] * 33}, "at most 32 items"),
    ("generate", {"prompt": "x", "stop": ["\ud800"]}, "unable to parse raw data as a unicode string"),
    ("generate", {"prompt": "x", "model": ""}, "at least 1 character"),
    ("generate", {"prompt": "x", "model": "no-such-model"}, "Model 'no-such-model' is not available"),
    ("generate", {"prompt": "x", "bogus": 1}, "Extra inputs are not permitted"),
    ("generate", {"prompt": "x", "topP": 0.9}, "Extra inputs are not permitted"),
    ("generate_stream", {}, "Give exactly one of `prompt`"),
    ("generate_stream", {"prompt": "x", "temperature": -0.5}, "greater than or equal to 0"),
    ("generate_stream", {"prompt": "x", "images": [{"data": "", "mimeType": "image/png"}]}, "not a PNG, JPEG or WebP"),
    ("structured_generate", {"prompt": "x"}, "Give `json_schema`"),
    ("structured_generate", {"json_schema": SCHEMA}, "Give exactly one of `prompt`"),
    (
        "structured_generate",
        {"prompt": "x", "json_schema": SCHEMA, "regex": "a+"},
        "drop `regex` and keep `json_schema`",
    ),
    ("structured_generate", {"prompt": "x", "json_schema": {"$ref": "#/$defs/missing"}}, "does not resolve"),
    ("structured_generate", {"prompt": "x", "json_schema": {"$ref": "https://example.com/s.json"}}, "outside itself"),
    ("generate", {"prompt": "x", "model": "null"}, "Model 'null' is not available"),
    ("structured_generate", {"prompt": "x", "regex": "[0-9]+"}, "LM Studio supports only JSON-schema structured"),
    ("structured_generate", {"prompt": "x", "cfg": "root ::= 'a'"}, "LM Studio supports only JSON-schema structured"),
    ("structured_generate", {"prompt": "x", "json_schema": "{not json"}, "not valid JSON"),
    (
        "structured_generate",
        {"prompt": "x", "json_schema": "[1, 2]"},
        "valid dictionary",
    ),  # the SDK parses JSON strings
    ("structured_generate", {"prompt": "x", "json_schema": [1, 2]}, "valid dictionary"),
    ("structured_generate", {"prompt": "x", "json_schema": {"type": "nonsense"}}, "Invalid JSON schema at type"),
    ("structured_generate", {"prompt": "x", "json_schema": {"minLength": "three"}}, "Invalid JSON schema"),
    ("structured_generate", {"prompt": "x", "json_schema": nested_schema(60)}, "nests deeper than 48 levels"),
    (
        "structured_generate",
        {"prompt": "x", "json_schema": {"type": "object", "description": "d" * 300_000}},
        "over the 262,144 limit",
    ),
    (
        "structured_generate",
        {"prompt": "x", "json_schema": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
        'needs a JSON schema with a top-level "type"',
    ),
    ("structured_generate", {"prompt": "x", "json_schema": {"type": "string", "title": "\ud83d"}}, "surrogate"),
    ("list_models", {"verbose": True}, "Extra inputs are not permitted"),
    ("no_such_tool", {"prompt": "x"}, "Unknown tool"),
]


def test_the_table_is_big_enough() -> None:
    assert len(BAD_CALLS) >= 40


@pytest.mark.parametrize(
    ("tool", "arguments", "message"), BAD_CALLS, ids=[f"{i}-{c[0]}" for i, c in enumerate(BAD_CALLS)]
)
async def test_a_malformed_call_gets_a_clear_error_and_reaches_nothing(
    emulator: LMStudioEmulator, mcp_client: Client, tool: str, arguments: dict[str, Any], message: str
) -> None:
    try:
        result = await mcp_client.call_tool(tool, arguments)
    except MCPError as exc:  # where the SDK validates first, a JSON-RPC invalid-params error
        error_text = f"{exc.error.message} {json.dumps(exc.error.data)}"
    else:
        assert result.is_error
        error_text = text_of(result)
    assert message in error_text
    assert emulator.predictions == [] and emulator.uploads == []
    after = await mcp_client.call_tool("generate", {"prompt": "still serving?"})
    assert text_of(after) == "You said: still serving?"
