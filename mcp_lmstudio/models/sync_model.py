"""`LMStudio`: the model layer over the synchronous `lmstudio.Client`.

What a call does is written once, in `plans.py` and `manage.py`; this module only performs its requests by
calling the SDK.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from typing import Any, TypeVar, Unpack, cast

import lmstudio
from lmstudio import Client

from . import _sdk
from .core import CallOptions, Expired, FragmentSorter, append_merging_text, deadline_after, timeout_error
from .events import (
    Embeddings,
    GenerationResult,
    LoadProgress,
    ModelDescription,
    PromptProgress,
    StreamEvent,
    TextFragment,
)
from .front_end import FrontEnd
from .manage import LoadOptions, embed_texts, load_request
from .plans import Load, LoadNew, Outcome, Phase, Plan, Predict, Request, drive, sdk_call
from .sdk_errors import translate_errors
from .singleflight import SyncSingleFlight

T = TypeVar("T")


class LMStudio(FrontEnd[Client]):
    """Generates with a model in LM Studio through a synchronous `lmstudio.Client`.

    The same calls, events (load progress, prompt progress, text, result) and errors as `AsyncLMStudio`,
    from the same plans; `close()` as described in `FrontEnd`. Several threads may share one object: the
    threads that name one model share one load.

    What the synchronous SDK does not allow: its requests block and cannot be interrupted, so the time limit
    ends a prediction (cancelled in LM Studio, with the text so far in the error) and stops waiting for a
    model load (which finishes in its own thread and serves later calls), but a listing, an upload or a token
    count that LM Studio is slow to answer is only checked against the limit before it starts. Prompt
    progress comes in bursts with the first text, not as LM Studio reports it.

    It lists, loads and unloads models and embeds texts as `AsyncLMStudio` does; a load whose caller stops
    waiting (its time limit) goes on in its thread, as it goes on in LM Studio.
    """

    def _init_io(self) -> None:
        self._loads: SyncSingleFlight[str, Any] = SyncSingleFlight()

    def generate(self, model_input: object, output_type: object = None, **options: Unpack[CallOptions]) -> str:
        """Generate a response and return the answer text (reasoning excluded); raises as `stream_events`."""
        return self.generate_result(model_input, output_type, **options).text

    def generate_result(
        self, model_input: object, output_type: object = None, **options: Unpack[CallOptions]
    ) -> GenerationResult:
        """Generate a response and return it with its reasoning, model, stop reason and stats.

        Raises as `stream_events`; at the time limit, `GenerationTimeoutError.partial` holds the text so far.
        """
        with contextlib.closing(self.stream_events(model_input, output_type, **options)) as events:
            return [event for event in events if isinstance(event, GenerationResult)][-1]

    def generate_stream(
        self, model_input: object, output_type: object = None, **options: Unpack[CallOptions]
    ) -> Iterator[str]:
        """Yield the answer text as it is generated (reasoning excluded); leaving early cancels the prediction."""
        with contextlib.closing(self.stream_events(model_input, output_type, **options)) as events:
            yield from (event.text for event in events if isinstance(event, TextFragment) and not event.reasoning)

    def stream_events(
        self,
        model_input: object,
        output_type: object = None,
        *,
        text_interval: float = 0.0,
        **options: Unpack[CallOptions],
    ) -> Generator[StreamEvent, None, None]:
        """Yield load progress, prompt progress and text fragments, then the `GenerationResult`; with
        `text_interval` (seconds), the text that comes within one interval as one fragment, the first at once
        (held text goes out with the first fragment after the interval, or at the end: no timer here).

        Raises what `AsyncLMStudio.stream_events` raises, in the same cases.
        """
        call = self._prepare(model_input, output_type, options)
        deadline = deadline_after(call.limit, time.monotonic())
        phase = Phase("resolving")  # the sync client connects with its first request
        try:
            with translate_errors(self.host, structured=call.response_format is not None, model=call.default):
                perform = functools.partial(self._perform, deadline=deadline, text_interval=text_interval)
                yield from drive(self.plans.generate(call, self.host), perform, phase)
        except TimeoutError as exc:
            raise timeout_error(call.limit, phase.now, exc) from None

    def list_models(self, *, timeout: float | None = None) -> list[ModelDescription]:
        """The loaded instances, then the downloaded models without one; as `AsyncLMStudio.list_models`."""
        return self._run(self.manage.list_models(), timeout)

    def count_tokens(self, texts: list[str], *, model: str | None = None, timeout: float | None = None) -> list[int]:
        """Tokens in each of `texts` by the model's tokenizer; as `AsyncLMStudio.count_tokens`."""
        return self._run(self.plans.count_tokens(texts, model, self.host), timeout)

    def load_model_events(
        self, model: str, **options: Unpack[LoadOptions]
    ) -> Generator[LoadProgress | ModelDescription, None, None]:
        """Load a new instance of `model`: yield LM Studio's `LoadProgress`, then the instance as `list_models`
        describes it. See `AsyncLMStudio.load_model`."""
        yield from self._events(self.manage.load_model(load_request(model, options)), options.get("timeout"))

    def load_model(self, model: str, **options: Unpack[LoadOptions]) -> ModelDescription:
        """Load a new instance of `model` configured by `options`; raises as `AsyncLMStudio.load_model`."""
        with contextlib.closing(self.load_model_events(model, **options)) as events:
            return [event for event in events if isinstance(event, ModelDescription)][-1]

    def unload_model(self, identifier: str, *, timeout: float | None = None) -> ModelDescription:
        """Unload the loaded instance `identifier`; as `AsyncLMStudio.unload_model`."""
        return self._run(self.manage.unload_model(identifier), timeout)

    def embed(
        self, texts: str | Sequence[str], *, model: str | None = None, timeout: float | None = None
    ) -> Embeddings:
        """The embeddings of `texts`, in their order; as `AsyncLMStudio.embed`."""
        return self._run(self.manage.embed(embed_texts(texts), model, self.host), timeout)

    def _run(self, plan: Plan[T], timeout: float | None) -> T:
        with contextlib.closing(self._events(plan, timeout)) as events:
            return cast(T, list(events)[-1])

    def _events(self, plan: Plan[Any], timeout: float | None) -> Generator[Any, None, None]:
        """Run a model-management plan under the time limit: its events, then its value."""
        limit = self._limit(timeout)
        deadline = deadline_after(limit, time.monotonic())
        phase, value = Phase("resolving"), list[Any]()
        try:
            with translate_errors(self.host):
                yield from drive(plan, functools.partial(self._perform, deadline=deadline), phase, value)
        except TimeoutError as exc:
            raise timeout_error(limit, phase.now, exc) from None
        yield value[-1]

    def close(self) -> None:
        """Forget the cached model handles; close the client if this object opened it (see `FrontEnd`)."""
        self.plans.forget_handles()
        if self._owns_client:
            self.client.close()

    def _perform(
        self, step: Request, deadline: float | None, text_interval: float = 0.0
    ) -> Iterator[StreamEvent | Outcome]:
        """Perform one request of a plan: its events for the caller, then its `Outcome`."""
        try:
            if isinstance(step, Predict):
                for event in _predict(step, deadline, text_interval):
                    step.started = True
                    yield event
                yield Outcome()
            elif isinstance(step, Load):
                yield Outcome((yield from self._load(step, deadline)))
            elif isinstance(step, LoadNew):
                yield Outcome((yield from self._load_new(step, deadline)))
            else:
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError  # a blocking SDK call cannot be cut short: do not start it
                yield Outcome(sdk_call(self.client, step))
        except Exception as exc:  # thrown into the plan, which decides
            yield Outcome(error=exc)

    def _load(self, step: Load, deadline: float | None) -> Generator[LoadProgress, None, Any]:
        """Yield LM Studio's progress while it loads the model just in time (in a thread), then return it."""
        fractions: queue.SimpleQueue[float | None] = queue.SimpleQueue()

        def load(report: Any) -> Any:
            return getattr(self.client, step.kind).model(step.specifier, on_load_progress=report)

        loading = self._loads.start(step.target, load, fractions.put)
        loading.add_done_callback(lambda _future: fractions.put(None))
        try:
            while True:
                left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
                try:
                    fraction = fractions.get(timeout=left)
                except queue.Empty:
                    raise TimeoutError from None
                if fraction is None:
                    return loading.result()
                yield LoadProgress(step.specifier, fraction)
        finally:
            self._loads.leave(step.target, fractions.put)

    def _load_new(self, step: LoadNew, deadline: float | None) -> Generator[LoadProgress, None, Any]:
        """Yield LM Studio's progress while it loads a new instance (in a thread), then return its handle."""
        fractions: queue.SimpleQueue[float | None] = queue.SimpleQueue()
        outcome: list[Any] = []

        def load() -> None:
            try:
                outcome.append(
                    getattr(self.client, step.kind).load_new_instance(
                        step.model_key,
                        step.identifier,
                        ttl=step.ttl,
                        config=step.config or None,
                        on_load_progress=fractions.put,
                    )
                )
            except Exception as exc:  # handed to the caller, if it still waits
                outcome.append(exc)
            finally:
                fractions.put(None)

        threading.Thread(target=load, name=f"load {step.model_key}", daemon=True).start()
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                fraction = fractions.get(timeout=left)
            except queue.Empty:
                raise TimeoutError from None
            if fraction is None:
                if isinstance(outcome[0], Exception):
                    raise outcome[0]
                return outcome[0]
            yield LoadProgress(step.model_key, fraction)


def _predict(step: Predict, deadline: float | None, text_interval: float) -> Iterator[StreamEvent]:
    # The SDK closes the channel when its iterator is closed, so an early exit must send `cancel` while
    # the iterator is still suspended; a timer does the same when the time limit passes.
    progress: list[float] = []  # the SDK reports prompt progress while we wait for the next fragment
    stream = step.llm.respond_stream(
        step.history, **step.sdk_arguments(), on_prompt_processing_progress=progress.append
    )
    watch = _sdk.watch_prediction(stream)
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        with contextlib.suppress(lmstudio.LMStudioError):
            stream.cancel()

    stream.start()  # before the timer: a cancel sent before the request exists would be lost
    timer = None if deadline is None else threading.Timer(max(deadline - time.monotonic(), 0), expire)
    fragments = iter(stream)
    sorter = FragmentSorter(str(step.llm.identifier))
    settled = False
    try:
        if timer is not None:
            timer.start()
        held: list[StreamEvent] = []  # text merged until `text_interval` has passed
        due = 0.0
        for fragment in fragments:
            event = sorter.add(fragment)
            if not timed_out.is_set():
                yield from (PromptProgress(fraction) for fraction in progress)
                progress.clear()
                if event is not None:
                    append_merging_text(held, event)
                if held and time.monotonic() >= due:
                    yield from held
                    held.clear()
                    due = time.monotonic() + text_interval
        settled = True
        if timed_out.is_set():  # the loop ended with LM Studio's confirmation of the cancel
            raise Expired(sorter.partial(watch.packet))
        yield from held
        yield from sorter.finish()
        yield sorter.result(watch.packet)
    finally:
        if timer is not None:
            timer.cancel()
        if not settled:
            with contextlib.suppress(lmstudio.LMStudioError):
                stream.cancel()
                for _ in fragments:  # let the SDK read LM Studio's confirmation
                    pass
