"""The MCP server: tools over the one long-lived `AsyncLMStudio` session. Never imports `lmstudio`."""

from __future__ import annotations

from .app import create_server

__all__ = ["create_server"]
