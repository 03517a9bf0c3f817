"""The generation tools: each turns its arguments into model-layer input and hands it to
`generation.run_generation` (the tools that manage models are in `model_tools`). Their errors become results in
`tool_errors`, and nowhere else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult

from .arguments import (
    CfgArg,
    ContextOverflow,
    Files,
    Images,
    JsonSchemaArg,
    MaxTokens,
    Messages,
    MinP,
    ModelKey,
    OutputFile,
    Overwrite,
    PreviousResponseId,
    Prompt,
    RegexArg,
    RepeatPenalty,
    Stop,
    System,
    Temperature,
    ThinkFirst,
    TopK,
    TopP,
    build_request,
)
from .generation import ByReference, run_generation, time_limit_of
from .results import GenerateOutput, generation_result, structured_result
from .state import AppState
from .structured_output import parse_structured, structured_schema
from .tool_errors import errors_as_results

__all__ = ["generate", "generate_stream", "structured_generate"]


def _generation_tool(name: str, *, stream_text: bool) -> Callable[..., Awaitable[CallToolResult]]:
    """`generate` and `generate_stream`: the same arguments and result; only the progress differs."""

    @errors_as_results
    async def tool(
        ctx: Context[AppState, Any],
        prompt: Prompt = None,
        images: Images = None,
        messages: Messages = None,
        system: System = None,
        files: Files = None,
        model: ModelKey = None,
        temperature: Temperature = None,
        max_tokens: MaxTokens = None,
        top_p: TopP = None,
        top_k: TopK = None,
        min_p: MinP = None,
        repeat_penalty: RepeatPenalty = None,
        stop: Stop = None,
        context_overflow: ContextOverflow = "error",
        output_file: OutputFile = None,
        overwrite: Overwrite = False,
        previous_response_id: PreviousResponseId = None,
    ) -> Annotated[CallToolResult, GenerateOutput]:
        sampling = (temperature, max_tokens, top_p, top_k, min_p, repeat_penalty, stop)
        request = build_request(prompt, images, messages, model, sampling, context_overflow)
        by_reference = ByReference(system, files, output_file, overwrite, previous_response_id)
        limit, time_limit = request.config.get("maxTokens"), time_limit_of(ctx)
        return await run_generation(
            ctx,
            request,
            by_reference,
            lambda result: generation_result(result, max_tokens=limit, time_limit=time_limit),
            stream_text=stream_text,
        )

    tool.__name__ = tool.__qualname__ = name
    return tool


generate = _generation_tool("generate", stream_text=False)
generate_stream = _generation_tool("generate_stream", stream_text=True)


@errors_as_results
async def structured_generate(
    ctx: Context[AppState, Any],
    prompt: Prompt = None,
    images: Images = None,
    messages: Messages = None,
    json_schema: JsonSchemaArg = None,
    regex: RegexArg = None,
    cfg: CfgArg = None,
    system: System = None,
    files: Files = None,
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
    output_file: OutputFile = None,
    overwrite: Overwrite = False,
    previous_response_id: PreviousResponseId = None,
) -> CallToolResult:
    """Generate JSON that satisfies a schema (see STRUCTURED_DESCRIPTION)."""
    schema = structured_schema(json_schema, regex, cfg)
    sampling = (temperature, max_tokens, top_p, top_k, min_p, repeat_penalty, stop)
    request = build_request(prompt, images, messages, model, sampling, context_overflow)
    by_reference = ByReference(system, files, output_file, overwrite, previous_response_id)
    return await run_generation(
        ctx,
        request,
        by_reference,
        lambda result: structured_result(result, parse_structured(result, schema.schema), with_reasoning=think_first),
        stream_text=False,
        output_type=schema,
        think_first=think_first,
    )
