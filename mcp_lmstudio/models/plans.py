"""What a call asks of LM Studio, written once as plans that both front ends run (sans-I/O).

A plan is a generator that yields requests (`ListLoaded`, `Load`, `ApplyTemplate`, `Predict`, ...) and
receives their answers; it never touches a socket. `AsyncLMStudio` performs each request by awaiting the
SDK, `LMStudio` by calling it; `sdk_call` is the one mapping from a request to the SDK method, whose value
the async front end awaits. A request that fails is thrown back into the plan, so that the plan's own
`try`/`except` decides (retry once when a cached handle went stale, explain LM Studio's refusal).

Requests and what the plan gets back:

    ListLoaded()                    LM Studio's raw `listLoaded`: a list of `LLMInstanceInfo` dicts
    ListDownloaded()                its raw `listDownloadedModels`: a list of `ModelInfo` dicts, every type
    GetHandle(identifier)           the SDK handle of a loaded instance (no round trip)
    Load(target, specifier)         the SDK handle after `getOrLoad`; one load per `target` at a time, and the
                                    front end reports its progress as `LoadProgress` events
    Upload(image)                   the SDK `FileHandle` of the uploaded image
    ContextLength(llm)              the instance's loaded context, in tokens
    ApplyTemplate(llm, history)     the prompt formatted by the model's template (str)
    CountTokens(llm, text)          tokens in `text` by the model's tokenizer (int)
    Predict(llm, history, ...)      the front end streams the prediction's events to its caller; None
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeAlias, TypeVar, cast

import lmstudio

from ..errors import ContextOverflowError, GenerationFailedError, NoModelLoadedError
from ..types import Image
from . import _sdk
from .adapter import LMStudioTypeAdapter
from .core import PreparedCall, images_in, phase_after
from .events import ModelDescription, StreamEvent
from .preflight import ApplyTemplate, ContextLength, ContextPreflight, CountTokens
from .resolution import describe_models, resolve_specifier
from .sdk_errors import CONNECT_ERRORS, classify, lmstudio_words, vision_error

__all__ = [
    "ApplyTemplate",
    "CallPlans",
    "ContextLength",
    "CountTokens",
    "Done",
    "GetHandle",
    "ListDownloaded",
    "ListLoaded",
    "Load",
    "Outcome",
    "Phase",
    "Predict",
    "Request",
    "Upload",
    "adrive",
    "advance",
    "arun",
    "drive",
    "run",
    "sdk_call",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ListLoaded:
    pass


@dataclass(frozen=True, slots=True)
class ListDownloaded:
    pass


@dataclass(frozen=True, slots=True)
class GetHandle:
    identifier: str


@dataclass(frozen=True, slots=True)
class Load:
    target: str
    """What the specifier resolves to (a loaded identifier or a model key): loads are shared per target."""
    specifier: str


@dataclass(frozen=True, slots=True)
class Upload:
    image: Image


@dataclass(slots=True)
class Predict:
    llm: Any
    history: str | lmstudio.Chat
    response_format: dict[str, Any] | None
    config: dict[str, Any]
    started: bool = field(default=False)
    """Set by the front end once an event went to its caller: from then on, the call cannot start over."""

    def sdk_arguments(self) -> dict[str, Any]:
        """The keyword arguments of `respond_stream`, besides the history."""
        config = cast(lmstudio.LlmPredictionConfigDict, self.config) if self.config else None
        return {"response_format": self.response_format, "config": config}


Request: TypeAlias = (
    ListLoaded | ListDownloaded | GetHandle | Load | Upload | ContextLength | ApplyTemplate | CountTokens | Predict
)
Plan: TypeAlias = Generator[Request, Any, T]


def sdk_call(client: lmstudio.AsyncClient | lmstudio.Client, request: Request) -> Any:
    """Call the SDK for `request` (not `Load` or `Predict`): the answer from a sync client, an awaitable
    (or, for `GetHandle`, the answer) from an async one."""
    match request:
        case ListLoaded():
            return _sdk.list_loaded_raw(client)
        case ListDownloaded():
            return _sdk.list_downloaded_raw(client)
        case GetHandle(identifier):
            return _sdk.llm_handle(client, identifier)
        case Upload(image):
            return client.files.prepare_image(image.to_bytes(), image.filename)
        case ContextLength(llm):
            return llm.get_context_length()
        case ApplyTemplate(llm, history):
            return llm.apply_prompt_template(history)
        case CountTokens(llm, text):
            return llm.count_tokens(text)
    raise TypeError(f"{type(request).__name__} is performed by the front end itself")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What performing a request gave: its `value`, or the `error` it raised."""

    value: Any = None
    error: Exception | None = None


@dataclass(frozen=True, slots=True)
class Done(Generic[T]):
    value: T


def advance(plan: Plan[T], outcome: Outcome | None) -> Request | Done[T]:
    """Give `plan` the outcome of its last request (None: start it); return its next request, or its value."""
    try:
        if outcome is None:
            return next(plan)
        if outcome.error is not None:
            return plan.throw(outcome.error)
        return plan.send(outcome.value)
    except StopIteration as stop:
        return Done(cast(T, stop.value))


#: Where a call is while a request of each kind runs (keys of `errors.TIMEOUT_PHASES`).
PHASE_OF: dict[type, str] = {
    ListLoaded: "resolving",
    ListDownloaded: "resolving",
    GetHandle: "resolving",
    Load: "loading",
    Upload: "uploading",
    ContextLength: "checking",
    ApplyTemplate: "checking",
    CountTokens: "checking",
    Predict: "starting",
}


class Phase:
    """Where a running call is, for the time-limit error: updated by `drive`/`adrive` as the plan runs."""

    def __init__(self, now: str = "connecting") -> None:
        self.now = now


#: How a front end performs one request: an iterator of events for its caller, ending with the `Outcome`.
Perform: TypeAlias = Callable[[Request], Iterator[StreamEvent | Outcome]]
AsyncPerform: TypeAlias = Callable[[Request], AsyncGenerator[StreamEvent | Outcome, None]]


def drive(plan: Plan[Any], perform: Perform, phase: Phase) -> Iterator[StreamEvent]:
    """Run `plan` to its end with `perform` (sync), passing the events on and keeping `phase` current."""
    outcome: Outcome | None = None
    while not isinstance(step := advance(plan, outcome), Done):
        phase.now = PHASE_OF[type(step)]
        for item in perform(step):
            if isinstance(item, Outcome):
                outcome = item
            else:
                phase.now = phase_after(item)
                yield item


async def adrive(plan: Plan[Any], perform: AsyncPerform, phase: Phase) -> AsyncGenerator[StreamEvent, None]:
    """`drive` for the async front end: the same loop, awaiting each request."""
    outcome: Outcome | None = None
    while not isinstance(step := advance(plan, outcome), Done):
        phase.now = PHASE_OF[type(step)]
        async with contextlib.aclosing(perform(step)) as items:
            async for item in items:
                if isinstance(item, Outcome):
                    outcome = item
                else:
                    phase.now = phase_after(item)
                    yield item


def run(plan: Plan[T], perform: Perform) -> T:
    """Run a plan that streams nothing (listing models) to its value."""
    outcome: Outcome | None = None
    while not isinstance(step := advance(plan, outcome), Done):
        outcome = next(item for item in perform(step) if isinstance(item, Outcome))
    return step.value


async def arun(plan: Plan[T], perform: AsyncPerform) -> T:
    """`run` for the async front end."""
    outcome: Outcome | None = None
    while not isinstance(step := advance(plan, outcome), Done):
        async with contextlib.aclosing(perform(step)) as items:
            outcome = [item async for item in items if isinstance(item, Outcome)][-1]
    return step.value


class CallPlans:
    """The plans of one front end, with what they share across calls: the model handles, resolved once per
    specifier (cached by it), and the context pre-flight's cache."""

    def __init__(self, model_name: str | None, model_setting: str) -> None:
        self.model_name = model_name
        self.model_setting = model_setting
        self.adapter = LMStudioTypeAdapter()
        self.handles: dict[str | None, Any] = {}
        self.preflight = ContextPreflight()

    def forget_handles(self) -> None:
        self.handles.clear()

    def list_models(self) -> Plan[list[ModelDescription]]:
        """The loaded instances, then the downloaded LLMs without one (see `resolution.describe_models`)."""
        loaded = yield ListLoaded()
        downloaded = yield ListDownloaded()
        return describe_models(list(loaded or []), list(downloaded or []))

    def resolve(self, model: str | None, host: str) -> Plan[Any]:
        """The handle for `model` (else the default, else the first loaded model), loading it just in time.

        Raises:
            ModelNotFoundError: LM Studio would not resolve the name (nothing was loaded).
            NoModelLoadedError: none named and none loaded (`host` says where LM Studio was asked).
        """
        key = model or self.model_name
        handle = self.handles.get(key)
        if handle is not None:
            return handle
        loaded = yield ListLoaded()
        identifiers = [
            str(info["identifier"]) for info in loaded or [] if isinstance(info, dict) and "identifier" in info
        ]
        if key is None:
            if not identifiers:
                raise NoModelLoadedError(host)
            handle = yield GetHandle(identifiers[0])
        else:
            setting = None if model else self.model_setting
            downloaded = yield ListDownloaded()
            target = resolve_specifier(key, identifiers, downloaded or [], setting=setting)
            handle = yield Load(target, key)
        self.handles[key] = handle
        return handle

    def generate(self, call: PreparedCall, host: str) -> Plan[None]:
        """Upload the images, resolve the model, check the context, predict (the front end streams it).

        A cached handle goes stale when LM Studio unloads the model: it is forgotten and resolved once more,
        unless the prediction had already sent events. LM Studio's refusals that the plan can explain better
        (the context overflowed, images for a model without vision) come out as the model layer's errors.
        """
        uploaded: dict[Image, lmstudio.FileHandle] = {}
        for image in images_in(call.model_input):
            if image not in uploaded:
                uploaded[image] = yield Upload(image)
        history = self.adapter.format_input(call.model_input, upload_image=uploaded.__getitem__)
        for attempt in (1, 2):
            llm = yield from self.resolve(call.model, host)
            predict = Predict(llm, history, call.response_format, call.config)
            try:
                yield from self.preflight.check(llm, history, call.model_input, call.config)
                yield predict
                return
            except lmstudio.LMStudioModelNotFoundError:
                self.handles.pop(call.default, None)
                if predict.started or attempt == 2:
                    raise
            except lmstudio.LMStudioServerError as exc:
                better = yield from self._explain(exc, llm, call)
                if better is None:
                    raise
                raise better from exc

    def _explain(
        self, exc: lmstudio.LMStudioServerError, llm: Any, call: PreparedCall
    ) -> Plan[ContextOverflowError | GenerationFailedError | None]:
        overflow: ContextOverflowError | None = yield from self.preflight.explain(
            exc, llm, call.model_input, call.config
        )
        if overflow is not None:
            return overflow
        if classify(exc) != "vision":
            return None
        loaded: Any = []
        with contextlib.suppress(*CONNECT_ERRORS):  # a better message is not worth a second failure
            loaded = yield ListLoaded()
        return vision_error(lmstudio_words(exc), str(llm.identifier), loaded or [])
