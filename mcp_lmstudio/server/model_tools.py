"""The tools that manage models rather than generate: `list_models`, `load_model`, `unload_model` and `embed`.

Each hands its arguments to the model layer (`AsyncLMStudio`) and turns the answer into a result (`results`);
their errors become results in `tool_errors`, and nowhere else.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult

from ..errors import LMStudioUnavailableError
from ..models.events import LoadProgress, ModelDescription
from .model_arguments import (
    ContextLength,
    EmbeddingModelKey,
    EmbedInput,
    GpuOffload,
    Identifier,
    InstanceIdentifier,
    LoadModelKey,
    Ttl,
    embed_input,
)
from .progress import ProgressReporter
from .results import (
    EmbedOutput,
    ModelEntry,
    ModelList,
    UnloadOutput,
    embed_result,
    loaded_result,
    model_list_result,
    unloaded_result,
)
from .state import AppState
from .tool_errors import errors_as_results

if TYPE_CHECKING:  # the lmstudio SDK is imported on the first call, not when the server starts
    from ..models.async_model import AsyncLMStudio

__all__ = ["embed", "list_models", "load_model", "unload_model"]


@contextlib.asynccontextmanager
async def _model_layer(ctx: Context[AppState, Any]) -> AsyncIterator[AsyncLMStudio]:
    """The session's model layer; a call that loses the connection makes the next one reconnect."""
    session = ctx.request_context.lifespan_context.session
    model_layer = await session.model()
    try:
        yield model_layer
    except LMStudioUnavailableError:
        session.connection_lost(model_layer)
        raise


@errors_as_results
async def list_models(ctx: Context[AppState, Any]) -> Annotated[CallToolResult, ModelList]:
    """List the loaded and downloaded models (see LIST_MODELS_DESCRIPTION)."""
    async with _model_layer(ctx) as model_layer:
        return model_list_result(await model_layer.list_models())


@errors_as_results
async def load_model(
    ctx: Context[AppState, Any],
    model: LoadModelKey,
    identifier: Identifier = None,
    context_length: ContextLength = None,
    ttl: Ttl = None,
    gpu_offload: GpuOffload = None,
) -> Annotated[CallToolResult, ModelEntry]:
    """Load a new instance of a model (see LOAD_MODEL_DESCRIPTION)."""
    reporter = ProgressReporter(ctx, stream_text=False)
    async with _model_layer(ctx) as model_layer:
        events = model_layer.load_model_events(
            model, identifier=identifier, context_length=context_length, ttl=ttl, gpu_offload=gpu_offload
        )
        async with contextlib.aclosing(events):
            async for event in events:
                if isinstance(event, LoadProgress):
                    await reporter.on_event(event)
                elif isinstance(event, ModelDescription):
                    return loaded_result(event)
    raise AssertionError("the model layer ended a load without the instance")  # pragma: no cover


@errors_as_results
async def unload_model(
    ctx: Context[AppState, Any], identifier: InstanceIdentifier
) -> Annotated[CallToolResult, UnloadOutput]:
    """Unload a loaded instance (see UNLOAD_MODEL_DESCRIPTION)."""
    async with _model_layer(ctx) as model_layer:
        return unloaded_result(await model_layer.unload_model(identifier))


@errors_as_results
async def embed(
    ctx: Context[AppState, Any], input: EmbedInput, model: EmbeddingModelKey = None
) -> Annotated[CallToolResult, EmbedOutput]:
    """Embed texts (see EMBED_DESCRIPTION)."""
    texts = embed_input(input)
    async with _model_layer(ctx) as model_layer:
        return embed_result(await model_layer.embed(texts, model=model))
