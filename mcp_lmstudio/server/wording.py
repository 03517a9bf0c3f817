"""The model layer's errors in the server's vocabulary: tool arguments and command-line flags.

The model layer words its errors for Python callers (`timeout=`, `config={"maxTokens": ...}`, `model=`) and
carries the facts as fields; a tool result and the CLI need the same facts in the words their reader can
act on (`max_tokens`, `--timeout / MCP_LMSTUDIO_TIMEOUT`, `list_models`, and `load_model` with `context_length`
where the model layer says `lms load --context-length`, since a host can call that tool but not run `lms`).
"""

from __future__ import annotations

from ..errors import (
    ContextOverflowError,
    GenerationFailedError,
    GenerationTimeoutError,
    InstanceNotFoundError,
    McpLmStudioError,
    ModelNotFoundError,
    NoModelLoadedError,
    WrongModelTypeError,
    failure_message,
    overflow_message,
    timeout_message,
    wrong_type_message,
)

__all__ = ["TIMEOUT_FLAGS", "TASK_TIMEOUT_FLAGS", "tool_message"]

TIMEOUT_FLAGS = "--timeout / MCP_LMSTUDIO_TIMEOUT"
TASK_TIMEOUT_FLAGS = "--task-timeout / MCP_LMSTUDIO_TASK_TIMEOUT"

_FAILURE_WORDS = {
    "model": "`model`",
    "list": "list_models",
    "schema": "`json_schema`",
    "check": "`mcp-lmstudio check` tests LM Studio and the model",
    "vision_list": "list_models shows `vision`",
    "reload": "load_model with model '{model}' and context_length 4096, then pass the new instance as `model`",
}

_OVERFLOW_WORDS = {
    "max_tokens": "max_tokens",
    "list": "list_models",
    "truncate": "context_overflow 'truncate_middle'",
    "rolling": "context_overflow 'rolling_window'",
    "both": "context_overflow 'truncate_middle' or 'rolling_window'",
    "longer": "load_model with `context_length`, then pass the new instance's key as `model`",
}

_MODEL_WORDS = {
    "model": "`model`",
    "list": "list_models",
    "embed": "the embed tool",
    "generate": "generate, generate_stream or structured_generate",
    "default": "Set {setting} to an LLM (or remove it to use the loaded one)",
}


def tool_message(exc: McpLmStudioError, *, in_task: bool = False) -> str:
    """What a tool result (or the CLI) says for `exc`; `in_task`: the call ran as an MCP task, under its limit."""
    if isinstance(exc, GenerationTimeoutError):
        flags = TASK_TIMEOUT_FLAGS if in_task else TIMEOUT_FLAGS
        return timeout_message(exc, raise_limit=flags, max_tokens="max_tokens")
    if isinstance(exc, ContextOverflowError):
        return overflow_message(exc, _OVERFLOW_WORDS)
    if isinstance(exc, GenerationFailedError):
        return failure_message(exc, _FAILURE_WORDS)
    if isinstance(exc, ModelNotFoundError):
        return _model_not_found(exc)
    if isinstance(exc, InstanceNotFoundError):
        listing = ", ".join(repr(name) for name in exc.loaded) or "none"
        return (
            f"No loaded model instance has the identifier {exc.identifier!r}. Loaded instances: {listing}. Pass one "
            "of these exactly as `identifier` (list_models shows them as `key`, with `loaded` true)."
        )
    if isinstance(exc, WrongModelTypeError):
        return wrong_type_message(exc, _MODEL_WORDS)
    if isinstance(exc, NoModelLoadedError):
        if exc.kind == "embedding":
            return (
                f"No embedding model is loaded in LM Studio at {exc.api_host}, and none was named. Pass `model` with "
                "one from list_models (type 'embedding'), or load one with load_model."
            )
        return (
            f"No model is loaded in LM Studio at {exc.api_host}, and none was named. Load one with load_model (or "
            "in LM Studio, or `lms load <model-key>`), or pass `model` with a key from list_models."
        )
    return str(exc)


def _model_not_found(exc: ModelNotFoundError) -> str:
    listing = ", ".join(repr(key) for key in exc.available) if exc.available else "none (download one in LM Studio)"
    if exc.loading:
        return str(exc)
    if exc.setting is None:
        return (
            f"Model {exc.model!r} is not available in LM Studio. Available model keys: {listing}. "
            "Pass one of these as `model`, or omit `model` to use the default."
        )
    return (
        f"The default model {exc.model!r} (set by {exc.setting}) is not available in LM Studio. Available model "
        f"keys: {listing}. Set {exc.setting} to one of these (or remove it to use the loaded model), "
        "or pass `model`."
    )
