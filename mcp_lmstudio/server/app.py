"""The MCP server: `create_server(settings)` builds an `MCPServer` with four thin tools.

Each tool turns its arguments into model-layer input (`LMStudioTypeAdapter` types), calls the one
long-lived `AsyncLMStudio` session, and returns a typed result. Errors a caller can act on come back as
tool results with `isError: true` and a message that says what to do next.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, cast

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.types import CallToolResult, InputRequiredResult, TextContent, ToolAnnotations
from pydantic import ConfigDict, ValidationError

from .. import __version__
from ..errors import GenerationTimeoutError, LMStudioUnavailableError, McpLmStudioError
from ..models.events import GenerationResult
from ..models.session import LMStudioSession
from ..models.think_first import think_first_events
from ..settings import Settings
from ..text import valid_unicode
from ..types import JsonSchema
from .argument_errors import explain_validation_error
from .arguments import (
    CfgArg,
    ContextOverflow,
    GenerationRequest,
    Images,
    JsonSchemaArg,
    MaxTokens,
    Messages,
    MinP,
    ModelKey,
    Prompt,
    RegexArg,
    RepeatPenalty,
    Stop,
    Temperature,
    ThinkFirst,
    TopK,
    TopP,
    advertised_schema,
    build_request,
    compact_schema,
)
from .progress import ProgressReporter
from .results import (
    GenerateOutput,
    ModelEntry,
    ModelList,
    describe_entry,
    error_result,
    generation_result,
    sendable_tool_result,
    structured_result,
)
from .structured_output import parse_structured, structured_schema
from .tasks import (
    LegacyTasksMiddleware,
    TaskRunner,
    TasksExtension,
    TaskStore,
    TaskSupport,
    task_time_limit,
)
from .wording import TASK_TIMEOUT_FLAGS, TIMEOUT_FLAGS, tool_message

__all__ = ["create_server"]

logger = logging.getLogger(__name__)

INSTRUCTIONS = """\
This server runs prompts on a language model hosted locally in LM Studio on the user's machine: private,
free of API cost, usually smaller and slower than you. Use it to delegate self-contained text tasks
(drafting, summarising, classifying, extracting, translating) or to get a second opinion from a local model.
Call list_models to see which models exist and which are loaded (loading one can take a while).
Use structured_generate when you need JSON that matches a schema. Reasoning models' thinking is returned
separately in `reasoning`, never mixed into the answer."""


_ToolFunction = TypeVar("_ToolFunction", bound=Callable[..., Awaitable[CallToolResult]])


def _errors_as_results(tool: _ToolFunction) -> _ToolFunction:
    """Return the errors a caller can act on as `isError` results with their message.

    The model layer raises `McpLmStudioError`s, and TypeError/ValueError for malformed input (the outlines
    contract); anything else is a bug and reaches the SDK, which logs it and hides its text.
    """

    @functools.wraps(tool)
    async def wrapper(*args: Any, **kwargs: Any) -> CallToolResult:
        try:
            return await tool(*args, **kwargs)
        except (McpLmStudioError, TypeError, ValueError) as exc:
            logger.info("%s failed: %s", wrapper.__name__, exc)
            if isinstance(exc, McpLmStudioError):
                return error_result(valid_unicode(tool_message(exc, in_task=task_time_limit() is not None)))
            return error_result(valid_unicode(str(exc)))

    return cast(_ToolFunction, wrapper)


# -- tools --------------------------------------------------------------------------------------------------


@dataclass
class AppState:
    """What the lifespan hands each tool call."""

    session: LMStudioSession
    tasks: TaskRunner
    """Runs the calls that clients start as MCP tasks."""


#: The tools a client may run as an MCP task (`execution.taskSupport`).
TASK_TOOLS: dict[str, TaskSupport] = dict.fromkeys(("generate", "generate_stream", "structured_generate"), "optional")


async def _generate(
    ctx: Context[AppState, Any],
    request: GenerationRequest,
    *,
    stream_text: bool,
    output_type: JsonSchema | None = None,
    think_first: bool = False,
) -> GenerationResult:
    session = ctx.request_context.lifespan_context.session
    model_layer = await session.model()
    # A task has no one to stream to (its status message carries the progress), and has its own time limit.
    time_limit = task_time_limit()
    reporter = ProgressReporter(ctx, stream_text=stream_text and time_limit is None)
    if think_first and output_type is not None:
        events = think_first_events(
            model_layer,
            request.model_input,
            output_type,
            config=request.config,
            model=request.model,
            timeout=time_limit,
        )
    else:
        events = model_layer.stream_events(
            request.model_input, output_type, config=request.config, model=request.model, timeout=time_limit
        )
    try:
        async with contextlib.aclosing(events):
            async for event in events:
                if isinstance(event, GenerationResult):
                    await reporter.flush()
                    return event
                await reporter.on_event(event)
    except LMStudioUnavailableError:
        session.connection_lost(model_layer)
        raise
    except GenerationTimeoutError as exc:
        # A plain generation keeps what it wrote: the text comes back with a note (`cut_off_note`). JSON cut
        # off is no answer at all, so structured output stays an error.
        if exc.partial is not None and exc.partial.text and output_type is None:
            return cast(GenerationResult, exc.partial)
        raise
    raise AssertionError("the model layer ended a generation without a result")  # pragma: no cover


def _time_limit(ctx: Context[AppState, Any]) -> tuple[float, str] | None:
    """The call's time limit in seconds and the flags that set it (a task's own, else the session's)."""
    in_task = task_time_limit()
    if in_task is not None:
        return in_task, TASK_TIMEOUT_FLAGS
    limit = ctx.request_context.lifespan_context.session.timeout
    return None if limit is None else (limit, TIMEOUT_FLAGS)


GENERATE_DESCRIPTION = """\
Run a prompt, or a conversation (`messages`), on a local model in LM Studio and return its answer: for \
self-contained tasks or a second opinion. `images` need a vision model. The answer comes first; a second text \
says when it was cut off. Structured content adds the model, stop_reason, reasoning (kept apart from the \
answer) and stats. Local generation is slow: set max_tokens to bound it. Unset sampling fields use the \
model's settings in LM Studio."""

GENERATE_STREAM_DESCRIPTION = """\
Like generate, streaming the answer: each progress notification's `message` is the new answer text (they \
concatenate to the answer). Same arguments and result as generate."""

STRUCTURED_DESCRIPTION = """\
Like generate, but the answer is JSON that LM Studio constrains to `json_schema`; it is then parsed and \
validated. Structured content is the parsed value ({"value": ...} if not an object). Invalid or cut-off JSON \
is an error carrying the raw text. Set think_first when the JSON needs judgement (classifying, scoring): the \
model first reasons freely, then writes the JSON with that reasoning in view; this costs a second prediction, \
and the reasoning comes back as a second text content."""

LIST_MODELS_DESCRIPTION = """\
List LM Studio's LLMs: loaded (ready now) and downloaded (loaded on first use, which takes a while), with \
the key to pass as `model`, context length and vision."""


class _Server(MCPServer[AppState]):
    """`MCPServer` whose tool results always encode: one that cannot becomes that call's tool error."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        return sendable_tool_result(await super().call_tool(name, arguments, context), name)


def create_server(settings: Settings, *, session: LMStudioSession | None = None) -> MCPServer[AppState]:
    """Build the MCP server. A fresh session is made for it unless `session` is given (tests pass their own)."""

    @contextlib.asynccontextmanager
    async def lifespan(_server: MCPServer[AppState]) -> AsyncIterator[AppState]:
        owned = session or LMStudioSession.from_settings(settings)
        store = TaskStore(ttl_s=settings.task_timeout + settings.task_retention, time_limit_s=settings.task_timeout)
        try:
            async with TaskRunner(store) as tasks:  # on exit, running tasks (and predictions) are cancelled
                yield AppState(owned, tasks)
        finally:
            await owned.close()

    # Read-only and closed-world: tools only read from the local LM Studio; nothing else is touched.
    generating = ToolAnnotations(read_only_hint=True, open_world_hint=False, destructive_hint=False)
    listing = ToolAnnotations(read_only_hint=True, open_world_hint=False, destructive_hint=False, idempotent_hint=True)
    prompt = ("prompt",)
    tools = [
        _strict_tool(generate, "Generate with a local model", GENERATE_DESCRIPTION, generating, required=prompt),
        _strict_tool(
            generate_stream, "Generate, streaming the answer", GENERATE_STREAM_DESCRIPTION, generating, required=prompt
        ),
        _strict_tool(
            structured_generate,
            "Generate JSON matching a schema",
            STRUCTURED_DESCRIPTION,
            generating,
            required=("prompt", "json_schema"),
        ),
        _strict_tool(list_models, "List LM Studio models", LIST_MODELS_DESCRIPTION, listing),
    ]
    tasks_extension = TasksExtension(TASK_TOOLS)
    server = _Server(
        "mcp-lmstudio",
        title="LM Studio",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        log_level=settings.log_level,
        tools=tools,
        extensions=[tasks_extension],
        middleware=[LegacyTasksMiddleware(tasks_extension)],
    )
    _serve_tools_only(server)
    return server


#: What MCPServer serves for its prompt and resource managers; this server has neither prompts nor resources.
_UNUSED_METHODS = ("prompts/list", "prompts/get", "resources/list", "resources/read", "resources/templates/list")


def _serve_tools_only(server: MCPServer[AppState]) -> None:
    """Unregister the prompt and resource methods, so that the capabilities advertise tools only.

    The SDK derives the capabilities (in `initialize` and `server/discover`) from the registered methods and has
    no public way to leave these out. A client that calls them anyway gets -32601 (method not found), as the
    spec has it for a capability the server did not declare.
    """
    handlers = getattr(server._lowlevel_server, "_request_handlers", None)  # pyright: ignore[reportPrivateUsage]
    if isinstance(handlers, dict):
        for method in _UNUSED_METHODS:
            handlers.pop(method, None)


#: Free-text arguments: a prompt that happens to be JSON (or the word "null") must reach the model as text.
TEXT_ARGUMENTS = frozenset({"prompt", "model", "regex", "cfg"})


class _TextStaysText(FuncMetadata):
    """The SDK JSON-decodes string arguments of parameters not typed plain `str`; undo that for free text."""

    def pre_parse_json(self, data: dict[str, Any]) -> dict[str, Any]:
        parsed = super().pre_parse_json(data)
        return {key: data[key] if key in TEXT_ARGUMENTS else value for key, value in parsed.items()}


class _PlainArgumentErrorsTool(Tool):
    """Answers a call whose arguments do not fit the schema with a sentence naming the field, the value and
    what is allowed, instead of the validator's dump."""

    async def run(self, arguments: dict[str, Any], context: Context[Any, Any], convert_result: bool = False) -> Any:
        try:
            return await super().run(arguments, context, convert_result)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(exc, UnexpectedToolError) or not isinstance(cause, ValidationError):
                raise
            message = explain_validation_error(cause, self.name, self.parameters, arguments)
            logger.info("%s refused its arguments: %s", self.name, message)
            return error_result(message)


def _strict_tool(
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


def _generation_tool(name: str, *, stream_text: bool) -> Callable[..., Awaitable[CallToolResult]]:
    """`generate` and `generate_stream`: the same arguments and result; only the progress differs."""

    @_errors_as_results
    async def tool(
        ctx: Context[AppState, Any],
        prompt: Prompt = None,
        images: Images = None,
        messages: Messages = None,
        model: ModelKey = None,
        temperature: Temperature = None,
        max_tokens: MaxTokens = None,
        top_p: TopP = None,
        top_k: TopK = None,
        min_p: MinP = None,
        repeat_penalty: RepeatPenalty = None,
        stop: Stop = None,
        context_overflow: ContextOverflow = "error",
    ) -> Annotated[CallToolResult, GenerateOutput]:
        sampling = (temperature, max_tokens, top_p, top_k, min_p, repeat_penalty, stop)
        request = build_request(prompt, images, messages, model, sampling, context_overflow)
        result = await _generate(ctx, request, stream_text=stream_text)
        return generation_result(result, max_tokens=request.config.get("maxTokens"), time_limit=_time_limit(ctx))

    tool.__name__ = tool.__qualname__ = name
    return tool


generate = _generation_tool("generate", stream_text=False)
generate_stream = _generation_tool("generate_stream", stream_text=True)


@_errors_as_results
async def structured_generate(
    ctx: Context[AppState, Any],
    prompt: Prompt = None,
    images: Images = None,
    messages: Messages = None,
    json_schema: JsonSchemaArg = None,
    regex: RegexArg = None,
    cfg: CfgArg = None,
    model: ModelKey = None,
    temperature: Temperature = None,
    max_tokens: MaxTokens = None,
    top_p: TopP = None,
    top_k: TopK = None,
    min_p: MinP = None,
    repeat_penalty: RepeatPenalty = None,
    stop: Stop = None,
    context_overflow: ContextOverflow = "error",
    think_first: ThinkFirst = False,
) -> CallToolResult:
    """Generate JSON that satisfies a schema (see STRUCTURED_DESCRIPTION)."""
    schema = structured_schema(json_schema, regex, cfg)
    sampling = (temperature, max_tokens, top_p, top_k, min_p, repeat_penalty, stop)
    request = build_request(prompt, images, messages, model, sampling, context_overflow)
    result = await _generate(ctx, request, stream_text=False, output_type=schema, think_first=think_first)
    return structured_result(result, parse_structured(result, schema.schema), with_reasoning=think_first)


@_errors_as_results
async def list_models(ctx: Context[AppState, Any]) -> Annotated[CallToolResult, ModelList]:
    """List the loaded and downloaded LLMs (see LIST_MODELS_DESCRIPTION)."""
    session = ctx.request_context.lifespan_context.session
    model_layer = await session.model()
    try:
        models = await model_layer.list_models()
    except LMStudioUnavailableError:
        session.connection_lost(model_layer)
        raise
    entries = [
        ModelEntry(
            key=m.key,
            model_key=m.model_key,
            display_name=m.display_name,
            loaded=m.loaded,
            context_length=m.context_length,
            vision=m.vision,
        )
        for m in models
    ]
    text = "\n".join(describe_entry(entry) for entry in entries) or "LM Studio has no LLMs downloaded."
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=ModelList(models=entries).model_dump()
    )
