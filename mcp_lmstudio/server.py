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
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.types import CallToolResult, InputRequiredResult, TextContent, ToolAnnotations
from pydantic import ConfigDict

from . import __version__
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
    build_request,
)
from .errors import GenerationTimeoutError, LMStudioUnavailableError, McpLmStudioError
from .fault_isolation import sendable_tool_result
from .progress import ProgressReporter
from .results import GenerationResult
from .session import LMStudioSession
from .settings import Settings
from .structured_output import parse_structured, structured_schema
from .tasks import (
    LegacyTasksMiddleware,
    TaskRunner,
    TasksExtension,
    TaskStore,
    TaskSupport,
    task_time_limit,
    task_timeout_error,
)
from .think_first import think_first_events
from .tool_results import (
    GenerateOutput,
    ModelEntry,
    ModelList,
    describe_entry,
    error_result,
    generation_result,
    structured_result,
)
from .types import JsonSchema
from .unicode import valid_unicode

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
        events = think_first_events(model_layer, request, output_type, timeout=time_limit)
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
        raise exc if time_limit is None else task_timeout_error(exc) from None
    raise AssertionError("the model layer ended a generation without a result")  # pragma: no cover


GENERATE_DESCRIPTION = """\
Run a prompt (or a conversation) on a model in LM Studio and return its answer.

Use it to delegate a self-contained task to the local model. Give exactly one of `prompt` or `messages`;
`images` (with `prompt`) need a vision model. Returns the answer text; structured content adds the model,
stop_reason (e.g. eosFound, maxPredictedTokensReached, stopStringFound), reasoning (reasoning models only,
never mixed into the answer) and stats. Sends progress notifications while the prompt is processed and
while generating. Long answers take time on local hardware: set max_tokens to bound it."""

GENERATE_STREAM_DESCRIPTION = """\
Like generate, but streams the answer as it is produced: each progress notification's `message` is the
new answer text since the previous one (concatenated, they equal the final answer) and `progress` counts
tokens so far. Use it when you (or the user) benefit from seeing text early. Without a progress token it
behaves exactly like generate. Returns the same result as generate."""

STRUCTURED_DESCRIPTION = """\
Generate JSON that satisfies a JSON schema: LM Studio constrains the model to the schema, and the answer is
parsed and validated against it. Give `json_schema` (an object, or a string holding one) plus `prompt` or
`messages`. Returns the JSON document as text; structured content is the parsed value (wrapped as
{"value": ...} when it is not an object). A schema violation, or output cut off by max_tokens, is an error
that includes the raw text. `regex` and `cfg` are not supported by LM Studio and are refused.
Set think_first when the JSON needs judgement (classifying, extracting with reasoning, scoring): the model
first reasons freely (reasoning models think; others write a short plan), then writes the JSON with that
reasoning in view. It costs a second prediction (roughly the plan's tokens plus a longer prompt); the
reasoning comes back as a second text content, never inside the JSON."""

LIST_MODELS_DESCRIPTION = """\
List the LLMs LM Studio has: loaded ones (ready now) and downloaded ones (loaded on first use, which can
take a while). Each has its key (pass it as `model`), display name, whether it is loaded, context length
and whether it accepts images."""


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
    tools = [
        _strict_tool(generate, "Generate with a local LM Studio model", GENERATE_DESCRIPTION, generating),
        _strict_tool(generate_stream, "Generate with streamed progress", GENERATE_STREAM_DESCRIPTION, generating),
        _strict_tool(structured_generate, "Generate JSON matching a schema", STRUCTURED_DESCRIPTION, generating),
        _strict_tool(list_models, "List LM Studio models", LIST_MODELS_DESCRIPTION, listing),
    ]
    tasks_extension = TasksExtension(TASK_TOOLS)
    return _Server(
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


#: Free-text arguments: a prompt that happens to be JSON (or the word "null") must reach the model as text.
TEXT_ARGUMENTS = frozenset({"prompt", "model", "regex", "cfg"})


class _TextStaysText(FuncMetadata):
    """The SDK JSON-decodes string arguments of parameters not typed plain `str`; undo that for free text."""

    def pre_parse_json(self, data: dict[str, Any]) -> dict[str, Any]:
        parsed = super().pre_parse_json(data)
        return {key: data[key] if key in TEXT_ARGUMENTS else value for key, value in parsed.items()}


def _strict_tool(fn: Callable[..., Any], title: str, description: str, annotations: ToolAnnotations) -> Tool:
    """A tool whose arguments model refuses unknown fields (a typo must not be silently ignored)."""
    tool = Tool.from_function(fn, name=fn.__name__, title=title, description=description, annotations=annotations)
    loose = tool.fn_metadata
    config = ConfigDict(**loose.arg_model.model_config, extra="forbid")
    strict = cast(type[ArgModelBase], type(loose.arg_model.__name__, (loose.arg_model,), {"model_config": config}))
    tool.fn_metadata = _TextStaysText(
        arg_model=strict,
        output_schema=loose.output_schema,
        output_model=loose.output_model,
        wrap_output=loose.wrap_output,
    )
    tool.parameters = strict.model_json_schema(by_alias=True)
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
        return generation_result(await _generate(ctx, request, stream_text=stream_text))

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
