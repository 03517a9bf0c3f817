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
    ("generate", {"prompt": 123}, "`prompt` must be a string; got 123."),
    ("generate", {"prompt": ["a", "b"]}, '`prompt` must be a string; got ["a", "b"].'),
    ("generate", {"prompt": "x" * 2_000_001}, "over the 2,000,000-character limit"),
    ("generate", {"prompt": "bad \ud800 surrogate"}, "unpaired UTF-16 surrogate"),
    ("generate", {"messages": "hello"}, '`messages` must be an array; got "hello"'),
    ("generate", {"messages": []}, "`messages` has no user message"),
    ("generate", {"messages": [{"role": "system", "content": "only a system prompt"}]}, "has no user message"),
    ("generate", {"messages": [user([{"type": "text", "text": "x" * 1_500_000}] * 2)]}, "2,000,000-character limit"),
    (
        "generate",
        {"messages": [user([{"type": "text", "text": "x"}, *[{"type": "image", **IMAGE}] * 17])]},
        "at most 16",
    ),
    (
        "generate",
        {"messages": [{"role": "tool", "content": "x"}]},
        "`messages[0].role` must be 'system', 'user' or 'assistant'; got \"tool\".",
    ),
    ("generate", {"messages": [{"role": "user"}]}, "`messages[0]` needs `content` (Text, or for user turns"),
    ("generate", {"messages": [user("a"), {"role": "system", "content": "b"}]}, "system message may only come first"),
    (
        "generate",
        {"messages": [user("q"), {"role": "assistant", "content": [{"type": "image", **IMAGE}]}]},
        "only user messages may",
    ),
    (
        "generate",
        {"messages": [user([{"type": "audio", "data": "AAAA"}])]},
        "`messages[0].content[0].type` must be 'text' or 'image'; got \"audio\".",
    ),
    ("generate", {"messages": [user("x", name="bob")]}, "`messages[0]` has no field `name`. It takes: role, content."),
    ("generate", {"messages": [user([{"type": "text", "text": "\udfff"}])]}, "unpaired UTF-16 surrogate"),
    ("generate", {"messages": [user("x")], "images": [IMAGE]}, "`images` goes with `prompt`"),
    ("generate", {"prompt": "x", "images": [{"data": "%%%", "mimeType": "image/png"}]}, "not valid base64"),
    ("generate", {"prompt": "x", "images": [{"data": TEXT_B64, "mimeType": "image/png"}]}, "not a PNG, JPEG or WebP"),
    ("generate", {"prompt": "x", "images": [{"data": PNG_B64, "mimeType": "image/gif"}]}, "Unsupported image MIME"),
    ("generate", {"prompt": "x", "images": [{"data": PNG_B64, "mimeType": "image/jpeg"}]}, "declared as 'image/jpeg'"),
    ("generate", {"prompt": "x", "images": [{"data": JPEG_B64}]}, "`images[0]` needs `mimeType`"),
    ("generate", {"prompt": "x", "images": [{"data": OVERSIZE_B64, "mimeType": "image/png"}]}, "-byte limit"),
    ("generate", {"prompt": "x", "images": [IMAGE] * 17}, "at most 16 are accepted"),
    ("generate", {"prompt": "x", "temperature": -1}, "`temperature` must be from 0 to 5; got -1."),
    ("generate", {"prompt": "x", "temperature": 1e9}, "`temperature` must be from 0 to 5; got 1000000000.0."),
    ("generate", {"prompt": "x", "temperature": "hot"}, '`temperature` must be a number; got "hot".'),
    ("generate", {"prompt": "x", "max_tokens": 0}, "`max_tokens` must be from 1 to 1,000,000; got 0."),
    ("generate", {"prompt": "x", "max_tokens": 2.5}, "`max_tokens` must be a whole number; got 2.5."),
    # Wrong types are refused, never coerced (true would have become a 1-token answer); a string is read only
    # when it is exactly a number (tests/server/test_numbers_as_strings.py).
    ("generate", {"prompt": "x", "max_tokens": True}, "`max_tokens` must be a whole number; got true."),
    ("generate", {"prompt": "x", "max_tokens": "5 tokens"}, '`max_tokens` must be a whole number; got "5 tokens".'),
    ("generate", {"prompt": "x", "temperature": "0.5 "}, '`temperature` must be a number; got "0.5 ".'),
    ("structured_generate", {"prompt": "x", "json_schema": "{}", "think_first": "no"}, "`think_first` must be true"),
    ("generate", {"prompt": "x", "max_tokens": 10**12}, "`max_tokens` must be from 1 to 1,000,000"),
    ("generate", {"prompt": "x", "top_p": 1.5}, "`top_p` must be from 0 to 1; got 1.5."),
    ("generate", {"prompt": "x", "top_k": -1}, "`top_k` must be from 0 to 100,000; got -1."),
    ("generate", {"prompt": "x", "min_p": -0.1}, "`min_p` must be from 0 to 1; got -0.1."),
    ("generate", {"prompt": "x", "repeat_penalty": 0}, "`repeat_penalty` must be over 0 and at most 10; got 0."),
    ("generate", {"prompt": "x", "stop": "###"}, '`stop` must be an array of strings; got "###": write it as ["###"].'),
    ("generate", {"prompt": "x", "stop": [""]}, "`stop[0]` must not be empty."),
    ("generate", {"prompt": "x", "stop": ["s"] * 33}, "`stop` must have at most 32 items; got 33."),
    ("generate", {"prompt": "x", "stop": ["\ud800"]}, "`stop[0]` is not valid Unicode text"),
    ("generate", {"prompt": "x", "model": ""}, "`model` must not be empty."),
    ("generate", {"prompt": "x", "model": "no-such-model"}, "Model 'no-such-model' is not available"),
    ("generate", {"prompt": "x", "bogus": 1}, "`generate` has no argument `bogus`. It takes: prompt, "),
    ("generate", {"prompt": "x", "topP": 0.9}, "`generate` has no argument `topP`; did you mean `top_p`?"),
    ("generate_stream", {}, "Give exactly one of `prompt`"),
    ("generate_stream", {"prompt": "x", "temperature": -0.5}, "`temperature` must be from 0 to 5"),
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
        "`json_schema` must be an object or a string; got [1, 2].",
    ),  # the SDK parses JSON strings
    ("structured_generate", {"prompt": "x", "json_schema": [1, 2]}, "`json_schema` must be an object or a string"),
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
    ("list_models", {"verbose": True}, "`list_models` takes no arguments; remove `verbose`."),
    ("no_such_tool", {"prompt": "x"}, "Unknown tool"),
    (
        "generate",
        {"prompt": "hi", "maxTokens": 10},
        "`generate` has no argument `maxTokens`; did you mean `max_tokens`?",
    ),
    ("generate", {"prompt": "x", "max_new_tokens": 10}, "did you mean `max_tokens`?"),
    ("structured_generate", {"prompt": "x", "schema": SCHEMA}, "did you mean `json_schema`?"),
    ("generate", {"messages": [user(123)]}, "`messages[0].content` must be a string or an array; got 123."),
    ("generate", {"messages": [user([{"text": "x"}])]}, "`messages[0].content[0]` needs `type` ('text' or 'image')."),
    (
        "generate",
        {"messages": [user([{"type": "text", "text": "x", "extra": 1}])]},
        "`messages[0].content[0]` has no field `extra`",
    ),
    ("generate", {"prompt": "x", "max_tokens": 0, "top_p": 2}, "(1 more problem after this one.)"),
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
    assert "validation error" not in error_text and "pydantic" not in error_text and "Input should" not in error_text
    assert emulator.predictions == [] and emulator.uploads == []
    after = await mcp_client.call_tool("generate", {"prompt": "still serving?"})
    assert text_of(after) == "You said: still serving?"
