"""Streamable HTTP transport: `/mcp` on loopback by default, with an optional bearer token.

The SDK's DNS-rebinding protection (Host/Origin checks) is on for loopback binds. A non-loopback bind is
refused unless a token is configured, and then every request must carry `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from mcp.server.mcpserver import MCPServer
from starlette.types import ASGIApp, Receive, Scope, Send

from .settings import Settings

__all__ = ["SHUTDOWN_GRACE_S", "BearerTokenMiddleware", "build_http_app", "is_loopback", "serve_http"]

#: On SIGTERM/SIGINT, how long calls in flight get before they are cancelled.
SHUTDOWN_GRACE_S = 1


def is_loopback(address: str) -> bool:
    """Whether `address` only accepts connections from this machine."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


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


def build_http_app(server: MCPServer[Any], settings: Settings) -> ASGIApp:
    """The Starlette app serving `/mcp`, wrapped in the token check when a token is set."""
    app: ASGIApp = server.streamable_http_app(host=settings.bind)
    if settings.auth_token:
        app = BearerTokenMiddleware(app, settings.auth_token)
    return app


async def serve_http(server: MCPServer[Any], settings: Settings) -> None:
    """Serve over Streamable HTTP until cancelled."""
    import uvicorn

    config = uvicorn.Config(
        build_http_app(server, settings),
        host=settings.bind,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's default config logs access lines to stdout; ours go to stderr
        lifespan="on",
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )
    await uvicorn.Server(config).serve()
