"""Streamable HTTP transport: `/mcp` on loopback by default, with an optional bearer token.

The SDK's DNS-rebinding protection (Host/Origin checks) is on for loopback binds. A non-loopback bind is
refused unless a token is configured, and then every request must carry `Authorization: Bearer <token>`.

Before the SDK reads a POSTed message, `MessageCheckMiddleware` answers what it would misread or refuse
unclearly, by the same rules as stdio (`jsonrpc.classify`): a body nested deeper than `MAX_MESSAGE_DEPTH`, a
batch (array), and a request whose id is not a string or an integer (which the SDK would take for a
notification and answer with an empty 202) each get a JSON-RPC error with a null id and status 400.
"""

from __future__ import annotations

import errno
import hmac
import json
import socket
from typing import Any

import pydantic_core
from mcp.server.mcpserver import MCPServer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import strict_json
from ..settings import Settings
from .addresses import is_loopback
from .jsonrpc import MAX_MESSAGE_DEPTH, classify, too_deep

__all__ = [
    "IN_FLIGHT_GRACE_S",
    "BearerTokenMiddleware",
    "MessageCheckMiddleware",
    "PortUnavailableError",
    "bind_socket",
    "build_http_app",
    "is_loopback",
    "serve_http",
    "serving_banner",
]

#: On SIGTERM/SIGINT, how long calls in flight get before they are cancelled.
IN_FLIGHT_GRACE_S = 1


class BearerTokenMiddleware:
    """Answers 401 to any HTTP request without `Authorization: Bearer <token>`."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._authorised(scope):
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
                }
            )
            body = b'{"error": "unauthorized", "error_description": "Send Authorization: Bearer <token>."}'
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)

    def _authorised(self, scope: Scope) -> bool:
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        given = next((value for name, value in headers if name == b"authorization"), b"")
        return hmac.compare_digest(given, self.expected)


class MessageCheckMiddleware:
    """Answers a POSTed body that the SDK would misread (see the module's docstring) with its JSON-RPC error;
    passes everything else on, body unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                await self.app(scope, _replay(b"", receive, message), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        reply = message_error(body)
        if reply is None:
            await self.app(scope, _replay(body, receive), send)
            return
        await send({"type": "http.response.start", "status": 400, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": reply})


def message_error(body: bytes) -> bytes | None:
    """The JSON-RPC error to answer the POSTed `body` with, or None to hand it to the SDK."""
    try:
        strict_json.check_depth(body, MAX_MESSAGE_DEPTH)
    except strict_json.TooDeepError as exc:
        return too_deep(exc)[1]
    try:
        data = pydantic_core.from_json(body)
    except ValueError:
        try:
            data = json.loads(body)  # pydantic refuses escaped lone surrogates, which are valid JSON
        except (ValueError, RecursionError):
            return None  # not JSON: the SDK answers with its parse error
    problem = classify(data)
    return problem[1] if problem is not None else None


def _is_json(scope: Scope) -> bool:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    content_type = next((value for name, value in headers if name == b"content-type"), b"")
    return content_type.split(b";")[0].strip().lower() == b"application/json"


def _replay(body: bytes, receive: Receive, first: Message | None = None) -> Receive:
    """A `receive` that yields `first` (or `body` as one request message), then defers to `receive`."""
    pending: list[Any] = [first if first is not None else {"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Any:
        return pending.pop() if pending else await receive()

    return replayed


def build_http_app(server: MCPServer[Any], settings: Settings) -> ASGIApp:
    """The Starlette app serving `/mcp`, behind the message check, wrapped in the token check when a token is
    set (so that nothing is parsed for a caller without the token)."""
    app: ASGIApp = MessageCheckMiddleware(server.streamable_http_app(host=settings.bind))
    if settings.auth_token:
        app = BearerTokenMiddleware(app, settings.auth_token)
    return app


class PortUnavailableError(OSError):
    """The HTTP port cannot be bound; the message says why and what to pass instead."""


def bind_socket(bind: str, port: int) -> socket.socket:
    """A listening socket on `bind`:`port` (0: any free port), so that the URL can be printed before serving.

    Raises:
        PortUnavailableError: the port is taken, privileged, or the address is not this machine's.
    """
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            bind, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise PortUnavailableError(f"Cannot serve HTTP on {bind!r}: {exc.strerror or exc}. Check --bind.") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortUnavailableError(
                f"Port {port} is already in use on {bind} (another server, or an mcp-lmstudio still running). "
                "Pass --port with a free port, or --port 0 for any free one."
            ) from exc
        if exc.errno == errno.EACCES:
            raise PortUnavailableError(
                f"Port {port} needs administrator rights. Pass --port with a number above 1023."
            ) from exc
        raise PortUnavailableError(f"Cannot serve HTTP on {bind}:{port}: {exc.strerror or exc}.") from exc
    return sock


def serving_banner(sock: socket.socket, settings: Settings) -> str:
    """The line printed at start: where the server listens, and whether a token is needed."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    if settings.auth_token:
        access = "every request needs the header 'Authorization: Bearer <token>' (--auth-token)"
    elif is_loopback(settings.bind):
        access = "no token required; only this machine can connect"
    else:
        access = "no token required"
    return f"mcp-lmstudio: serving MCP over Streamable HTTP at http://{shown}:{port}/mcp ({access})"


async def serve_http(server: MCPServer[Any], settings: Settings, sock: socket.socket | None = None) -> None:
    """Serve over Streamable HTTP until cancelled, on `sock` if given (else bind `settings.port`)."""
    import uvicorn

    config = uvicorn.Config(
        build_http_app(server, settings),
        host=settings.bind,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's default config logs access lines to stdout; ours go to stderr
        lifespan="on",
        timeout_graceful_shutdown=IN_FLIGHT_GRACE_S,
    )
    await uvicorn.Server(config).serve(sockets=[sock] if sock is not None else None)
