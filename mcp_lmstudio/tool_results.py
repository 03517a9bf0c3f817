"""What the tools return: result schemas (`outputSchema`) and `CallToolResult`s built from model-layer results."""

from __future__ import annotations

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from .results import GenerationResult


class Stats(BaseModel):
    """What LM Studio measured for the generation."""

    prompt_tokens: int
    predicted_tokens: int
    tokens_per_second: float
    time_to_first_token_s: float | None


class GenerateOutput(BaseModel):
    """The answer, the model that produced it, why it stopped, any reasoning, and stats."""

    text: str
    model: str
    stop_reason: str
    reasoning: str | None = None
    stats: Stats


class ModelEntry(BaseModel):
    """A loaded instance of an LLM, or a downloaded LLM without one."""

    key: str = Field(description="What `model` takes: the instance's identifier, or the model key if not loaded.")
    model_key: str = Field(description="The model this is (an instance of).")
    display_name: str
    loaded: bool
    context_length: int = Field(description="Tokens: the instance's loaded context, or the model's maximum.")
    vision: bool


class ModelList(BaseModel):
    """The loaded and the downloaded LLMs."""

    models: list[ModelEntry]


def error_result(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def generation_output(result: GenerationResult) -> GenerateOutput:
    stats = result.stats
    return GenerateOutput(
        text=result.text,
        model=result.model,
        stop_reason=result.stop_reason,
        reasoning=result.reasoning or None,
        stats=Stats(
            prompt_tokens=stats.prompt_tokens,
            predicted_tokens=stats.predicted_tokens,
            tokens_per_second=stats.tokens_per_second,
            time_to_first_token_s=stats.time_to_first_token_s,
        ),
    )


def generation_result(result: GenerationResult) -> CallToolResult:
    structured = generation_output(result).model_dump()
    if structured["reasoning"] is None:
        del structured["reasoning"]  # present only when the model reasoned; other nulls (stats) stay
    return CallToolResult(content=[TextContent(type="text", text=result.text)], structured_content=structured)


def describe_entry(entry: ModelEntry) -> str:
    if not entry.loaded:
        state = "not loaded"
    elif entry.key != entry.model_key:
        state = f"loaded instance of {entry.model_key}"
    else:
        state = "loaded"
    vision = ", vision" if entry.vision else ""
    return f"{entry.key} ({state}, context {entry.context_length}{vision}): {entry.display_name}"
