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
    check_text(json.dumps(json_schema, ensure_ascii=False), "`json_schema`")
    return JsonSchema(json_schema)


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
    try:
        parsed = valid_json_strings(strict_json.loads(raw), raw)  # an escaped lone surrogate becomes U+FFFD
    except json.JSONDecodeError as exc:
        raise StructuredOutputError(
            f"The model's output is not valid JSON ({exc.msg}). Raw output: {raw}", raw
        ) from None
    except strict_json.NonStandardJSONError as exc:
        raise StructuredOutputError(f"The model's output is not valid JSON ({exc}). Raw output: {raw}", raw) from None
    error = best_match(validator_for(schema)(schema).iter_errors(parsed))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(root)"
        raise StructuredOutputError(
            f"The model's JSON does not satisfy the schema at {where}: {error.message}. Raw output: {raw}", raw
        )
    return parsed
