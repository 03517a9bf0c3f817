"""What the tools return: result schemas (`outputSchema`) and `CallToolResult`s built from model-layer results."""

from __future__ import annotations

from typing import Any, Literal

from mcp.types import CallToolResult, ContentBlock, TextContent
from pydantic import BaseModel, Field

from ..models.events import Embeddings, GenerationResult, ModelDescription
from ..text import plural


class Stats(BaseModel):
    """What LM Studio measured for the generation."""

    prompt_tokens: int
    predicted_tokens: int
    tokens_per_second: float
    time_to_first_token_s: float | None
    context_length: int | None = None
    """The model instance's loaded context length in tokens (compare with prompt_tokens)."""


class FileEntry(BaseModel):
    """A file `files` considered: read, or skipped (with why)."""

    path: str
    bytes: int
    status: str
    reason: str | None = None


class OutputFileEntry(BaseModel):
    """Where `output_file` wrote the answer."""

    path: str
    bytes: int


class GenerateOutput(BaseModel):
    """The answer, the model that produced it, why it stopped, any reasoning, stats, and the response's id."""

    text: str
    model: str
    stop_reason: str
    reasoning: str | None = None
    stats: Stats
    response_id: str | None = None
    files: list[FileEntry] | None = None
    output_file: OutputFileEntry | None = None


class ModelEntry(BaseModel):
    """A loaded model instance, or a downloaded model without one."""

    key: str = Field(description="What `model` takes: the instance's identifier, or the model key if not loaded.")
    model_key: str = Field(description="The model this is (an instance of).")
    display_name: str
    loaded: bool
    context_length: int = Field(description="Tokens: the instance's loaded context, or the model's maximum.")
    vision: bool
    type: Literal["llm", "embedding"]
    default: bool = Field(default=False, description="The model used when `model` is omitted.")


class ModelList(BaseModel):
    """The loaded and the downloaded models."""

    models: list[ModelEntry]


class UnloadOutput(BaseModel):
    """The instance that was unloaded."""

    identifier: str
    model_key: str
    type: Literal["llm", "embedding"]


class EmbedOutput(BaseModel):
    """One embedding per input text, in input order."""

    model: str
    dimensions: int
    embeddings: list[list[float]]


def model_entry(model: ModelDescription) -> ModelEntry:
    return ModelEntry(
        key=model.key,
        model_key=model.model_key,
        display_name=model.display_name,
        loaded=model.loaded,
        context_length=model.context_length,
        vision=model.vision,
        type="embedding" if model.type == "embedding" else "llm",
        default=model.default,
    )


def model_list_result(models: list[ModelDescription]) -> CallToolResult:
    """`list_models`' result: a line per model, and the entries (`default` only where true)."""
    entries = [model_entry(model) for model in models]
    text = "\n".join(describe_entry(entry) for entry in entries) or "LM Studio has no models downloaded."
    listing = ModelList(models=entries).model_dump(exclude_defaults=True)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=listing)


def loaded_result(model: ModelDescription) -> CallToolResult:
    """`load_model`'s result: the new instance as `list_models` shows it."""
    entry = model_entry(model)
    text = f"Loaded {describe_entry(entry)}. Pass {entry.key!r} as `model` to use it."
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=entry.model_dump(exclude_defaults=True)
    )


def unloaded_result(model: ModelDescription) -> CallToolResult:
    output = UnloadOutput(identifier=model.key, model_key=model.model_key, type=model_entry(model).type)
    text = f"Unloaded {model.key!r} (an instance of {model.model_key})."
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=output.model_dump())


def embed_result(embeddings: Embeddings) -> CallToolResult:
    count = len(embeddings.vectors)
    text = (
        f"{plural(count, 'embedding')} of {embeddings.dimensions} dimensions from {embeddings.model}, in input "
        "order, in the structured content's `embeddings`."
    )
    output = EmbedOutput(model=embeddings.model, dimensions=embeddings.dimensions, embeddings=embeddings.vectors)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=output.model_dump())


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
            context_length=stats.context_length,
        ),
    )


def generation_result(
    result: GenerationResult, *, max_tokens: int | None = None, time_limit: tuple[float, str] | None = None
) -> CallToolResult:
    """The answer as the first text content, exactly; a second one when it was cut off (see `cut_off_note`).

    `time_limit`: the call's limit in seconds and the flags that set it, for a result the limit cut off.
    """
    structured = generation_output(result).model_dump()
    if structured["reasoning"] is None:
        del structured["reasoning"]  # present only when the model reasoned; other nulls (stats) stay
    content: list[ContentBlock] = [TextContent(type="text", text=result.text)]
    note = cut_off_note(result, max_tokens, time_limit) or empty_answer_note(result)
    if note is not None:
        content.append(TextContent(type="text", text=note))
    return CallToolResult(content=content, structured_content=structured)


def cut_off_note(
    result: GenerationResult, max_tokens: int | None, time_limit: tuple[float, str] | None = None
) -> str | None:
    """What a reader of the content alone needs when the answer stopped early: that it did, and what to do.

    `max_tokens` is the limit the call set (None: LM Studio's own setting for the model); `time_limit` the
    call's time limit (seconds) and the flags that set it.
    """
    tokens = plural(result.stats.predicted_tokens, "token")
    if result.stop_reason == "timeout":
        seconds, flags = time_limit if time_limit is not None else (None, "--timeout / MCP_LMSTUDIO_TIMEOUT")
        limit = "the time limit" if seconds is None else f"the {seconds:g} s time limit"
        return (
            f"[Cut off: {limit} ended the call after {tokens}, so the answer above is incomplete. Raise the limit "
            f"({flags}), lower max_tokens, or use a faster model.]"
        )
    if result.stop_reason == "maxPredictedTokensReached":
        limit = f"max_tokens ({max_tokens})" if max_tokens is not None else "the model's token limit in LM Studio"
        if not result.text and result.reasoning:
            return (
                f"[No answer: the model spent all {tokens} of {limit} reasoning and was stopped before it answered. "
                "Raise max_tokens (reasoning models think first), or use a model that does not reason.]"
            )
        return (
            f"[Cut off: the answer above reached {limit} after {tokens} and is incomplete. Raise max_tokens, or "
            "ask for a shorter answer.]"
        )
    if result.stop_reason == "contextLengthReached":
        what = "reasoning filled" if not result.text and result.reasoning else "answer above filled"
        size = result.stats.context_length
        window = f"context window ({size:,} tokens)" if size else "context window"
        return (
            f"[Cut off: the {what} the model's {window} after {tokens}, so the answer is incomplete. "
            "Shorten the prompt or the conversation, or load the model with a longer context (load_model with "
            "context_length).]"
        )
    return None


def describe_entry(entry: ModelEntry) -> str:
    if not entry.loaded:
        state = "not loaded"
    elif entry.key != entry.model_key:
        state = f"loaded instance of {entry.model_key}"
    else:
        state = "loaded"
    kind = "embedding model, " if entry.type == "embedding" else ""
    vision = ", vision" if entry.vision else ""
    default = ", the default" if entry.default else ""
    return f"{entry.key} ({kind}{state}, context {entry.context_length}{vision}{default}): {entry.display_name}"


def structured_result(result: GenerationResult, parsed: Any, *, with_reasoning: bool) -> CallToolResult:
    """`structured_generate`'s result: the JSON text, the parsed value (non-objects wrapped as `{"value": ...}`)
    and, `with_reasoning` (think_first), the reasoning as a second text content, never inside the JSON."""
    content: list[ContentBlock] = [TextContent(type="text", text=result.text)]
    if with_reasoning:
        content.append(TextContent(type="text", text=result.reasoning or "(the model wrote no plan)"))
    structured = parsed if isinstance(parsed, dict) else {"value": parsed}
    return CallToolResult(content=content, structured_content=structured)


def empty_answer_note(result: GenerationResult) -> str | None:
    """For an answer that is empty (or only whitespace) and not cut off: that there is no answer, whether the
    model only reasoned, and what to do; None for any other answer."""
    if result.text.strip():
        return None
    if result.reasoning.strip():
        return (
            "[No answer: the model only reasoned and wrote no answer (its reasoning is in "
            "structuredContent.reasoning). Ask again, asking for the answer itself; raise max_tokens if you set "
            "it low; or turn the model's thinking off in LM Studio.]"
        )
    return (
        f"[No answer: the model stopped ({result.stop_reason}) without writing anything. Ask again or rephrase "
        "the prompt, or try another model.]"
    )
