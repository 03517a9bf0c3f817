"""A protocol-faithful LM Studio emulator that the real `lmstudio` SDK talks to over real websockets.

It serves `GET /lmstudio-greeting` and the websocket namespaces the SDKs open, authenticates each socket,
and wires each namespace's endpoints (`_models`, `_repository`, `_files`, prediction below) to the
framing in `_protocol`. See the module docs of `mcp_lmstudio.testing`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ._auth import authenticate, split_api_token
from ._catalog import DEFAULT_MODELS, EmulatedModel
from ._files import FileEndpoints
from ._instances import Instance, Registry
from ._models import ModelEndpoints, list_downloaded
from ._plugins import DevPlugin, PluginEndpoints
from ._prediction import PredictionEndpoints
from ._protocol import ChannelHandler, Connection, EndpointError, RpcHandler
from ._records import PredictionRecord, Reply, ReplySource, UploadRecord, default_reply
from ._repository import RepositoryEndpoints
from ._slots import Slots
from ._system import SystemEndpoints

__all__ = ["NAMESPACES", "LMStudioEmulator"]

logger = logging.getLogger(__name__)
# The websockets library logs every connection at INFO; keep that under its own name, out of our logs.
_websockets_logger = logging.getLogger("websockets.emulator")

#: The namespaces real LM Studio serves; the Python SDK opens embedding, files, llm, repository, system.
NAMESPACES = frozenset({"llm", "embedding", "system", "diagnostics", "files", "repository", "plugins", "runtime"})

_GREETING = b'{"lmstudio":true}'


class LMStudioEmulator:
    """An LM Studio server for tests and demos: deterministic, scriptable, observable, breakable.

    Use it as `async with LMStudioEmulator() as lms:` and point the SDK at `lms.api_host`. Script replies
    with `reply` (a string, a `Reply`, or a function of the `PredictionRecord`), slow it down with
    `token_delay` / `prompt_processing_delay` / `load_delay` (seconds), cap concurrent predictions with
    `max_parallel_predictions` (the rest queue FIFO), choose whether concurrent `getOrLoad`s of a model that is
    not loaded each load a copy (`key`, `key:2`..., as LM Studio's JIT loader does per public bug reports; the
    default) or share one load (`merge_concurrent_loads=True`), require an LM Studio API token with `api_token`
    (`"sk-lm-XXXXXXXX:YYYYYYYYYYYYYYYYYYYY"`), and offer `presets` (name → prediction config fields). Load more
    instances with `load_instance()`; `instances` lists the loaded ones. Inspect what it received in
    `connections`, `predictions` (the newest `max_records` if set), `uploads` and `rpc_calls`, plus
    `total_predictions`, `running_count`, `queued_count` and `peak_concurrent_predictions`. Faults:
    `stop()` / `start()` (same port), `drop_connections()`, `send_malformed_frame()`, `hang_predictions`,
    `reject_auth`, `unknown_packets`; scripted LM Studio errors and newer-than-the-SDK packets through
    `Reply` (`error`, `error_after`, `stop_reason`, `fragment_fields`, `stats_fields`) and `EmulatedModel`
    (`kind="drafter"`, any `format`, `extra`, `template_refuses_system`).
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
        max_parallel_predictions: int | None = None,
        api_token: str | None = None,
        presets: Mapping[str, Mapping[str, Any]] | None = None,
        jit_auto_evict: bool = True,
        merge_concurrent_loads: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self._waiters: list[asyncio.Future[None]] = []
        self.registry = Registry(models, self._changed)
        for model in list(self.registry.models.values()):
            if model.loaded:
                self.registry.load(model)
        self.reply: ReplySource = reply
        self.token_delay = token_delay
        self.prompt_processing_delay = prompt_processing_delay
        self.load_delay = load_delay
        if api_token is not None:
            split_api_token(api_token)  # refuse a malformed token now, not at the first connection
        self.api_token = api_token
        self.presets: dict[str, dict[str, Any]] = {name: dict(fields) for name, fields in (presets or {}).items()}
        self.jit_auto_evict = jit_auto_evict
        self.merge_concurrent_loads = merge_concurrent_loads
        self.hang_predictions = False
        #: When set, every just-in-time load fails with this LM Studio error title (e.g. out of memory).
        self.load_failure: str | None = None
        self.reject_auth = False
        self.unknown_packets = False
        self.connections: Counter[str] = Counter()
        self.predictions: list[PredictionRecord] = []
        self.max_records = max_records
        self.total_predictions = 0
        self.peak_concurrent_predictions = 0
        self.slots = Slots(max_parallel_predictions)
        self.uploads: list[UploadRecord] = []
        self.rpc_calls: list[tuple[str, str]] = []
        self._server: Server | None = None
        self._sockets: set[ServerConnection] = set()
        self._client_passkeys: dict[str, str] = {}
        self._rpcs, self._channels = self._endpoints()

    def _endpoints(self) -> tuple[dict[str, dict[str, RpcHandler]], dict[str, dict[str, ChannelHandler]]]:
        llm, embedding = ModelEndpoints(self, "llm"), ModelEndpoints(self, "embedding")
        repository, files, system = RepositoryEndpoints(self), FileEndpoints(self), SystemEndpoints(self)
        self.plugin_endpoints = plugins = PluginEndpoints(self)
        rpcs: dict[str, dict[str, RpcHandler]] = {
            "llm": llm.rpcs(),
            "embedding": embedding.rpcs(),
            "repository": repository.rpcs(),
            "files": files.rpcs(),
            "system": system.rpcs() | {"listDownloadedModels": lambda p: list_downloaded(self, p)},
            "plugins": plugins.rpcs(),
        }
        channels: dict[str, dict[str, ChannelHandler]] = {
            "llm": llm.channels() | PredictionEndpoints(self).channels(),
            "embedding": embedding.channels(),
            "repository": repository.channels(),
            "system": system.channels(),
            "plugins": plugins.channels(),
        }
        return rpcs, channels

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

    # -- models and instances --------------------------------------------------------------------------

    @property
    def models(self) -> dict[str, EmulatedModel]:
        """The catalogue (downloaded models) by key."""
        return self.registry.models

    @property
    def instances(self) -> dict[str, Instance]:
        """The loaded instances by identifier, in load order."""
        return self.registry.instances

    @property
    def plugins(self) -> list[DevPlugin]:
        """The development plugins registered so far."""
        return self.plugin_endpoints.plugins

    @property
    def loaded(self) -> frozenset[str]:
        """The identifiers of the loaded instances (a snapshot; use `load_instance` / `unload` to change)."""
        return frozenset(self.registry.instances)

    async def load_instance(
        self,
        key: str,
        identifier: str | None = None,
        *,
        context_length: int | None = None,
        ttl: float | None = None,
    ) -> str:
        """Load one more instance of the catalogue model `key` (or a path prefix); return its identifier.

        `identifier` defaults to the key, then `key:2`, `key:3`...; `context_length` to the model's load
        default (as LM Studio: 4096, or the maximum when smaller; see `EmulatedModel.default_context_length`),
        and one above the model's maximum is a `ValueError`; `ttl` (seconds idle before it unloads itself)
        to none.
        """
        model = self.registry.find_model(key)
        if model is None:
            raise KeyError(f"no model {key!r} in the emulator's catalogue")
        try:
            instance = self.registry.load(
                model,
                identifier,
                context_length=context_length,
                ttl_ms=round(ttl * 1000) if ttl is not None else None,
            )
        except EndpointError as exc:
            raise ValueError(str(exc)) from None
        return instance.identifier

    def unload(self, identifier: str) -> bool:
        """Unload the instance `identifier`, as `lms unload` would; return whether there was one."""
        return self.registry.unload(identifier) is not None

    def unload_all(self) -> None:
        """Unload every instance."""
        for identifier in list(self.registry.instances):
            self.registry.unload(identifier)

    # -- faults and observation ------------------------------------------------------------------------

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
        """Predictions that have not ended (running or queued)."""
        return [record for record in self.predictions if not record.finished]

    @property
    def running_count(self) -> int:
        """How many predictions are generating now (counted, so cheap even with `max_records`)."""
        return self.slots.active

    @property
    def queued_count(self) -> int:
        """How many predictions wait for a free slot (`max_parallel_predictions`)."""
        return self.slots.queued

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

    # -- transport -------------------------------------------------------------------------------------

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
            if await authenticate(ws, self.api_token, self.reject_auth, self._client_passkeys):
                self.connections[namespace] += 1
                self._changed()
                connection = Connection(
                    ws,
                    namespace,
                    self._rpcs.get(namespace, {}),
                    self._channels.get(namespace, {}),
                    lambda ns, endpoint: self.rpc_calls.append((ns, endpoint)),
                )
                await connection.run()
        except (ConnectionClosed, json.JSONDecodeError):
            pass
        finally:
            self._sockets.discard(ws)
            self._changed()

    # -- prediction ------------------------------------------------------------------------------------

    def record(self, record: PredictionRecord) -> None:
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
