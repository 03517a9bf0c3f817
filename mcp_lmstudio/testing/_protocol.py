"""LM Studio's websocket framing, server side: RPCs, channels, errors and KV config stacks.

Mirrors lmstudio-js `ServerPort` (lms-communication-server): `rpcCall` → `rpcResult`/`rpcError`;
`channelCreate` → `channelSend`* → `channelClose`/`channelError`; a malformed message, a duplicate
channel id or an unknown endpoint gets a `communicationWarning` and no reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

__all__ = [
    "Channel",
    "ChannelHandler",
    "Connection",
    "EndpointError",
    "RpcHandler",
    "checked_value",
    "error_payload",
    "flatten_config",
]

logger = logging.getLogger("mcp_lmstudio.testing")

RpcHandler = Callable[[Any], Awaitable[Any]]


def error_payload(title: str, code: str | None = None, **data: Any) -> dict[str, Any]:
    """A `SerializedLMSExtendedError`: `title`, `rootTitle`, and `displayData` `{code, **data}` when coded."""
    error: dict[str, Any] = {"title": title, "rootTitle": title}
    if code is not None:
        error["displayData"] = {"code": code, **data}
    return error


class EndpointError(Exception):
    """Raised by a handler to answer with this `SerializedLMSExtendedError`."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["title"])
        self.error = error


def flatten_config(stack: Mapping[str, Any] | None) -> dict[str, Any]:
    """A KV config stack (`{"layers": [{"config": {"fields": [{key, value}]}}]}`) as one dict; later layers win."""
    fields: dict[str, Any] = {}
    for layer in (stack or {}).get("layers", []):  # lms-kv-config collapseKVStack: later layers win
        for kv in layer.get("config", {}).get("fields", []):
            fields[kv["key"]] = kv["value"]
    return fields


def checked_value(value: Any) -> Any:
    """The value of a `{"checked": bool, "value": x}` field (None when unchecked), or `value` itself."""
    if isinstance(value, dict) and "checked" in value:
        return value["value"] if value["checked"] else None
    return value


class Channel:
    """Server side of one open channel."""

    def __init__(self, connection: Connection, channel_id: int) -> None:
        self.connection = connection
        self.channel_id = channel_id
        self.cancelled = asyncio.Event()
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()  # client packets other than `cancel`

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send({"type": "channelSend", "channelId": self.channel_id, "message": message})

    async def wait_cancelled(self, delay: float) -> bool:
        """Sleep `delay` seconds, waking early if the client cancels; return whether it cancelled."""
        return await self.wait_cancelled_until(asyncio.get_running_loop().time() + delay)

    async def wait_cancelled_until(self, deadline: float) -> bool:
        """Sleep until the loop time `deadline`, waking early if the client cancels; return whether it did."""
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            await asyncio.sleep(0)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.cancelled.wait(), remaining)
        return self.cancelled.is_set()


ChannelHandler = Callable[[Channel, Any], Awaitable[None]]


class Connection:
    """One authenticated websocket: dispatches the RPCs and channels of one namespace."""

    def __init__(
        self,
        ws: ServerConnection,
        namespace: str,
        rpcs: Mapping[str, RpcHandler],
        channels: Mapping[str, ChannelHandler],
        on_rpc: Callable[[str, str], None],
    ) -> None:
        self.ws = ws
        self.namespace = namespace
        self.rpcs = rpcs
        self.channel_handlers = channels
        self.on_rpc = on_rpc
        self.channels: dict[int, Channel] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    async def send(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(json.dumps(message))

    async def run(self) -> None:
        try:
            async for raw in self.ws:
                self._dispatch(json.loads(raw))
        finally:
            for task in self.tasks:
                task.cancel()

    def _dispatch(self, message: Any) -> None:
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "rpcCall" and isinstance(message.get("callId"), int) and isinstance(message.get("endpoint"), str):
            self._on_rpc_call(message)
        elif kind == "channelCreate" and self._is_new_channel(message):
            self._on_channel_create(message)
        elif kind == "channelSend" and isinstance(message.get("message"), dict):
            target = self.channels.get(message.get("channelId"))
            if target is not None and message["message"].get("type") == "cancel":
                target.cancelled.set()
            elif target is not None:
                target.messages.put_nowait(message["message"])
        elif kind == "keepAlive":
            self._spawn(self.send({"type": "keepAliveAck"}))
        elif kind == "communicationWarning":  # the client found something it did not like in what we sent
            logger.warning("Client communication warning on /%s: %s", self.namespace, message.get("warning"))
        elif kind != "channelAck":
            self._warn(f"Received invalid message from client: {json.dumps(message)[:200]}")

    def _on_rpc_call(self, message: dict[str, Any]) -> None:
        endpoint = message["endpoint"]
        self.on_rpc(self.namespace, endpoint)
        handler = self.rpcs.get(endpoint)
        if handler is None:
            self._warn(f"Received rpcCall for unknown endpoint, endpoint = {endpoint}", "rpcEndpointUnknown")
            return
        self._spawn(self._answer_rpc(message["callId"], handler, message.get("parameter")))

    def _on_channel_create(self, message: dict[str, Any]) -> None:
        endpoint = message["endpoint"]
        handler = self.channel_handlers.get(endpoint)
        if handler is None:
            self._warn(f"Received channelCreate for unknown endpoint, endpoint = {endpoint}", "channelEndpointUnknown")
            return
        channel = Channel(self, message["channelId"])
        self.channels[channel.channel_id] = channel
        self._spawn(self._run_channel(channel, handler, message.get("creationParameter")))

    def _warn(self, warning: str, kind: str = "unknown") -> None:
        """A `communicationWarning` with ServerPort's wording and `kind`."""
        self._spawn(self.send({"type": "communicationWarning", "warning": warning, "kind": kind}))

    def _is_new_channel(self, message: dict[str, Any]) -> bool:
        channel_id = message.get("channelId")
        return (
            isinstance(channel_id, int) and isinstance(message.get("endpoint"), str) and channel_id not in self.channels
        )

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _answer_rpc(self, call_id: int, handler: RpcHandler, parameter: Any) -> None:
        try:
            result = await handler(parameter)
        except Exception as exc:  # a handler that fails answers with an error, as LM Studio does
            await self.send({"type": "rpcError", "callId": call_id, "error": _error_of(exc)})
            return
        reply: dict[str, Any] = {"type": "rpcResult", "callId": call_id}
        if result is not None:
            reply["result"] = result
        await self.send(reply)

    async def _run_channel(self, channel: Channel, handler: ChannelHandler, parameter: Any) -> None:
        try:
            await handler(channel, parameter)
        except Exception as exc:  # a handler that fails answers with an error, as LM Studio does
            await self.send({"type": "channelError", "channelId": channel.channel_id, "error": _error_of(exc)})
        else:
            await self.send({"type": "channelClose", "channelId": channel.channel_id})
        finally:
            self.channels.pop(channel.channel_id, None)


def _error_of(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, EndpointError):
        return exc.error
    logger.warning("Emulator handler failed", exc_info=exc)
    return error_payload(f"The LM Studio emulator failed: {type(exc).__name__}: {exc}")
