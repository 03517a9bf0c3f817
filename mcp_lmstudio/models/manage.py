"""The plans that manage models rather than generate: list them, load a new instance, unload one, embed texts.

Like the generation plans (`plans.py`), they are sans-I/O generators that both front ends run. Everything a
caller can get wrong is checked before LM Studio is asked to do anything: the model exists and is of the type
the call needs, an identifier is free (or, to unload, loaded), a context length fits the model's maximum.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, TypedDict

import lmstudio

from ..errors import (
    InstanceNotFoundError,
    InvalidInputError,
    LoadConfigError,
    ModelNotFoundError,
    NoModelLoadedError,
    WrongModelTypeError,
)
from .events import Embeddings, ModelDescription
from .plans import CallPlans, Embed, GetHandle, ListDownloaded, ListLoaded, Load, LoadNew, Plan, Unload
from .resolution import (
    default_key,
    describe_models,
    downloaded_model,
    identifiers_in,
    models_in,
    names_a_model,
    resolve_specifier,
)
from .sdk_errors import lmstudio_words, server_error

__all__ = ["LoadOptions", "LoadRequest", "ModelPlans", "embed_texts", "load_request"]

#: Most texts one `embed` call takes (each is one request to LM Studio).
MAX_EMBED_TEXTS = 256
#: How `gpu_offload` names no offload and full offload, as `lms load --gpu` does.
GPU_WORDS = ("off", "max")


@dataclass(frozen=True, slots=True)
class LoadRequest:
    """A checked `load_model` call: the model named, and the configuration of the new instance."""

    model: str
    identifier: str | None
    context_length: int | None
    ttl: int | None
    gpu_offload: float | str | None

    def config(self) -> dict[str, Any]:
        """The SDK's load config (`contextLength`, `gpu.ratio`), with only what was given."""
        config: dict[str, Any] = {}
        if self.context_length is not None:
            config["contextLength"] = self.context_length
        if self.gpu_offload is not None:
            config["gpu"] = {"ratio": self.gpu_offload}
        return config


class LoadOptions(TypedDict, total=False):
    """The keyword arguments of `load_model` (both front ends).

    `identifier` names the new instance (default: the model key, then `key:2`...); `context_length` in tokens
    (default: LM Studio's for the model); `ttl`, seconds idle before LM Studio unloads it (default: never, as
    `lms load`); `gpu_offload`, "max", "off" or a ratio from 0 to 1 (default: LM Studio's); `timeout`, seconds
    for the whole call (default: the front end's `timeout`).
    """

    identifier: str | None
    context_length: int | None
    ttl: int | None
    gpu_offload: float | str | None
    timeout: float | None


def load_request(model: str, options: LoadOptions) -> LoadRequest:
    """Check a load's arguments before anything is sent to LM Studio.

    Raises:
        InvalidInputError: an argument is out of its range (named, with the value and what is allowed).
    """
    identifier, context_length, ttl = options.get("identifier"), options.get("context_length"), options.get("ttl")
    if not isinstance(model, str) or not model:
        raise InvalidInputError(f"`model` must name a downloaded model (a model key or path), not {model!r}.")
    if identifier is not None and (not isinstance(identifier, str) or not identifier.strip()):
        raise InvalidInputError(f"`identifier` must be a non-empty string, not {identifier!r}.")
    for name, value in (("context_length", context_length), ("ttl", ttl)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InvalidInputError(f"`{name}` must be a whole number of at least 1, not {value!r}.")
    offload = options.get("gpu_offload")
    if not (
        offload is None
        or offload in GPU_WORDS
        or (isinstance(offload, int | float) and not isinstance(offload, bool) and 0 <= offload <= 1)
    ):
        raise InvalidInputError(f"`gpu_offload` must be 'max', 'off' or a ratio from 0 to 1, not {offload!r}.")
    ratio = float(offload) if isinstance(offload, int) else offload
    return LoadRequest(model, identifier, context_length, ttl, ratio)


def embed_texts(texts: str | Sequence[str]) -> list[str]:
    """The texts of an `embed` call as a list, checked.

    Raises:
        InvalidInputError: no text, more than `MAX_EMBED_TEXTS`, or an item that is not a string.
    """
    items = [texts] if isinstance(texts, str) else list(texts)
    if not items or len(items) > MAX_EMBED_TEXTS:
        raise InvalidInputError(f"Give 1 to {MAX_EMBED_TEXTS} texts to embed; {len(items)} were given.")
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidInputError(f"Text {index} to embed is {type(item).__name__}, not a string.")
    return items


class ModelPlans:
    """The model-management plans of one front end, sharing its `CallPlans` (its default model and handles)."""

    def __init__(self, plans: CallPlans) -> None:
        self.plans = plans

    def list_models(self) -> Plan[list[ModelDescription]]:
        """The loaded instances, then the downloaded models without one (see `resolution.describe_models`),
        with `default` set on the entry a generation call without `model` would use."""
        llms = list((yield ListLoaded("llm")) or [])
        embedders = list((yield ListLoaded("embedding")) or [])
        downloaded = list((yield ListDownloaded()) or [])
        models = describe_models(llms, embedders, downloaded)
        default = default_key(self.plans.model_name, identifiers_in(llms), downloaded, models)
        return [replace(model, default=True) if model.key == default else model for model in models]

    def load_model(self, request: LoadRequest) -> Plan[ModelDescription]:
        """Load a new instance as `request` configures it; return it as `list_models` shows it.

        Raises:
            ModelNotFoundError: no downloaded LLM or embedding model is named `request.model`.
            InvalidInputError: the identifier is taken.
            LoadConfigError: the context length is over the model's maximum (checked first), or LM Studio
                refused the configuration.
            GenerationFailedError: LM Studio could not load the model (out of memory, say).
        """
        downloaded = list((yield ListDownloaded()) or [])
        info = downloaded_model(request.model, downloaded)
        if info is None:
            available = sorted(str(m["modelKey"]) for kind in ("llm", "embedding") for m in models_in(downloaded, kind))
            raise ModelNotFoundError(request.model, available, loading=True)
        key, kind = str(info["modelKey"]), "embedding" if info.get("type") == "embedding" else "llm"
        if request.identifier is not None:
            taken = identifiers_in((yield ListLoaded("llm")) or [])
            taken += identifiers_in((yield ListLoaded("embedding")) or [])
            if request.identifier in taken:
                raise InvalidInputError(
                    f"An instance with the identifier {request.identifier!r} is already loaded. Pick another "
                    "identifier, or leave it out (LM Studio then names the instance after the model key)."
                )
        maximum = info.get("maxContextLength")
        limit = maximum if isinstance(maximum, int) and not isinstance(maximum, bool) and maximum > 0 else None
        if request.context_length is not None and limit is not None and request.context_length > limit:
            raise LoadConfigError(key, "context_length", request.context_length, limit)
        try:
            handle = yield LoadNew(kind, key, request.identifier, request.ttl, request.config())
        except lmstudio.LMStudioServerError as exc:
            raise _load_refusal(exc, key, request, limit) from exc
        identifier = str(handle.identifier)
        instances = list((yield ListLoaded(kind)) or [])  # the new one, as list_models shows it
        llms = instances if kind == "llm" else []
        models = describe_models(llms, [] if kind == "llm" else instances, downloaded)
        default = default_key(self.plans.model_name, identifiers_in(llms), downloaded, models) if llms else None
        found = next((replace(m, default=m.key == default) for m in models if m.key == identifier), None)
        if found is None:  # unloaded already (a TTL of a second, say): describe it from what was asked
            length = request.context_length or 0
            return ModelDescription(
                key=identifier, model_key=key, display_name=str(info.get("displayName", key)), loaded=False,
                context_length=length, vision=info.get("vision") is True, type=kind,
            )  # fmt: skip
        return found

    def unload_model(self, identifier: str) -> Plan[ModelDescription]:
        """Unload the instance `identifier` (exactly, as `list_models` shows it); return it as it was (`default`
        not set).

        Raises:
            InstanceNotFoundError: no loaded instance has that identifier (lists the loaded ones).
        """
        before = describe_models((yield ListLoaded("llm")) or [], (yield ListLoaded("embedding")) or [], [])
        instance = next((model for model in before if model.key == identifier), None)
        loaded = [model.key for model in before]
        if instance is None:
            raise InstanceNotFoundError(identifier, loaded)
        try:
            yield Unload(instance.type, identifier)
        except lmstudio.LMStudioModelNotFoundError:  # unloaded meanwhile (its TTL, another application)
            raise InstanceNotFoundError(identifier, [key for key in loaded if key != identifier]) from None
        finally:
            self.plans.forget_handles()
        return instance

    def embed(self, texts: list[str], model: str | None, host: str) -> Plan[Embeddings]:
        """The embeddings of `texts` by `model` (default: the first loaded embedding model), in their order.

        A cached handle that went stale (the model was unloaded) is forgotten and resolved once more.

        Raises:
            ModelNotFoundError: LM Studio would not resolve `model` to an embedding model.
            WrongModelTypeError: `model` is an LLM.
            NoModelLoadedError: none named and no embedding model loaded.
        """
        for attempt in (1, 2):
            handle = yield from self._embedding_model(model, host)
            try:
                vectors = yield Embed(handle, texts)
            except lmstudio.LMStudioModelNotFoundError:
                self.plans.embedding_handles.pop(model, None)
                if attempt == 2:
                    raise
                continue
            rows = [[float(value) for value in vector] for vector in vectors]
            return Embeddings(model=str(handle.identifier), dimensions=len(rows[0]) if rows else 0, vectors=rows)
        raise AssertionError("unreachable")  # pragma: no cover

    def _embedding_model(self, model: str | None, host: str) -> Plan[Any]:
        handles = self.plans.embedding_handles
        if model in handles:
            return handles[model]
        identifiers = identifiers_in((yield ListLoaded("embedding")) or [])
        if model is None:
            if not identifiers:
                raise NoModelLoadedError(host, kind="embedding")
            handle = yield GetHandle(identifiers[0], "embedding")
        else:
            downloaded = list((yield ListDownloaded()) or [])
            try:
                target = resolve_specifier(model, identifiers, downloaded, kind="embedding")
            except ModelNotFoundError:
                llms = identifiers_in((yield ListLoaded("llm")) or [])
                if names_a_model(model, llms, downloaded, "llm"):
                    raise WrongModelTypeError(model, "llm") from None
                raise
            handle = yield Load(target, model, "embedding")
        handles[model] = handle
        return handle


def _load_refusal(exc: lmstudio.LMStudioServerError, key: str, request: LoadRequest, limit: int | None) -> Exception:
    """LM Studio's refusal of a load: a context length it refused names the value and the limit."""
    words = lmstudio_words(exc)
    if request.context_length is not None and "context" in words.lower():
        stated = re.search(r"at most ([0-9][0-9,]*)", words)
        told = int(stated.group(1).replace(",", "")) if stated else None
        return LoadConfigError(key, "context_length", request.context_length, limit or told, said=words)
    return server_error(exc, model=key)
