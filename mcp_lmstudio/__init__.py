"""mcp-lmstudio: call models running locally in LM Studio, from any MCP client or from Python.

The model layer (usable without MCP): `LMStudio`, `AsyncLMStudio`, `from_lmstudio`, `LMStudioTypeAdapter`
and the types `Chat`, `Image`, `Regex`, `CFG`, `JsonSchema`. The MCP server: `mcp_lmstudio.server.create_server`.

Layers, each a folder: `models` (the only one that imports `lmstudio`), `server` (MCP tools), `transports`
(stdio, HTTP), `cli`, `files` (confined reading), `history` (conversations) and `testing` (the emulator).

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
    "LMStudioTypeAdapter": "models.adapter",
    "CFG": "types",
    "Chat": "types",
    "Image": "types",
    "JsonSchema": "types",
    "Regex": "types",
    "AsyncLMStudio": "models.async_model",
    "LMStudio": "models.sync_model",
    "from_lmstudio": "models.factory",
    "Embeddings": "models.events",
    "GenerationResult": "models.events",
    "GenerationStats": "models.events",
    "LoadProgress": "models.events",
    "ModelDescription": "models.events",
    "PromptProgress": "models.events",
    "StreamEvent": "models.events",
    "TextFragment": "models.events",
    "GenerationFailedError": "errors",
    "GenerationTimeoutError": "errors",
    "InstanceNotFoundError": "errors",
    "InvalidInputError": "errors",
    "LoadConfigError": "errors",
    "LMStudioUnavailableError": "errors",
    "McpLmStudioError": "errors",
    "ModelNotFoundError": "errors",
    "NoModelLoadedError": "errors",
    "StructuredOutputError": "errors",
    "WrongModelTypeError": "errors",
}

__all__ = [
    "CFG",
    "AsyncLMStudio",
    "Chat",
    "Embeddings",
    "GenerationFailedError",
    "GenerationResult",
    "GenerationStats",
    "GenerationTimeoutError",
    "Image",
    "InstanceNotFoundError",
    "InvalidInputError",
    "JsonSchema",
    "LMStudio",
    "LMStudioTypeAdapter",
    "LMStudioUnavailableError",
    "LoadConfigError",
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
    "WrongModelTypeError",
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
    from .errors import (
        GenerationFailedError,
        GenerationTimeoutError,
        InstanceNotFoundError,
        InvalidInputError,
        LMStudioUnavailableError,
        LoadConfigError,
        McpLmStudioError,
        ModelNotFoundError,
        NoModelLoadedError,
        StructuredOutputError,
        WrongModelTypeError,
    )
    from .models.adapter import LMStudioTypeAdapter
    from .models.async_model import AsyncLMStudio
    from .models.events import (
        Embeddings,
        GenerationResult,
        GenerationStats,
        LoadProgress,
        ModelDescription,
        PromptProgress,
        StreamEvent,
        TextFragment,
    )
    from .models.factory import from_lmstudio
    from .models.sync_model import LMStudio
    from .types import CFG, Chat, Image, JsonSchema, Regex
