"""The MCP server: `create_server(settings)` builds an `MCPServer` with four thin tools.

Each tool turns its arguments into model-layer input (`LMStudioTypeAdapter` types), calls the one
long-lived `AsyncLMStudio` session, and returns a typed result. Errors a caller can act on come back as
tool results with `isError: true` and a message that says what to do next.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar, cast

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from . import __version__
from .errors import InvalidInputError, LMStudioUnavailableError, McpLmStudioError, StructuredOutputError
from .results import GenerationResult, LoadProgress, PromptProgress, TextFragment
from .session import LMStudioSession
from .settings import Settings
from .types import Chat, Image, JsonSchema

__all__ = ["create_server"]

logger = logging.getLogger(__name__)

MAX_PROMPT_CHARS = 2_000_000
MAX_IMAGES = 16
#: generate_stream sends at most one text notification per interval (so at most 40 per second).
STREAM_INTERVAL_S = 0.025
#: generate sends a keep-alive progress notification at most once per interval while generating.
HEARTBEAT_INTERVAL_S = 1.0

INSTRUCTIONS = """\
This server runs prompts on a language model hosted locally in LM Studio on the user's machine: private,
free of API cost, usually smaller and slower than you. Use it to delegate self-contained text tasks
(drafting, summarising, classifying, extracting, translating) or to get a second opinion from a local model.
Call list_models to see which models exist and which are loaded (loading one can take a while).
Use structured_generate when you need JSON that matches a schema. Reasoning models' thinking is returned
separately in `reasoning`, never mixed into the answer."""


# -- tool arguments ----------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageInput(_Strict):
    """An image for the prompt: base64 data and its MIME type."""

    data: Annotated[str, Field(description="The image bytes, base64-encoded (no 'data:' prefix).")]
    mimeType: Annotated[str, Field(description="image/png, image/jpeg or image/webp.")]


class _ContentBlock(_Strict):
    # MCP's own content blocks may carry these; they do not matter to the model.
    annotations: dict[str, Any] | None = None
    meta: Annotated[dict[str, Any] | None, Field(alias="_meta")] = None


class TextPart(_ContentBlock):
    """A text part of a message (the same shape as MCP text content)."""

    type: Literal["text"]
    text: str


class ImagePart(_ContentBlock):
    """An image part of a user message (the same shape as MCP image content)."""

    type: Literal["image"]
    data: Annotated[str, Field(description="The image bytes, base64-encoded.")]
    mimeType: Annotated[str, Field(description="image/png, image/jpeg or image/webp.")]


class Message(_Strict):
    """One conversation turn."""

    role: Annotated[Literal["system", "user", "assistant"], Field(description="'system' may only come first.")]
    content: Annotated[
        str | list[Annotated[TextPart | ImagePart, Field(discriminator="type")]],
        Field(description="Text, or (user turns) a list of text and image parts."),
    ]


Prompt = Annotated[
    str | None, Field(description="A single user turn. Give exactly one of `prompt` and `messages`.", default=None)
]
Images = Annotated[
    list[ImageInput] | None,
    Field(description="Images for the prompt (only with `prompt`; the model must support vision).", default=None),
]
Messages = Annotated[
    list[Message] | None,
    Field(
        description="A conversation instead of `prompt`: system (first, optional), user and assistant turns.",
        default=None,
    ),
]
ModelKey = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=512,
        description="LM Studio model key from list_models. Default: the configured or loaded model.",
        default=None,
    ),
]
Temperature = Annotated[float | None, Field(ge=0, le=5, description="Sampling temperature (0 = greedy).", default=None)]
MaxTokens = Annotated[int | None, Field(ge=1, le=1_000_000, description="Cap on generated tokens.", default=None)]
TopP = Annotated[float | None, Field(ge=0, le=1, description="Nucleus sampling probability mass.", default=None)]
TopK = Annotated[int | None, Field(ge=0, le=100_000, description="Sample from the k likeliest tokens.", default=None)]
MinP = Annotated[float | None, Field(ge=0, le=1, description="Minimum token probability (relative).", default=None)]
RepeatPenalty = Annotated[
    float | None, Field(gt=0, le=10, description="Penalty for repeated tokens (1 = none).", default=None)
]
Stop = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=1000)]] | None,
    Field(max_length=32, description="Stop strings: generation ends before the first one.", default=None),
]
JsonSchemaArg = Annotated[
    dict[str, Any] | str | None,
    Field(description="The JSON schema the answer must satisfy (an object, or a string holding one).", default=None),
]
RegexArg = Annotated[str | None, Field(description="Not supported by LM Studio; use json_schema.", default=None)]
CfgArg = Annotated[str | None, Field(description="Not supported by LM Studio; use json_schema.", default=None)]


# -- results ------------------------------------------------------------------------------------------------


class Stats(BaseModel):
    """What LM Studio measured for the generation."""

    prompt_tokens: int
    predicted_tokens: int
    tokens_per_second: float
    time_to_first_token_s: float | None


class GenerateOutput(BaseModel):
    """The answer, the model that produced it, why it stopped, any reasoning, and stats."""

    text: str
    model: str
    stop_reason: str
    reasoning: str | None = None
    stats: Stats


class ModelEntry(BaseModel):
    """One LLM known to LM Studio."""

    key: str
    display_name: str
    loaded: bool
    context_length: int
    vision: bool


class ModelList(BaseModel):
    """The loaded and the downloaded LLMs."""

    models: list[ModelEntry]


# -- request building -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Request:
    model_input: str | list[str | Image] | Chat
    config: dict[str, Any]
    model: str | None


def _content(message: Message, index: int) -> str | list[str | Image]:
    if isinstance(message.content, str):
        return _check_text(message.content, f"Message {index}")
    if message.role != "user" and any(isinstance(part, ImagePart) for part in message.content):
        raise InvalidInputError(f"Message {index} ({message.role}) has an image part; only user messages may.")
    text = "\n".join(_check_text(p.text, f"Message {index}") for p in message.content if isinstance(p, TextPart))
    images: list[str | Image] = [Image(p.data, p.mimeType) for p in message.content if isinstance(p, ImagePart)]
    return [text, *images] if images else text


def _model_input(
    prompt: str | None, images: list[ImageInput] | None, messages: list[Message] | None
) -> str | list[str | Image] | Chat:
    if (prompt is None) == (messages is None):
        given = "both" if prompt is not None else "neither"
        raise InvalidInputError(
            f"Give exactly one of `prompt` (a single user turn) and `messages` (a conversation); {given} was given."
        )
    if len(images or []) > MAX_IMAGES:
        raise InvalidInputError(f"{len(images or [])} images given; at most {MAX_IMAGES} are accepted per call.")
    if messages is not None:
        if images:
            raise InvalidInputError("`images` goes with `prompt`; in `messages`, put image parts in a user turn.")
        if not any(message.role == "user" for message in messages):
            raise InvalidInputError("`messages` has no user message. Give at least one turn with role 'user'.")
        _check_conversation_size(messages)
        return Chat([{"role": m.role, "content": _content(m, i)} for i, m in enumerate(messages)])
    assert prompt is not None
    if not prompt.strip():
        raise InvalidInputError("`prompt` is empty. Pass the text you want the model to answer.")
    _check_text(prompt, "`prompt`")
    _check_size(len(prompt))
    return [prompt, *(Image(image.data, image.mimeType) for image in images)] if images else prompt


def _check_text(text: str, where: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{where} contains an unpaired UTF-16 surrogate {text[exc.start]!r} at position {exc.start}, which is "
            "not valid Unicode. Send well-formed text."
        ) from None
    return text


def _check_conversation_size(messages: list[Message]) -> None:
    parts = [part for message in messages if isinstance(message.content, list) for part in message.content]
    image_count = sum(isinstance(part, ImagePart) for part in parts)
    if image_count > MAX_IMAGES:
        raise InvalidInputError(f"{image_count} images given; at most {MAX_IMAGES} are accepted per call.")
    texts = [message.content for message in messages if isinstance(message.content, str)]
    _check_size(sum(map(len, texts)) + sum(len(part.text) for part in parts if isinstance(part, TextPart)))


def _check_size(chars: int) -> None:
    if chars > MAX_PROMPT_CHARS:
        raise InvalidInputError(
            f"The prompt is {chars:,} characters, over the {MAX_PROMPT_CHARS:,}-character limit. Shorten it."
        )


def _sampling_config(
    temperature: float | None,
    max_tokens: int | None,
    top_p: float | None,
    top_k: int | None,
    min_p: float | None,
    repeat_penalty: float | None,
    stop: list[str] | None,
) -> dict[str, Any]:
    settings = {
        "temperature": temperature,
        "maxTokens": max_tokens,
        "topPSampling": top_p,
        "topKSampling": top_k,
        "minPSampling": min_p,
        "repeatPenalty": repeat_penalty,
        "stopStrings": stop,
    }
    for stop_string in stop or []:
        _check_text(stop_string, "A stop string")
    return {key: value for key, value in settings.items() if value is not None}


def _error_result(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


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
            return _error_result(str(exc))

    return cast(_ToolFunction, wrapper)


def _request(
    prompt: str | None,
    images: list[ImageInput] | None,
    messages: list[Message] | None,
    model: str | None,
    sampling: tuple[float | None, int | None, float | None, int | None, float | None, float | None, list[str] | None],
) -> _Request:
    return _Request(_model_input(prompt, images, messages), _sampling_config(*sampling), model)


def _output(result: GenerationResult) -> GenerateOutput:
    stats = result.stats
    return GenerateOutput(
        text=result.text,
        model=result.model,
        stop_reason=result.stop_reason,
        reasoning=result.reasoning or None,
        stats=Stats(
            prompt_tokens=stats.prompt_tokens,
            predicted_tokens=stats.predicted_tokens,
            tokens_per_second=stats.tokens_per_second,
            time_to_first_token_s=stats.time_to_first_token_s,
        ),
    )


def _generation_result(result: GenerationResult) -> CallToolResult:
    structured = _output(result).model_dump()
    if structured["reasoning"] is None:
        del structured["reasoning"]  # present only when the model reasoned; other nulls (stats) stay
    return CallToolResult(content=[TextContent(type="text", text=result.text)], structured_content=structured)


# -- progress -----------------------------------------------------------------------------------------------


class _ProgressReporter:
    """Sends progress: loading and prompt processing below 1, then tokens so far.

    Token notifications (carrying the new text when streaming) go out at most once per interval; the first
    one goes out at once, so that streamed text starts as soon as the model produces it.
    """

    def __init__(self, ctx: Context[AppState, Any], *, stream_text: bool) -> None:
        self.ctx = ctx
        self.stream_text = stream_text
        self.interval = STREAM_INTERVAL_S if stream_text else HEARTBEAT_INTERVAL_S
        self.pending: list[str] = []
        self.last_token_report = 0.0
        self.last_progress = -1.0
        self.tokens = 0

    async def on_event(self, event: LoadProgress | PromptProgress | TextFragment) -> None:
        # Loading maps to [0, 0.49] and prompt processing to [0.5, 0.99], so that token counts (1, 2, ...)
        # keep the whole sequence strictly increasing. When streaming, only answer text goes in `message`,
        # so that the messages concatenate to the answer.
        if isinstance(event, LoadProgress):
            status = f"Loading model {event.model}: {event.fraction:.0%}"
            await self._send(_clamp(event.fraction) * 0.49, None if self.stream_text else status)
            return
        if isinstance(event, PromptProgress):
            status = f"Processing prompt: {event.fraction:.0%}"
            await self._send(0.5 + _clamp(event.fraction) * 0.49, None if self.stream_text else status)
            return
        self.tokens = event.tokens
        if self.stream_text and not event.reasoning:
            self.pending.append(event.text)
        if time.monotonic() - self.last_token_report >= self.interval:
            await self.flush()

    async def flush(self) -> None:
        if self.stream_text and self.pending:
            text, self.pending = "".join(self.pending), []
            # A fragment may carry text without a new token; progress must still move forward.
            await self._send(max(self.tokens, math.nextafter(self.last_progress, math.inf)), text)
        elif self.tokens > self.last_progress:
            await self._send(self.tokens, "" if self.stream_text else f"Generated {self.tokens} tokens")
        self.last_token_report = time.monotonic()

    async def _send(self, progress: float, message: str | None) -> None:
        if progress <= self.last_progress:
            return
        self.last_progress = progress
        await self.ctx.report_progress(progress, None, message)


def _clamp(fraction: float) -> float:
    return min(max(fraction, 0.0), 1.0)


# -- tools --------------------------------------------------------------------------------------------------


@dataclass
class AppState:
    """What the lifespan hands each tool call."""

    session: LMStudioSession


async def _generate(
    ctx: Context[AppState, Any], request: _Request, *, stream_text: bool, output_type: object = None
) -> GenerationResult:
    session = ctx.request_context.lifespan_context.session
    model_layer = await session.model()
    reporter = _ProgressReporter(ctx, stream_text=stream_text)
    events = model_layer.stream_events(request.model_input, output_type, config=request.config, model=request.model)
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
that includes the raw text. `regex` and `cfg` are not supported by LM Studio and are refused."""

LIST_MODELS_DESCRIPTION = """\
List the LLMs LM Studio has: loaded ones (ready now) and downloaded ones (loaded on first use, which can
take a while). Each has its key (pass it as `model`), display name, whether it is loaded, context length
and whether it accepts images."""


def create_server(settings: Settings, *, session: LMStudioSession | None = None) -> MCPServer[AppState]:
    """Build the MCP server. A fresh session is made for it unless `session` is given (tests pass their own)."""

    @contextlib.asynccontextmanager
    async def lifespan(_server: MCPServer[AppState]) -> AsyncIterator[AppState]:
        owned = session or LMStudioSession(host=settings.host, model=settings.model, timeout=settings.timeout)
        try:
            yield AppState(owned)
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
    return MCPServer(
        "mcp-lmstudio",
        title="LM Studio",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        log_level=settings.log_level,
        tools=tools,
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
    ) -> Annotated[CallToolResult, GenerateOutput]:
        sampling = (temperature, max_tokens, top_p, top_k, min_p, repeat_penalty, stop)
        request = _request(prompt, images, messages, model, sampling)
        return _generation_result(await _generate(ctx, request, stream_text=stream_text))

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
) -> CallToolResult:
    """Generate JSON that satisfies a schema (see STRUCTURED_DESCRIPTION)."""
    schema = _structured_schema(json_schema, regex, cfg)
    sampling = (temperature, max_tokens, top_p, top_k, min_p, repeat_penalty, stop)
    result = await _generate(
        ctx, _request(prompt, images, messages, model, sampling), stream_text=False, output_type=schema
    )
    parsed = _parse_structured(result, schema.schema)
    structured = parsed if isinstance(parsed, dict) else {"value": parsed}
    return CallToolResult(content=[TextContent(type="text", text=result.text)], structured_content=structured)


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
            key=m.key, display_name=m.display_name, loaded=m.loaded, context_length=m.context_length, vision=m.vision
        )
        for m in models
    ]
    text = "\n".join(_describe_entry(entry) for entry in entries) or "LM Studio has no LLMs downloaded."
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=ModelList(models=entries).model_dump()
    )


def _describe_entry(entry: ModelEntry) -> str:
    state = "loaded" if entry.loaded else "not loaded"
    vision = ", vision" if entry.vision else ""
    return f"{entry.key} ({state}, context {entry.context_length}{vision}): {entry.display_name}"


def _structured_schema(json_schema: dict[str, Any] | str | None, regex: str | None, cfg: str | None) -> JsonSchema:
    refused = [name for name, value in (("regex", regex), ("cfg", cfg)) if value is not None]
    if refused:
        fix = (
            f"drop {' and '.join(f'`{name}`' for name in refused)} and keep `json_schema`"
            if json_schema is not None
            else "describe the output as a JSON schema and pass it as `json_schema`"
        )
        raise InvalidInputError(
            f"LM Studio supports only JSON-schema structured output; {' and '.join(refused)} cannot be enforced: "
            f"{fix} (nothing was sent to LM Studio)."
        )
    if json_schema is None:
        raise InvalidInputError("Give `json_schema`: the JSON schema the answer must satisfy.")
    _check_text(json.dumps(json_schema, ensure_ascii=False), "`json_schema`")
    return JsonSchema(json_schema)


def _parse_structured(result: GenerationResult, schema: dict[str, Any]) -> Any:
    from jsonschema.exceptions import best_match  # deferred: keeps server start-up fast
    from jsonschema.validators import validator_for

    raw = result.text
    if result.stop_reason in ("maxPredictedTokensReached", "contextLengthReached"):
        raise StructuredOutputError(
            f"The JSON output was cut off ({result.stop_reason}) after {result.stats.predicted_tokens} tokens. "
            f"Raise max_tokens or simplify the schema. Raw output: {raw}",
            raw,
        )
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise StructuredOutputError(
            f"The model's output is not valid JSON ({exc.msg}). Raw output: {raw}", raw
        ) from None
    error = best_match(validator_for(schema)(schema).iter_errors(parsed))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(root)"
        raise StructuredOutputError(
            f"The model's JSON does not satisfy the schema at {where}: {error.message}. Raw output: {raw}", raw
        )
    return parsed
