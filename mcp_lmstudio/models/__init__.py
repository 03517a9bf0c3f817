"""The model layer: `LMStudio` and `AsyncLMStudio` over the lmstudio SDK, usable without MCP.

The only package of mcp-lmstudio that imports `lmstudio` (a test checks it). It speaks Python: its errors
name parameters and config keys, never tool arguments or command-line flags.

Names are imported on first use: the server imports `models.events` and `models.session` at start-up, and
must not pay for the lmstudio SDK until the first call.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AsyncLMStudio": "async_model",
    "LMStudio": "sync_model",
    "from_lmstudio": "factory",
    "Embeddings": "events",
    "GenerationResult": "events",
    "GenerationStats": "events",
    "LoadProgress": "events",
    "ModelDescription": "events",
    "PromptProgress": "events",
    "StreamEvent": "events",
    "TextFragment": "events",
}

__all__ = [
    "AsyncLMStudio",
    "Embeddings",
    "GenerationResult",
    "GenerationStats",
    "LMStudio",
    "LoadProgress",
    "ModelDescription",
    "PromptProgress",
    "StreamEvent",
    "TextFragment",
    "from_lmstudio",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from .async_model import AsyncLMStudio
    from .events import (
        Embeddings,
        GenerationResult,
        GenerationStats,
        LoadProgress,
        ModelDescription,
        PromptProgress,
        StreamEvent,
        TextFragment,
    )
    from .factory import from_lmstudio
    from .sync_model import LMStudio
