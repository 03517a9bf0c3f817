"""Strict JSON of outside text: any depth and any number length give a clear error, never a crash."""

from __future__ import annotations

import json
import sys

import pytest

from mcp_lmstudio import strict_json
from mcp_lmstudio.strict_json import MAX_INTEGER_DIGITS, NumberTooLongError, TooDeepError


@pytest.mark.parametrize(
    "text",
    [
        "[" * 3000 + "]" * 3000,  # valid JSON, nested 3,000 deep
        "[" * 10_000,  # a degenerate model repeating one token, unclosed
        '{"a":' * 2000 + "1" + "}" * 2000,
        "[" * (sys.getrecursionlimit() + 10) + "]" * (sys.getrecursionlimit() + 10),
    ],
)
def test_any_depth_is_a_clear_error_not_a_recursion_error(text: str) -> None:
    with pytest.raises(TooDeepError, match=r"more than 128 levels deep at position \d+; at most 128 are read"):
        strict_json.loads(text)


def test_the_limit_itself_is_read() -> None:
    depth = strict_json.DEFAULT_MAX_DEPTH
    assert strict_json.loads("[" * depth + "]" * depth) is not None
    assert strict_json.loads("[" * 200 + "]" * 200, max_depth=200) is not None  # the limit is the caller's
    with pytest.raises(TooDeepError, match="more than 4 levels"):
        strict_json.loads("[[[[[]]]]]", max_depth=4)


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"s": "[" * 5000, "t": '"{\\' * 1000})
    assert strict_json.loads(text) == {"s": "[" * 5000, "t": '"{\\' * 1000}


def test_depth_is_checked_on_bytes_too() -> None:
    strict_json.check_depth(b"[" * 10 + b"]" * 10, 10)
    with pytest.raises(TooDeepError) as caught:
        strict_json.check_depth(b'{"x": "[[[", "y":' + b"[" * 11, 10)
    assert caught.value.position == 17 + 9  # the object is the first level


@pytest.mark.parametrize("sign", ["", "-"])
def test_a_5000_digit_integer_is_refused_in_plain_words(sign: str) -> None:
    with pytest.raises(NumberTooLongError) as caught:
        strict_json.loads('{"price_usd": ' + sign + "2" + "9" * 4999 + "}")
    message = str(caught.value)
    assert message == "it holds an integer with 5,000 digits; at most 4,300 are read"
    assert "set_int_max_str_digits" not in message


def test_integers_up_to_the_limit_are_read_exactly() -> None:
    assert strict_json.loads("9" * MAX_INTEGER_DIGITS) == int("9" * MAX_INTEGER_DIGITS)
    assert strict_json.loads("[-12, 0, 7]") == [-12, 0, 7]


def test_value_depth() -> None:
    assert not strict_json.value_depth_exceeds("x", 0)
    assert strict_json.value_depth_exceeds({}, 0)
    assert not strict_json.value_depth_exceeds([[{"a": []}]], 4)
    assert strict_json.value_depth_exceeds([[{"a": []}]], 3)
