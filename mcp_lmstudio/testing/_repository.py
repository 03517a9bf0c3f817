"""`/repository`: model search and download, over the emulator's catalogue (no network).

`searchModels {opts: {searchTerm?, limit?, compatibilityTypes?}}` → `{results: [ModelSearchResultEntryData]}`:
one entry per catalogue repository (`publisher/repo` of the model path) whose key, path or display name
contains the term (case-insensitive), `{name, identifier: {type: "hf", identifier}, exact, staffPick}`.
`getModelDownloadOptions {modelSearchResultIdentifier}` → `{results: [ModelSearchResultDownloadOptionData]}`,
one per model file of that repository. `downloadModel {downloadIdentifier}` is a channel:
`downloadProgress`*, `startFinalizing`, `success {defaultIdentifier}` (the model key), as the SDK's
`ModelDownloadEndpoint` parses them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ._catalog import EmulatedModel
from ._protocol import Channel, ChannelHandler, EndpointError, RpcHandler, error_payload

if TYPE_CHECKING:
    from ._emulator import LMStudioEmulator

__all__ = ["RepositoryEndpoints"]


def _repository(model: EmulatedModel) -> str:
    parts = model.file_path.split("/")
    return "/".join(parts[:2]) if len(parts) >= 2 else model.file_path


class RepositoryEndpoints:
    """The `/repository` handlers."""

    def __init__(self, emulator: LMStudioEmulator) -> None:
        self.emulator = emulator

    def rpcs(self) -> dict[str, RpcHandler]:
        return {"searchModels": self.search_models, "getModelDownloadOptions": self.download_options}

    def channels(self) -> dict[str, ChannelHandler]:
        return {"downloadModel": self.download_model}

    def _models(self) -> list[EmulatedModel]:
        return list(self.emulator.registry.models.values())

    async def search_models(self, parameter: dict[str, Any]) -> dict[str, Any]:
        opts = (parameter or {}).get("opts") or {}
        term = str(opts.get("searchTerm") or "").lower()
        limit = int(opts.get("limit") or 25)
        repositories: dict[str, bool] = {}
        for model in self._models():
            haystack = f"{model.key} {model.file_path} {model.display_name}".lower()
            if term in haystack:
                repositories.setdefault(_repository(model), model.key.lower() == term)
        results = [
            {"name": name, "identifier": {"type": "hf", "identifier": name}, "exact": exact, "staffPick": False}
            for name, exact in list(repositories.items())[:limit]
        ]
        return {"results": results}

    async def download_options(self, parameter: dict[str, Any]) -> dict[str, Any]:
        wanted = ((parameter or {}).get("modelSearchResultIdentifier") or {}).get("identifier")
        options = [
            {
                "name": model.file_path.rsplit("/", 1)[-1],
                "sizeBytes": model.size_bytes,
                "fitEstimation": "fullGPUOffload",
                "downloadIdentifier": model.file_path,
                "indexedModelIdentifier": model.file_path,
                "quantization": "Q4_K_M",
                "recommended": index == 0,
            }
            for index, model in enumerate(m for m in self._models() if _repository(m) == wanted)
        ]
        return {"results": options}

    async def download_model(self, channel: Channel, parameter: dict[str, Any]) -> None:
        wanted = str((parameter or {}).get("downloadIdentifier", ""))
        model = next((m for m in self._models() if m.file_path == wanted), None)
        if model is None:
            raise EndpointError(error_payload(f'Cannot find a download option "{wanted}"'))
        total = model.size_bytes
        for step in (0.25, 0.5, 0.75, 1.0):
            await asyncio.sleep(self.emulator.load_delay / 4)
            update = {"downloadedBytes": int(total * step), "totalBytes": total, "speedBytesPerSecond": total * 4}
            await channel.send({"type": "downloadProgress", "update": update})
        await channel.send({"type": "startFinalizing"})
        await channel.send({"type": "success", "defaultIdentifier": model.key})
