"""mcp-lmstudio: call models running locally in LM Studio, from any MCP client or from Python.

The model layer (usable without MCP): `LMStudio`, `AsyncLMStudio`, `from_lmstudio`, `LMStudioTypeAdapter`
and the types `Chat`, `Image`, `Regex`, `CFG`, `JsonSchema`. The MCP server: `mcp_lmstudio.server.create_server`.

Names are imported on first use, so that starting the server does not pay for the lmstudio SDK.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("mcp-lmstudio")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
    __version__ = "0.0.0"

_EXPORTS = {
    "LMStudioTypeAdapter": "adapter",
    "CFG": "types",
    "Chat": "types",
    "Image": "types",
    "JsonSchema": "types",
    "Regex": "types",
    "AsyncLMStudio": "models",
    "LMStudio": "models",
    "from_lmstudio": "models",
    "GenerationResult": "results",
    "GenerationStats": "results",
    "LoadProgress": "results",
    "ModelDescription": "results",
    "PromptProgress": "results",
    "StreamEvent": "results",
    "TextFragment": "results",
    "GenerationFailedError": "errors",
    "GenerationTimeoutError": "errors",
    "InvalidInputError": "errors",
    "LMStudioUnavailableError": "errors",
    "McpLmStudioError": "errors",
    "ModelNotFoundError": "errors",
    "NoModelLoadedError": "errors",
    "StructuredOutputError": "errors",
}

__all__ = [
    "CFG",
    "AsyncLMStudio",
    "Chat",
    "GenerationFailedError",
    "GenerationResult",
    "GenerationStats",
    "GenerationTimeoutError",
    "Image",
    "InvalidInputError",
    "JsonSchema",
    "LMStudio",
    "LMStudioTypeAdapter",
    "LMStudioUnavailableError",
    "LoadProgress",
    "McpLmStudioError",
    "ModelDescription",
    "ModelNotFoundError",
    "NoModelLoadedError",
    "PromptProgress",
    "Regex",
    "StreamEvent",
    "StructuredOutputError",
    "TextFragment",
    "__version__",
    "from_lmstudio",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mcp_lmstudio' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from .adapter import LMStudioTypeAdapter
    from .errors import (
        GenerationFailedError,
        GenerationTimeoutError,
        InvalidInputError,
        LMStudioUnavailableError,
        McpLmStudioError,
        ModelNotFoundError,
        NoModelLoadedError,
        StructuredOutputError,
    )
    from .models import AsyncLMStudio, LMStudio, from_lmstudio
    from .results import (
        GenerationResult,
        GenerationStats,
        LoadProgress,
        ModelDescription,
        PromptProgress,
        StreamEvent,
        TextFragment,
    )
    from .types import CFG, Chat, Image, JsonSchema, Regex
