"""`structured_generate`'s output type: the schema argument, and parsing and validating what the model wrote."""

from __future__ import annotations

import json
from typing import Any

from .. import strict_json
from ..errors import InvalidInputError, StructuredOutputError
from ..models.events import GenerationResult
from ..text import plural, valid_json_strings
from ..types import JsonSchema
from .arguments import check_text


def structured_schema(json_schema: dict[str, Any] | str | None, regex: str | None, cfg: str | None) -> JsonSchema:
    refused = [name for name, value in (("regex", regex), ("cfg", cfg)) if value is not None]
    if refused:
        fix = (
            f"drop {' and '.join(f'`{name}`' for name in refused)} and keep `json_schema`"
            if json_schema is not None
            else "describe the output as a JSON schema and pass it as `json_schema`"
        )
        raise InvalidInputError(
            f"LM Studio supports only JSON-schema structured output; {' and '.join(refused)} cannot be enforced: "
            f"{fix} (nothing was sent to LM Studio)."
        )
    if json_schema is None:
        raise InvalidInputError("Give `json_schema`: the JSON schema the answer must satisfy.")
    schema = JsonSchema(json_schema)  # checks the depth before anything recursive runs
    check_text(json.dumps(schema.schema, ensure_ascii=False), "`json_schema`")
    return schema


def parse_structured(result: GenerationResult, schema: dict[str, Any]) -> Any:
    from jsonschema.exceptions import best_match  # deferred: keeps server start-up fast
    from jsonschema.validators import validator_for

    raw = result.text
    if result.stop_reason in ("maxPredictedTokensReached", "contextLengthReached"):
        tokens = plural(result.stats.predicted_tokens, "token")
        raise StructuredOutputError(
            f"The JSON output was cut off ({result.stop_reason}) after {tokens}. "
            f"Raise max_tokens or simplify the schema. Raw output: {raw}",
            raw,
        )
    if not raw.strip():
        raise StructuredOutputError(empty_answer_message(result), raw)
    try:
        parsed = valid_json_strings(strict_json.loads(raw), raw)  # an escaped lone surrogate becomes U+FFFD
    except json.JSONDecodeError as exc:
        raise StructuredOutputError(
            f"The model's output is not valid JSON ({exc.msg}). Raw output: {raw}", raw
        ) from None
    except strict_json.NonStandardJSONError as exc:
        raise StructuredOutputError(f"The model's output is not valid JSON ({exc}). Raw output: {raw}", raw) from None
    try:
        error = best_match(validator_for(schema)(schema).iter_errors(parsed))
    except RecursionError:  # a recursive schema and a deep answer: refused rather than ending anything else
        raise StructuredOutputError(
            f"The model's JSON is nested too deeply to check against the schema. Ask for a flatter answer. "
            f"Raw output: {raw}",
            raw,
        ) from None
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(root)"
        raise StructuredOutputError(
            f"The model's JSON does not satisfy the schema at {where}: {error.message}. Raw output: {raw}", raw
        )
    return parsed


#: How much of the reasoning an empty-answer error quotes (its end, where a misplaced answer usually is).
REASONING_QUOTED_CHARS = 1000


def empty_answer_message(result: GenerationResult) -> str:
    """Why a structured answer is empty, and what to do: the model only reasoned, or wrote nothing at all."""
    if result.reasoning.strip():
        reasoning = result.reasoning.strip()
        quoted = reasoning if len(reasoning) <= REASONING_QUOTED_CHARS else f"...{reasoning[-REASONING_QUOTED_CHARS:]}"
        return (
            f"The model's answer was empty: it only reasoned ({plural(len(reasoning), 'character')} of reasoning) "
            "and wrote no JSON. Ask again; if it keeps happening, turn the model's thinking off in LM Studio or "
            f"use a model that does not reason. The reasoning ended: {quoted}"
        )
    return "The model's answer was empty: it wrote nothing (no JSON and no reasoning). Ask again, or try another model."
