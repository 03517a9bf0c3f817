"""A protocol-faithful LM Studio emulator that the real `lmstudio` SDK talks to over real websockets.

It serves `GET /lmstudio-greeting` and the websocket namespaces the SDK opens, authenticates each socket,
and speaks the RPC and channel framing of LM Studio's native API (see the module docs of
`mcp_lmstudio.testing`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import json
import logging
import socket
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ._catalog import (
    DEFAULT_MODELS,
    EmulatedModel,
    PredictionRecord,
    Reply,
    ReplySource,
    UploadRecord,
    default_reply,
    tokenize,
)

__all__ = ["NAMESPACES", "LMStudioEmulator"]

logger = logging.getLogger(__name__)
# The websockets library logs every connection at INFO; keep that under its own name, out of our logs.
_websockets_logger = logging.getLogger("websockets.emulator")

#: The namespaces real LM Studio serves; the Python SDK opens embedding, files, llm, repository, system.
NAMESPACES = frozenset({"llm", "embedding", "system", "diagnostics", "files", "repository", "plugins", "runtime"})

_GREETING = b'{"lmstudio":true}'
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF")


def _error(title: str, code: str | None = None, **data: Any) -> dict[str, Any]:
    """A `SerializedLMSExtendedError`."""
    error: dict[str, Any] = {"title": title, "rootTitle": title}
    if code is not None:
        error["displayData"] = {"code": code, **data}
    return error


class _EndpointError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["title"])
        self.error = error


def _flatten_config(stack: dict[str, Any] | None) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for layer in (stack or {}).get("layers", []):  # later layers win, as in LM Studio
        for kv in layer.get("config", {}).get("fields", []):
            fields[kv["key"]] = kv["value"]
    return fields


def _checked_value(value: Any) -> Any:
    if isinstance(value, dict) and "checked" in value:
        return value["value"] if value["checked"] else None
    return value


class _Channel:
    """Server side of one open channel."""

    def __init__(self, connection: _Connection, channel_id: int) -> None:
        self.connection = connection
        self.channel_id = channel_id
        self.cancelled = asyncio.Event()

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send({"type": "channelSend", "channelId": self.channel_id, "message": message})

    async def wait_cancelled(self, delay: float) -> bool:
        """Sleep `delay` seconds, waking early if the client cancels; return whether it cancelled."""
        if delay <= 0:
            await asyncio.sleep(0)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.cancelled.wait(), delay)
        return self.cancelled.is_set()


class _Connection:
    """One authenticated websocket: dispatches RPCs and channels of one namespace."""

    def __init__(self, emulator: LMStudioEmulator, ws: ServerConnection, namespace: str) -> None:
        self.emulator = emulator
        self.ws = ws
        self.namespace = namespace
        self.channels: dict[int, _Channel] = {}
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
        # As LM Studio's ServerPort does, a malformed message or a duplicate channel id gets a
        # communicationWarning (and no reply), never a dropped socket.
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "rpcCall" and isinstance(message.get("callId"), int) and isinstance(message.get("endpoint"), str):
            self._spawn(self._answer_rpc(message))
        elif kind == "channelCreate" and self._is_new_channel(message):
            channel = _Channel(self, message["channelId"])
            self.channels[channel.channel_id] = channel
            self._spawn(self._run_channel(channel, message["endpoint"], message.get("creationParameter")))
        elif kind == "channelSend" and isinstance(message.get("message"), dict):
            target = self.channels.get(message.get("channelId"))
            if target is not None and message["message"].get("type") == "cancel":
                target.cancelled.set()
        else:
            self._spawn(self.send({"type": "communicationWarning", "warning": f"Unhandled message {message!r:.200}"}))

    def _is_new_channel(self, message: dict[str, Any]) -> bool:
        channel_id = message.get("channelId")
        return (
            isinstance(channel_id, int) and isinstance(message.get("endpoint"), str) and channel_id not in self.channels
        )

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _answer_rpc(self, message: dict[str, Any]) -> None:
        call_id, endpoint = message["callId"], message["endpoint"]
        self.emulator.rpc_calls.append((self.namespace, endpoint))
        handler = self.emulator._rpc_handlers.get((self.namespace, endpoint))
        try:
            if handler is None:
                raise _EndpointError(_unknown_endpoint(self.namespace, endpoint))
            result = await handler(message.get("parameter"))
        except Exception as exc:  # a handler that fails answers with an error, as LM Studio does
            await self.send({"type": "rpcError", "callId": call_id, "error": _error_of(exc)})
            return
        reply: dict[str, Any] = {"type": "rpcResult", "callId": call_id}
        if result is not None:
            reply["result"] = result
        await self.send(reply)

    async def _run_channel(self, channel: _Channel, endpoint: str, parameter: Any) -> None:
        handler = self.emulator._channel_handlers.get((self.namespace, endpoint))
        try:
            if handler is None:
                raise _EndpointError(_unknown_endpoint(self.namespace, endpoint))
            await handler(channel, parameter)
        except Exception as exc:  # a handler that fails answers with an error, as LM Studio does
            await self.send({"type": "channelError", "channelId": channel.channel_id, "error": _error_of(exc)})
        else:
            await self.send({"type": "channelClose", "channelId": channel.channel_id})
        finally:
            self.channels.pop(channel.channel_id, None)


def _error_of(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, _EndpointError):
        return exc.error
    logger.warning("Emulator handler failed", exc_info=exc)
    return _error(f"The LM Studio emulator failed: {type(exc).__name__}: {exc}")


def _unknown_endpoint(namespace: str, endpoint: str) -> dict[str, Any]:
    return _error(
        f"The LM Studio emulator does not implement endpoint {endpoint!r} on /{namespace}",
        "emulator.unknownEndpoint",
        endpoint=endpoint,
        namespace=namespace,
    )


class LMStudioEmulator:
    """An LM Studio server for tests and demos: deterministic, scriptable, observable, breakable.

    Use it as `async with LMStudioEmulator() as lms:` and point the SDK at `lms.api_host`. Script replies
    with `reply` (a string, a `Reply`, or a function of the `PredictionRecord`), slow it down with
    `token_delay` / `prompt_processing_delay` / `load_delay`, and inspect what it received in
    `connections`, `predictions` (the newest `max_records` if set), `uploads` and `rpc_calls`, plus
    `total_predictions`, `running_count` and `peak_concurrent_predictions`. Faults: `stop()` / `start()` (same port),
    `drop_connections()`, `send_malformed_frame()`, `hang_predictions`, `reject_auth`, `unknown_packets`.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        models: Iterable[EmulatedModel] = DEFAULT_MODELS,
        reply: ReplySource = None,
        token_delay: float = 0.0,
        prompt_processing_delay: float = 0.0,
        load_delay: float = 0.0,
        max_records: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.models: dict[str, EmulatedModel] = {model.key: model for model in models}
        self.loaded: set[str] = {model.key for model in self.models.values() if model.loaded}
        self.reply: ReplySource = reply
        self.token_delay = token_delay
        self.prompt_processing_delay = prompt_processing_delay
        self.load_delay = load_delay
        self.hang_predictions = False
        self.reject_auth = False
        self.unknown_packets = False
        self.connections: Counter[str] = Counter()
        self.predictions: list[PredictionRecord] = []
        self.max_records = max_records
        self.total_predictions = 0
        self.peak_concurrent_predictions = 0
        self._running_count = 0
        self.uploads: list[UploadRecord] = []
        self.rpc_calls: list[tuple[str, str]] = []
        self._server: Server | None = None
        self._sockets: set[ServerConnection] = set()
        self._waiters: list[asyncio.Future[None]] = []
        self._upload_ids = itertools.count(1)
        self._rpc_handlers: dict[tuple[str, str], Callable[[Any], Awaitable[Any]]] = {
            ("llm", "listLoaded"): self._list_loaded_llms,
            ("embedding", "listLoaded"): self._list_loaded_embeddings,
            ("system", "listDownloadedModels"): self._list_downloaded,
            ("llm", "getModelInfo"): self._get_model_info,
            ("llm", "unloadModel"): self._unload_model,
            ("llm", "countTokens"): self._count_tokens,
            ("llm", "tokenize"): self._tokenize,
            ("llm", "getLoadConfig"): self._get_load_config,
            ("files", "uploadFileBase64"): self._upload_file,
        }
        self._channel_handlers: dict[tuple[str, str], Callable[[_Channel, Any], Awaitable[None]]] = {
            ("llm", "getOrLoad"): self._get_or_load,
            ("llm", "predict"): self._predict,
        }

    # -- lifecycle -------------------------------------------------------------------------------------

    @property
    def api_host(self) -> str:
        """`host:port` for `lmstudio.AsyncClient(api_host)`."""
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the emulator is accepting connections."""
        return self._server is not None

    async def start(self) -> None:
        """Start listening (again on the same port after a `stop()`)."""
        if self._server is not None:
            return
        self._server = await serve(
            self._serve_socket,
            self.host,
            self.port,
            process_request=self._process_request,
            max_size=None,  # images arrive as one base64 frame
            compression=None,
            logger=_websockets_logger,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("LM Studio emulator listening on %s", self.api_host)

    async def stop(self) -> None:
        """Stop listening and cut every connection, as when LM Studio quits."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close(close_connections=False)
        self._abort_sockets()
        await server.wait_closed()

    async def restart(self) -> None:
        """Stop, then start again on the same port."""
        await self.stop()
        await self.start()

    async def __aenter__(self) -> LMStudioEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- faults and observation -------------------------------------------------------------------------

    async def drop_connections(self) -> None:
        """Abort every open websocket without a close frame (a crash or a network drop)."""
        self._abort_sockets()
        await asyncio.sleep(0)

    async def send_malformed_frame(self, namespace: str = "llm") -> None:
        """Send a frame that is not JSON on every socket of `namespace`."""
        for ws in list(self._sockets):
            if ws.request is not None and ws.request.path.strip("/") == namespace:
                with contextlib.suppress(ConnectionClosed):
                    await ws.send("{this is not json")

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until `predicate()` holds, re-checking after each change the emulator records."""
        async with asyncio.timeout(timeout):
            while not predicate():
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                await waiter

    @property
    def running_predictions(self) -> list[PredictionRecord]:
        """Predictions that have not ended."""
        return [record for record in self.predictions if not record.finished]

    @property
    def running_count(self) -> int:
        """How many predictions are running now (counted, so cheap even with `max_records`)."""
        return self._running_count

    @property
    def open_sockets(self) -> int:
        """How many websockets are connected now."""
        return len(self._sockets)

    def _abort_sockets(self) -> None:
        for ws in list(self._sockets):
            ws.transport.abort()

    def _changed(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- transport ---------------------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/lmstudio-greeting":
            headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(_GREETING)))])
            return Response(200, "OK", headers, _GREETING)
        if request.path.strip("/") not in NAMESPACES:
            return connection.respond(404, f"No LM Studio endpoint at {request.path}\n")
        return None

    async def _serve_socket(self, ws: ServerConnection) -> None:
        sock = ws.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        namespace = ws.request.path.strip("/") if ws.request is not None else ""
        self._sockets.add(ws)
        try:
            if await self._authenticate(ws):
                self.connections[namespace] += 1
                self._changed()
                await _Connection(self, ws, namespace).run()
        except (ConnectionClosed, json.JSONDecodeError):
            pass
        finally:
            self._sockets.discard(ws)
            self._changed()

    async def _authenticate(self, ws: ServerConnection) -> bool:
        auth = json.loads(await ws.recv())
        valid = (
            isinstance(auth, dict)
            and auth.get("authVersion") == 1
            and isinstance(auth.get("clientIdentifier"), str)
            and isinstance(auth.get("clientPasskey"), str)
        )
        if self.reject_auth or not valid:
            await ws.send(json.dumps({"success": False, "error": "Failed to validate client: access denied"}))
            await ws.close(1008, "authentication failed")
            return False
        await ws.send(json.dumps({"success": True}))
        return True

    # -- model catalogue -------------------------------------------------------------------------------------

    def _loaded_model(self, specifier: dict[str, Any] | None) -> EmulatedModel:
        specifier = specifier or {}
        if specifier.get("type") == "instanceReference":
            identifier = str(specifier.get("instanceReference", "")).removeprefix("instance-")
        else:
            identifier = str(specifier.get("query", {}).get("identifier", ""))
        if identifier in self.loaded:
            return self.models[identifier]
        raise _EndpointError(
            _error(
                f"No loaded model matches {identifier!r}",
                "generic.noModelMatchingQuery",
                query={"identifier": identifier},
                loadedModelsSample=sorted(self.loaded),
                totalLoadedModels=len(self.loaded),
            )
        )

    def _loaded_of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [self.models[key].instance_info() for key in sorted(self.loaded) if self.models[key].kind == kind]

    async def _list_loaded_llms(self, _parameter: Any) -> list[dict[str, Any]]:
        return self._loaded_of_kind("llm")

    async def _list_loaded_embeddings(self, _parameter: Any) -> list[dict[str, Any]]:
        return self._loaded_of_kind("embedding")

    async def _list_downloaded(self, _parameter: Any) -> list[dict[str, Any]]:
        return [model.model_info() for model in self.models.values()]

    async def _get_model_info(self, parameter: dict[str, Any]) -> dict[str, Any]:
        return self._loaded_model(parameter.get("specifier")).instance_info()

    async def _unload_model(self, parameter: dict[str, Any]) -> None:
        model = self._loaded_model({"type": "query", "query": {"identifier": parameter.get("identifier")}})
        self.loaded.discard(model.key)
        self._changed()

    async def _count_tokens(self, parameter: dict[str, Any]) -> dict[str, Any]:
        self._loaded_model(parameter.get("specifier"))
        return {"tokenCount": len(tokenize(parameter.get("inputString", "")))}

    async def _tokenize(self, parameter: dict[str, Any]) -> dict[str, Any]:
        self._loaded_model(parameter.get("specifier"))
        return {"tokens": [zlib.crc32(token.encode()) % 32000 for token in tokenize(parameter.get("inputString", ""))]}

    async def _get_load_config(self, parameter: dict[str, Any]) -> dict[str, Any]:
        model = self._loaded_model(parameter.get("specifier"))
        return {"fields": [{"key": "llm.load.contextLength", "value": model.max_context_length}]}

    async def _upload_file(self, parameter: dict[str, Any]) -> dict[str, Any]:
        name = str(parameter.get("name", "file"))
        try:
            content = base64.b64decode(parameter.get("contentBase64", ""), validate=True)
        except (binascii.Error, ValueError):
            raise _EndpointError(_error(f"File {name!r} is not valid base64")) from None
        file_type = "image" if content.startswith(_IMAGE_MAGIC) else "unknown"
        identifier = f"upload-{next(self._upload_ids)}.{name.rpartition('.')[2] or 'bin'}"
        self.uploads.append(UploadRecord(name, content, identifier, file_type))
        self._changed()
        return {"identifier": identifier, "fileType": file_type, "sizeBytes": len(content)}

    async def _get_or_load(self, channel: _Channel, parameter: dict[str, Any]) -> None:
        key = str(parameter.get("identifier", ""))
        model = self.models.get(key)
        if model is None:
            raise _EndpointError(
                _error(
                    f'Cannot find a model with path "{key}"',
                    "generic.pathNotFound",
                    path=key,
                    availablePathsSample=sorted(self.models),
                    totalModels=len(self.models),
                )
            )
        if key in self.loaded:
            await channel.send({"type": "alreadyLoaded", "info": model.instance_info()})
            return
        await channel.send({"type": "startLoading", "identifier": key, "info": model.model_info()})
        for step in (0.25, 0.5, 0.75, 1.0):
            await asyncio.sleep(self.load_delay / 4)
            await channel.send({"type": "loadProgress", "progress": step})
        self.loaded.add(key)
        self._changed()
        await channel.send({"type": "loadSuccess", "info": model.instance_info()})

    # -- prediction ---------------------------------------------------------------------------------------

    async def _predict(self, channel: _Channel, parameter: dict[str, Any]) -> None:
        model = self._loaded_model(parameter.get("modelSpecifier"))
        config = _flatten_config(parameter.get("predictionConfigStack"))
        structured = config.get("llm.prediction.structured")
        record = PredictionRecord(
            model=model.key,
            history=parameter.get("history", {}).get("messages", []),
            config=config,
            structured=structured if isinstance(structured, dict) and structured.get("type") != "none" else None,
        )
        if record.image_count and not model.vision:
            raise _EndpointError(_error("Model does not support images. Please use a model that does."))
        self._record(record)
        self._running_count += 1
        self.peak_concurrent_predictions = max(self.peak_concurrent_predictions, self._running_count)
        try:
            await _Prediction(self, channel, model, record).run()
        except Exception:
            record.stop_reason = "failed"
            raise
        finally:
            self._running_count -= 1
            if record.stop_reason is None:  # the socket went away mid-prediction
                record.stop_reason = "connectionLost"
            self._changed()

    def _record(self, record: PredictionRecord) -> None:
        self.predictions.append(record)
        self.total_predictions += 1
        if self.max_records is not None and len(self.predictions) > self.max_records:
            # Soak runs keep only the newest records; a running one is never dropped.
            older, newest = self.predictions[: -self.max_records], self.predictions[-self.max_records :]
            self.predictions = [r for r in older if not r.finished] + newest
        self._changed()

    def reply_for(self, record: PredictionRecord) -> Reply:
        """The reply the emulator gives to `record` under the current script."""
        source = self.reply
        if callable(source):
            source = source(record)
        if source is None:
            return default_reply(record)
        return source if isinstance(source, Reply) else Reply(source)


#: Generation speed reported when tokens come without delay (the stats are derived, not measured).
NOMINAL_TOKENS_PER_SECOND = 1000.0


class _Prediction:
    """Streams one prediction: prompt processing, reasoning and answer fragments, then `success`."""

    def __init__(
        self, emulator: LMStudioEmulator, channel: _Channel, model: EmulatedModel, record: PredictionRecord
    ) -> None:
        self.emulator = emulator
        self.channel = channel
        self.model = model
        self.record = record
        self.prompt_tokens = sum(
            len(tokenize(part.get("text", ""))) + 1 for message in record.history for part in message["content"]
        )
        self.predicted = 0
        self.stop_strings: list[str] = [stop for stop in record.config.get("llm.prediction.stopStrings") or [] if stop]
        self.held = ""  # answer text not sent yet, because it may be the start of a stop string
        self.held_tokens = 0

    async def run(self) -> None:
        if self.emulator.unknown_packets:  # the SDK warns about each one and carries on
            await self.channel.send({"type": "emulatorUnknownPacket", "note": "not part of the protocol"})
        stop_reason = await self._process_prompt()
        if stop_reason is None and self.emulator.hang_predictions:
            await self.channel.cancelled.wait()
            stop_reason = "userStopped"
        if stop_reason is None:
            stop_reason = await self._stream_reply()
        self.record.cancelled = self.channel.cancelled.is_set()
        await self.channel.send(self._success(stop_reason))
        self.record.stop_reason = stop_reason

    async def _process_prompt(self) -> str | None:
        total = self.prompt_tokens
        for progress in (0.0, 0.5, 1.0):
            processed = int(total * progress)
            details = {
                "cachedTokenCount": 0,
                "totalPromptTokenCount": total,
                "processedPromptTokenCount": processed,
                "unprocessedPromptTokenCount": total - processed,
            }
            await self.channel.send({"type": "promptProcessingProgress", "progress": progress, "details": details})
            if progress < 1.0 and await self.channel.wait_cancelled(self.emulator.prompt_processing_delay / 2):
                return "userStopped"
        return None

    def _pieces(self) -> list[tuple[str, str]]:
        reply = self.emulator.reply_for(self.record)
        pieces: list[tuple[str, str]] = []
        if reply.reasoning:
            pieces.append(("<think>", "reasoningStartTag"))
            pieces.extend((token, "reasoning") for token in tokenize(reply.reasoning))
            pieces.append(("</think>", "reasoningEndTag"))
        pieces.extend((token, "none") for token in tokenize(reply.text))
        return pieces

    async def _stream_reply(self) -> str:
        max_tokens = _checked_value(self.record.config.get("llm.prediction.maxPredictedTokens"))
        for content, reasoning_type in self._pieces():
            if self.channel.cancelled.is_set():
                return "userStopped"
            if max_tokens is not None and self.predicted >= max_tokens:
                await self._release_held()
                return "maxPredictedTokensReached"
            self.predicted += 1
            if reasoning_type != "none":
                await self._send_fragment(content, reasoning_type, 1)
            elif await self._add_answer_token(content):
                return "stopStringFound"
            if await self.channel.wait_cancelled(self.emulator.token_delay):
                return "userStopped"
        await self._release_held()
        return "eosFound"

    async def _add_answer_token(self, content: str) -> bool:
        """Send what can no longer start a stop string; return whether a stop string was completed."""
        self.held += content
        self.held_tokens += 1
        sent = self.record.text
        whole = sent + self.held
        found = (whole.find(stop, max(len(sent) - len(stop), 0)) for stop in self.stop_strings)
        cuts = [index for index in found if index >= 0]
        if cuts:  # LM Studio stops before the stop string and does not send it
            self.held = whole[len(sent) : min(cuts)]
            await self._release_held()
            return True
        keep = max((_overlap(self.held, stop) for stop in self.stop_strings), default=0)
        ready, self.held = self.held[: len(self.held) - keep], self.held[len(self.held) - keep :]
        if ready:
            tokens, self.held_tokens = (self.held_tokens, 0) if not self.held else (self.held_tokens - 1, 1)
            await self._send_fragment(ready, "none", max(tokens, 1))
        return False

    async def _release_held(self) -> None:
        if self.held:
            await self._send_fragment(self.held, "none", max(self.held_tokens, 1))
        self.held, self.held_tokens = "", 0

    async def _send_fragment(self, content: str, reasoning_type: str, tokens: int) -> None:
        self.record.fragments += 1
        if reasoning_type == "none":
            self.record.text += content
        fragment = {
            "content": content,
            "tokensCount": tokens,
            "containsDrafted": False,
            "reasoningType": reasoning_type,
            "isStructural": reasoning_type in ("reasoningStartTag", "reasoningEndTag"),
        }
        await self.channel.send({"type": "fragment", "fragment": fragment})
        self.emulator._changed()

    def _success(self, stop_reason: str) -> dict[str, Any]:
        # Derived from the script (counts and delays), not measured, so that runs are reproducible.
        delay = self.emulator.token_delay
        speed = (1 / delay if delay > 0 else NOMINAL_TOKENS_PER_SECOND) if self.predicted else 0.0
        first_token = self.emulator.prompt_processing_delay + delay
        stats: dict[str, Any] = {
            "stopReason": stop_reason,
            "tokensPerSecond": round(speed, 3),
            "numGpuLayers": 0,
            "totalTimeSec": round(self.emulator.prompt_processing_delay + self.predicted * delay, 6),
            "promptTokensCount": self.prompt_tokens,
            "predictedTokensCount": self.predicted,
            "totalTokensCount": self.prompt_tokens + self.predicted,
        }
        if self.predicted:  # no first token, no time to it: LM Studio leaves the field out
            stats["timeToFirstTokenSec"] = round(first_token, 6)
        prediction_fields = [{"key": key, "value": value} for key, value in self.record.config.items()]
        return {
            "type": "success",
            "stats": stats,
            "modelInfo": self.model.instance_info(),
            "loadModelConfig": {"fields": [{"key": "llm.load.contextLength", "value": self.model.max_context_length}]},
            "predictionConfig": {"fields": prediction_fields},
        }


def _overlap(text: str, stop: str) -> int:
    """Length of the longest end of `text` that is a proper start of `stop`."""
    for length in range(min(len(text), len(stop) - 1), 0, -1):
        if stop.startswith(text[-length:]):
            return length
    return 0
