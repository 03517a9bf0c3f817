"""`structured_generate` with `think_first`: reason without a constraint, then write the JSON under it.

LM Studio turns a reasoning model's thinking off when a JSON schema constrains the output (its grammar
applies from the first token), so a schema-constrained answer from a reasoning model is an answer given
without thought (lmstudio-bug-tracker #575, #1783: "think, then constrain"). Here the model first answers
a planning turn freely (a reasoning model thinks there; any model writes a short plan), then, with that
turn in its context, writes the JSON under the schema. Both steps share one time limit, one cancellation
(leaving either step cancels its prediction in LM Studio) and one rising progress sequence, and run on
the same model instance. The plan comes back apart from the JSON (`GenerationResult.reasoning`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

import anyio

from ..errors import GenerationTimeoutError
from ..types import Chat, Image, JsonSchema
from .events import GenerationResult, StreamEvent, TextFragment

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .async_model import AsyncLMStudio

__all__ = ["ANSWER_INSTRUCTION", "THINK_INSTRUCTION", "think_first_events"]

THINK_INSTRUCTION = """\
Before answering, think the task through: work out, step by step and briefly, what the answer must contain. \
Do not write the final JSON yet; you will be asked for it next, and it must satisfy this JSON schema:
{schema}"""

ANSWER_INSTRUCTION = "Now write the final answer as a single JSON document that satisfies the schema."


def _asking_to_think(model_input: str | list[str | Image] | Chat, instruction: str) -> list[dict[str, Any]]:
    """The conversation with `instruction` ending its last user turn (or as a new user turn).

    LM Studio merges consecutive user turns into one message whose text parts run together, so the
    instruction joins the last user turn's text after a blank line instead.
    """
    messages = (
        list(model_input.messages) if isinstance(model_input, Chat) else [{"role": "user", "content": model_input}]
    )
    last = messages[-1]
    if last["role"] != "user":
        return [*messages, {"role": "user", "content": instruction}]
    content = last["content"]
    if isinstance(content, str):
        return [*messages[:-1], {"role": "user", "content": f"{content}\n\n{instruction}"}]
    return [*messages[:-1], {"role": "user", "content": [f"{content[0]}\n\n{instruction}", *content[1:]]}]


def _thoughts(first: GenerationResult) -> str:
    """What the planning step produced: a reasoning model's thinking, then its visible plan."""
    return "\n\n".join(part.strip() for part in (first.reasoning, first.text) if part.strip())


async def think_first_events(
    model_layer: AsyncLMStudio,
    model_input: str | list[str | Image] | Chat,
    output_type: JsonSchema,
    *,
    config: Mapping[str, Any] | None = None,
    model: str | None = None,
    timeout: float | None = None,
    text_interval: float = 0.0,
) -> AsyncGenerator[StreamEvent, None]:
    """Yield both steps' events, then the JSON step's `GenerationResult` with the plan as its `reasoning`.

    Token counts of the second step continue from the first's, so progress keeps rising; the second
    step's load and prompt progress are left out for the same reason. `timeout` (seconds; default
    `model_layer.timeout`) bounds both steps together; `text_interval` is `stream_events`'.

    Raises:
        GenerationTimeoutError: the shared time limit passed (the running prediction was cancelled).
        Whatever `AsyncLMStudio.stream_events` raises for either step.
    """
    limit = model_layer.timeout if timeout is None else timeout
    deadline = None if limit is None else anyio.current_time() + limit
    schema_text = json.dumps(output_type.schema, ensure_ascii=False)
    conversation = _asking_to_think(model_input, THINK_INSTRUCTION.format(schema=schema_text))
    first: GenerationResult | None = None
    with _one_time_limit(limit, "thinking"):
        async with contextlib.aclosing(
            model_layer.stream_events(
                Chat(conversation),
                None,
                config=config,
                model=model,
                timeout=_left(deadline),
                text_interval=text_interval,
            )
        ) as events:
            async for event in events:
                if isinstance(event, GenerationResult):
                    first = event
                else:
                    yield event
    assert first is not None
    thoughts = _thoughts(first)
    conversation += [
        {"role": "assistant", "content": thoughts or "(no plan)"},
        {"role": "user", "content": ANSWER_INSTRUCTION},
    ]
    offset = first.stats.predicted_tokens
    with _one_time_limit(limit, "writing_json"):
        async with contextlib.aclosing(
            model_layer.stream_events(
                Chat(conversation),
                output_type,
                config=config,
                model=first.model,
                timeout=_left(deadline),
                text_interval=text_interval,
            )
        ) as events:
            async for event in events:
                if isinstance(event, GenerationResult):
                    # LM Studio turns thinking off under a schema; should a version not, keep that too.
                    reasoning = "\n\n".join(part for part in (thoughts, event.reasoning.strip()) if part)
                    yield dataclasses.replace(event, reasoning=reasoning)
                elif isinstance(event, TextFragment):
                    yield dataclasses.replace(event, tokens=event.tokens + offset)


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - anyio.current_time(), 0.0)


@contextlib.contextmanager
def _one_time_limit(limit: float | None, phase: str) -> Any:
    """Restate a step's timeout as the whole call's: the step only had what the previous one left."""
    try:
        yield
    except GenerationTimeoutError:
        raise GenerationTimeoutError(limit, phase, think_first=True) from None
