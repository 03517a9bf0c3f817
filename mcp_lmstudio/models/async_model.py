"""`AsyncLMStudio`: the model layer over `lmstudio.AsyncClient` (what the MCP server uses).

On top of what outlines' wrappers do, it checks sampling settings against LM Studio's real config keys,
keeps reasoning apart from the answer, cancels the prediction in LM Studio whenever a stream is left early
(break, exception, task cancellation, time limit: cancelling the asyncio task alone would leave LM Studio
generating), refuses an unknown model before LM Studio could start a JIT load, and resolves each model once.

What a call does is written once, in `plans.py`; this module only performs its requests by awaiting the SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any, Unpack

import anyio
import lmstudio
from lmstudio import AsyncClient

from . import _sdk
from .core import (
    CANCEL_GRACE_S,
    DEADLINE,
    CallOptions,
    Expired,
    FragmentSorter,
    QueueItem,
    deadline_after,
    requested_host,
    timeout_error,
)
from .events import GenerationResult, LoadProgress, ModelDescription, PromptProgress, StreamEvent, TextFragment
from .front_end import FrontEnd
from .plans import Load, Outcome, Phase, Predict, Request, adrive, arun, sdk_call
from .sdk_errors import CONNECT_ERRORS, translate_errors, unreachable_error
from .singleflight import SingleFlight


class AsyncLMStudio(FrontEnd[AsyncClient]):
    """Generates with a model in LM Studio through an `lmstudio.AsyncClient`.

    The client may be entered already (the server enters it once and shares it); if it is not, the first
    call enters it and `close()` exits it (see `FrontEnd` for what closing does).
    """

    def _init_io(self) -> None:
        self._loads: SingleFlight[str, Any] = SingleFlight()
        self._client_ready = not self._owns_client
        self._entering = asyncio.Lock()

    async def generate(self, model_input: object, output_type: object = None, **options: Unpack[CallOptions]) -> str:
        """Generate a response and return the answer text (reasoning excluded); raises as `stream_events`."""
        return (await self.generate_result(model_input, output_type, **options)).text

    async def generate_result(
        self, model_input: object, output_type: object = None, **options: Unpack[CallOptions]
    ) -> GenerationResult:
        """Generate a response and return it with its reasoning, model, stop reason and stats.

        Raises as `stream_events`; at the time limit, `GenerationTimeoutError.partial` holds the text so far.
        """
        async with contextlib.aclosing(self.stream_events(model_input, output_type, **options)) as events:
            results = [event async for event in events if isinstance(event, GenerationResult)]
        return results[-1]

    async def generate_stream(
        self, model_input: object, output_type: object = None, **options: Unpack[CallOptions]
    ) -> AsyncIterator[str]:
        """Yield the answer text as it is generated (reasoning excluded); leaving early cancels the prediction."""
        async with contextlib.aclosing(self.stream_events(model_input, output_type, **options)) as events:
            async for event in events:
                if isinstance(event, TextFragment) and not event.reasoning:
                    yield event.text

    async def stream_events(
        self, model_input: object, output_type: object = None, **options: Unpack[CallOptions]
    ) -> AsyncGenerator[StreamEvent, None]:
        """Yield load progress, prompt progress and text fragments, then the `GenerationResult`.

        Everything is checked before anything is sent to LM Studio. Leaving early (break, exception,
        cancellation) or running past the time limit cancels the prediction in LM Studio.

        Raises:
            InvalidInputError, TypeError, ValueError: the input, output type or settings are malformed.
            ContextOverflowError: the prompt cannot fit the model's loaded context (nothing was predicted).
            ModelNotFoundError, NoModelLoadedError: no such model, or none loaded and none named.
            LMStudioUnavailableError: LM Studio is not reachable or the connection dropped.
            GenerationTimeoutError: the time limit expired (the prediction was cancelled); `.partial` holds
                the text generated so far (`stop_reason="timeout"`), or None.
            GenerationFailedError: LM Studio reported an error (`SDKMismatchError`: it sent what the
                installed SDK cannot decode, where that was needed).
        """
        call = self._prepare(model_input, output_type, options)
        deadline = deadline_after(call.limit, anyio.current_time())
        phase = Phase()
        try:
            with translate_errors(self.host, structured=call.response_format is not None, model=call.default):
                with _time_limit(deadline):
                    await self._ensure_entered()
                perform = functools.partial(self._perform, deadline=deadline)
                async with contextlib.aclosing(adrive(self.plans.generate(call, self.host), perform, phase)) as events:
                    async for event in events:
                        yield event
        except TimeoutError as exc:
            raise timeout_error(call.limit, phase.now, exc) from None

    async def list_models(self) -> list[ModelDescription]:
        """The loaded LLM instances, then the downloaded LLMs without one (models of unknown types left out).

        Raises:
            LMStudioUnavailableError: LM Studio is not reachable or the connection dropped.
        """
        with translate_errors(self.host):
            await self._ensure_entered()
            return await arun(self.plans.list_models(), functools.partial(self._perform, deadline=None))

    async def close(self) -> None:
        """Forget the cached model handles; exit the client if this object entered it (see `FrontEnd`)."""
        self.plans.forget_handles()
        if self._owns_client and self._client_ready:
            self._client_ready = False
            await _close_client(self.client)

    async def _ensure_entered(self) -> None:
        if self._client_ready:
            return
        async with self._entering:  # concurrent first calls enter the client once
            if self._client_ready:
                return
            host = requested_host(self.client)
            try:
                await _sdk.enter_async_client(self.client)
            except BaseException as exc:
                # An SDK client cannot be entered twice, and a half-entered one fails every later call:
                # close it and start the next call from a fresh client for the same address.
                await _close_client(self.client)
                self.client = AsyncClient(host)
                if isinstance(exc, CONNECT_ERRORS):
                    raise unreachable_error(self.host, exc) from exc
                raise
            self._client_ready = True

    async def _perform(self, step: Request, deadline: float | None) -> AsyncGenerator[StreamEvent | Outcome, None]:
        """Perform one request of a plan: its events for the caller, then its `Outcome`."""
        try:
            if isinstance(step, Predict):
                async with contextlib.aclosing(_predict(step, deadline)) as events:
                    async for event in events:
                        step.started = True
                        yield event
                yield Outcome()
            elif isinstance(step, Load):
                async with contextlib.aclosing(self._load(step, deadline)) as loading:
                    async for item in loading:
                        yield item
            else:
                with _time_limit(deadline):
                    answer = sdk_call(self.client, step)
                    yield Outcome(await answer if inspect.isawaitable(answer) else answer)
        except Exception as exc:  # thrown into the plan, which decides
            yield Outcome(error=exc)

    async def _load(self, step: Load, deadline: float | None) -> AsyncGenerator[LoadProgress | Outcome, None]:
        """Yield LM Studio's progress while it loads the model just in time, then the handle's `Outcome`.

        The load runs in a task of its own (`SingleFlight`): a caller that gives up leaves it to the others.
        """
        fractions: asyncio.Queue[float | None] = asyncio.Queue()

        async def load(report: Any) -> Any:
            return await self.client.llm.model(step.specifier, on_load_progress=report)

        loading = asyncio.ensure_future(self._loads.run(step.target, load, fractions.put_nowait))
        loading.add_done_callback(lambda _task: fractions.put_nowait(None))
        try:
            while True:
                with _time_limit(deadline):
                    fraction = await fractions.get()
                if fraction is None:
                    break
                yield LoadProgress(step.specifier, fraction)
            yield Outcome(await loading)
        finally:
            if not loading.done():
                loading.cancel()
                await asyncio.wait({loading})


@contextlib.contextmanager
def _time_limit(deadline: float | None) -> Iterator[None]:
    if deadline is None:
        yield
    else:
        with anyio.fail_after(max(deadline - anyio.current_time(), 0)):
            yield


async def _close_client(client: AsyncClient) -> None:
    """Close `client`, shielded and bounded, releasing whatever part of it had connected."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_GRACE_S):
        with contextlib.suppress(*CONNECT_ERRORS):
            await client.aclose()


async def _predict(step: Predict, deadline: float | None) -> AsyncGenerator[StreamEvent, None]:
    # The SDK stream is read by its own task: when *this* task is cancelled (MCP cancel, time limit) the
    # stream is still open, so `stream.cancel()` can reach LM Studio before the reader finishes.
    events: asyncio.Queue[QueueItem] = asyncio.Queue()
    stream = await step.llm.respond_stream(
        step.history,
        **step.sdk_arguments(),
        on_prompt_processing_progress=lambda fraction: events.put_nowait(PromptProgress(fraction)),
    )
    watch = _sdk.watch_prediction(stream)
    # One timer per prediction rather than a cancel scope per fragment: scopes cost more than a fragment.
    loop = asyncio.get_running_loop()
    timer = None if deadline is None else loop.call_at(deadline, events.put_nowait, DEADLINE)
    reader: asyncio.Task[None] | None = None
    sorter = FragmentSorter(str(step.llm.identifier))
    settled = False
    try:
        with anyio.CancelScope(shield=True):
            await stream.start()
        reader = asyncio.ensure_future(_read_stream(stream, events))
        while not sorter.ended:
            batch = [await events.get()]
            while not events.empty():
                batch.append(events.get_nowait())
            try:
                ready = sorter.sort(batch)
            except TimeoutError:
                settled = True
                await _cancel_prediction(stream, reader)  # LM Studio's confirmation carries the stats so far
                raise Expired(sorter.partial(watch.packet)) from None
            for event in ready:
                yield event
        await reader  # raises what ended the stream, if it failed
        settled = True
        yield sorter.result(watch.packet)
    finally:
        if timer is not None:
            timer.cancel()
        if not settled:
            await _cancel_prediction(stream, reader)


async def _read_stream(stream: lmstudio.AsyncPredictionStream, events: asyncio.Queue[QueueItem]) -> None:
    try:
        async for fragment in stream:
            events.put_nowait(fragment)
    finally:
        events.put_nowait(None)


async def _cancel_prediction(stream: lmstudio.AsyncPredictionStream, reader: asyncio.Task[None] | None) -> None:
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
