"""Every incoming line gets the answer JSON-RPC 2.0 prescribes, and none can raise past the decoder."""

from __future__ import annotations

import json
from typing import Any

import mcp_types
import pytest

from mcp_lmstudio.transports.jsonrpc import MAX_MESSAGE_DEPTH, UnreadableMessageError, decode_message


def refusal(line: str) -> dict[str, Any] | None:
    with pytest.raises(UnreadableMessageError) as caught:
        decode_message(line)
    return None if caught.value.reply is None else json.loads(caught.value.reply)


def ping(request_id: Any) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "ping"})


@pytest.mark.parametrize("request_id", [None, 1.5, 2.0, True, False, {"n": 1}, [1], -0.5])
def test_a_request_whose_id_is_not_a_string_or_an_integer_gets_invalid_request_with_a_null_id(
    request_id: Any,
) -> None:
    reply = refusal(ping(request_id))
    assert reply is not None
    assert reply["id"] is None and reply["error"]["code"] == -32600
    assert reply["error"]["message"].startswith("Invalid request: the id must be a string or an integer; got ")


@pytest.mark.parametrize("request_id", [0, -3, 2**70, "", "abc"])
def test_string_and_integer_ids_are_requests(request_id: Any) -> None:
    message = decode_message(ping(request_id))
    assert isinstance(message, mcp_types.JSONRPCRequest) and message.id == request_id


@pytest.mark.parametrize(
    "batch",
    [
        [],
        [{"jsonrpc": "2.0", "id": 11, "method": "ping"}, {"jsonrpc": "2.0", "id": 12, "method": "tools/list"}],
        [{"jsonrpc": "2.0", "method": "notifications/initialized"}],
        [1],
    ],
)
def test_a_batch_gets_one_invalid_request_error_with_a_null_id(batch: list[Any]) -> None:
    reply = refusal(json.dumps(batch))
    assert reply == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": -32600,
            "message": "Invalid request: JSON-RPC batches (arrays) are not supported; MCP has had none since "
            "2025-06-18. Send each message on its own.",
        },
    }


@pytest.mark.parametrize("line", ["42", "null", '"ping"', "true"])
def test_json_that_is_not_an_object_gets_invalid_request(line: str) -> None:
    reply = refusal(line)
    assert reply is not None and reply["id"] is None and reply["error"]["code"] == -32600


def test_an_object_that_is_not_a_message_is_answered_with_its_id_when_echoable() -> None:
    reply = refusal('{"jsonrpc": "2.0", "id": 4, "method": "x", "params": 5}')
    assert reply is not None and reply["id"] == 4 and reply["error"]["code"] == -32600
    reply = refusal('{"jsonrpc": "2.0", "id": 1.5}')
    assert reply is not None and reply["id"] is None and reply["error"]["code"] == -32600


@pytest.mark.parametrize(
    "line",
    [
        '{"jsonrpc": "2.0", "method": "notifications/x", "params": 5}',  # a malformed notification
        '{"jsonrpc": "2.0", "id": 1.5, "result": {}}',  # a malformed response
    ],
)
def test_malformed_notifications_and_responses_are_never_answered(line: str) -> None:
    assert refusal(line) is None


@pytest.mark.parametrize("depth", [MAX_MESSAGE_DEPTH, 200, 1000, 100_000])
def test_a_request_nested_any_depth_gets_a_parse_error_never_a_recursion_error(depth: int) -> None:
    nested = "[" * depth + "]" * depth
    line = (
        '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"generate",'
        '"arguments":{"prompt":"x","stop":' + nested + "}}}"
    )
    reply = refusal(line)
    assert reply is not None and reply["id"] is None and reply["error"]["code"] == -32700
    assert reply["error"]["message"] == (
        f"Parse error: the message nests arrays and objects more than {MAX_MESSAGE_DEPTH} levels deep (at position "
        f"{line.index('[') + MAX_MESSAGE_DEPTH - 3}); at most {MAX_MESSAGE_DEPTH} are read."
    )


def test_unclosed_nesting_is_refused_the_same_way() -> None:
    reply = refusal("{" * 100_000)
    assert reply is not None and reply["error"]["code"] == -32700 and "levels deep" in reply["error"]["message"]


def test_nesting_within_the_limit_reaches_the_server() -> None:
    depth = MAX_MESSAGE_DEPTH - 3  # under the envelope: message, params, arguments
    nested = "[" * depth + "]" * depth
    line = '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"arguments":{"stop":' + nested + "}}}"
    assert isinstance(decode_message(line), mcp_types.JSONRPCRequest)


def test_brackets_in_strings_do_not_count() -> None:
    line = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"p": "[" * 10_000}})
    assert isinstance(decode_message(line), mcp_types.JSONRPCRequest)


def test_a_notification_is_still_a_notification() -> None:
    line = '{"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3, "reason": "id"}}'
    assert isinstance(decode_message(line), mcp_types.JSONRPCNotification)


def test_a_line_that_is_not_json_gets_a_parse_error() -> None:
    reply = refusal('{"jsonrpc": "2.0", "id": 1,')
    assert reply is not None and reply["id"] is None and reply["error"]["code"] == -32700
