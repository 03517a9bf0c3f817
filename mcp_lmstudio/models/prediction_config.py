"""Prediction settings: checked against the keys LM Studio really reads, so none is silently dropped."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import msgspec
from lmstudio import LlmPredictionConfig

from ..errors import InvalidInputError

__all__ = ["PREDICTION_CONFIG_KEYS", "check_prediction_config"]

# The SDK accepts each field by its camelCase wire name or its snake_case name and silently drops any
# other key (msgspec ignores unknown fields), so `topP` would vanish without this check.
_FIELDS = [field for field in msgspec.structs.fields(LlmPredictionConfig) if field.name != "raw"]

#: Every key accepted in `config=`: LM Studio's camelCase names and the SDK's snake_case names.
PREDICTION_CONFIG_KEYS: frozenset[str] = frozenset(
    name for field in _FIELDS for name in (field.name, field.encode_name)
)

# Names people reach for from other APIs, mapped to LM Studio's own.
_COMMON_ALIASES = {
    "top_p": "topPSampling",
    "topP": "topPSampling",
    "top_k": "topKSampling",
    "topK": "topKSampling",
    "min_p": "minPSampling",
    "minP": "minPSampling",
    "max_new_tokens": "maxTokens",
    "max_length": "maxTokens",
    "num_predict": "maxTokens",
    "stop": "stopStrings",
    "repetition_penalty": "repeatPenalty",
    "repeat_penalty": "repeatPenalty",
}


def check_prediction_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return `config` as a dict, or raise `InvalidInputError` naming each key LM Studio would ignore."""
    if config is None:
        return {}
    unknown = [key for key in config if key not in PREDICTION_CONFIG_KEYS]
    if unknown:
        raise InvalidInputError("; ".join(_explain_unknown_key(key) for key in unknown))
    return dict(config)


def _explain_unknown_key(key: str) -> str:
    suggestion = _COMMON_ALIASES.get(key) or next(
        iter(difflib.get_close_matches(key, sorted(PREDICTION_CONFIG_KEYS), n=1)), None
    )
    hint = f"use {suggestion!r}" if suggestion else "see lmstudio.LlmPredictionConfig for the valid keys"
    return f"Unknown prediction setting {key!r}: LM Studio would silently ignore it; {hint}"
