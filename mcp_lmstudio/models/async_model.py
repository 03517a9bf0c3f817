"""`AsyncLMStudio`: the model layer over `lmstudio.AsyncClient` (what the MCP server uses).

On top of what outlines' wrappers do, it checks sampling settings against LM Studio's real config keys,
keeps reasoning apart from the answer, cancels the prediction in LM Studio whenever a stream is left early
(break, exception, task cancellation, time limit: cancelling the asyncio task alone would leave LM Studio
generating), refuses an unknown model before LM Studio could start a JIT load, and resolves each model once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from typing import Any, cast

import anyio
import lmstudio
from lmstudio import AsyncClient, PredictionResult

from ..errors import GenerationFailedError
from ..types import Image
from .adapter import LMStudioTypeAdapter
from .core import (
    CANCEL_GRACE_S,
    DEADLINE,
    NOT_FOUND,
    PLACEHOLDER_HANDLE,
    FragmentSorter,
    QueueItem,
    close_client,
    describe_host,
    images_in,
    no_model_loaded,
    phase_after,
    requested_host,
    timeout_error,
    vision_identifiers,
)
from .events import (
    GenerationResult,
    LoadProgress,
    ModelDescription,
    PromptProgress,
    StreamEvent,
    TextFragment,
)
from .prediction_config import check_prediction_config
from .preflight import ContextPreflight
from .resolution import describe_models, resolve_specifier
from .sdk_errors import CONNECT_ERRORS, lmstudio_words, translate_errors, unreachable_error, vision_error
from .singleflight import SingleFlight


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
        self.type_adapter.format_input(model_input, upload_image=lambda _image: PLACEHOLDER_HANDLE)
        limit = self.timeout if timeout is None else timeout
        deadline = None if limit is None else anyio.current_time() + limit
        phase = "connecting"
        default = model or self.model_name
        try:
            with translate_errors(describe_host(self.client), structured=response_format is not None, model=default):
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
                        phase = phase_after(event)
                        yield event
        except TimeoutError:
            raise timeout_error(limit, phase) from None
        except GenerationFailedError as exc:
            if exc.reason != "vision" or exc.__cause__ is None:
                raise
            vision_models = await self._loaded_vision_models()
            raise vision_error(lmstudio_words(exc.__cause__), default, vision_models) from exc.__cause__

    async def _loaded_vision_models(self) -> list[str]:
        """The identifiers of the loaded models that accept images (empty if LM Studio does not say in time)."""
        with contextlib.suppress(*CONNECT_ERRORS), anyio.move_on_after(CANCEL_GRACE_S):
            return vision_identifiers(await self.client.llm.remote_call("listLoaded"))
        return []

    async def list_models(self) -> list[ModelDescription]:
        """The loaded and downloaded LLMs."""
        with translate_errors(describe_host(self.client)):
            await self._ensure_entered()
            loaded = await self.client.llm.remote_call("listLoaded")
            downloaded = await self.client.llm.list_downloaded()
        return describe_models(list(loaded or []), list(downloaded))

    async def close(self) -> None:
        """Exit the client if this object entered it; forget cached model handles."""
        self._handles.clear()
        if self._entered_here:
            self._entered_here = self._client_ready = False
            await close_client(self.client)

    async def _ensure_entered(self) -> None:
        if self._client_ready:
            return
        async with self._entering:  # concurrent first calls enter the client once
            if self._client_ready:
                return
            host = requested_host(self.client)
            try:
                await self.client.__aenter__()
            except BaseException as exc:
                # An SDK client cannot be entered twice, and a half-entered one fails every later call:
                # close it and start the next call from a fresh client for the same address.
                await close_client(self.client)
                self.client = AsyncClient(host)
                if isinstance(exc, CONNECT_ERRORS):
                    raise unreachable_error(describe_host(self.client), exc) from exc
                raise
            self._client_ready = self._entered_here = True

    async def _format_with_uploads(self, model_input: object) -> str | lmstudio.Chat:
        handles: dict[Image, lmstudio.FileHandle] = {}
        for image in images_in(model_input):
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
                raise no_model_loaded(describe_host(self.client))
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
            except NOT_FOUND:
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
    events: asyncio.Queue[QueueItem] = asyncio.Queue()
    stream = await llm.respond_stream(
        history,
        response_format=response_format,
        config=cast(lmstudio.LlmPredictionConfigDict, config) if config else None,
        on_prompt_processing_progress=lambda fraction: events.put_nowait(PromptProgress(fraction)),
    )
    # One timer per prediction rather than a cancel scope per fragment: scopes cost more than a fragment.
    loop = asyncio.get_running_loop()
    timer = None if deadline is None else loop.call_at(deadline, events.put_nowait, DEADLINE)
    reader: asyncio.Task[PredictionResult] | None = None
    finished = False
    try:
        with anyio.CancelScope(shield=True):
            await stream.start()
        reader = asyncio.ensure_future(_read_stream(stream, events))
        sorter = FragmentSorter()
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


async def _read_stream(stream: lmstudio.AsyncPredictionStream, events: asyncio.Queue[QueueItem]) -> PredictionResult:
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
