"""What a generation produces: progress events, fragments and the final result (plain data, no I/O).

Kept apart from `models` so that the server can use them without importing the lmstudio SDK at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "GenerationResult",
    "GenerationStats",
    "LoadProgress",
    "Embeddings",
    "ModelDescription",
    "PromptProgress",
    "StreamEvent",
    "TextFragment",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerationStats:
    """What LM Studio measured for one prediction."""

    prompt_tokens: int
    predicted_tokens: int
    tokens_per_second: float
    time_to_first_token_s: float | None
    context_length: int | None = None
    """The instance's loaded context length in tokens, as LM Studio reported it with the result."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerationResult:
    """A finished generation: the answer, any reasoning (kept apart), the model and the stop reason."""

    text: str
    reasoning: str
    model: str
    stop_reason: str
    stats: GenerationStats


@dataclass(frozen=True, slots=True)
class LoadProgress:
    """LM Studio is loading `model` just in time; `fraction` (0.0 to 1.0) of it is done."""

    model: str
    fraction: float


@dataclass(frozen=True, slots=True)
class PromptProgress:
    """LM Studio's prompt processing progressed to `fraction` (0.0 to 1.0)."""

    fraction: float


@dataclass(frozen=True, slots=True)
class TextFragment:
    """New generated text; `tokens` counts every token generated so far, reasoning included."""

    text: str
    reasoning: bool
    tokens: int


StreamEvent: TypeAlias = LoadProgress | PromptProgress | TextFragment | GenerationResult


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelDescription:
    """One model LM Studio knows about: a loaded instance, or a downloaded model without one.

    `key` is what a call passes as `model` (an instance's identifier, such as `qwen3-8b:2`, or the model key);
    `model_key` the model it is an instance of; `context_length` in tokens, that instance's loaded context
    (or the model's maximum when not loaded); `type` "llm" (generates text) or "embedding" (embeds it);
    `default`: this is what a generation call without `model` would use.
    """

    key: str
    model_key: str
    display_name: str
    loaded: bool
    context_length: int
    vision: bool
    type: str = "llm"
    default: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Embeddings:
    """The embeddings of some texts, in their order: `model` (the instance that made them) and `dimensions`
    (the length of every vector)."""

    model: str
    dimensions: int
    vectors: list[list[float]]
