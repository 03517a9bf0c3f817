"""The real server (`python -m tests.unserialisable_server <mcp-lmstudio arguments>`) with two extra tools:
`unserialisable`, whose result cannot be encoded (its text holds a lone UTF-16 surrogate), and
`unserialisable_log`, which sends a log notification that cannot be: stand-ins for any message that fails
to encode, to prove that such a failure ends that request alone."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent

import mcp_lmstudio.server.app
from mcp_lmstudio.cli.command import main
from mcp_lmstudio.models.session import LMStudioSession
from mcp_lmstudio.settings import Settings

_create_server = mcp_lmstudio.server.app.create_server


async def unserialisable() -> CallToolResult:
    """Return a result no JSON encoder accepts."""
    return CallToolResult(content=[TextContent(type="text", text="lone \ud800 surrogate")])


async def unserialisable_log(ctx: Context[Any, Any]) -> str:
    """Send a log notification no JSON encoder accepts, then answer normally."""
    await ctx.warning("lone \ud800 surrogate")
    return "sent"


def create_server(settings: Settings, *, session: LMStudioSession | None = None) -> Any:
    server = _create_server(settings, session=session)
    server.add_tool(unserialisable, name="unserialisable")
    server.add_tool(unserialisable_log, name="unserialisable_log")
    return server


if __name__ == "__main__":
    mcp_lmstudio.server.app.create_server = create_server
    main()
