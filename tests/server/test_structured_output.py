"""What the model wrote, parsed and validated: every failure is a tool error that says why and carries the raw
text (or says the answer was empty), never a bare Python error."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mcp_lmstudio.errors import StructuredOutputError
from mcp_lmstudio.models.events import GenerationResult, GenerationStats
from mcp_lmstudio.server.structured_output import parse_structured

TREE = {
    "type": "object",
    "properties": {"label": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#"}}},
    "required": ["label", "children"],
}


def result(text: str, reasoning: str = "", stop_reason: str = "eosFound") -> GenerationResult:
    stats = GenerationStats(prompt_tokens=3, predicted_tokens=9, tokens_per_second=1.0, time_to_first_token_s=0.1)
    return GenerationResult(text=text, reasoning=reasoning, model="m", stop_reason=stop_reason, stats=stats)


def refusal(text: str, schema: dict[str, Any], reasoning: str = "") -> str:
    with pytest.raises(StructuredOutputError) as caught:
        parse_structured(result(text, reasoning), schema)
    assert caught.value.raw_text == text
    return str(caught.value)


@pytest.mark.parametrize(
    ("text", "schema"),
    [
        ("[" * 3000 + "]" * 3000, {"type": "array"}),
        ("[" * 10_000, {"type": "array"}),
        ('{"a":' * 2000 + "1" + "}" * 2000, {"type": "object"}),
    ],
)
def test_a_deeply_nested_answer_is_invalid_json_carrying_the_raw_text(text: str, schema: dict[str, Any]) -> None:
    message = refusal(text, schema)
    assert message.startswith("The model's output is not valid JSON (it nests arrays and objects more than 128")
    assert message.endswith(f"Raw output: {text}")


def test_a_5000_digit_integer_is_invalid_json_carrying_the_raw_text() -> None:
    text = '{"price_usd": 24' + "9" * 4998 + "}"
    schema = {"type": "object", "properties": {"price_usd": {"type": "integer"}}, "required": ["price_usd"]}
    message = refusal(text, schema)
    assert message.startswith(
        "The model's output is not valid JSON (it holds an integer with 5,000 digits; at most 4,300 are read)."
    )
    assert "set_int_max_str_digits" not in message and message.endswith(text)


def test_a_deep_answer_within_the_limit_is_validated_through_a_recursive_schema() -> None:
    node: dict[str, Any] = {"label": "leaf", "children": [{"label": 7, "children": []}]}
    for _ in range(60):  # 122 levels of JSON
        node = {"label": "x", "children": [node]}
    with pytest.raises(StructuredOutputError, match="does not satisfy the schema at children/0/children/0/"):
        parse_structured(result(json.dumps(node)), TREE)


@pytest.mark.parametrize("text", ["", "  \n"])
def test_an_answer_with_only_reasoning_says_so(text: str) -> None:
    message = refusal(text, {"type": "object"}, reasoning='The user wants a joke. {"joke": "..."}')
    assert message.startswith("The model's answer was empty: it only reasoned")
    assert "wrote no JSON" in message and "not valid JSON" not in message
    assert message.endswith('The reasoning ended: The user wants a joke. {"joke": "..."}')


def test_an_answer_with_nothing_says_so() -> None:
    message = refusal("", {"type": "object"})
    assert message.startswith("The model's answer was empty: it wrote nothing")
    assert "Expecting value" not in message


def test_long_reasoning_is_quoted_by_its_end() -> None:
    message = refusal("", {"type": "object"}, reasoning="a" * 5000 + "THE END")
    assert message.endswith("THE END") and len(message) < 1500
