"""One message that cannot be encoded or decoded ends its own request, never the process or another request.

Strings from LM Studio are made valid Unicode where they enter (`unicode`), so nothing here should ever
fire; this is the net under that. A tool result that cannot be encoded as JSON becomes a tool error (over
any transport); on the stdio pipe transport, any other message that cannot be encoded is answered with a
JSON-RPC error (a response) or dropped (a notification), and logged. Before this, one such message made the
stdio writer raise, which ended the process and every call in flight.

Incoming, on the same transport: a line that pydantic's JSON parser refuses (hosts written in JavaScript
escape a lone surrogate when they cut a string inside an emoji, which is valid JSON) is read with Python's
parser instead, so the tool refuses the text with a clear error; a line that is not JSON, or not a JSON-RPC
message, is answered with JSON-RPC's parse error or invalid request (JSON-RPC 2.0, section 5.1) instead of
silence that leaves the host waiting.
"""

from __future__ import annotations

import json
import logging

import mcp_types
from mcp.shared.message import SessionMessage

from ..text import first_line, is_valid_unicode

__all__ = ["UnreadableMessageError", "decode_message", "encode_or_replace"]

logger = logging.getLogger(__name__)

#: JSON-RPC 2.0's error codes (section 5.1).
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INTERNAL_ERROR = -32603


class UnreadableMessageError(ValueError):
    """An incoming line is not a JSON-RPC message; `reply` is the error line to answer with, if any."""

    def __init__(self, reason: str, reply: bytes | None) -> None:
        super().__init__(reason)
        self.reply = reply


def decode_message(text: str) -> mcp_types.JSONRPCMessage:
    """The JSON-RPC message in the line `text`.

    Raises:
        UnreadableMessageError: not JSON (`reply` is a parse error), or not a JSON-RPC message (`reply` is an
            invalid-request error for the request's id, or None for what has no id to answer).
    """
    try:
        return mcp_types.jsonrpc_message_adapter.validate_json(text, by_name=False)
    except ValueError:
        pass  # pydantic refuses escaped lone surrogates; Python's parser reads them, and the tool refuses them
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        reason = f"Parse error: the line is not JSON ({exc.msg} at position {exc.pos})."
        raise UnreadableMessageError(reason, _error_line(None, PARSE_ERROR, reason)) from None
    try:
        return mcp_types.jsonrpc_message_adapter.validate_python(data, by_name=False)
    except ValueError as exc:
        reason = f"Invalid request: not a JSON-RPC 2.0 message ({first_line(exc)})."
        request_id = data.get("id") if isinstance(data, dict) and "method" in data else None
        reply = _error_line(request_id, INVALID_REQUEST, reason) if _is_echoable(request_id) else None
        raise UnreadableMessageError(reason, reply) from None


def _error_line(request_id: str | int | None, code: int, message: str) -> bytes:
    error = mcp_types.JSONRPCError(jsonrpc="2.0", id=request_id, error=mcp_types.ErrorData(code=code, message=message))
    return error.model_dump_json(by_alias=True, exclude_unset=True).encode()


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
        reason = f"The response could not be encoded as JSON ({first_line(exc)}); it was dropped."
        # An id that cannot be encoded itself cannot be echoed: JSON-RPC's null id says so.
        return _error_line(message.id if _is_echoable(message.id) else None, INTERNAL_ERROR, reason)


def _is_echoable(request_id: object) -> bool:
    return isinstance(request_id, int) or (isinstance(request_id, str) and is_valid_unicode(request_id))
