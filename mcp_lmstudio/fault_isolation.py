"""One message that cannot be encoded ends its own request, never the process or another request.

Strings from LM Studio are made valid Unicode where they enter (`unicode`), so nothing here should ever
fire; this is the net under that. A tool result that cannot be encoded as JSON becomes a tool error (over
any transport); on the stdio pipe transport, any other message that cannot be encoded is answered with a
JSON-RPC error (a response) or dropped (a notification), and logged. Before this, one such message made the
stdio writer raise, which ended the process and every call in flight.
"""

from __future__ import annotations

import logging

import mcp_types
from mcp.shared.message import SessionMessage
from mcp.types import CallToolResult, InputRequiredResult, TextContent

__all__ = ["encode_or_replace", "sendable_tool_result"]

logger = logging.getLogger(__name__)

#: JSON-RPC 2.0's "Internal error".
INTERNAL_ERROR = -32603


def sendable_tool_result(
    result: CallToolResult | InputRequiredResult, tool: str
) -> CallToolResult | InputRequiredResult:
    """`result`, or a tool error in its place if it cannot be encoded as JSON."""
    try:
        result.model_dump_json(by_alias=True, exclude_unset=True)
    except ValueError as exc:  # pydantic_core.PydanticSerializationError is a ValueError
        logger.error("The result of %s could not be encoded and was replaced by an error: %s", tool, exc)
        message = (
            f"The result of {tool} could not be encoded as JSON ({_first_line(exc)}), so it was dropped. "
            "This is a bug in mcp-lmstudio: please report it. Other calls are not affected; try again."
        )
        return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)
    return result


def encode_or_replace(session_message: SessionMessage) -> bytes | None:
    """The JSON line for `session_message`; a JSON-RPC error in place of a response that cannot be encoded;
    None (drop it) for any other message that cannot be."""
    message = session_message.message
    try:
        return message.model_dump_json(by_alias=True, exclude_unset=True).encode()
    except ValueError as exc:
        if not isinstance(message, mcp_types.JSONRPCResponse | mcp_types.JSONRPCError):
            logger.error("Dropped a %s that could not be encoded: %s", type(message).__name__, exc)
            return None
        logger.error("The response to request %r could not be encoded; sent an error instead: %s", message.id, exc)
        error = mcp_types.JSONRPCError(
            jsonrpc="2.0",
            id=message.id,
            error=mcp_types.ErrorData(
                code=INTERNAL_ERROR,
                message=f"The response could not be encoded as JSON ({_first_line(exc)}); it was dropped.",
            ),
        )
        return error.model_dump_json(by_alias=True, exclude_unset=True).encode()


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
