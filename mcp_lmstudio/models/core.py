"""What `LMStudio` and `AsyncLMStudio` share, free of I/O: preparing a call, the stream's state, results
read from LM Studio's raw final packet, and the time limit's phases.

The steps that need LM Studio (resolving a model, the context pre-flight, predicting) are plans in
`plans.py`; each front end only performs their requests, the async one by awaiting, the sync one by calling.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias, TypedDict

import lmstudio
from lmstudio import AsyncClient, Client, LlmPredictionFragment

from ..errors import GenerationTimeoutError
from ..text import SurrogateJoiner, valid_unicode
from ..types import Chat, Image
from ._sdk import PLACEHOLDER_FILE_HANDLE, log_once
from .adapter import LMStudioTypeAdapter
from .events import GenerationResult, GenerationStats, LoadProgress, PromptProgress, StreamEvent, TextFragment
from .prediction_config import check_prediction_config

#: How long a cancelled prediction may take to confirm its end before we stop waiting for it.
CANCEL_GRACE_S = 1.0


@dataclass(frozen=True, slots=True)
class PreparedCall:
    """One generation call, checked: nothing in it can be refused for its form once LM Studio is asked.

    `model` is what the call named (None: the default); `default` what it resolves from (`model` or the
    front end's `model_name`); `setting` where that default was configured (None when the call named it);
    `limit` the time limit in seconds (None: no limit).
    """

    model_input: Any
    response_format: dict[str, Any] | None
    config: dict[str, Any]
    model: str | None
    default: str | None
    setting: str | None
    limit: float | None


def prepare_call(
    adapter: LMStudioTypeAdapter,
    model_input: object,
    output_type: object,
    config: Mapping[str, Any] | None,
    model: str | None,
    timeout: float | None,
    *,
    model_name: str | None,
    model_setting: str,
    default_timeout: float | None,
) -> PreparedCall:
    """Check everything about a call that needs no LM Studio: output type, config keys, input shape.

    Raises:
        TypeError, ValueError, InvalidInputError: the output type, config or input is malformed.
    """
    response_format = adapter.format_output_type(output_type)
    prediction_config = check_prediction_config(config)
    adapter.format_input(model_input, upload_image=lambda _image: PLACEHOLDER_FILE_HANDLE)
    limit = default_timeout if timeout is None else timeout
    return PreparedCall(
        model_input=model_input,
        response_format=response_format,
        config=prediction_config,
        model=model,
        default=model or model_name,
        setting=None if model else model_setting,
        limit=limit if limit is None or math.isfinite(limit) else None,
    )


def deadline_after(limit: float | None, now: float) -> float | None:
    """When a call that starts at `now` (seconds, any monotonic clock) must end; None: never."""
    return None if limit is None else now + limit


# -- the stream ---------------------------------------------------------------------------------------------


class Deadline:
    """Put into the async front end's event queue by a timer when the time limit passes."""


DEADLINE = Deadline()
QueueItem: TypeAlias = "LlmPredictionFragment | PromptProgress | Deadline | None"


class Expired(TimeoutError):
    """The time limit ended a prediction; `partial` holds what it had generated (None: nothing)."""

    def __init__(self, partial: GenerationResult | None) -> None:
        super().__init__()
        self.partial = partial


class FragmentSorter:
    """Splits fragments into answer and reasoning, counting tokens and keeping the text valid Unicode."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.tokens = 0
        self.ended = False
        self._answer = SurrogateJoiner()
        self._thinking = SurrogateJoiner()
        self._tokens_before = 0  # the count before the last fragment taken

    def sort(self, items: list[QueueItem]) -> list[StreamEvent]:
        """Events for a batch of queued items, merging consecutive text of the same kind.

        A fast model delivers fragments in bursts; one event per burst spares every layer above a pass per
        token. Sets `ended` at the end of the stream; raises TimeoutError when the deadline marker comes.
        """
        events: list[StreamEvent] = []
        run: list[str] = []  # consecutive text of one kind, joined once rather than pairwise
        run_is_reasoning = False
        for item in items:
            if isinstance(item, LlmPredictionFragment):
                taken = self._take(item)
                if taken is None:
                    continue
                text, reasoning = taken
                if run and reasoning != run_is_reasoning:
                    events.append(TextFragment("".join(run), run_is_reasoning, self._tokens_before))
                    run = []
                run.append(text)
                run_is_reasoning = reasoning
                continue
            if run:
                events.append(TextFragment("".join(run), run_is_reasoning, self.tokens))
                run = []
            if item is None:
                self.ended = True
                events.extend(self.finish())
                break
            if isinstance(item, Deadline):
                raise TimeoutError
            events.append(item)
        if run:
            events.append(TextFragment("".join(run), run_is_reasoning, self.tokens))
        return events

    def add(self, fragment: LlmPredictionFragment) -> TextFragment | None:
        """The event for one fragment (None for a `<think>` tag), its text kept for the result."""
        taken = self._take(fragment)
        return None if taken is None else TextFragment(taken[0], taken[1], self.tokens)

    def _take(self, fragment: LlmPredictionFragment) -> tuple[str, bool] | None:
        """Count `fragment` and keep its text: (text, is reasoning), or None for a `<think>` tag."""
        self._tokens_before = self.tokens
        self.tokens += fragment.tokens_count
        kind = fragment.reasoning_type
        if kind == "reasoning":
            text = self._thinking.feed(fragment.content)
            self.reasoning.append(text)
            return text, True
        if kind in ("reasoningStartTag", "reasoningEndTag"):
            return None  # the <think> / </think> tags themselves
        if kind != "none":
            log_once("a fragment kind", str(kind))  # newer than the SDK: keep its text rather than lose it
        text = self._answer.feed(fragment.content)
        self.text.append(text)
        return text, False

    def finish(self) -> list[TextFragment]:
        """The text still held back at the end of the stream (a lone surrogate, as U+FFFD)."""
        held = [(self._thinking.flush(), True), (self._answer.flush(), False)]
        return [self._text(text, reasoning=reasoning) for text, reasoning in held if text]

    def _text(self, text: str, *, reasoning: bool) -> TextFragment:
        (self.reasoning if reasoning else self.text).append(text)
        return TextFragment(text, reasoning, self.tokens)

    def result(self, packet: Mapping[str, Any] | None) -> GenerationResult:
        """The finished generation, with the statistics readable in LM Studio's raw `success` packet."""
        return result_from_packet(packet, self.model, "".join(self.text), "".join(self.reasoning), self.tokens)

    def partial(self, packet: Mapping[str, Any] | None) -> GenerationResult | None:
        """What was generated before the time limit (`stop_reason="timeout"`), or None if nothing was."""
        self.finish()
        if not self.text and not self.reasoning:
            return None
        result = self.result(packet)
        return GenerationResult(
            text=result.text, reasoning=result.reasoning, model=result.model, stop_reason="timeout", stats=result.stats
        )


def append_merging_text(events: list[StreamEvent], event: StreamEvent) -> None:
    """Append `event` to `events`, merged into the last one when both are text of the same kind (answer or
    reasoning); the merged fragment carries the later token count."""
    previous = events[-1] if events else None
    if isinstance(event, TextFragment) and isinstance(previous, TextFragment):
        if previous.reasoning == event.reasoning:
            events[-1] = TextFragment(previous.text + event.text, event.reasoning, event.tokens)
            return
    events.append(event)


def result_from_packet(
    packet: Mapping[str, Any] | None, model: str, text: str, reasoning: str, tokens: int
) -> GenerationResult:
    """A `GenerationResult` from LM Studio's raw `success` packet, reading each statistic leniently.

    A stop reason or field the SDK does not know is passed on as sent; a missing or malformed number is
    left out (0 or None), and `tokens` (counted from the fragments) stands in for the predicted count.
    """
    stats = _mapping((packet or {}).get("stats"))
    stop_reason = stats.get("stopReason")
    return GenerationResult(
        text=text,
        reasoning=reasoning,
        model=valid_unicode(model),
        stop_reason=valid_unicode(stop_reason) if isinstance(stop_reason, str) else "unknown",
        stats=GenerationStats(
            prompt_tokens=_number(stats.get("promptTokensCount"), int) or 0,
            predicted_tokens=_number(stats.get("predictedTokensCount"), int) or tokens,
            tokens_per_second=_number(stats.get("tokensPerSecond"), float) or 0.0,
            time_to_first_token_s=_number(stats.get("timeToFirstTokenSec"), float),
            context_length=_loaded_context_length(_mapping((packet or {}).get("loadModelConfig"))),
        ),
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _number(value: Any, kind: type[int] | type[float]) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return kind(value)


def _loaded_context_length(load_config: Mapping[str, Any]) -> int | None:
    fields = load_config.get("fields")
    for field in fields if isinstance(fields, list) else []:
        if isinstance(field, Mapping) and field.get("key") == "llm.load.contextLength":
            length: int | None = _number(field.get("value"), int)
            return length
    return None


# -- phases of the time limit -------------------------------------------------------------------------------


def phase_after(event: StreamEvent, current: str = "") -> str:
    """Where a call is once `event` came (a key of `errors.TIMEOUT_PHASES`); `current`: where it was."""
    if isinstance(event, LoadProgress):
        return current if current == "loading_new" else "loading"
    return "prompt" if isinstance(event, PromptProgress) else "generating"


def timeout_error(limit: float | None, phase: str, cause: BaseException | None = None) -> GenerationTimeoutError:
    """The error for a call its time limit ended in `phase`, with the partial result `cause` carries."""
    return GenerationTimeoutError(limit, phase, getattr(cause, "partial", None))


# -- small facts --------------------------------------------------------------------------------------------


def images_in(model_input: object) -> list[Image]:
    """The images of a model-layer input, in order (duplicates included)."""
    if isinstance(model_input, list):
        return [item for item in model_input if isinstance(item, Image)]
    if isinstance(model_input, Chat):
        return [
            item
            for message in model_input.messages
            if isinstance(message, dict) and isinstance(message.get("content"), list)
            for item in message["content"]
            if isinstance(item, Image)
        ]
    return []


def requested_host(client: AsyncClient | Client) -> str | None:
    try:
        return client.api_host
    except lmstudio.LMStudioRuntimeError:
        return None  # discovery, done again by the next client


def describe_host(client: AsyncClient | Client) -> str:
    return requested_host(client) or "any default LM Studio port"


class CallOptions(TypedDict, total=False):
    """The keyword arguments of every generation method of `LMStudio` and `AsyncLMStudio`.

    `config`: LM Studio prediction settings by their config keys (`temperature`, `maxTokens`,
    `contextOverflowPolicy`, ...; unknown keys are refused). `model`: what LM Studio resolves (an instance
    identifier, a model key, a path prefix); default: the front end's `model_name`, else the first loaded
    model. `timeout`: seconds for the whole call; default: the front end's `timeout`.
    """

    config: Mapping[str, Any] | None
    model: str | None
    timeout: float | None
