"""mcp-lmstudio: call models running locally in LM Studio, from any MCP client or from Python.

The model layer (usable without MCP): `LMStudio`, `AsyncLMStudio`, `from_lmstudio`, `LMStudioTypeAdapter`
and the types `Chat`, `Image`, `Regex`, `CFG`, `JsonSchema`. The MCP server: `create_server`.
"""

from importlib.metadata import PackageNotFoundError, version

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
from .models import (
    AsyncLMStudio,
    GenerationResult,
    GenerationStats,
    LMStudio,
    LoadProgress,
    ModelDescription,
    PromptProgress,
    StreamEvent,
    TextFragment,
    from_lmstudio,
)
from .types import CFG, Chat, Image, JsonSchema, Regex

try:
    __version__ = version("mcp-lmstudio")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
    __version__ = "0.0.0"

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
