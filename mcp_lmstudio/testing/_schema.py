"""Small deterministic values that satisfy a JSON schema: the emulator's structured-output replies."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["sample_for_schema"]


@dataclass
class _SampleContext:
    root: dict[str, Any]
    depth: int = 0

    def deeper(self) -> _SampleContext:
        return _SampleContext(self.root, self.depth + 1)


def sample_for_schema(schema: Any, root: dict[str, Any]) -> Any:
    """A small deterministic value that satisfies common JSON-schema constructs.

    Covers types, `properties`/`required`/`minProperties`, `items`/`prefixItems`/`minItems`/`maxItems`/
    `uniqueItems`, numeric bounds (exclusive too) and `multipleOf`, string lengths and common `format`s,
    `enum`, `const`, `$ref`, `anyOf`/`oneOf` (the first branch) and `allOf` (merged). Not `pattern`,
    `not`, `if`/`then`, or `dependentSchemas`: for those, script the reply.
    """
    return _sample(schema, _SampleContext(root))


def _sample(schema: Any, ctx: _SampleContext, variant: int = 0) -> Any:
    if not isinstance(schema, dict) or ctx.depth > 32:
        return None
    if "$ref" in schema:
        return _sample(_resolve_ref(schema["$ref"], ctx.root), ctx.deeper(), variant)
    if "allOf" in schema:
        return _sample(_merge_all_of(schema, ctx), ctx.deeper(), variant)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][variant % len(schema["enum"])]
    for combinator in ("anyOf", "oneOf"):
        if schema.get(combinator):
            return _sample(schema[combinator][0], ctx.deeper(), variant)
    kind = schema.get("type", "object" if "properties" in schema or "required" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    sampler = _SAMPLERS.get(kind)
    return sampler(schema, ctx, variant) if sampler is not None else None


def _merge_all_of(schema: dict[str, Any], ctx: _SampleContext) -> dict[str, Any]:
    merged: dict[str, Any] = {key: value for key, value in schema.items() if key != "allOf"}
    for branch in schema["allOf"]:
        if isinstance(branch, dict) and "$ref" in branch:
            branch = _resolve_ref(branch["$ref"], ctx.root)
        if not isinstance(branch, dict):
            continue
        merged["properties"] = {**merged.get("properties", {}), **branch.get("properties", {})}
        merged["required"] = sorted({*merged.get("required", []), *branch.get("required", [])})
        merged.update({key: value for key, value in branch.items() if key not in ("properties", "required")})
    return merged


def _resolve_ref(ref: str, root: dict[str, Any]) -> Any:
    node: Any = root
    for part in ref.removeprefix("#/").split("/") if ref != "#" else []:
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node


def _sample_object(schema: dict[str, Any], ctx: _SampleContext, _variant: int) -> dict[str, Any]:
    properties: dict[str, Any] = schema.get("properties", {})
    value = {name: _sample(sub, ctx.deeper()) for name, sub in properties.items()}
    extra = schema.get("additionalProperties", {})
    extra_schema = extra if isinstance(extra, dict) else {}
    for name in schema.get("required", []):
        value.setdefault(name, _sample(extra_schema, ctx.deeper()))
    for index in range(len(value), int(schema.get("minProperties", 0))):
        value[f"extra{index}"] = _sample(extra_schema, ctx.deeper())
    return value


def _sample_array(schema: dict[str, Any], ctx: _SampleContext, _variant: int) -> list[Any]:
    prefix: list[Any] = schema.get("prefixItems", [])
    count = max(int(schema.get("minItems", 1)), len(prefix))
    if "maxItems" in schema:
        count = min(count, int(schema["maxItems"]))
    items = schema.get("items", {})
    # Distinct variants keep `uniqueItems` satisfied (numbers and strings differ by index, enums rotate).
    return [_sample(prefix[i] if i < len(prefix) else items, ctx.deeper(), variant=i) for i in range(count)]


_FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00Z",
    "email": "emulated@example.com",
    "uri": "https://example.com/emulated",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
}


def _sample_string(schema: dict[str, Any], _ctx: _SampleContext, variant: int) -> str:
    if schema.get("format") in _FORMATS:
        return _FORMATS[schema["format"]]
    text = "emulated" if variant == 0 else f"emulated{variant}"
    minimum, maximum = int(schema.get("minLength", 0)), schema.get("maxLength")
    text = text.ljust(minimum, "x")
    return text[: int(maximum)] if maximum is not None else text


def _sample_number(schema: dict[str, Any], _ctx: _SampleContext, variant: int) -> float | int:
    integer = schema.get("type") == "integer"
    step = schema.get("multipleOf", 1 if integer else None)
    low = _bound(schema, "minimum", "exclusiveMinimum", step, +1)
    high = _bound(schema, "maximum", "exclusiveMaximum", step, -1)
    value = low if low is not None else (min(0.0, high) if high is not None else 0.0)
    if step is not None:
        value = math.ceil(value / step) * step
    value += variant * (step or 1)
    if high is not None and value > high:
        value = math.floor(high / step) * step if step is not None else high
    return int(value) if integer else value


def _bound(schema: dict[str, Any], inclusive: str, exclusive: str, step: float | None, direction: int) -> float | None:
    if inclusive in schema:
        return float(schema[inclusive])
    if exclusive in schema:
        return float(schema[exclusive]) + direction * (step or 0.5)
    return None


_SAMPLERS: dict[str, Callable[[dict[str, Any], _SampleContext, int], Any]] = {
    "object": _sample_object,
    "array": _sample_array,
    "string": _sample_string,
    "integer": _sample_number,
    "number": _sample_number,
    "boolean": lambda _s, _c, variant: variant % 2 == 0,
    "null": lambda _s, _c, _v: None,
}
