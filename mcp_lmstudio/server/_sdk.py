"""The one seam with the mcp SDK's internals: every private or semi-private name of `mcp` the server uses.

An mcp upgrade that moves one of these breaks here, and `tests/server/test_sdk_seam.py` says which name and
where, instead of a tool quietly losing its strict arguments or the capabilities advertising prompts.

- `MCPServer._lowlevel_server._request_handlers`: the registered methods, from which the SDK derives the
  capabilities; there is no public way to leave the prompt and resource methods out.
- `Tool.run`, `Tool.fn_metadata`, `FuncMetadata.pre_parse_json` and `ArgModelBase`
  (`mcp.server.mcpserver.tools` / `.utilities.func_metadata`): the SDK builds a tool's argument model from
  its function, with no option to forbid unknown fields or to keep a JSON-looking string a string.
- `mcp.shared._context_streams.create_context_streams` and `MCPServer._lowlevel_server.run` (for the stdio
  transport, which needs its own pipe handling): see `transports/stdio.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.shared._context_streams import create_context_streams
from mcp.types import ToolAnnotations
from pydantic import ConfigDict, ValidationError

from .arguments import advertised_schema, compact_schema
from .tool_errors import argument_error_result

__all__ = ["create_context_streams", "lowlevel_server", "serve_tools_only", "strict_tool"]

#: What MCPServer serves for its prompt and resource managers; this server has neither prompts nor resources.
UNUSED_METHODS = ("prompts/list", "prompts/get", "resources/list", "resources/read", "resources/templates/list")

#: Free-text arguments: a prompt that happens to be JSON (or the word "null") must reach the model as text.
TEXT_ARGUMENTS = frozenset(
    {"prompt", "model", "regex", "cfg", "system", "output_file", "previous_response_id", "identifier", "input"}
)


def lowlevel_server(server: MCPServer[Any]) -> Any:
    """The SDK's low-level server inside `server` (it has no public "run on these streams")."""
    return getattr(server, "_lowlevel_server", None)


def serve_tools_only(server: MCPServer[Any]) -> None:
    """Unregister the prompt and resource methods, so that the capabilities advertise tools only.

    A client that calls them anyway gets -32601 (method not found), as the spec has it for a capability the
    server did not declare.
    """
    handlers = getattr(lowlevel_server(server), "_request_handlers", None)
    if isinstance(handlers, dict):
        for method in UNUSED_METHODS:
            handlers.pop(method, None)


class _TextStaysText(FuncMetadata):
    """The SDK JSON-decodes string arguments of parameters not typed plain `str`; undo that for free text."""

    def pre_parse_json(self, data: dict[str, Any]) -> dict[str, Any]:
        parsed = super().pre_parse_json(data)
        return {key: data[key] if key in TEXT_ARGUMENTS else value for key, value in parsed.items()}


class _PlainArgumentErrorsTool(Tool):
    """Answers a call whose arguments do not fit the schema with a sentence naming the field, the value and
    what is allowed (`tool_errors.argument_error_result`), instead of the validator's dump."""

    async def run(self, arguments: dict[str, Any], context: Context[Any, Any], convert_result: bool = False) -> Any:
        try:
            return await super().run(arguments, context, convert_result)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(exc, UnexpectedToolError) or not isinstance(cause, ValidationError):
                raise
            return argument_error_result(cause, self.name, self.parameters, arguments)


def strict_tool(
    fn: Callable[..., Any],
    title: str,
    description: str,
    annotations: ToolAnnotations,
    *,
    required: tuple[str, ...] = (),
) -> Tool:
    """A tool whose arguments model refuses unknown fields (a typo must not be silently ignored), advertised
    with a compact schema that marks `required`."""
    tool = _PlainArgumentErrorsTool.from_function(
        fn, name=fn.__name__, title=title, description=description, annotations=annotations
    )
    loose = tool.fn_metadata
    config = ConfigDict(**loose.arg_model.model_config, extra="forbid", strict=True)
    strict = cast(type[ArgModelBase], type(loose.arg_model.__name__, (loose.arg_model,), {"model_config": config}))
    tool.fn_metadata = _TextStaysText(
        arg_model=strict,
        output_schema=compact_schema(loose.output_schema),
        output_model=loose.output_model,
        wrap_output=loose.wrap_output,
    )
    tool.parameters = advertised_schema(strict, required=required)
    return tool
