"""`LMStudio` and `AsyncLMStudio`: the model layer over the lmstudio SDK, and `from_lmstudio`.

This is the only module that calls the SDK for predictions. On top of what outlines' wrappers do, it:

* checks sampling settings against LM Studio's real config keys (a wrong key is an error);
* keeps reasoning apart from the answer (`GenerationResult.reasoning`; streams yield answer text only);
* cancels the prediction in LM Studio whenever a stream is left early (break, exception, task
  cancellation, time limit): cancelling the asyncio task alone would leave LM Studio generating;
* refuses an unknown model key (listing the keys that exist) before LM Studio could start a JIT load;
* resolves each model once and reuses the handle until LM Studio reports it unloaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator, Mapping
from typing import Any, TypeAlias, cast

import anyio
import lmstudio
from lmstudio import AsyncClient, Client, LlmPredictionFragment, PredictionResult

from .adapter import LMStudioTypeAdapter
from .config import check_prediction_config
from .errors import GenerationFailedError, GenerationTimeoutError, NoModelLoadedError
from .lmstudio_errors import CONNECT_ERRORS, lmstudio_words, translate_errors, unreachable_error, vision_error
from .preflight import ContextPreflight
from .resolution import SingleFlight, SyncSingleFlight, describe_models, resolve_specifier
from .results import (
    GenerationResult,
    GenerationStats,
    LoadProgress,
    ModelDescription,
    PromptProgress,
    StreamEvent,
    TextFragment,
)
from .types import Chat, Image
from .unicode import SurrogateJoiner, valid_unicode

__all__ = [
    "AsyncLMStudio",
    "GenerationResult",
    "GenerationStats",
    "LMStudio",
    "LoadProgress",
    "ModelDescription",
    "PromptProgress",
    "StreamEvent",
    "TextFragment",
    "from_lmstudio",
]

#: How long a cancelled prediction may take to confirm its end before we stop waiting for it.
CANCEL_GRACE_S = 1.0

_NOT_FOUND = lmstudio.LMStudioModelNotFoundError


def _result_from(prediction: PredictionResult, model: str, text: str, reasoning: str) -> GenerationResult:
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


class _Deadline:
    """Put into the event queue by a timer when the time limit passes."""


_DEADLINE = _Deadline()
_QueueItem: TypeAlias = "LlmPredictionFragment | PromptProgress | _Deadline | None"


class _FragmentSorter:
    """Splits fragments into answer and reasoning, counting tokens and keeping the text valid Unicode."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.tokens = 0
        self.ended = False
        self._answer = SurrogateJoiner()
        self._thinking = SurrogateJoiner()

    def sort(self, items: list[_QueueItem]) -> list[StreamEvent]:
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
            if isinstance(item, _Deadline):
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
        return _result_from(prediction, model, "".join(self.text), "".join(self.reasoning))


def _images_in(model_input: object) -> list[Image]:
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


_PLACEHOLDER_HANDLE = lmstudio.FileHandle(name="image.png", identifier="pending", size_bytes=0, file_type="image")


def _describe_host(client: AsyncClient | Client) -> str:
    return _requested_host(client) or "any default LM Studio port"


async def _close_client(client: AsyncClient) -> None:
    """Close `client`, shielded and bounded, releasing whatever part of it had connected."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_GRACE_S):
        with contextlib.suppress(*CONNECT_ERRORS):
            await client.aclose()


def _requested_host(client: AsyncClient | Client) -> str | None:
    try:
        return client.api_host
    except lmstudio.LMStudioRuntimeError:
        return None  # discovery, done again by the next client


def _no_model_loaded(api_host: str) -> NoModelLoadedError:
    return NoModelLoadedError(
        f"No model is loaded in LM Studio at {api_host}, and none was named. Load one in LM Studio "
        "(or run `lms load <model-key>`), or pass `model` with a key from list_models."
    )


#: Where a call was when its time limit passed, for the error message.
_PHASES = {
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


def _timeout_error(timeout: float | None, phase: str) -> GenerationTimeoutError:
    return GenerationTimeoutError(
        f"The call did not finish within the {timeout:g} s time limit ({_PHASES[phase]}). "
        "Raise the limit (--timeout / MCP_LMSTUDIO_TIMEOUT), lower max_tokens, or use a faster model."
    )


def _phase_after(event: StreamEvent) -> str:
    if isinstance(event, LoadProgress):
        return "loading"
    return "prompt" if isinstance(event, PromptProgress) else "generating"


def _vision_identifiers(loaded: object) -> list[str]:
    infos = loaded if isinstance(loaded, list) else []
    return [str(info.get("identifier")) for info in infos if isinstance(info, dict) and info.get("vision")]


class AsyncLMStudio:
    """Generates with a model in LM Studio through an `lmstudio.AsyncClient`.

    The client may be entered already (the server enters it once and shares it); if it is not, the first
    call enters it and `close()` exits it.
    """

    def __init__(
        self,
        client: AsyncClient,
        model_name: str | None = None,
        *,
        timeout: float | None = None,
        model_setting: str = "model_name",
    ) -> None:
        """Wrap `client`; `model_name` is the default model key (else the loaded one); `timeout` in seconds.

        `model_setting` names where the default came from, for messages (the server passes `--model` or
        `LMSTUDIO_MODEL`).
        """
        self.client = client
        self.model_name = model_name
        self.model_setting = model_setting
        self.timeout = timeout
        self.type_adapter = LMStudioTypeAdapter()
        self._handles: dict[str | None, lmstudio.AsyncLLM] = {}
        self._loads: SingleFlight[str, lmstudio.AsyncLLM] = SingleFlight()
        # The SDK has no public "is entered" flag; a client that arrives with open sessions was entered by
        # the caller, and one this object enters is tracked here.
        self._client_ready = bool(getattr(client, "_sessions", None))
        self._entered_here = False
        self._entering = asyncio.Lock()
        self._preflight = ContextPreflight()

    async def generate(
        self,
        model_input: object,
        output_type: object = None,
        *,
        config: Mapping[str, Any] | None = None,
        model: str | None = None,
        timeout: float | None = None,
    ) -> str:
        """Generate a response and return the answer text (reasoning excluded)."""
        result = await self.generate_result(model_input, output_type, config=config, model=model, timeout=timeout)
        return result.text

    async def generate_result(
        self,
        model_input: object,
        output_type: object = None,
        *,
        config: Mapping[str, Any] | None = None,
        model: str | None = None,
        timeout: float | None = None,
    ) -> GenerationResult:
        """Generate a response and return it with its reasoning, model, stop reason and stats."""
        async with contextlib.aclosing(
            self.stream_events(model_input, output_type, config=config, model=model, timeout=timeout)
        ) as events:
            async for event in events:
                if isinstance(event, GenerationResult):
                    return event
        raise AssertionError("stream_events ended without a result")  # pragma: no cover

    async def generate_stream(
        self,
        model_input: object,
        output_type: object = None,
        *,
        config: Mapping[str, Any] | None = None,
        model: str | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[str]:
        """Yield the answer text as it is generated (reasoning excluded).

        Leaving the loop early cancels the prediction in LM Studio.
        """
        async with contextlib.aclosing(
            self.stream_events(model_input, output_type, config=config, model=model, timeout=timeout)
        ) as events:
            async for event in events:
                if isinstance(event, TextFragment) and not event.reasoning:
                    yield event.text

    async def generate_batch(self, model_input: object, output_type: object = None, **kwargs: Any) -> Any:
        """Not available: LM Studio has no batch inference."""
        raise NotImplementedError("The `lmstudio` library does not support batch inference.")

    async def stream_events(
        self,
        model_input: object,
        output_type: object = None,
        *,
        config: Mapping[str, Any] | None = None,
        model: str | None = None,
        timeout: float | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Yield prompt progress and text fragments, then the `GenerationResult`.

        Everything is checked before anything is sent to LM Studio. Leaving early (break, exception,
        cancellation) or running past `timeout` cancels the prediction in LM Studio.

        Raises:
            InvalidInputError, TypeError, ValueError: the input, output type or settings are malformed.
            ModelNotFoundError, NoModelLoadedError: no such model, or none loaded and none named.
            LMStudioUnavailableError: LM Studio is not reachable or the connection dropped.
            GenerationTimeoutError: the time limit expired (the prediction was cancelled).
            GenerationFailedError: LM Studio reported an error.
        """
        response_format = self.type_adapter.format_output_type(output_type)
        prediction_config = check_prediction_config(config)
        self.type_adapter.format_input(model_input, upload_image=lambda _image: _PLACEHOLDER_HANDLE)
        limit = self.timeout if timeout is None else timeout
        deadline = None if limit is None else anyio.current_time() + limit
        phase = "connecting"
        default = model or self.model_name
        try:
            with translate_errors(_describe_host(self.client), structured=response_format is not None, model=default):
                with _time_limit(deadline):
                    await self._ensure_entered()
                    phase = "uploading"
                    history = await self._format_with_uploads(model_input)
                phase = "starting"
                events = self._predict_resolving(
                    model, history, response_format, prediction_config, deadline, model_input
                )
                async with contextlib.aclosing(events):
                    async for event in events:
                        phase = _phase_after(event)
                        yield event
        except TimeoutError:
            raise _timeout_error(limit, phase) from None
        except GenerationFailedError as exc:
            if exc.reason != "vision" or exc.__cause__ is None:
                raise
            vision_models = await self._loaded_vision_models()
            raise vision_error(lmstudio_words(exc.__cause__), default, vision_models) from exc.__cause__

    async def _loaded_vision_models(self) -> list[str]:
        """The identifiers of the loaded models that accept images (empty if LM Studio does not say in time)."""
        with contextlib.suppress(*CONNECT_ERRORS), anyio.move_on_after(CANCEL_GRACE_S):
            return _vision_identifiers(await self.client.llm.remote_call("listLoaded"))
        return []

    async def list_models(self) -> list[ModelDescription]:
        """The loaded and downloaded LLMs."""
        with translate_errors(_describe_host(self.client)):
            await self._ensure_entered()
            loaded = await self.client.llm.remote_call("listLoaded")
            downloaded = await self.client.llm.list_downloaded()
        return describe_models(list(loaded or []), list(downloaded))

    async def close(self) -> None:
        """Exit the client if this object entered it; forget cached model handles."""
        self._handles.clear()
        if self._entered_here:
            self._entered_here = self._client_ready = False
            await _close_client(self.client)

    async def _ensure_entered(self) -> None:
        if self._client_ready:
            return
        async with self._entering:  # concurrent first calls enter the client once
            if self._client_ready:
                return
            requested_host = _requested_host(self.client)
            try:
                await self.client.__aenter__()
            except BaseException as exc:
                # An SDK client cannot be entered twice, and a half-entered one fails every later call:
                # close it and start the next call from a fresh client for the same address.
                await _close_client(self.client)
                self.client = AsyncClient(requested_host)
                if isinstance(exc, CONNECT_ERRORS):
                    raise unreachable_error(_describe_host(self.client), exc) from exc
                raise
            self._client_ready = self._entered_here = True

    async def _format_with_uploads(self, model_input: object) -> str | lmstudio.Chat:
        handles: dict[Image, lmstudio.FileHandle] = {}
        for image in _images_in(model_input):
            if image not in handles:
                handles[image] = await self.client.files.prepare_image(image.to_bytes(), image.filename)
        return self.type_adapter.format_input(model_input, upload_image=handles.__getitem__)

    async def _resolve(
        self, model: str | None, on_load_progress: Callable[[float], object] | None = None
    ) -> lmstudio.AsyncLLM:
        """The handle for `model` (else the default, else the first loaded model), loading it just in time.

        Concurrent calls that name one model, by any specifier, share one load.
        """
        key = model or self.model_name
        handle = self._handles.get(key)
        if handle is not None:
            return handle
        loaded = await self.client.llm.list_loaded()
        if key is None:
            if not loaded:
                raise _no_model_loaded(_describe_host(self.client))
            handle = loaded[0]
        else:
            setting = None if model else self.model_setting
            downloaded = await self.client.llm.list_downloaded()
            target = resolve_specifier(key, [llm.identifier for llm in loaded], downloaded, setting=setting)
            load = functools.partial(self._load, key)
            handle = await self._loads.run(target, load, on_load_progress)
        self._handles[key] = handle
        return handle

    async def _load(self, specifier: str, report: Callable[[float], None]) -> lmstudio.AsyncLLM:
        return await self.client.llm.model(specifier, on_load_progress=report)

    async def _resolve_reporting_load(
        self, model: str | None, deadline: float | None
    ) -> AsyncGenerator[LoadProgress | lmstudio.AsyncLLM, None]:
        """Yield load progress while LM Studio loads the model just in time, then the model handle."""
        cached = self._handles.get(model or self.model_name)
        if cached is not None:
            yield cached
            return
        fractions: asyncio.Queue[float | None] = asyncio.Queue()
        resolving = asyncio.ensure_future(self._resolve(model, fractions.put_nowait))
        resolving.add_done_callback(lambda _task: fractions.put_nowait(None))
        try:
            while True:
                with _time_limit(deadline):
                    fraction = await fractions.get()
                if fraction is None:
                    break
                yield LoadProgress(str(model or self.model_name), fraction)
            yield await resolving
        finally:
            if not resolving.done():
                resolving.cancel()
                await asyncio.wait({resolving})

    async def _predict_resolving(
        self,
        model: str | None,
        history: str | lmstudio.Chat,
        response_format: dict[str, Any] | None,
        config: dict[str, Any],
        deadline: float | None,
        model_input: Any,
    ) -> AsyncGenerator[StreamEvent, None]:
        # A cached handle goes stale when LM Studio unloads the model: forget it and resolve once more.
        for attempt in (1, 2):
            llm: lmstudio.AsyncLLM | None = None
            async with contextlib.aclosing(self._resolve_reporting_load(model, deadline)) as steps:
                async for step in steps:
                    if isinstance(step, LoadProgress):
                        yield step
                    else:
                        llm = step
            assert llm is not None
            started = False
            try:
                with _time_limit(deadline):
                    await self._preflight.check(llm, history, model_input, config)
                predicting = _predict(llm, history, response_format, config, deadline)
                with self._preflight.explain_overflow(llm, config):
                    async with contextlib.aclosing(predicting) as events:
                        async for event in events:
                            started = True
                            yield event
                return
            except _NOT_FOUND:
                self._handles.pop(model or self.model_name, None)
                if started or attempt == 2:
                    raise


@contextlib.contextmanager
def _time_limit(deadline: float | None) -> Iterator[None]:
    if deadline is None:
        yield
    else:
        with anyio.fail_after(max(deadline - anyio.current_time(), 0)):
            yield


async def _predict(
    llm: lmstudio.AsyncLLM,
    history: str | lmstudio.Chat,
    response_format: dict[str, Any] | None,
    config: dict[str, Any],
    deadline: float | None,
) -> AsyncGenerator[StreamEvent, None]:
    # The SDK stream is read by its own task: when *this* task is cancelled (MCP cancel, time limit) the
    # stream is still open, so `stream.cancel()` can reach LM Studio before the reader finishes.
    events: asyncio.Queue[_QueueItem] = asyncio.Queue()
    stream = await llm.respond_stream(
        history,
        response_format=response_format,
        config=cast(lmstudio.LlmPredictionConfigDict, config) if config else None,
        on_prompt_processing_progress=lambda fraction: events.put_nowait(PromptProgress(fraction)),
    )
    # One timer per prediction rather than a cancel scope per fragment: scopes cost more than a fragment.
    loop = asyncio.get_running_loop()
    timer = None if deadline is None else loop.call_at(deadline, events.put_nowait, _DEADLINE)
    reader: asyncio.Task[PredictionResult] | None = None
    finished = False
    try:
        with anyio.CancelScope(shield=True):
            await stream.start()
        reader = asyncio.ensure_future(_read_stream(stream, events))
        sorter = _FragmentSorter()
        while not sorter.ended:
            batch = [await events.get()]
            while not events.empty():
                batch.append(events.get_nowait())
            for event in sorter.sort(batch):
                yield event
        result = sorter.result(await reader, llm.identifier)
        finished = True
        yield result
    finally:
        if timer is not None:
            timer.cancel()
        if not finished:
            await _cancel_prediction(stream, reader)


async def _read_stream(stream: lmstudio.AsyncPredictionStream, events: asyncio.Queue[_QueueItem]) -> PredictionResult:
    try:
        async for fragment in stream:
            events.put_nowait(fragment)
        return stream.result()
    finally:
        events.put_nowait(None)


async def _cancel_prediction(
    stream: lmstudio.AsyncPredictionStream, reader: asyncio.Task[PredictionResult] | None
) -> None:
    """Ask LM Studio to stop, and wait (bounded) for it to confirm with its final packet."""
    with anyio.CancelScope(shield=True):
        with anyio.move_on_after(CANCEL_GRACE_S):
            with contextlib.suppress(lmstudio.LMStudioError):
                await stream.cancel()
            if reader is not None:
                await asyncio.wait({reader})
        if reader is not None:
            if not reader.done():
                reader.cancel()
                await asyncio.wait({reader})
            if not reader.cancelled():
                reader.exception()  # retrieved, so asyncio does not log it as never retrieved


class LMStudio:
    """Generates with a model in LM Studio through a synchronous `lmstudio.Client`."""

    def __init__(
        self,
        client: Client,
        model_name: str | None = None,
        *,
        timeout: float | None = None,
        model_setting: str = "model_name",
    ) -> None:
        """Wrap `client`; `model_name` is the default model key (else the loaded one); `timeout` in seconds.

        `model_setting` names where the default came from, for messages.
        """
        self.client = client
        self.model_name = model_name
        self.model_setting = model_setting
        self.timeout = timeout
        self.type_adapter = LMStudioTypeAdapter()
        self._handles: dict[str | None, lmstudio.LLM] = {}
        self._loads: SyncSingleFlight[str, lmstudio.LLM] = SyncSingleFlight()

    def generate(
        self,
        model_input: object,
        output_type: object = None,
        *,
        config: Mapping[str, Any] | None = None,
        model: str | None = None,
        timeout: float | None = None,
    ) -> str:
        """Generate a response and return the answer text (reasoning excluded)."""
        return self.generate_result(model_input, output_type, config=config, model=model, timeout=timeout).text

    def generate_result(
        self,
        model_input: object,
        output_type: object = None,
        *,
        config: Mapping[str, Any] | None = None,
        model: str | None = None,
        timeout: float | None = None,
    ) -> GenerationResult:
        """Generate a response and return it with its reasoning, model, stop reason and stats."""
        with contextlib.closing(
            self.stream_events(model_input, output_type, config=config, model=model, timeout=timeout)
        ) as events:
            for event in events:
                if isinstance(event, GenerationResult):
                    return event
        raise AssertionError("stream_events ended without a result")  # pragma: no cover

    def generate_stream(
        self,
        model_input: object,
        output_type: object = None,
        *,
        config: Mapping[str, Any] | None = None,
        model: str | None = None,
        timeout: float | None = None,
    ) -> Iterator[str]:
        """Yield the answer text as it is generated; leaving early cancels the prediction in LM Studio."""
        with contextlib.closing(
            self.stream_events(model_input, output_type, config=config, model=model, timeout=timeout)
        ) as events:
            for event in events:
                if isinstance(event, TextFragment) and not event.reasoning:
                    yield event.text

    def generate_batch(self, model_input: object, output_type: object = None, **kwargs: Any) -> Any:
        """Not available: LM Studio has no batch inference."""
        raise NotImplementedError("The `lmstudio` library does not support batch inference.")

    def stream_events(
        self,
        model_input: object,
        output_type: object = None,
        *,
        config: Mapping[str, Any] | None = None,
        model: str | None = None,
        timeout: float | None = None,
    ) -> Generator[StreamEvent, None, None]:
        """Yield text fragments, then the `GenerationResult` (see `AsyncLMStudio.stream_events`)."""
        response_format = self.type_adapter.format_output_type(output_type)
        prediction_config = check_prediction_config(config)
        self.type_adapter.format_input(model_input, upload_image=lambda _image: _PLACEHOLDER_HANDLE)
        limit = self.timeout if timeout is None else timeout
        deadline = None if limit is None or not math.isfinite(limit) else time.monotonic() + limit
        default = model or self.model_name
        with (
            self._vision_models_named(default),
            translate_errors(_describe_host(self.client), structured=response_format is not None, model=default),
        ):
            history = self.type_adapter.format_input(model_input, upload_image=self._upload)
            sdk_config = cast(lmstudio.LlmPredictionConfigDict, prediction_config) if prediction_config else None
            # A cached handle goes stale when LM Studio unloads the model: forget it and resolve once more.
            for attempt in (1, 2):
                llm = self._resolve(model)
                if deadline is not None and time.monotonic() >= deadline:  # the sync SDK cannot be interrupted
                    raise _timeout_error(limit, "preparing")
                stream = llm.respond_stream(history, response_format=response_format, config=sdk_config)
                started = False
                try:
                    for event in _iterate_sync(stream, llm.identifier, deadline, limit):
                        started = True
                        yield event
                    return
                except _NOT_FOUND:
                    self._handles.pop(model or self.model_name, None)
                    if started or attempt == 2:
                        raise

    def close(self) -> None:
        """Close the client."""
        self._handles.clear()
        self.client.close()

    @contextlib.contextmanager
    def _vision_models_named(self, model: str | None) -> Iterator[None]:
        """Name the loaded vision models in the error for images sent to a model without vision."""
        try:
            yield
        except GenerationFailedError as exc:
            if exc.reason != "vision" or exc.__cause__ is None:
                raise
            vision_models: list[str] = []
            with contextlib.suppress(*CONNECT_ERRORS):
                vision_models = _vision_identifiers(self.client.llm.remote_call("listLoaded"))
            raise vision_error(lmstudio_words(exc.__cause__), model, vision_models) from exc.__cause__

    def _upload(self, image: Image) -> lmstudio.FileHandle:
        return self.client.files.prepare_image(image.to_bytes(), image.filename)

    def _resolve(self, model: str | None) -> lmstudio.LLM:
        """The handle for `model` (see `AsyncLMStudio._resolve`); threads naming one model share one load."""
        key = model or self.model_name
        handle = self._handles.get(key)
        if handle is not None:
            return handle
        loaded = self.client.llm.list_loaded()
        if key is None:
            if not loaded:
                raise _no_model_loaded(_describe_host(self.client))
            handle = loaded[0]
        else:
            setting = None if model else self.model_setting
            downloaded = self.client.llm.list_downloaded()
            target = resolve_specifier(key, [llm.identifier for llm in loaded], downloaded, setting=setting)
            handle = self._loads.run(target, functools.partial(self.client.llm.model, key))
        self._handles[key] = handle
        return handle


def _iterate_sync(
    stream: lmstudio.PredictionStream, model: str, deadline: float | None, limit: float | None
) -> Generator[StreamEvent, None, None]:
    # The SDK closes the channel when its iterator is closed, so an early exit must send `cancel` while
    # the iterator is still suspended; a timer does the same when the time limit passes.
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        with contextlib.suppress(lmstudio.LMStudioError):
            stream.cancel()

    stream.start()  # before the timer: a cancel sent before the request exists would be lost
    timer = None if deadline is None else threading.Timer(max(deadline - time.monotonic(), 0), expire)
    fragments = iter(stream)
    sorter = _FragmentSorter()
    finished = False
    try:
        if timer is not None:
            timer.start()
        for fragment in fragments:
            event = sorter.add(fragment)
            if event is not None and not timed_out.is_set():
                yield event
        if timed_out.is_set():
            raise _timeout_error(limit, "generating")
        yield from sorter.finish()
        finished = True
        yield sorter.result(stream.result(), model)
    finally:
        if timer is not None:
            timer.cancel()
        if not finished:
            with contextlib.suppress(lmstudio.LMStudioError):
                stream.cancel()
                for _ in fragments:  # let the SDK read LM Studio's confirmation
                    pass


def from_lmstudio(client: Client | AsyncClient, model_name: str | None = None) -> LMStudio | AsyncLMStudio:
    """Create an `LMStudio` or `AsyncLMStudio` model from a `lmstudio.Client` or `lmstudio.AsyncClient`.

    Raises:
        ValueError: `client` is neither.
    """
    if isinstance(client, Client):
        return LMStudio(client, model_name)
    if isinstance(client, AsyncClient):
        return AsyncLMStudio(client, model_name)
    raise ValueError(
        "Invalid client type, the client must be an instance of `lmstudio.Client` or `lmstudio.AsyncClient`."
    )
