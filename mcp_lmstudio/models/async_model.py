"""`AsyncLMStudio`: the model layer over `lmstudio.AsyncClient` (what the MCP server uses).

On top of what outlines' wrappers do, it checks sampling settings against LM Studio's real config keys,
keeps reasoning apart from the answer, cancels the prediction in LM Studio whenever a stream is left early
(break, exception, task cancellation, time limit: cancelling the asyncio task alone would leave LM Studio
generating), refuses an unknown model before LM Studio could start a JIT load, and resolves each model once.
It also lists, loads and unloads models, embeds texts and counts tokens. What a call does is written once, in
`plans.py` and `manage.py`; this module only performs its requests by awaiting the SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from typing import Any, TypeVar, Unpack, cast

import anyio
from lmstudio import AsyncClient

from . import _sdk
from .core import (
    CANCEL_GRACE_S,
    CallOptions,
    deadline_after,
    requested_host,
    timeout_error,
)
from .events import (
    Embeddings,
    GenerationResult,
    LoadProgress,
    ModelDescription,
    StreamEvent,
    TextFragment,
)
from .front_end import FrontEnd
from .manage import LoadOptions, embed_texts, load_request
from .plans import Load, LoadNew, Outcome, Phase, Plan, Predict, Request, adrive, sdk_call
from .prediction import stream_prediction
from .sdk_errors import CONNECT_ERRORS, translate_errors, unreachable_error
from .singleflight import SingleFlight

logger = logging.getLogger(__name__)
T = TypeVar("T")


class AsyncLMStudio(FrontEnd[AsyncClient]):
    """Generates with a model in LM Studio through an `lmstudio.AsyncClient`.

    The client may be entered already (the server enters it once and shares it); if it is not, the first
    call enters it and `close()` exits it (see `FrontEnd` for what closing does).
    """

    def _init_io(self) -> None:
        self._loads: SingleFlight[str, Any] = SingleFlight()
        self._client_ready = not self._owns_client
        self._entering = asyncio.Lock()
        self._given_up: set[asyncio.Future[Any]] = set()  # loads whose caller left; LM Studio goes on

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
        self,
        model_input: object,
        output_type: object = None,
        *,
        text_interval: float = 0.0,
        **options: Unpack[CallOptions],
    ) -> AsyncGenerator[StreamEvent, None]:
        """Yield load progress, prompt progress and text fragments, then the `GenerationResult`.

        Everything is checked before anything is sent to LM Studio. Leaving early (break, exception,
        cancellation) or running past the time limit cancels the prediction in LM Studio. With
        `text_interval` (seconds), the text that comes within one interval arrives as one `TextFragment`
        (the first at once): a caller that reports now and then spares a pass per token.

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
                perform = functools.partial(self._perform, deadline=deadline, text_interval=text_interval)
                async with contextlib.aclosing(adrive(self.plans.generate(call, self.host), perform, phase)) as events:
                    async for event in events:
                        yield event
        except TimeoutError as exc:
            raise timeout_error(call.limit, phase.now, exc) from None

    async def list_models(self, *, timeout: float | None = None) -> list[ModelDescription]:
        """The loaded instances (LLMs, then embedding models), then the downloaded models without one, each with
        its `type`; `default` marks what a generation call without `model` would use (models of unknown types
        are left out).

        Raises:
            LMStudioUnavailableError: LM Studio is not reachable or the connection dropped.
        """
        return await self._run(self.manage.list_models(), timeout)

    async def count_tokens(
        self, texts: list[str], *, model: str | None = None, timeout: float | None = None
    ) -> list[int]:
        """Tokens in each of `texts` by the model's tokenizer (LM Studio `countTokens`; `model` as for `generate`)."""
        return await self._run(self.plans.count_tokens(texts, model, self.host), timeout)

    async def load_model_events(
        self, model: str, **options: Unpack[LoadOptions]
    ) -> AsyncGenerator[LoadProgress | ModelDescription, None]:
        """Load a new instance of `model`: yield LM Studio's `LoadProgress`, then the instance as `list_models`
        describes it. See `load_model`."""
        plan = self.manage.load_model(load_request(model, options))
        async with contextlib.aclosing(self._events(plan, options.get("timeout"))) as events:
            async for event in events:
                yield event

    async def load_model(self, model: str, **options: Unpack[LoadOptions]) -> ModelDescription:
        """Load a new instance of `model` (a model key or path) configured by `options` (see `LoadOptions`), as
        `lms load` does; return it as `list_models` describes it.

        The lmstudio SDK cannot cancel a load: when the call is given up (cancelled, or its time limit passes),
        LM Studio still finishes loading, and `unload_model` removes the instance.

        Raises:
            InvalidInputError: an argument is out of range, or the identifier is taken.
            ModelNotFoundError: no such downloaded model (lists the ones there are).
            LoadConfigError: a context length over the model's maximum, or a configuration LM Studio refused.
            GenerationFailedError: LM Studio could not load it (out of memory, say).
            GenerationTimeoutError: the time limit passed (`phase="loading_new"`).
            LMStudioUnavailableError: LM Studio is not reachable or the connection dropped.
        """
        async with contextlib.aclosing(self.load_model_events(model, **options)) as events:
            return [event async for event in events if isinstance(event, ModelDescription)][-1]

    async def unload_model(self, identifier: str, *, timeout: float | None = None) -> ModelDescription:
        """Unload the loaded instance `identifier` (LLM or embedding model); return it as it was listed.

        Raises:
            InstanceNotFoundError: no loaded instance has that identifier (lists the loaded ones).
            LMStudioUnavailableError: LM Studio is not reachable or the connection dropped.
        """
        return await self._run(self.manage.unload_model(identifier), timeout)

    async def embed(
        self, texts: str | Sequence[str], *, model: str | None = None, timeout: float | None = None
    ) -> Embeddings:
        """The embeddings of `texts` (one string, or up to 256), in their order, by the embedding model `model`
        (default: the first loaded one; a downloaded one is loaded just in time).

        Raises:
            InvalidInputError: no text, too many, or one that is not a string.
            WrongModelTypeError: `model` is an LLM. ModelNotFoundError: no such embedding model.
            NoModelLoadedError: none named and no embedding model loaded.
            LMStudioUnavailableError: LM Studio is not reachable or the connection dropped.
        """
        items = embed_texts(texts)
        return await self._run(self.manage.embed(items, model, self.host), timeout)

    async def _run(self, plan: Plan[T], timeout: float | None) -> T:
        async with contextlib.aclosing(self._events(plan, timeout)) as events:
            return cast(T, [event async for event in events][-1])

    async def _events(self, plan: Plan[Any], timeout: float | None) -> AsyncGenerator[Any, None]:
        """Run a model-management plan under the time limit: its events, then its value."""
        limit = self._limit(timeout)
        deadline = deadline_after(limit, anyio.current_time())
        phase, value = Phase(), list[Any]()
        try:
            with translate_errors(self.host):
                with _time_limit(deadline):
                    await self._ensure_entered()
                perform = functools.partial(self._perform, deadline=deadline)
                async with contextlib.aclosing(adrive(plan, perform, phase, value)) as events:
                    async for event in events:
                        yield event
        except TimeoutError as exc:
            raise timeout_error(limit, phase.now, exc) from None
        yield value[-1]

    async def close(self) -> None:
        """Forget the cached model handles; exit the client if this object entered it (see `FrontEnd`)."""
        self.plans.forget_handles()
        for loading in list(self._given_up):  # the client is going: nothing will read LM Studio's answer
            loading.cancel()
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

    async def _perform(
        self, step: Request, deadline: float | None, text_interval: float = 0.0
    ) -> AsyncGenerator[StreamEvent | Outcome, None]:
        """Perform one request of a plan: its events for the caller, then its `Outcome`."""
        try:
            if isinstance(step, Predict):
                async with contextlib.aclosing(stream_prediction(step, deadline, text_interval)) as events:
                    async for event in events:
                        step.started = True
                        yield event
                yield Outcome()
            elif isinstance(step, Load):
                async with contextlib.aclosing(self._load(step, deadline)) as loading:
                    async for item in loading:
                        yield item
            elif isinstance(step, LoadNew):
                async with contextlib.aclosing(self._load_new(step, deadline)) as loading:
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
            return await getattr(self.client, step.kind).model(step.specifier, on_load_progress=report)

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

    async def _load_new(self, step: LoadNew, deadline: float | None) -> AsyncGenerator[LoadProgress | Outcome, None]:
        """Yield LM Studio's progress while it loads a new instance, then the handle's `Outcome`.

        The SDK sends LM Studio no cancel for a load, and LM Studio goes on loading whatever the caller does:
        a caller that gives up leaves the SDK call running in its task (so that the SDK reads LM Studio's
        answer), and the end of the load is logged.
        """
        fractions: asyncio.Queue[float | None] = asyncio.Queue()
        loading = asyncio.ensure_future(
            getattr(self.client, step.kind).load_new_instance(
                step.model_key,
                step.identifier,
                ttl=step.ttl,
                config=step.config or None,
                on_load_progress=fractions.put_nowait,
            )
        )
        loading.add_done_callback(lambda _task: fractions.put_nowait(None))
        try:
            while True:
                with _time_limit(deadline):
                    fraction = await fractions.get()
                if fraction is None:
                    break
                yield LoadProgress(step.model_key, fraction)
            yield Outcome(await loading)
        finally:
            if not loading.done():
                self._given_up.add(loading)
                loading.add_done_callback(functools.partial(_given_up_load_ended, step, self._given_up))


def _given_up_load_ended(step: LoadNew, given_up: set[asyncio.Future[Any]], loading: asyncio.Future[Any]) -> None:
    given_up.discard(loading)
    if loading.cancelled():
        return
    error = loading.exception()
    if error is None:
        logger.info(
            "LM Studio finished loading %s as %r after its load_model call was given up; unload_model removes it",
            step.model_key,
            str(loading.result().identifier),
        )
    else:
        logger.info("LM Studio's load of %s, given up by its caller, failed: %s", step.model_key, error)


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
