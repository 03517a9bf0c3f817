"""A JSON schema of any depth, as an object or as a string, is refused with a plain error before anything
recursive (copying, encoding, validating) touches it."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from mcp_lmstudio.errors import InvalidInputError
from mcp_lmstudio.server.structured_output import structured_schema
from mcp_lmstudio.types import MAX_SCHEMA_DEPTH, JsonSchema

DEEP = sys.getrecursionlimit() * 3


def nested_object(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def nested_list(depth: int) -> dict[str, Any]:
    node: Any = []
    for _ in range(depth):
        node = [node]
    return {"enum": node}


@pytest.mark.parametrize("schema", [nested_object(DEEP), nested_list(DEEP)], ids=["object", "list"])
def test_a_deep_schema_object_is_refused_plainly(schema: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError, match=f"^The JSON schema nests deeper than {MAX_SCHEMA_DEPTH} levels"):
        JsonSchema(schema)
    with pytest.raises(InvalidInputError, match=f"^The JSON schema nests deeper than {MAX_SCHEMA_DEPTH} levels"):
        structured_schema(schema, None, None)


@pytest.mark.parametrize(
    "text",
    ['{"enum": ' + "[" * DEEP + "]" * DEEP + "}", '{"a":' * DEEP + "1" + "}" * DEEP, "[" * 100_000],
    ids=["valid", "object", "unclosed"],
)
def test_a_deep_schema_string_is_refused_plainly(text: str) -> None:
    with pytest.raises(InvalidInputError, match=f"^The JSON schema nests deeper than {MAX_SCHEMA_DEPTH} levels"):
        structured_schema(text, None, None)


def test_a_schema_string_with_a_huge_integer_is_refused_plainly() -> None:
    text = '{"type": "integer", "maximum": ' + "9" * 5000 + "}"
    with pytest.raises(InvalidInputError, match="integer with 5,000 digits; at most 4,300 are read"):
        structured_schema(text, None, None)


def test_a_schema_within_the_limit_is_accepted() -> None:
    schema = nested_object(MAX_SCHEMA_DEPTH // 2 - 1)
    assert structured_schema(json.dumps(schema), None, None).schema == schema
