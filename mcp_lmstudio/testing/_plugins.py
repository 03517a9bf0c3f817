"""`/plugins`: development plugin registration and the hook channels a plugin opens.

As the lmstudio-python plugin runner (`lmstudio.plugin`, `--dev`) drives it: the dev runner opens
`registerDevelopmentPlugin {manifest}` and gets `{"type": "ready", clientIdentifier, clientPasskey}`,
credentials its plugin subprocess then authenticates with; the channel stays open until the runner
sends `{"type": "end"}`. The plugin registers its config schematics (`setConfigSchematics`,
`setGlobalConfigSchematics`), opens one channel per hook (`setToolsProvider`, `setPromptPreprocessor`,
`setGenerator`), which stay open and idle (the emulator never sends them requests), and calls
`pluginInitCompleted`. `plugins` on the emulator records each registration and its state.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._protocol import Channel, ChannelHandler, RpcHandler

if TYPE_CHECKING:
    from ._emulator import LMStudioEmulator

__all__ = ["DevPlugin", "PluginEndpoints"]


@dataclass
class DevPlugin:
    """One registered development plugin: its manifest, credentials and what it has set up."""

    manifest: dict[str, Any]
    client_identifier: str
    client_passkey: str
    hooks: list[str] = field(default_factory=list)
    schematics: dict[str, Any] = field(default_factory=dict)
    initialized: bool = False
    ended: bool = False


class PluginEndpoints:
    """The `/plugins` handlers."""

    def __init__(self, emulator: LMStudioEmulator) -> None:
        self.emulator = emulator
        self.plugins: list[DevPlugin] = []

    def rpcs(self) -> dict[str, RpcHandler]:
        return {
            "setConfigSchematics": self._schematics("plugin"),
            "setGlobalConfigSchematics": self._schematics("global"),
            "pluginInitCompleted": self.init_completed,
        }

    def channels(self) -> dict[str, ChannelHandler]:
        return {
            "registerDevelopmentPlugin": self.register,
            "setToolsProvider": self._hook("toolsProvider"),
            "setPromptPreprocessor": self._hook("promptPreprocessor"),
            "setGenerator": self._hook("generator"),
        }

    def _latest(self) -> DevPlugin | None:
        return self.plugins[-1] if self.plugins else None

    async def register(self, channel: Channel, parameter: dict[str, Any]) -> None:
        manifest = dict((parameter or {}).get("manifest") or {})
        name = str(manifest.get("name", "plugin"))
        plugin = DevPlugin(manifest, f"plugin-{name}-{len(self.plugins) + 1}", secrets.token_hex(16))
        self.plugins.append(plugin)
        await channel.send(
            {"type": "ready", "clientIdentifier": plugin.client_identifier, "clientPasskey": plugin.client_passkey}
        )
        while not channel.cancelled.is_set():
            if (await channel.messages.get()).get("type") == "end":
                break
        plugin.ended = True
        self.emulator._changed()

    def _schematics(self, scope: str) -> RpcHandler:
        async def handler(parameter: dict[str, Any]) -> None:
            plugin = self._latest()
            if plugin is not None:
                plugin.schematics[scope] = (parameter or {}).get("schematics")

        return handler

    async def init_completed(self, _parameter: Any) -> None:
        plugin = self._latest()
        if plugin is not None:
            plugin.initialized = True
            self.emulator._changed()

    def _hook(self, hook: str) -> ChannelHandler:
        async def handler(channel: Channel, _parameter: Any) -> None:
            plugin = self._latest()
            if plugin is not None:
                plugin.hooks.append(hook)
            await channel.cancelled.wait()  # open until the plugin goes away

        return handler
