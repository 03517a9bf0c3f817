"""Tool argument errors in plain words: which field, which value, what is allowed, and for an unknown field the
closest valid name. Built from pydantic's errors and the tool's advertised input schema (what the caller saw)."""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from pydantic import ValidationError

from .arguments import number_from_text

__all__ = ["explain_validation_error"]

#: Names callers reach for from other APIs, mapped to this server's.
ALIASES = {
    "max_new_tokens": "max_tokens",
    "max_length": "max_tokens",
    "num_predict": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "stop_strings": "stop",
    "stop_sequences": "stop",
    "repetition_penalty": "repeat_penalty",
    "text": "prompt",
    "input": "prompt",
    "query": "prompt",
    "question": "prompt",
    "message": "messages",
    "chat": "messages",
    "history": "messages",
    "image": "images",
    "model_name": "model",
    "model_key": "model",
    "schema": "json_schema",
    "response_format": "json_schema",
    "output_schema": "json_schema",
    "mime_type": "mimeType",
}

_TYPE_NAMES = {
    "string_type": "a string",
    "list_type": "an array",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def explain_validation_error(exc: ValidationError, tool: str, schema: dict[str, Any], arguments: Any) -> str:
    """One or two sentences for the first problem in `exc` (and how many more there are)."""
    problems = _problems(exc)
    path, errors = problems[0]
    text = _explain(path, errors, tool, schema, arguments)
    if len(problems) > 1:
        text += f" ({len(problems) - 1} more problem{'s' if len(problems) > 2 else ''} after this one.)"
    return text


def _problems(exc: ValidationError) -> list[tuple[tuple[str | int, ...], list[dict[str, Any]]]]:
    """The errors grouped by field, leaving out the union branches that do not fit the value given."""
    by_path: dict[tuple[str | int, ...], list[dict[str, Any]]] = {}
    for error in exc.errors(include_url=False):
        by_path.setdefault(_clean_path(error["loc"]), []).append(dict(error))
    paths = list(by_path)
    # A type mismatch with one branch of a union is noise when another branch got further into the value.
    kept = [
        path
        for path in paths
        if not (
            all(error["type"] in _TYPE_NAMES for error in by_path[path])
            and any(other != path and other[: len(path)] == path for other in paths)
        )
    ]
    return [(path, by_path[path]) for path in kept]


def _clean_path(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """`loc` without pydantic's union-branch labels (`str`, `list[...]`, a tagged union's tag)."""
    path: list[str | int] = []
    after_tagged_union = False
    for part in loc:
        if isinstance(part, int):
            path.append(part)
            continue
        if "[" in part or part in ("str", "int", "float", "bool", "dict", "list", "none"):
            after_tagged_union = after_tagged_union or "tagged-union" in part
            continue
        if after_tagged_union and path and isinstance(path[-1], int):
            after_tagged_union = False  # the tag that picked the branch, e.g. 'text'
            continue
        path.append(part)
    return tuple(path)


def _explain(
    path: tuple[str | int, ...], errors: list[dict[str, Any]], tool: str, schema: dict[str, Any], arguments: Any
) -> str:
    error = errors[0]
    kind = error["type"]
    where = _format_path(path)
    given = _show(error.get("input"))
    field_schema = _schema_at(schema, path, arguments)
    if kind == "extra_forbidden":
        return _unknown_field(path, tool, schema, arguments)
    if kind == "missing":
        described = _description(field_schema)
        parent = _format_path(path[:-1])
        owner = f"`{tool}`" if not parent else f"`{parent}`"
        return f"{owner} needs `{path[-1]}`{f' ({described})' if described else ''}."
    if all(e["type"] in _TYPE_NAMES for e in errors):
        wanted = " or ".join(dict.fromkeys(_TYPE_NAMES[e["type"]] for e in errors))
        hint = ""
        if error["type"] == "list_type" and isinstance(error.get("input"), str):
            hint = f": write it as {json.dumps([error['input']])}"
        return f"`{where}` must be {wanted}{_items(field_schema)}; got {given}{hint}."
    if kind in ("literal_error", "enum"):
        return f"`{where}` must be {_or_list(error['ctx']['expected'])}; got {given}."
    if kind == "union_tag_invalid":
        tags = _or_list(error["ctx"]["expected_tags"])
        return f"`{_format_path((*path, 'type'))}` must be {tags}; got {_show(error['ctx']['tag'])}."
    if kind == "union_tag_not_found":
        return f"`{where}` needs `type` ({_or_list(_branch_tags(field_schema))})."
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"`{where}` must be {_range(field_schema)}; got {given}."
    if kind == "string_too_short" and error["ctx"].get("min_length") == 1:
        return f"`{where}` must not be empty.{_describe_after(field_schema)}"
    if kind in ("string_too_short", "string_too_long"):
        length = len(error["input"]) if isinstance(error.get("input"), str) else "?"
        return f"`{where}` must have {_length_limit(error)} characters; got {length}."
    if kind in ("too_short", "too_long"):
        return f"`{where}` must have {_length_limit(error)} items; got {error['ctx'].get('actual_length', '?')}."
    if kind == "string_unicode":
        return f"`{where}` is not valid Unicode text (it has an unpaired surrogate); send well-formed text."
    return f"`{where}`: {error['msg']}; got {given}."


def _unknown_field(path: tuple[str | int, ...], tool: str, schema: dict[str, Any], arguments: Any) -> str:
    name = str(path[-1])
    parent = path[:-1]
    allowed = list(_schema_at(schema, parent, arguments).get("properties", {}))
    owner = f"`{tool}`" if not parent else f"`{_format_path(parent)}`"
    kind = "argument" if not parent else "field"
    if not allowed:
        return f"{owner} takes no {kind}s; remove `{name}`."
    guess = _closest(name, allowed)
    if guess:
        return f"{owner} has no {kind} `{name}`; did you mean `{guess}`?"
    return f"{owner} has no {kind} `{name}`. It takes: {', '.join(allowed)}."


def _closest(name: str, allowed: list[str]) -> str | None:
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()
    for candidate in (name, snake, ALIASES.get(name), ALIASES.get(snake)):
        if candidate in allowed:
            return candidate
    matches = difflib.get_close_matches(snake, allowed, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _schema_at(schema: dict[str, Any], path: tuple[str | int, ...], arguments: Any) -> dict[str, Any]:
    """The advertised schema of the value at `path`, following the branch that fits the value given."""
    defs = schema.get("$defs", {})
    node, value = _resolve(schema, defs, arguments), arguments
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {})
            value = value[part] if isinstance(value, list) and part < len(value) else None
        else:
            node = node.get("properties", {}).get(part, {})
            value = value.get(part) if isinstance(value, dict) else None
        node = _resolve(node, defs, value)
    return node


def _resolve(node: dict[str, Any], defs: dict[str, Any], value: Any) -> dict[str, Any]:
    if "$ref" in node:
        node = defs.get(node["$ref"].rsplit("/", 1)[-1], {})
    branches = node.get("anyOf") or node.get("oneOf")
    if branches:
        branches = [_resolve(branch, defs, value) for branch in branches]
        tag = value.get("type") if isinstance(value, dict) else None
        for branch in branches:
            if tag is not None and branch.get("properties", {}).get("type", {}).get("const") == tag:
                return dict(branch)
        fitting = [branch for branch in branches if _fits(branch, value)]
        if len(fitting) == 1:
            return {**fitting[0], **{k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}}
        return node | {"anyOf": branches}
    return node


def _fits(branch: dict[str, Any], value: Any) -> bool:
    kind = branch.get("type")
    expected: dict[str, type] = {"object": dict, "array": list, "string": str, "null": type(None), "boolean": bool}
    if isinstance(kind, str) and kind in expected:
        return isinstance(value, expected[kind])
    if kind in ("integer", "number"):
        if isinstance(value, str):  # a number sent as a string is read as one (see `arguments.NumberText`)
            value = number_from_text(value)
        return isinstance(value, int | float) and not isinstance(value, bool)
    return "properties" in branch and isinstance(value, dict)


def _branch_tags(node: dict[str, Any]) -> list[str]:
    branches = node.get("anyOf", [])
    items = node.get("items", {}).get("anyOf", [])
    tags = [b.get("properties", {}).get("type", {}).get("const") for b in [*branches, *items]]
    return [repr(tag) for tag in tags if tag] or ["'text'", "'image'"]


def _range(node: dict[str, Any]) -> str:
    low = node.get("minimum", node.get("exclusiveMinimum"))
    high = node.get("maximum", node.get("exclusiveMaximum"))
    low_text = f"{'over' if 'exclusiveMinimum' in node else 'at least'} {_number(low)}" if low is not None else ""
    high_text = f"{'under' if 'exclusiveMaximum' in node else 'at most'} {_number(high)}" if high is not None else ""
    if "minimum" in node and "maximum" in node:
        return f"from {_number(low)} to {_number(high)}"
    return " and ".join(text for text in (low_text, high_text) if text) or "in range"


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)


def _length_limit(error: dict[str, Any]) -> str:
    ctx = error.get("ctx", {})
    if "max_length" in ctx:
        return f"at most {ctx['max_length']:,}"
    return f"at least {ctx.get('min_length', 1):,}"


def _items(node: dict[str, Any]) -> str:
    for branch in [node, *node.get("anyOf", [])]:
        items = branch.get("items")
        if isinstance(items, dict) and items.get("type") == "string":
            return " of strings"
    return ""


def _description(node: dict[str, Any]) -> str:
    return str(node.get("description", "")).rstrip(".")


def _describe_after(node: dict[str, Any]) -> str:
    described = _description(node)
    return f" ({described}.)" if described else ""


def _or_list(expected: str | list[str]) -> str:
    items = [item.strip() for item in expected.split(",")] if isinstance(expected, str) else expected
    items = [part for item in items for part in item.split(" or ")]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def _format_path(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _show(value: Any) -> str:
    try:
        shown = json.dumps(value, ensure_ascii=False)
        shown.encode("utf-8")
    except UnicodeEncodeError:  # an unpaired surrogate: escape it rather than send invalid Unicode
        shown = json.dumps(value)
    except (TypeError, ValueError):
        shown = repr(value)
    return shown if len(shown) <= 60 else f"{shown[:57]}..."
