"""Loaded model instances, and how LM Studio resolves a model specifier to one.

An instance is one loaded copy of a catalogue model, with its own `identifier` (the model key for the
first, `key:2`, `key:3`... for more, or the identifier given at load), `instanceReference`, context
length, TTL and JIT flag. Resolution follows LM Studio as the SDK suites exercise it: a query string
matches an instance identifier, else an instance of the model with that key, else an instance whose
model path starts with it (case-insensitively, e.g. `hugging-quants/llama-3.2-1b-instruct` for
`hugging-quants/Llama-3.2-1B-Instruct-Q8_0-GGUF/llama-3.2-1b-instruct-q8_0.gguf`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._catalog import EmulatedModel
from ._protocol import EndpointError, error_payload

__all__ = ["Instance", "Registry"]


@dataclass(eq=False)
class Instance:
    """One loaded model instance. `ttl_ms` is the idle time after which it unloads itself."""

    model: EmulatedModel
    identifier: str
    reference: str
    context_length: int
    ttl_ms: int | None = None
    jit: bool = False
    last_used: float | None = None
    load_config: dict[str, Any] = field(default_factory=dict)
    expiry: asyncio.TimerHandle | None = None

    @property
    def kind(self) -> str:
        return self.model.kind

    def info(self) -> dict[str, Any]:
        """`LLMInstanceInfo` / `EmbeddingModelInstanceInfo`: the model's `ModelInfo` plus instance fields."""
        return self.model.model_info() | {
            "identifier": self.identifier,
            "instanceReference": self.reference,
            "ttlMs": self.ttl_ms,
            "lastUsedTime": self.last_used,
            "contextLength": self.context_length,
        }

    def load_config_fields(self) -> list[dict[str, Any]]:
        """The instance's load config as KV fields (what `getLoadConfig` and `success.loadModelConfig` carry)."""
        prefix = "llm.load" if self.kind == "llm" else "embedding.load"
        fields = {f"{prefix}.contextLength": self.context_length} | self.load_config
        return [{"key": key, "value": value} for key, value in fields.items()]


def _matches_path(model: EmulatedModel, query: str) -> bool:
    return bool(query) and model.file_path.lower().startswith(query.lower())


class Registry:
    """The catalogue (`models`, by key) and the loaded instances (`instances`, by identifier, load order)."""

    def __init__(self, models: Iterable[EmulatedModel], on_change: Callable[[], None]) -> None:
        self.models: dict[str, EmulatedModel] = {model.key: model for model in models}
        self.instances: dict[str, Instance] = {}
        self._references = itertools.count(1)
        self._on_change = on_change
        self._load_locks: dict[str, asyncio.Lock] = {}

    # -- lookup ----------------------------------------------------------------------------------------

    def find_model(self, query: str, kind: str | None = None) -> EmulatedModel | None:
        """A catalogue model by key, else by exact path, else by path prefix (case-insensitive)."""
        candidates = [model for model in self.models.values() if kind is None or model.kind == kind]
        for match in (
            lambda m: m.key == query,
            lambda m: m.file_path.lower() == query.lower(),
            lambda m: _matches_path(m, query),
        ):
            found = next((model for model in candidates if match(model)), None)
            if found is not None:
                return found
        return None

    def find_instance(self, query: str, kind: str | None = None) -> Instance | None:
        """A loaded instance by identifier, else by its model's key, else by its model's path (prefix)."""
        candidates = [inst for inst in self.instances.values() if kind is None or inst.kind == kind]
        for match in (
            lambda i: i.identifier == query,
            lambda i: i.model.key == query,
            lambda i: i.model.file_path.lower() == query.lower(),
            lambda i: _matches_path(i.model, query),
        ):
            found = next((inst for inst in candidates if match(inst)), None)
            if found is not None:
                return found
        return None

    def resolve(self, specifier: Mapping[str, Any] | None, kind: str | None = None) -> Instance:
        """The instance a wire `ModelSpecifier` names, or `generic.noModelMatchingQuery`.

        `{"type": "instanceReference", "instanceReference": r}` or `{"type": "query", "query": {"identifier",
        "path", ...}}`; a query without identifier or path takes the first loaded instance of the kind.
        """
        specifier = specifier or {}
        found: Instance | None
        if specifier.get("type") == "instanceReference":
            reference = specifier.get("instanceReference")
            found = next((inst for inst in self.instances.values() if inst.reference == reference), None)
            query: Any = {"instanceReference": reference}
        else:
            query = specifier.get("query") or {}
            text = query.get("identifier") or query.get("path")
            if text is None:
                found = next((inst for inst in self.instances.values() if kind is None or inst.kind == kind), None)
            else:
                found = self.find_instance(str(text), kind)
        if found is None:
            raise EndpointError(self.not_found_error(query, kind))
        self.touch(found)
        return found

    def not_found_error(self, query: Any, kind: str | None) -> dict[str, Any]:
        loaded = [inst.identifier for inst in self.instances.values() if kind is None or inst.kind == kind]
        shown = query.get("identifier", query) if isinstance(query, dict) else query
        return error_payload(
            f"No loaded model satisfies all of the following query: {shown!r}",
            "generic.noModelMatchingQuery",
            query=query,
            loadedModelsSample=loaded[:10],
            totalLoadedModels=len(loaded),
        )

    def path_not_found_error(self, path: str, kind: str | None) -> dict[str, Any]:
        keys = [model.key for model in self.models.values() if kind is None or model.kind == kind]
        return error_payload(
            f'Cannot find a model with path "{path}"',
            "generic.pathNotFound",
            path=path,
            availablePathsSample=keys[:10],
            totalModels=len(keys),
        )

    # -- load and unload -------------------------------------------------------------------------------

    def load(
        self,
        model: EmulatedModel,
        identifier: str | None = None,
        *,
        context_length: int | None = None,
        ttl_ms: int | None = None,
        jit: bool = False,
        load_config: Mapping[str, Any] | None = None,
    ) -> Instance:
        """Load a new instance; a taken explicit `identifier` fails as LM Studio's does ("already exists").

        Without `context_length` it loads at the model's load default (`EmulatedModel.load_context_length`:
        4096, or the maximum when smaller); a length above the model's maximum fails, naming both.
        """
        if model.kind == "drafter":
            raise EndpointError(
                error_payload(f'Model "{model.key}" is a drafter model; use it as a draft model, not on its own')
            )
        if identifier is not None and identifier in self.instances:
            raise EndpointError(error_payload(f'A model with the identifier "{identifier}" already exists'))
        length = self.context_length_for(model, context_length)
        if identifier is None:
            identifier = self.free_identifier(model.key)
        instance = Instance(
            model,
            identifier,
            f"instance-{next(self._references):04d}-{model.key}",
            length,
            ttl_ms=ttl_ms,
            jit=jit,
            load_config=dict(load_config or {}),
        )
        self.instances[identifier] = instance
        self.touch(instance)
        self._on_change()
        return instance

    @staticmethod
    def context_length_for(model: EmulatedModel, requested: int | None) -> int:
        """The context length a load of `model` gets: `requested`, else the model's load default; one above
        the model's maximum fails as a load error naming both."""
        length = requested or model.load_context_length
        if model.max_context_length and length > model.max_context_length:
            raise EndpointError(
                error_payload(
                    f"Cannot load {model.key} with a context length of {length} tokens: the model supports at most "
                    f"{model.max_context_length} tokens"
                )
            )
        return length

    def load_lock(self, key: str) -> asyncio.Lock:
        """The lock that serialises just-in-time loads of the model `key`."""
        return self._load_locks.setdefault(key, asyncio.Lock())

    def free_identifier(self, key: str) -> str:
        """The model key if no instance has it, else `key:2`, `key:3`... (LM Studio's numbering)."""
        if key not in self.instances:
            return key
        return next(f"{key}:{n}" for n in itertools.count(2) if f"{key}:{n}" not in self.instances)

    def unload(self, identifier: str) -> Instance | None:
        """Unload the instance with exactly this identifier; return it (None if there was none)."""
        instance = self.instances.pop(identifier, None)
        if instance is not None:
            if instance.expiry is not None:
                instance.expiry.cancel()
            self._on_change()
        return instance

    def touch(self, instance: Instance) -> None:
        """Mark the instance used now, restarting its idle TTL."""
        instance.last_used = round(time.time() * 1000)
        if instance.expiry is not None:
            instance.expiry.cancel()
            instance.expiry = None
        if instance.ttl_ms is not None:
            with_loop = _running_loop()
            if with_loop is not None:
                instance.expiry = with_loop.call_later(instance.ttl_ms / 1000, self._expire, instance)

    def _expire(self, instance: Instance) -> None:
        if self.instances.get(instance.identifier) is instance:
            self.unload(instance.identifier)

    def loaded_of_kind(self, kind: str) -> list[Instance]:
        return [inst for inst in self.instances.values() if inst.kind == kind]


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
