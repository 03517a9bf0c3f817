"""One message that cannot be encoded or decoded ends its own request, never the process or another request.

Strings from LM Studio are made valid Unicode where they enter (`unicode`), so nothing here should ever
fire; this is the net under that. A tool result that cannot be encoded as JSON becomes a tool error (over
any transport); on the stdio pipe transport, any other message that cannot be encoded is answered with a
JSON-RPC error (a response) or dropped (a notification), and logged. Before this, one such message made the
stdio writer raise, which ended the process and every call in flight.

Incoming, every line gets the answer JSON-RPC 2.0 prescribes (section 5.1), and none can end the process:

- a line nested more than `MAX_MESSAGE_DEPTH` levels deep is refused by an iterative scan before any
  recursive parser sees it (a parse error), so that no depth raises `RecursionError`;
- a line that pydantic's JSON parser refuses (hosts written in JavaScript escape a lone surrogate when they
  cut a string inside an emoji, which is valid JSON) is read with Python's parser instead, so the tool refuses
  the text with a clear error; a line that is not JSON gets a parse error;
- a batch (a JSON array, `[]` included) gets one invalid-request error with a null id: MCP has had no batches
  since 2025-06-18;
- a request whose id is not a string or an integer (null, 1.5, 2.0, true, an object) gets an invalid-request
  error with a null id (the SDK would otherwise read it as a notification and answer nothing); any other
  object that is not a JSON-RPC message gets one too, with its id when that can be echoed. Notifications and
  responses that are malformed are logged and dropped: JSON-RPC never answers either.

`classify` holds these rules for any transport; `decode_message` applies them to a stdio line.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import mcp_types
from mcp.shared.message import SessionMessage

from .. import strict_json
from ..text import first_line, is_valid_unicode

__all__ = [
    "MAX_MESSAGE_DEPTH",
    "UnreadableMessageError",
    "classify",
    "decode_message",
    "encode_or_replace",
    "error_body",
    "too_deep",
]

logger = logging.getLogger(__name__)

#: JSON-RPC 2.0's error codes (section 5.1).
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INTERNAL_ERROR = -32603

#: Deepest nesting of arrays and objects read in an incoming message (real MCP messages nest about ten deep;
#: pydantic's own parser stops at 200, so this one limit holds on every transport).
MAX_MESSAGE_DEPTH = 128


class UnreadableMessageError(ValueError):
    """An incoming line is not a JSON-RPC message; `reply` is the error line to answer with, if any."""

    def __init__(self, reason: str, reply: bytes | None) -> None:
        super().__init__(reason)
        self.reply = reply


def decode_message(text: str) -> mcp_types.JSONRPCMessage:
    """The JSON-RPC message in the line `text`.

    Raises:
        UnreadableMessageError: too deep or not JSON (`reply` is a parse error), or not a JSON-RPC message
            (`reply` is an invalid-request error, with the request's id when it can be echoed, or None for a
            malformed notification or response, which JSON-RPC never answers).
    """
    try:
        strict_json.check_depth(text, MAX_MESSAGE_DEPTH)
    except strict_json.TooDeepError as exc:
        raise UnreadableMessageError(*too_deep(exc)) from None
    try:
        message = mcp_types.jsonrpc_message_adapter.validate_json(text, by_name=False)
    except ValueError:
        pass  # pydantic refuses escaped lone surrogates; Python's parser reads them, and the tool refuses them
    else:
        if not isinstance(message, mcp_types.JSONRPCNotification):
            return message
        # A request whose id is not a string or an integer validates as a notification (pydantic drops the id).
        problem = classify(json.loads(text))
        if problem is None:
            return message
        raise UnreadableMessageError(*problem)
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        where = f" ({exc.msg} at position {exc.pos})" if isinstance(exc, json.JSONDecodeError) else ""
        reason = f"Parse error: the line is not JSON{where}."
        raise UnreadableMessageError(reason, error_body(None, PARSE_ERROR, reason)) from None
    try:
        return mcp_types.jsonrpc_message_adapter.validate_python(data, by_name=False)
    except ValueError as exc:
        reason, reply = classify(data) or _invalid(data, f"not a JSON-RPC 2.0 message ({first_line(exc)})")
        raise UnreadableMessageError(reason, reply) from None


def too_deep(exc: strict_json.TooDeepError) -> tuple[str, bytes]:
    """The parse error for a message nested deeper than `MAX_MESSAGE_DEPTH`."""
    where = f" (at position {exc.position})" if exc.position is not None else ""
    reason = (
        f"Parse error: the message nests arrays and objects more than {exc.limit} levels deep{where}; at most "
        f"{exc.limit} are read."
    )
    return reason, error_body(None, PARSE_ERROR, reason)


def classify(data: Any) -> tuple[str, bytes | None] | None:
    """What is wrong with the parsed message `data` that the SDK would not answer, as (reason, reply to send
    or None); None when nothing the SDK misses is wrong (its own validation may still refuse the message)."""
    if isinstance(data, list):
        reason = (
            "Invalid request: JSON-RPC batches (arrays) are not supported; MCP has had none since 2025-06-18. "
            "Send each message on its own."
        )
        return reason, error_body(None, INVALID_REQUEST, reason)
    if not isinstance(data, dict):
        return _invalid(data, f"a message must be a JSON object, not {_json_type(data)}")
    if "method" in data and "id" in data and not _is_request_id(data["id"]):
        shown = json.dumps(data["id"])
        shown = shown if len(shown) <= 40 else f"{shown[:37]}..."
        return _invalid(data, f"the id must be a string or an integer; got {shown}")
    return None


def _invalid(data: Any, why: str) -> tuple[str, bytes | None]:
    reason = f"Invalid request: {why}."
    if isinstance(data, dict) and "method" not in data and ("result" in data or "error" in data):
        return reason, None  # a malformed response: JSON-RPC never answers a response
    if isinstance(data, dict) and "method" in data and "id" not in data:
        return reason, None  # a malformed notification: JSON-RPC never answers a notification
    request_id = data.get("id") if isinstance(data, dict) else None
    return reason, error_body(request_id if _is_echoable(request_id) else None, INVALID_REQUEST, reason)


def _is_request_id(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _json_type(data: Any) -> str:
    if data is None:
        return "null"
    if isinstance(data, bool):
        return "a boolean"
    if isinstance(data, int | float):
        return "a number"
    return "a string" if isinstance(data, str) else type(data).__name__


def error_body(request_id: str | int | None, code: int, message: str) -> bytes:
    """A JSON-RPC error response, encoded."""
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
        return error_body(message.id if _is_echoable(message.id) else None, INTERNAL_ERROR, reason)


def _is_echoable(request_id: object) -> bool:
    return _is_request_id(request_id) and (not isinstance(request_id, str) or is_valid_unicode(request_id))
