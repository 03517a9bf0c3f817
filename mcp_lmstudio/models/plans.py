"""What a call asks of LM Studio, written once as plans that both front ends run (sans-I/O).

A plan is a generator that yields requests (`ListLoaded`, `Load`, `ApplyTemplate`, `Predict`, ...) and
receives their answers; it never touches a socket. `AsyncLMStudio` performs each request by awaiting the
SDK, `LMStudio` by calling it; `sdk_call` is the one mapping from a request to the SDK method, whose value
the async front end awaits. A request that fails is thrown back into the plan, so that the plan's own
`try`/`except` decides (retry once when a cached handle went stale, explain LM Studio's refusal).

Requests and what the plan gets back:

    ListLoaded(kind)                LM Studio's raw `listLoaded` in namespace `kind` ("llm", "embedding"): a list
                                    of instance info dicts
    ListDownloaded()                its raw `listDownloadedModels`: a list of `ModelInfo` dicts, every type
    GetHandle(identifier, kind)     the SDK handle of a loaded instance (no round trip)
    Load(target, specifier, kind)   the SDK handle after `getOrLoad`; one load per `target` at a time, and the
                                    front end reports its progress as `LoadProgress` events
    LoadNew(kind, model_key, ...)   the SDK handle of a new instance (`loadModel`), with `LoadProgress` events;
                                    the SDK cannot cancel a load, so a caller that gives up leaves it running
    Unload(kind, identifier)        None, once LM Studio unloaded the instance
    Embed(model, texts)             the embedding vectors of `texts`, in their order
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

from ..errors import (
    ContextOverflowError,
    GenerationFailedError,
    ModelNotFoundError,
    NoModelLoadedError,
    WrongModelTypeError,
)
from ..types import Image
from . import _sdk
from .adapter import LMStudioTypeAdapter
from .core import PreparedCall, images_in, phase_after
from .events import StreamEvent
from .preflight import ApplyTemplate, ContextLength, ContextPreflight, CountTokens
from .resolution import identifiers_in, names_a_model, resolve_specifier
from .sdk_errors import CONNECT_ERRORS, classify, lmstudio_words, vision_error

__all__ = [
    "ApplyTemplate",
    "CallPlans",
    "ContextLength",
    "CountTokens",
    "Done",
    "Embed",
    "GetHandle",
    "ListDownloaded",
    "ListLoaded",
    "Load",
    "LoadNew",
    "Outcome",
    "Phase",
    "Predict",
    "Request",
    "Unload",
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
    kind: str = "llm"


@dataclass(frozen=True, slots=True)
class ListDownloaded:
    pass


@dataclass(frozen=True, slots=True)
class GetHandle:
    identifier: str
    kind: str = "llm"


@dataclass(frozen=True, slots=True)
class Load:
    target: str
    """What the specifier resolves to (a loaded identifier or a model key): loads are shared per target."""
    specifier: str
    kind: str = "llm"


@dataclass(frozen=True, slots=True)
class LoadNew:
    kind: str
    model_key: str
    identifier: str | None
    ttl: int | None
    config: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Unload:
    kind: str
    identifier: str


@dataclass(frozen=True, slots=True)
class Embed:
    model: Any
    texts: list[str]


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
    ListLoaded
    | ListDownloaded
    | GetHandle
    | Load
    | LoadNew
    | Unload
    | Embed
    | Upload
    | ContextLength
    | ApplyTemplate
    | CountTokens
    | Predict
)
Plan: TypeAlias = Generator[Request, Any, T]


def sdk_call(client: lmstudio.AsyncClient | lmstudio.Client, request: Request) -> Any:
    """Call the SDK for `request` (not `Load`, `LoadNew` or `Predict`): the answer from a sync client, an
    awaitable (or, for `GetHandle`, the answer) from an async one."""
    match request:
        case ListLoaded(kind):
            return _sdk.list_loaded_raw(client, kind)
        case ListDownloaded():
            return _sdk.list_downloaded_raw(client)
        case GetHandle(identifier, kind):
            return _sdk.model_handle(client, identifier, kind)
        case Unload(kind, identifier):
            return getattr(client, kind).unload(identifier)
        case Embed(model, texts):
            return model.embed(texts)
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
    LoadNew: "loading_new",
    Unload: "unloading",
    Embed: "embedding",
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


def drive(plan: Plan[Any], perform: Perform, phase: Phase, into: list[Any] | None = None) -> Iterator[StreamEvent]:
    """Run `plan` to its end with `perform` (sync), passing the events on and keeping `phase` current; the
    plan's value is appended to `into`, if given."""
    outcome: Outcome | None = None
    while not isinstance(step := advance(plan, outcome), Done):
        phase.now = PHASE_OF[type(step)]
        for item in perform(step):
            if isinstance(item, Outcome):
                outcome = item
            else:
                phase.now = phase_after(item, phase.now)
                yield item
    if into is not None:
        into.append(step.value)


async def adrive(
    plan: Plan[Any], perform: AsyncPerform, phase: Phase, into: list[Any] | None = None
) -> AsyncGenerator[StreamEvent, None]:
    """`drive` for the async front end: the same loop, awaiting each request."""
    outcome: Outcome | None = None
    while not isinstance(step := advance(plan, outcome), Done):
        phase.now = PHASE_OF[type(step)]
        async with contextlib.aclosing(perform(step)) as items:
            async for item in items:
                if isinstance(item, Outcome):
                    outcome = item
                else:
                    phase.now = phase_after(item, phase.now)
                    yield item
    if into is not None:
        into.append(step.value)


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
        self.embedding_handles: dict[str | None, Any] = {}
        self.preflight = ContextPreflight()

    def forget_handles(self) -> None:
        self.handles.clear()
        self.embedding_handles.clear()

    def resolve(self, model: str | None, host: str) -> Plan[Any]:
        """The handle for `model` (else the default, else the first loaded model), loading it just in time.

        Raises:
            ModelNotFoundError: LM Studio would not resolve the name (nothing was loaded).
            WrongModelTypeError: the name is an embedding model's.
            NoModelLoadedError: none named and none loaded (`host` says where LM Studio was asked).
        """
        key = model or self.model_name
        handle = self.handles.get(key)
        if handle is not None:
            return handle
        identifiers = identifiers_in((yield ListLoaded()) or [])
        if key is None:
            if not identifiers:
                raise NoModelLoadedError(host)
            handle = yield GetHandle(identifiers[0])
        else:
            setting = None if model else self.model_setting
            downloaded = (yield ListDownloaded()) or []
            try:
                target = resolve_specifier(key, identifiers, downloaded, setting=setting)
            except ModelNotFoundError:
                embedders = identifiers_in((yield ListLoaded("embedding")) or [])
                if names_a_model(key, embedders, downloaded, "embedding"):
                    raise WrongModelTypeError(key, "embedding", setting=setting) from None
                raise
            handle = yield Load(target, key)
        self.handles[key] = handle
        return handle

    def count_tokens(self, texts: list[str], model: str | None, host: str) -> Plan[list[int]]:
        """Tokens in each of `texts` by `model`'s tokenizer (the default model when None), loading it if needed."""
        llm = yield from self.resolve(model, host)
        counts: list[int] = []
        for text in texts:
            counts.append(int((yield CountTokens(llm, text))))  # noqa: PERF401 (a comprehension cannot yield)
        return counts

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
