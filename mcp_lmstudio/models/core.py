"""What `LMStudio` and `AsyncLMStudio` share, free of I/O: the stream's state, preparing a call, the time
limit's phases and messages, and small facts about the SDK client.
"""

from __future__ import annotations

import contextlib
from typing import TypeAlias

import anyio
import lmstudio
from lmstudio import AsyncClient, Client, LlmPredictionFragment, PredictionResult

from ..errors import GenerationTimeoutError, NoModelLoadedError
from ..text import SurrogateJoiner, valid_unicode
from ..types import Chat, Image
from .events import (
    GenerationResult,
    GenerationStats,
    LoadProgress,
    PromptProgress,
    StreamEvent,
    TextFragment,
)
from .sdk_errors import CONNECT_ERRORS

#: How long a cancelled prediction may take to confirm its end before we stop waiting for it.
CANCEL_GRACE_S = 1.0

NOT_FOUND = lmstudio.LMStudioModelNotFoundError


def result_from(prediction: PredictionResult, model: str, text: str, reasoning: str) -> GenerationResult:
    stats = prediction.stats
    return GenerationResult(
        text=text,
        reasoning=reasoning,
        model=valid_unicode(model),
        stop_reason=valid_unicode(str(stats.stop_reason)),
        stats=GenerationStats(
            prompt_tokens=int(stats.prompt_tokens_count or 0),
            predicted_tokens=int(stats.predicted_tokens_count or 0),
            tokens_per_second=float(stats.tokens_per_second or 0.0),
            time_to_first_token_s=stats.time_to_first_token_sec,
            context_length=prediction.load_config.context_length,
        ),
    )


class Deadline:
    """Put into the event queue by a timer when the time limit passes."""


DEADLINE = Deadline()
QueueItem: TypeAlias = "LlmPredictionFragment | PromptProgress | Deadline | None"


class FragmentSorter:
    """Splits fragments into answer and reasoning, counting tokens and keeping the text valid Unicode."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.tokens = 0
        self.ended = False
        self._answer = SurrogateJoiner()
        self._thinking = SurrogateJoiner()

    def sort(self, items: list[QueueItem]) -> list[StreamEvent]:
        """Events for a batch of queued items, merging consecutive text of the same kind.

        A fast model delivers fragments in bursts; one event per burst spares every layer above a pass per
        token. Sets `ended` at the end of the stream; raises TimeoutError when the deadline marker comes.
        """
        events: list[StreamEvent] = []
        for item in items:
            if item is None:
                self.ended = True
                events.extend(self.finish())
                break
            if isinstance(item, Deadline):
                raise TimeoutError
            event = self.add(item) if isinstance(item, LlmPredictionFragment) else item
            previous = events[-1] if events else None
            if isinstance(event, TextFragment) and isinstance(previous, TextFragment):
                if previous.reasoning == event.reasoning:
                    events[-1] = TextFragment(previous.text + event.text, event.reasoning, event.tokens)
                    continue
            if event is not None:
                events.append(event)
        return events

    def add(self, fragment: LlmPredictionFragment) -> TextFragment | None:
        self.tokens += fragment.tokens_count
        if fragment.reasoning_type == "none":
            return self._text(self._answer.feed(fragment.content), reasoning=False)
        if fragment.reasoning_type == "reasoning":
            return self._text(self._thinking.feed(fragment.content), reasoning=True)
        return None  # the <think> / </think> tags themselves

    def finish(self) -> list[TextFragment]:
        """The text still held back at the end of the stream (a lone surrogate, as U+FFFD)."""
        held = [(self._thinking.flush(), True), (self._answer.flush(), False)]
        return [self._text(text, reasoning=reasoning) for text, reasoning in held if text]

    def _text(self, text: str, *, reasoning: bool) -> TextFragment:
        (self.reasoning if reasoning else self.text).append(text)
        return TextFragment(text, reasoning, self.tokens)

    def result(self, prediction: PredictionResult, model: str) -> GenerationResult:
        return result_from(prediction, model, "".join(self.text), "".join(self.reasoning))


def images_in(model_input: object) -> list[Image]:
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


PLACEHOLDER_HANDLE = lmstudio.FileHandle(name="image.png", identifier="pending", size_bytes=0, file_type="image")


def describe_host(client: AsyncClient | Client) -> str:
    return requested_host(client) or "any default LM Studio port"


async def close_client(client: AsyncClient) -> None:
    """Close `client`, shielded and bounded, releasing whatever part of it had connected."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_GRACE_S):
        with contextlib.suppress(*CONNECT_ERRORS):
            await client.aclose()


def requested_host(client: AsyncClient | Client) -> str | None:
    try:
        return client.api_host
    except lmstudio.LMStudioRuntimeError:
        return None  # discovery, done again by the next client


def no_model_loaded(api_host: str) -> NoModelLoadedError:
    return NoModelLoadedError(
        f"No model is loaded in LM Studio at {api_host}, and none was named. Load one in LM Studio "
        "(or run `lms load <model-key>`), or pass `model` with a key from list_models."
    )


#: Where a call was when its time limit passed, for the error message.
PHASES = {
    "connecting": "it was still connecting to LM Studio",
    "uploading": "it was still uploading images",
    "loading": "LM Studio was still loading the model",
    "preparing": "it was still loading the model or uploading images",
    "starting": (
        "LM Studio had not started answering, perhaps waiting for a free prediction slot (LM Studio 0.4 runs a "
        "few at once and queues the rest); the prediction was cancelled, so it will not start later"
    ),
    "prompt": "LM Studio was still processing the prompt; the prediction was cancelled",
    "generating": "the prediction was cancelled in LM Studio",
}


def timeout_error(timeout: float | None, phase: str) -> GenerationTimeoutError:
    return GenerationTimeoutError(
        f"The call did not finish within the {timeout:g} s time limit ({PHASES[phase]}). "
        "Raise the limit (--timeout / MCP_LMSTUDIO_TIMEOUT), lower max_tokens, or use a faster model."
    )


def phase_after(event: StreamEvent) -> str:
    if isinstance(event, LoadProgress):
        return "loading"
    return "prompt" if isinstance(event, PromptProgress) else "generating"


def vision_identifiers(loaded: object) -> list[str]:
    infos = loaded if isinstance(loaded, list) else []
    return [str(info.get("identifier")) for info in infos if isinstance(info, dict) and info.get("vision")]
