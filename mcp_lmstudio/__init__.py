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

# Each public name and the module it lives in: listed once here; `__all__` and the type checker's view derive
# from it (tests/test_package.py checks that the TYPE_CHECKING imports below name the same modules).
_EXPORTS = {
    "LMStudioTypeAdapter": "models.adapter",
    "AsyncLMStudio": "models.async_model",
    "LMStudio": "models.sync_model",
    "from_lmstudio": "models.factory",
    **dict.fromkeys(("CFG", "Chat", "Image", "JsonSchema", "Regex"), "types"),
    **dict.fromkeys(
        ("Embeddings", "GenerationResult", "GenerationStats", "LoadProgress", "ModelDescription", "PromptProgress",
         "StreamEvent", "TextFragment"),
        "models.events",
    ),
    **dict.fromkeys(
        ("ContextOverflowError", "GenerationFailedError", "GenerationTimeoutError", "InstanceNotFoundError",
         "InvalidInputError", "LoadConfigError", "LMStudioUnavailableError", "McpLmStudioError", "ModelNotFoundError",
         "NoModelLoadedError", "SDKMismatchError", "StructuredOutputError", "UnsupportedTypeError",
         "WrongModelTypeError"),
        "errors",
    ),
}  # fmt: skip

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mcp_lmstudio' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # the same names, for type checkers (redundant aliases mark them as re-exported)
    from .errors import ContextOverflowError as ContextOverflowError
    from .errors import GenerationFailedError as GenerationFailedError
    from .errors import GenerationTimeoutError as GenerationTimeoutError
    from .errors import InstanceNotFoundError as InstanceNotFoundError
    from .errors import InvalidInputError as InvalidInputError
    from .errors import LMStudioUnavailableError as LMStudioUnavailableError
    from .errors import LoadConfigError as LoadConfigError
    from .errors import McpLmStudioError as McpLmStudioError
    from .errors import ModelNotFoundError as ModelNotFoundError
    from .errors import NoModelLoadedError as NoModelLoadedError
    from .errors import SDKMismatchError as SDKMismatchError
    from .errors import StructuredOutputError as StructuredOutputError
    from .errors import UnsupportedTypeError as UnsupportedTypeError
    from .errors import WrongModelTypeError as WrongModelTypeError
    from .models.adapter import LMStudioTypeAdapter as LMStudioTypeAdapter
    from .models.async_model import AsyncLMStudio as AsyncLMStudio
    from .models.events import Embeddings as Embeddings
    from .models.events import GenerationResult as GenerationResult
    from .models.events import GenerationStats as GenerationStats
    from .models.events import LoadProgress as LoadProgress
    from .models.events import ModelDescription as ModelDescription
    from .models.events import PromptProgress as PromptProgress
    from .models.events import StreamEvent as StreamEvent
    from .models.events import TextFragment as TextFragment
    from .models.factory import from_lmstudio as from_lmstudio
    from .models.sync_model import LMStudio as LMStudio
    from .types import CFG as CFG
    from .types import Chat as Chat
    from .types import Image as Image
    from .types import JsonSchema as JsonSchema
    from .types import Regex as Regex
