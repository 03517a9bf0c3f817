"""Strict, bounded JSON parsing of outside text (RFC 8259).

Python's `json.loads` also accepts `NaN`, `Infinity` and `-Infinity`, and turns a number such as `1e999` into an
infinite float; neither is JSON, and both would leave this package as `null` or fail to serialise later. It
also recurses once per nesting level, so a document nested a few thousand levels deep raises `RecursionError`
(not a `ValueError`: handlers that catch parse errors miss it), and it refuses an integer of more than 4,300
digits with advice meant for Python programmers. `loads` refuses all of these with a `NonStandardJSONError`
that says what is wrong, and checks the nesting depth with a cheap iterative scan before any recursive parser
runs (`check_depth`, also used for request lines).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "MAX_INTEGER_DIGITS",
    "NonStandardJSONError",
    "NumberTooLongError",
    "TOO_DEEP_MESSAGE",
    "TooDeepError",
    "check_depth",
    "loads",
    "value_depth_exceeds",
]

#: Deepest nesting (arrays and objects) read by default. Far beyond any real document, and well inside what
#: the recursive code downstream (validators, encoders) handles within Python's recursion limit.
DEFAULT_MAX_DEPTH = 128
#: What a call says when a document in it (arguments, schema, or what LM Studio or the model sent) was too deep
#: for a recursive parser that had no limit of its own.
TOO_DEEP_MESSAGE = (
    "Something in this call is nested too deeply to process: the arguments, the JSON schema, or what the model "
    "wrote. Flatten it, or ask the model for a flatter answer, and try again; other calls are not affected."
)
#: Longest integer literal read (Python's own default limit for converting text to an integer).
MAX_INTEGER_DIGITS = 4300


class NonStandardJSONError(ValueError):
    """The text is JSON only by Python's lenient reading, or is beyond what this package reads."""


class _NonFiniteError(NonStandardJSONError):
    def __init__(self, token: str, why: str) -> None:
        self.token = token
        super().__init__(f"{token} is {why}; RFC 8259 JSON has no NaN or infinite numbers")


class TooDeepError(NonStandardJSONError):
    """Arrays and objects nested deeper than the limit."""

    def __init__(self, limit: int, position: int | None) -> None:
        self.limit = limit
        self.position = position
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"it nests arrays and objects more than {limit} levels deep{where}; at most {limit} are read")


class NumberTooLongError(NonStandardJSONError):
    """An integer literal with more digits than are read."""

    def __init__(self, digits: int) -> None:
        self.digits = digits
        super().__init__(f"it holds an integer with {digits:,} digits; at most {MAX_INTEGER_DIGITS:,} are read")


# A string (possibly unterminated, running to the end), or one bracket. Strings are matched whole so that the
# brackets inside them are not counted; the unrolled loop keeps long strings (base64 images) fast.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)
_BYTE_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


def check_depth(text: str | bytes, limit: int = DEFAULT_MAX_DEPTH) -> None:
    """Raise `TooDeepError` if the JSON text `text` nests arrays and objects more than `limit` levels deep.

    Iterative, and nearly free when the text holds fewer brackets than the limit. Text that is not JSON is
    scanned as if it were (its parser will refuse it). Positions count characters in a `str`, bytes in `bytes`.
    """
    if isinstance(text, str):
        if text.count("[") + text.count("{") <= limit:
            return
        _check_tokens(text, _TOKENS.finditer(text), '"', "[{", limit)
    else:
        if text.count(b"[") + text.count(b"{") <= limit:
            return
        _check_tokens(text, _BYTE_TOKENS.finditer(text), b'"', b"[{", limit)


def _check_tokens(text: Any, matches: Any, quote: Any, openers: Any, limit: int) -> None:
    depth = 0
    for match in matches:
        first = text[match.start() : match.start() + 1]
        if first == quote:
            continue
        if first in openers:
            depth += 1
            if depth > limit:
                raise TooDeepError(limit, match.start())
        elif depth:
            depth -= 1


def value_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether the parsed JSON value `value` nests lists and dicts more than `limit` levels deep (iteratively)."""
    level, frontier = 0, [value]
    while True:
        frontier = [node for node in frontier if isinstance(node, dict | list)]
        if not frontier:
            return False
        level += 1
        if level > limit:
            return True
        frontier = [child for node in frontier for child in (node.values() if isinstance(node, dict) else node)]


def _refuse_constant(token: str) -> Any:
    raise _NonFiniteError(token, "not a JSON literal")


def _finite_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise _NonFiniteError(token, "too large for a finite number")
    return value


def _bounded_int(token: str) -> int:
    digits = len(token) - token.startswith("-")
    if digits > MAX_INTEGER_DIGITS:
        raise NumberTooLongError(digits)
    try:
        return int(token)
    except ValueError:  # this interpreter's own limit is lower (PYTHONINTMAXSTRDIGITS)
        raise NumberTooLongError(digits) from None


def loads(text: str, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Parse `text` as strict JSON nested at most `max_depth` levels deep.

    Raises:
        json.JSONDecodeError: the text is not JSON at all.
        NonStandardJSONError: it uses `NaN`, `Infinity` or `-Infinity`, or a number that overflows a double
            (the base class); it nests deeper than `max_depth` (`TooDeepError`); it holds an integer of more than
            `MAX_INTEGER_DIGITS` digits (`NumberTooLongError`).
    """
    check_depth(text, max_depth)
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int)
    except RecursionError:  # the caller's own stack was already deep: still a clear error, never a crash
        raise TooDeepError(max_depth, None) from None
