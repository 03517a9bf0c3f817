"""The MCP server: `create_server(settings)` builds an `MCPServer` with thin tools (`tools.py`).

Each tool turns its arguments into model-layer input (`LMStudioTypeAdapter` types), calls the one
long-lived `AsyncLMStudio` session, and returns a typed result. Errors a caller can act on come back as
tool results with `isError: true` and a message that says what to do next (`tool_errors.py`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, InputRequiredResult, ToolAnnotations

from .. import __version__
from ..files import allowed_from
from ..history import store_from_setting
from ..models.session import LMStudioSession
from ..settings import Settings
from ._sdk import serve_tools_only, strict_tool
from .call_log import logged_call
from .file_context import FileAccess
from .model_tools import embed, list_models, load_model, unload_model
from .state import AppState
from .tasks import LegacyTasksMiddleware, TaskRunner, TasksExtension, TaskStore, TaskSupport
from .tool_errors import sendable_tool_result
from .tools import generate, generate_stream, structured_generate

__all__ = ["AppState", "create_server"]

INSTRUCTIONS = """\
This server runs prompts on a language model hosted locally in LM Studio on the user's machine: private,
free of API cost, usually smaller and slower than you. Use it to delegate self-contained text tasks
(drafting, summarising, classifying, extracting, translating, reviewing) or to get a second opinion.
Pass files by path in `files` rather than pasting their content: the server reads them for the local model,
which saves your output tokens and time. To follow up, pass the `response_id` you got as
`previous_response_id` with only the new `prompt`; the server replays the conversation. Give `output_file`
to have a long answer written to a file instead of returned.
Call list_models to see which models exist and which are loaded (loading one can take a while).
Use structured_generate when you need JSON that matches a schema. Reasoning models' thinking is returned
separately in `reasoning`, never mixed into the answer. When a prompt does not fit a model's context,
load_model can load it again with a longer `context_length`; unload_model frees memory (ask the user first:
other applications may use that model). embed returns embedding vectors from an embedding model."""

GENERATE_DESCRIPTION = """\
Run a prompt, or a conversation (`messages`), on a local model in LM Studio and return its answer: for \
self-contained tasks or a second opinion. Name files in `files` (paths, directories, globs) instead of pasting \
them; continue with `previous_response_id`. `images` need a vision model. The answer comes first; a second \
text says when it was cut off. Structured content adds the model, stop_reason, reasoning (kept apart from the \
answer), stats and response_id. Local generation is slow: set max_tokens to bound it."""

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
List LM Studio's models: loaded instances (ready now) and downloaded models (loaded on first use, which takes \
a while), with the key to pass as `model`, type (llm, or embedding for embed), context length and vision; \
`default` marks the model used when `model` is omitted."""

LOAD_MODEL_DESCRIPTION = """\
Load a new instance of a downloaded model, as `lms load` does (e.g. with a longer context_length); returns it \
as list_models shows it (pass its key as `model`). Takes seconds to minutes, with progress. Without ttl it stays \
loaded until unloaded. If this call is cancelled or times out, LM Studio still finishes the load: unload_model \
removes it."""

UNLOAD_MODEL_DESCRIPTION = """\
Unload a loaded model instance (its key in list_models) to free memory. Another application may be using it."""

EMBED_DESCRIPTION = """\
Embed texts with a local embedding model (type embedding in list_models). Structured content: model, \
dimensions, and embeddings (one vector per text, in input order)."""

#: The tools a client may run as an MCP task (`execution.taskSupport`).
TASK_TOOLS: dict[str, TaskSupport] = dict.fromkeys(("generate", "generate_stream", "structured_generate"), "optional")


class _Server(MCPServer[AppState]):
    """`MCPServer` whose tool results always encode: one that cannot becomes that call's tool error."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        with logged_call(name, arguments) as call:
            result = sendable_tool_result(await super().call_tool(name, arguments, context), name)
            call.finish(result)
        return result


def create_server(settings: Settings, *, session: LMStudioSession | None = None) -> MCPServer[AppState]:
    """Build the MCP server. A fresh session is made for it unless `session` is given (tests pass their own).

    Raises:
        InvalidInputError: an allowed directory does not exist or is not a directory.
    """
    base = Path(settings.base_dir) if settings.base_dir else Path(os.getcwd())
    file_access = FileAccess(allowed_from(settings.allow_dirs, base=base), settings.allow_write)

    @contextlib.asynccontextmanager
    async def lifespan(_server: MCPServer[AppState]) -> AsyncIterator[AppState]:
        owned = session or LMStudioSession.from_settings(settings)
        store = TaskStore(ttl_s=settings.task_timeout + settings.task_retention, time_limit_s=settings.task_timeout)
        history = store_from_setting(settings.history, settings.history_ttl)
        try:
            async with TaskRunner(store) as tasks:  # on exit, running tasks (and predictions) are cancelled
                yield AppState(owned, tasks, history, file_access)
        finally:
            history.close()
            await owned.close()

    tasks_extension = TasksExtension(TASK_TOOLS)
    server = _Server(
        "mcp-lmstudio",
        title="LM Studio",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        log_level=settings.log_level,
        tools=_tools(writes=settings.allow_write),
        extensions=[tasks_extension],
        middleware=[LegacyTasksMiddleware(tasks_extension)],
    )
    serve_tools_only(server)
    return server


def _tools(*, writes: bool) -> list[Any]:
    # Closed-world: generation reads from the local LM Studio and the allowed files. Read-only unless
    # --allow-write lets `output_file` write, which may replace a file when `overwrite` is true.
    generating = ToolAnnotations(read_only_hint=not writes, open_world_hint=False, destructive_hint=writes)
    listing = ToolAnnotations(read_only_hint=True, open_world_hint=False, destructive_hint=False, idempotent_hint=True)
    # Loading adds an instance (each call another one) and removes nothing; unloading may take a model away from
    # another application.
    loading = ToolAnnotations(
        read_only_hint=False, open_world_hint=False, destructive_hint=False, idempotent_hint=False
    )
    unloading = ToolAnnotations(
        read_only_hint=False, open_world_hint=False, destructive_hint=True, idempotent_hint=False
    )
    prompt = ("prompt",)
    return [
        strict_tool(generate, "Generate with a local model", GENERATE_DESCRIPTION, generating, required=prompt),
        strict_tool(
            generate_stream, "Generate, streaming the answer", GENERATE_STREAM_DESCRIPTION, generating, required=prompt
        ),
        strict_tool(
            structured_generate,
            "Generate JSON matching a schema",
            STRUCTURED_DESCRIPTION,
            generating,
            required=("prompt", "json_schema"),
        ),
        strict_tool(list_models, "List LM Studio models", LIST_MODELS_DESCRIPTION, listing),
        strict_tool(load_model, "Load a model", LOAD_MODEL_DESCRIPTION, loading, required=("model",)),
        strict_tool(unload_model, "Unload a model", UNLOAD_MODEL_DESCRIPTION, unloading, required=("identifier",)),
        strict_tool(embed, "Embed texts", EMBED_DESCRIPTION, listing, required=("input",)),
    ]
