"""The model layer's errors in the server's vocabulary: tool arguments and command-line flags.

The model layer words its errors for Python callers (`timeout=`, `config={"maxTokens": ...}`, `model=`) and
carries the facts as fields; a tool result and the CLI need the same facts in the words their reader can
act on (`max_tokens`, `--timeout / MCP_LMSTUDIO_TIMEOUT`, `list_models`).
"""

from __future__ import annotations

from ..errors import (
    ContextOverflowError,
    GenerationFailedError,
    GenerationTimeoutError,
    McpLmStudioError,
    ModelNotFoundError,
    NoModelLoadedError,
    failure_message,
    overflow_message,
    timeout_message,
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
}

_OVERFLOW_WORDS = {
    "max_tokens": "max_tokens",
    "list": "list_models",
    "truncate": "context_overflow 'truncate_middle'",
    "rolling": "context_overflow 'rolling_window'",
    "both": "context_overflow 'truncate_middle' or 'rolling_window'",
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
    if isinstance(exc, NoModelLoadedError):
        return (
            f"No model is loaded in LM Studio at {exc.api_host}, and none was named. Load one in LM Studio "
            "(or run `lms load <model-key>`), or pass `model` with a key from list_models."
        )
    return str(exc)


def _model_not_found(exc: ModelNotFoundError) -> str:
    listing = ", ".join(repr(key) for key in exc.available) if exc.available else "none (download one in LM Studio)"
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
