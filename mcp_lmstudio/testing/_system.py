"""`/system` endpoints besides `listDownloadedModels` (lmstudio-js `systemBackendInterface`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ._protocol import Channel, ChannelHandler, RpcHandler

if TYPE_CHECKING:
    from ._emulator import LMStudioEmulator

__all__ = ["EMULATED_VERSION", "SystemEndpoints"]

#: The LM Studio version and build the emulator reports.
EMULATED_VERSION = ("0.3.30", 1)


class SystemEndpoints:
    """Version and info queries, notifications, experiment flags, and the `alive` channel."""

    def __init__(self, emulator: LMStudioEmulator) -> None:
        self.emulator = emulator
        self.notifications: list[Any] = []
        self.flags: set[str] = set()

    def rpcs(self) -> dict[str, RpcHandler]:
        return {
            "version": self.version,
            "info": self.info,
            "notify": self.notify,
            "getExperimentFlags": self.get_flags,
            "setExperimentFlag": self.set_flag,
            "listDownloadedModelVariants": self.variants,
        }

    def channels(self) -> dict[str, ChannelHandler]:
        return {"alive": self.alive}

    async def version(self, _parameter: Any) -> dict[str, Any]:
        return {"version": EMULATED_VERSION[0], "build": EMULATED_VERSION[1]}

    async def info(self, _parameter: Any) -> dict[str, Any]:
        return {"pid": os.getpid(), "isDaemon": False, "version": EMULATED_VERSION[0]}

    async def notify(self, parameter: Any) -> None:
        self.notifications.append(parameter)

    async def get_flags(self, _parameter: Any) -> list[str]:
        return sorted(self.flags)

    async def set_flag(self, parameter: dict[str, Any]) -> None:
        (self.flags.add if parameter.get("value") else self.flags.discard)(str(parameter.get("code")))

    async def variants(self, parameter: dict[str, Any]) -> list[dict[str, Any]]:
        key = parameter.get("modelKey")
        return [model.model_info() for model in self.emulator.registry.models.values() if model.key == key]

    async def alive(self, channel: Channel, _parameter: Any) -> None:
        await channel.cancelled.wait()  # open until the client goes away
