"""Strict JSON parsing (RFC 8259): Python's `json.loads` also accepts `NaN`, `Infinity` and `-Infinity`,
and turns a number such as `1e999` into an infinite float; neither is JSON, and both would leave this
package as `null` or fail to serialise later."""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["NonStandardJSONError", "loads"]


class NonStandardJSONError(ValueError):
    """The text is JSON only by Python's lenient reading: a non-standard literal or a non-finite number."""

    def __init__(self, token: str, why: str) -> None:
        self.token = token
        super().__init__(f"{token} is {why}; RFC 8259 JSON has no NaN or infinite numbers")


def _refuse_constant(token: str) -> Any:
    raise NonStandardJSONError(token, "not a JSON literal")


def _finite_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise NonStandardJSONError(token, "too large for a finite number")
    return value


def loads(text: str) -> Any:
    """Parse `text` as strict JSON.

    Raises:
        json.JSONDecodeError: the text is not JSON at all.
        NonStandardJSONError: it uses `NaN`, `Infinity` or `-Infinity`, or a number that overflows a double.
    """
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
