"""The model endpoints of `/llm` and `/embedding` (lmstudio-js `baseModelBackendInterface` and the
namespace-specific ones), plus `/system` `listDownloadedModels`.

Loading: `getOrLoad` returns a matching loaded instance (`alreadyLoaded`), else JIT-loads the model
(`startLoading`, `unloadingOtherJITModel` for each other JIT instance it evicts, as LM Studio's "JIT
models auto-evict" does across namespaces, `loadProgress`*, `loadSuccess`); `loadModel` always loads a
new instance (`resolved`, `progress`*, `success`). Unknown models are `generic.pathNotFound`. As in LM Studio,
a load without a context length gets the model's load default (4096, or its maximum when smaller), one above
the maximum fails, and a just-in-time load without a TTL gets LM Studio's 60 minutes (`ttlMs: 3600000`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._catalog import EmulatedModel
from ._embeddings import embed
from ._errors import SYSTEM_ROLE_UNSUPPORTED
from ._instances import Instance
from ._prompt import count_tokens, format_prompt, token_ids
from ._protocol import Channel, ChannelHandler, EndpointError, RpcHandler, error_payload, flatten_config

if TYPE_CHECKING:
    from ._emulator import LMStudioEmulator

__all__ = ["ModelEndpoints"]

#: The idle TTL LM Studio gives a just-in-time load that does not ask for one (lmstudio-js's recorded snapshots).
JIT_DEFAULT_TTL_MS = 60 * 60 * 1000

#: Token ids an embedding model's tokenizer adds around its input (BOS and EOS), as the SDK suite expects.
_EMBEDDING_MARKERS = (1, 2)


class ModelEndpoints:
    """The RPC and channel handlers of one model namespace (`kind` "llm" or "embedding")."""

    def __init__(self, emulator: LMStudioEmulator, kind: str) -> None:
        self.emulator = emulator
        self.kind = kind
        self.registry = emulator.registry

    def rpcs(self) -> dict[str, RpcHandler]:
        handlers: dict[str, RpcHandler] = {
            "listLoaded": self.list_loaded,
            "getModelInfo": self.get_model_info,
            "getLoadConfig": self.get_load_config,
            "getBasePredictionConfig": self.get_base_prediction_config,
            "unloadModel": self.unload_model,
            "countTokens": self.count_tokens,
            "tokenize": self.tokenize,
            "getInstanceProcessingState": self.processing_state,
        }
        if self.kind == "llm":
            handlers["applyPromptTemplate"] = self.apply_prompt_template
        else:
            handlers["embedString"] = self.embed_string
        return handlers

    def channels(self) -> dict[str, ChannelHandler]:
        return {"getOrLoad": self.get_or_load, "loadModel": self.load_model}

    # -- queries ---------------------------------------------------------------------------------------

    def resolve(self, specifier: Mapping[str, Any] | None) -> Instance:
        return self.registry.resolve(specifier, self.kind)

    async def list_loaded(self, _parameter: Any) -> list[dict[str, Any]]:
        return [instance.info() for instance in self.registry.loaded_of_kind(self.kind)]

    async def get_model_info(self, parameter: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return self.resolve(parameter.get("specifier")).info()
        except EndpointError:
            if parameter.get("throwIfNotFound", True):
                raise
            return None

    async def get_load_config(self, parameter: dict[str, Any]) -> dict[str, Any]:
        return {"fields": self.resolve(parameter.get("specifier")).load_config_fields()}

    async def get_base_prediction_config(self, parameter: dict[str, Any]) -> dict[str, Any]:
        self.resolve(parameter.get("specifier"))
        return {"fields": []}

    async def processing_state(self, parameter: dict[str, Any]) -> dict[str, Any]:
        self.resolve(parameter.get("specifier"))
        return {"status": "idle", "queued": 0}

    async def count_tokens(self, parameter: dict[str, Any]) -> dict[str, Any]:
        self.resolve(parameter.get("specifier"))
        return {"tokenCount": count_tokens(str(parameter.get("inputString", "")))}

    async def tokenize(self, parameter: dict[str, Any]) -> dict[str, Any]:
        self.resolve(parameter.get("specifier"))
        tokens = token_ids(str(parameter.get("inputString", "")))
        if self.kind == "embedding":
            tokens = [_EMBEDDING_MARKERS[0], *tokens, _EMBEDDING_MARKERS[1]]
        return {"tokens": tokens}

    async def apply_prompt_template(self, parameter: dict[str, Any]) -> dict[str, Any]:
        instance = self.resolve(parameter.get("specifier"))
        messages = (parameter.get("history") or {}).get("messages", [])
        check_template(instance.model, messages)
        return {"formatted": format_prompt(messages, flatten_config(parameter.get("predictionConfigStack")))}

    async def embed_string(self, parameter: dict[str, Any]) -> dict[str, Any]:
        instance = self.resolve(parameter.get("modelSpecifier"))
        return {"embedding": embed(str(parameter.get("inputString", "")), instance.model.embedding_length)}

    async def unload_model(self, parameter: dict[str, Any]) -> None:
        identifier = str(parameter.get("identifier", ""))
        instance = self.registry.instances.get(identifier) or self.registry.find_instance(identifier, self.kind)
        if instance is None or instance.kind != self.kind:
            raise EndpointError(self.registry.not_found_error({"identifier": identifier}, self.kind))
        self.registry.unload(instance.identifier)

    # -- loading ---------------------------------------------------------------------------------------

    def _find_model(self, query: str) -> EmulatedModel:
        model = self.registry.find_model(query, self.kind)
        if model is None:
            raise EndpointError(self.registry.path_not_found_error(query, self.kind))
        return model

    def _context_length(self, config: Mapping[str, Any]) -> int | None:
        value = config.get(f"{self.kind}.load.contextLength")
        return int(value) if isinstance(value, int | float) and value > 0 else None

    async def _progress(self, channel: Channel, packet: str) -> None:
        for step in (0.25, 0.5, 0.75, 1.0):
            await asyncio.sleep(self.emulator.load_delay / 4)
            await channel.send({"type": packet, "progress": step})

    async def get_or_load(self, channel: Channel, parameter: dict[str, Any]) -> None:
        query = str(parameter.get("identifier", ""))
        instance = self.registry.find_instance(query, self.kind)
        if instance is None:
            model = self._find_model(query)
            if not self.emulator.merge_concurrent_loads:  # LM Studio: each concurrent getOrLoad loads a copy
                await self._jit_load(channel, model, parameter)
                return
            # One JIT load of a model at a time: a second getOrLoad waits and then finds the instance.
            async with self.registry.load_lock(model.key):
                instance = self.registry.find_instance(query, self.kind)
                if instance is None:
                    await self._jit_load(channel, model, parameter)
                    return
        self.registry.touch(instance)
        await channel.send({"type": "alreadyLoaded", "info": instance.info()})

    async def _jit_load(self, channel: Channel, model: EmulatedModel, parameter: dict[str, Any]) -> None:
        identifier = self.registry.free_identifier(model.key)
        await channel.send({"type": "startLoading", "identifier": identifier, "info": model.model_info()})
        if self.emulator.load_failure is not None:  # as when the model does not fit in memory
            await self._progress(channel, "loadProgress")
            raise EndpointError(error_payload(self.emulator.load_failure))
        self.registry.context_length_for(model, self._context_length(flatten_config(parameter.get("loadConfigStack"))))
        if self.emulator.jit_auto_evict:
            for other in [inst for inst in self.registry.instances.values() if inst.jit]:
                self.registry.unload(other.identifier)
                await channel.send({"type": "unloadingOtherJITModel", "info": other.info()})
        await self._progress(channel, "loadProgress")
        loaded = self._load(model, None, parameter, parameter.get("loadTtlMs", JIT_DEFAULT_TTL_MS), jit=True)
        await channel.send({"type": "loadSuccess", "info": loaded.info()})

    async def load_model(self, channel: Channel, parameter: dict[str, Any]) -> None:
        model = self._find_model(str(parameter.get("modelKey", "")))
        identifier = parameter.get("identifier")
        if identifier is not None and str(identifier) in self.registry.instances:
            raise EndpointError(error_payload(f'A model with the identifier "{identifier}" already exists'))
        await channel.send({"type": "resolved", "info": model.model_info()})
        self.registry.context_length_for(model, self._context_length(flatten_config(parameter.get("loadConfigStack"))))
        await self._progress(channel, "progress")
        wanted = str(identifier) if identifier is not None else None
        loaded = self._load(model, wanted, parameter, parameter.get("ttlMs"))
        await channel.send({"type": "success", "info": loaded.info()})

    def _load(
        self, model: EmulatedModel, identifier: str | None, parameter: dict[str, Any], ttl: Any, *, jit: bool = False
    ) -> Instance:
        """Load an instance with the `loadConfigStack` of `parameter` and a TTL in ms (if a number)."""
        config = flatten_config(parameter.get("loadConfigStack"))
        return self.registry.load(
            model,
            identifier,
            context_length=self._context_length(config),
            ttl_ms=int(ttl) if isinstance(ttl, int | float) else None,
            jit=jit,
            load_config=config,
        )


def check_template(model: EmulatedModel, messages: list[dict[str, Any]]) -> None:
    """Fail as LM Studio does when the model's template cannot render `messages` (`template_refuses_system`)."""
    if model.template_refuses_system and any(message.get("role") == "system" for message in messages):
        raise EndpointError(SYSTEM_ROLE_UNSUPPORTED.payload())


async def list_downloaded(emulator: LMStudioEmulator, _parameter: Any) -> list[dict[str, Any]]:
    """`/system` `listDownloadedModels`: every catalogue model's `ModelInfo`."""
    return [model.model_info() for model in emulator.registry.models.values()]
