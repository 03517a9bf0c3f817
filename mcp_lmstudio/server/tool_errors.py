"""The one place where errors become tool results (`isError: true`).

- An `McpLmStudioError` is an error we raised on purpose, worded for the caller: its message is the result.
- Arguments that do not fit the schema get one or two sentences naming the field, the value and what is
  allowed (`argument_errors`), never the validator's dump.
- Anything else is a bug: it is logged with its traceback and reported as an internal error, never dressed
  up as an argument error.
- A result that cannot be encoded as JSON becomes that call's error, never the process's end.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import anyio
from mcp.types import CallToolResult, InputRequiredResult, TextContent
from pydantic import ValidationError

from ..errors import McpLmStudioError
from ..strict_json import TOO_DEEP_MESSAGE
from ..text import first_line, valid_unicode
from .argument_errors import explain_validation_error
from .tasks import task_time_limit
from .wording import tool_message

__all__ = [
    "argument_error_result",
    "error_result",
    "errors_as_results",
    "internal_error_result",
    "sendable_tool_result",
]

logger = logging.getLogger(__name__)

_ToolFunction = TypeVar("_ToolFunction", bound=Callable[..., Awaitable[CallToolResult]])


def error_result(message: str) -> CallToolResult:
    """A tool error whose one text content is `message`."""
    return CallToolResult(content=[TextContent(type="text", text=valid_unicode(message))], is_error=True)


def internal_error_result(tool: str) -> CallToolResult:
    return error_result(
        f"{tool} failed with an internal error in mcp-lmstudio (logged with its traceback on the server's "
        "stderr). This is a bug: please report it. Other calls are not affected; try again."
    )


def errors_as_results(tool: _ToolFunction) -> _ToolFunction:
    """Return the tool's errors as results: ours with their message, anything else as an internal error."""

    @functools.wraps(tool)
    async def wrapper(*args: Any, **kwargs: Any) -> CallToolResult:
        try:
            return await tool(*args, **kwargs)
        except McpLmStudioError as exc:
            logger.info("%s failed: %s", wrapper.__name__, first_line(exc))
            return error_result(tool_message(exc, in_task=task_time_limit() is not None))
        except RecursionError:  # a document too deep for a recursive parser (here or in the SDK): this call's error
            logger.warning("%s failed: a document was nested too deeply", wrapper.__name__, exc_info=True)
            return error_result(TOO_DEEP_MESSAGE)
        except anyio.get_cancelled_exc_class():
            raise
        except Exception:
            logger.exception("%s failed with an unexpected error", wrapper.__name__)
            return internal_error_result(wrapper.__name__)

    return cast(_ToolFunction, wrapper)


def argument_error_result(exc: ValidationError, tool: str, schema: dict[str, Any], arguments: Any) -> CallToolResult:
    """The arguments did not fit the tool's schema: say which field, which value, and what is allowed."""
    message = explain_validation_error(exc, tool, schema, arguments)
    logger.info("%s refused its arguments: %s", tool, message)
    return error_result(message)


def sendable_tool_result(
    result: CallToolResult | InputRequiredResult, tool: str
) -> CallToolResult | InputRequiredResult:
    """`result`, or a tool error in its place if it cannot be encoded as JSON."""
    try:
        result.model_dump_json(by_alias=True, exclude_unset=True)
    except ValueError as exc:  # pydantic_core.PydanticSerializationError is a ValueError
        logger.error("The result of %s could not be encoded and was replaced by an error: %s", tool, exc)
        return error_result(
            f"The result of {tool} could not be encoded as JSON ({first_line(exc)}), so it was dropped. "
            "This is a bug in mcp-lmstudio: please report it. Other calls are not affected; try again."
        )
    return result
