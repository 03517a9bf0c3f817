"""Hypothesis strategies built from a JSON schema: the subset the tools' input schemas use."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.support import PNG_B64

_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)


def from_schema(schema: dict[str, Any], root: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """Values valid for `schema` (object, anyOf/oneOf, $ref, const/enum, strings, numbers, arrays)."""
    root = root or schema
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return st.deferred(lambda: from_schema(root["$defs"][name], root))
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([from_schema(branch, root) for branch in schema[key]])
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return _object(schema, root)
    if kind == "array":
        items = from_schema(schema.get("items", {}), root)
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=min(schema.get("maxItems", 3), 3))
    if kind == "string":
        return _string(schema)
    if kind in ("integer", "number"):
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return st.none() | st.booleans() | _TEXT | st.integers()


def _object(schema: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    required = set(schema.get("required", []))
    properties = schema.get("properties", {})
    return st.fixed_dictionaries(
        {name: from_schema(sub, root) for name, sub in properties.items() if name in required},
        optional={name: from_schema(sub, root) for name, sub in properties.items() if name not in required},
    )


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if schema.get("description", "").startswith("The image bytes"):
        return st.just(PNG_B64) | _TEXT  # mostly real images, sometimes junk
    minimum, maximum = schema.get("minLength", 0), min(schema.get("maxLength", 40), 40)
    return st.text(st.characters(codec="utf-8"), min_size=minimum, max_size=max(minimum, maximum))


def _number(schema: dict[str, Any], *, integer: bool) -> st.SearchStrategy[Any]:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if integer:
        return st.integers(
            min_value=None if low is None else int(low) + ("exclusiveMinimum" in schema),
            max_value=None if high is None else int(high),
        )
    return st.floats(
        min_value=low,
        max_value=high,
        exclude_min="exclusiveMinimum" in schema,
        exclude_max="exclusiveMaximum" in schema,
        allow_nan=False,
    )
