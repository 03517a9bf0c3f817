"""`LMStudio`: the model layer over the synchronous `lmstudio.Client`."""

from __future__ import annotations

import contextlib
import functools
import math
import threading
import time
from collections.abc import Generator, Iterator, Mapping
from typing import Any, cast

import lmstudio
from lmstudio import Client

from ..errors import GenerationFailedError
from ..types import Image
from .adapter import LMStudioTypeAdapter
from .core import (
    NOT_FOUND,
    PLACEHOLDER_HANDLE,
    FragmentSorter,
    describe_host,
    no_model_loaded,
    timeout_error,
    vision_identifiers,
)
from .events import (
    GenerationResult,
    StreamEvent,
    TextFragment,
)
from .prediction_config import check_prediction_config
from .resolution import resolve_specifier
from .sdk_errors import CONNECT_ERRORS, lmstudio_words, translate_errors, vision_error
from .singleflight import SyncSingleFlight


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
        self.type_adapter.format_input(model_input, upload_image=lambda _image: PLACEHOLDER_HANDLE)
        limit = self.timeout if timeout is None else timeout
        deadline = None if limit is None or not math.isfinite(limit) else time.monotonic() + limit
        default = model or self.model_name
        with (
            self._vision_models_named(default),
            translate_errors(describe_host(self.client), structured=response_format is not None, model=default),
        ):
            history = self.type_adapter.format_input(model_input, upload_image=self._upload)
            sdk_config = cast(lmstudio.LlmPredictionConfigDict, prediction_config) if prediction_config else None
            # A cached handle goes stale when LM Studio unloads the model: forget it and resolve once more.
            for attempt in (1, 2):
                llm = self._resolve(model)
                if deadline is not None and time.monotonic() >= deadline:  # the sync SDK cannot be interrupted
                    raise timeout_error(limit, "preparing")
                stream = llm.respond_stream(history, response_format=response_format, config=sdk_config)
                started = False
                try:
                    for event in _iterate_sync(stream, llm.identifier, deadline, limit):
                        started = True
                        yield event
                    return
                except NOT_FOUND:
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
                vision_models = vision_identifiers(self.client.llm.remote_call("listLoaded"))
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
                raise no_model_loaded(describe_host(self.client))
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
    sorter = FragmentSorter()
    finished = False
    try:
        if timer is not None:
            timer.start()
        for fragment in fragments:
            event = sorter.add(fragment)
            if event is not None and not timed_out.is_set():
                yield event
        if timed_out.is_set():
            raise timeout_error(limit, "generating")
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
