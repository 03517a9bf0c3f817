"""Which model a call names, and loading it once: model specifiers as LM Studio resolves them, the
model listing, and single-flight loads.

LM Studio resolves a specifier to a loaded instance's identifier (`qwen3-8b`, `qwen3-8b:2`, a custom
identifier), a model key, or a model's path (or a case-insensitive prefix of it, such as
`publisher/model-name`); `check_specifier` accepts exactly those, so that a name LM Studio would not resolve
is refused before a just-in-time load could start, and one it would resolve is never refused.
`resolve_specifier` says which model a specifier names, so that loads are shared per model, not per string.

LM Studio's JIT loader does not merge concurrent `getOrLoad`s of one model: each loads another copy. So
concurrent resolutions of one model (by any specifier) share one load (`SingleFlight` for asyncio,
`SyncSingleFlight` for threads): every waiter gets the load's progress and its outcome, and a failed load is
forgotten so that the next call tries again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from .errors import ModelNotFoundError
from .results import ModelDescription
from .unicode import valid_unicode

__all__ = ["SingleFlight", "SyncSingleFlight", "describe_models", "resolve_specifier"]

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def _resolves(specifier: str, key: str, path: str) -> bool:
    folded = specifier.casefold()
    return specifier == key or (bool(folded) and path.casefold().startswith(folded))


def resolve_specifier(
    specifier: str, loaded_identifiers: Iterable[str], downloaded: Iterable[Any], *, setting: str | None = None
) -> str:
    """What `specifier` names, as LM Studio resolves it: a loaded instance's identifier, else a model key.

    `downloaded` holds the SDK's downloaded-model objects (`.info.model_key`, `.info.path`). Two specifiers
    that name one model (its key and a path prefix, say) resolve alike, so their loads can be shared.
    `setting` names where `specifier` was configured when it is the default (`--model`, `LMSTUDIO_MODEL`),
    for the error; None when the call named it.

    Raises:
        ModelNotFoundError: LM Studio would not resolve `specifier`; lists what exists.
    """
    identifiers = list(loaded_identifiers)
    if specifier in identifiers:
        return specifier
    infos = [model.info for model in downloaded]
    for matches in (lambda info: info.model_key == specifier, lambda info: _resolves(specifier, "", info.path)):
        found = next((info for info in infos if matches(info)), None)
        if found is not None:
            return str(found.model_key)
    available = sorted({*identifiers, *(info.model_key for info in infos)})
    raise ModelNotFoundError(specifier, [valid_unicode(name) for name in available], setting=setting)


def describe_models(loaded: Iterable[Mapping[str, Any]], downloaded: Iterable[Any]) -> list[ModelDescription]:
    """Every loaded LLM instance, then every downloaded LLM without an instance (once).

    `loaded` holds LM Studio's `LLMInstanceInfo` objects as `listLoaded` sends them (each instance with its own
    `identifier` and `contextLength`); `downloaded` the SDK's downloaded-model objects.
    """
    instances = [info for info in loaded if info.get("type", "llm") == "llm"]
    models = [_instance_description(info) for info in instances]
    keys_with_an_instance = {str(info.get("modelKey")) for info in instances}
    models.extend(
        ModelDescription(
            key=valid_unicode(model.info.model_key),
            model_key=valid_unicode(model.info.model_key),
            display_name=valid_unicode(model.info.display_name),
            loaded=False,
            context_length=int(model.info.max_context_length),
            vision=bool(model.info.vision),
        )
        for model in downloaded
        if model.info.model_key not in keys_with_an_instance
    )
    return models


def _instance_description(info: Mapping[str, Any]) -> ModelDescription:
    identifier = str(info.get("identifier") or info.get("modelKey"))
    return ModelDescription(
        key=valid_unicode(identifier),
        model_key=valid_unicode(str(info.get("modelKey", identifier))),
        display_name=valid_unicode(str(info.get("displayName", identifier))),
        loaded=True,
        context_length=int(info.get("contextLength") or info.get("maxContextLength") or 0),
        vision=bool(info.get("vision", False)),
    )


class SingleFlight(Generic[K, T]):
    """Runs at most one `load(key, report)` per key at a time; concurrent callers share its outcome.

    The load runs in a task of its own, so a caller that is cancelled (a time limit, an MCP cancel) leaves
    it running for the others; its result is whatever the caller caches.
    """

    def __init__(self) -> None:
        self._flights: dict[K, tuple[asyncio.Future[T], list[Callable[[float], object]]]] = {}

    async def run(
        self,
        key: K,
        load: Callable[[Callable[[float], None]], Awaitable[T]],
        on_progress: Callable[[float], object] | None = None,
    ) -> T:
        """The outcome of the one load of `key`, starting it unless one is under way.

        `on_progress` receives the load's progress (0.0 to 1.0) from when this caller joined.
        """
        flight = self._flights.get(key)
        if flight is None:
            flight = self._start(key, load)
        future, listeners = flight
        if on_progress is not None:
            listeners.append(on_progress)
        try:
            return await asyncio.shield(future)
        finally:
            if on_progress is not None:
                listeners.remove(on_progress)

    def _start(
        self, key: K, load: Callable[[Callable[[float], None]], Awaitable[T]]
    ) -> tuple[asyncio.Future[T], list[Callable[[float], object]]]:
        listeners: list[Callable[[float], object]] = []

        def report(fraction: float) -> None:
            for listener in listeners:
                listener(fraction)

        future: asyncio.Future[T] = asyncio.ensure_future(load(report))
        flight = (future, listeners)
        self._flights[key] = flight
        future.add_done_callback(lambda done: self._finished(key, done))
        return flight

    def _finished(self, key: K, future: asyncio.Future[T]) -> None:
        self._flights.pop(key, None)
        if not future.cancelled():
            future.exception()  # retrieved here: every waiter may have gone


class SyncSingleFlight(Generic[K, T]):
    """`SingleFlight` for threads: concurrent callers of one key wait for the first caller's load."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[K, concurrent.futures.Future[T]] = {}

    def run(self, key: K, load: Callable[[], T]) -> T:
        """The outcome of the one load of `key`, running it in this thread unless one is under way."""
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = concurrent.futures.Future()
        if not leader:
            return flight.result()
        try:
            flight.set_result(load())
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._flights.pop(key, None)
        return flight.result()
