"""The emulator's model catalogue: what `listDownloadedModels` lists, and how it is read from a file.

A catalogue entry is an `EmulatedModel`; its `model_info()` is LM Studio's `ModelInfo` wire shape
(lms-shared-types `modelInfoSchema`: `LLMInfo` or `EmbeddingModelInfo`). Loaded instances of a model
live in `_instances.py`, not here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["DEFAULT_MODELS", "EmulatedModel", "load_models_file"]

#: `ModelInfo` keys that `EmulatedModel` has a field for; others in a catalogue file go to `extra`.
_KNOWN_KEYS = frozenset(
    {
        "type",
        "modelKey",
        "displayName",
        "publisher",
        "path",
        "architecture",
        "paramsString",
        "maxContextLength",
        "vision",
        "trainedForToolUse",
        "embeddingLength",
        "format",
        "sizeBytes",
        "loaded",
    }
)


@dataclass(frozen=True, slots=True)
class EmulatedModel:
    """One downloaded model the emulator knows; `loaded` makes one instance of it at start.

    `path` defaults to `{publisher}/{key}/{key}-Q4_K_M.gguf` (LM Studio's `publisher/repo/file` form).
    `embedding_length` is the size of the vectors an embedding model returns. `extra` holds further
    `ModelInfo` fields, sent as given.
    """

    key: str
    display_name: str
    loaded: bool = True
    vision: bool = False
    max_context_length: int = 4096
    kind: Literal["llm", "embedding"] = "llm"
    publisher: str = "emulator"
    path: str | None = None
    architecture: str = "emulated"
    params_string: str = "1B"
    trained_for_tool_use: bool = False
    embedding_length: int = 768
    size_bytes: int = 1_234_567_890
    format: str = "gguf"
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def file_path(self) -> str:
        """The model's path relative to LM Studio's models folder (`publisher/repo/file`)."""
        return self.path if self.path is not None else f"{self.publisher}/{self.key}/{self.key}-Q4_K_M.gguf"

    def model_info(self) -> dict[str, Any]:
        """The `ModelInfo` wire shape (what `listDownloadedModels` returns)."""
        info: dict[str, Any] = {
            "type": self.kind,
            "modelKey": self.key,
            "format": self.format,
            "displayName": self.display_name,
            "publisher": self.publisher,
            "path": self.file_path,
            "sizeBytes": self.size_bytes,
            "indexedModelIdentifier": self.file_path,
            "deviceIdentifier": None,
            "paramsString": self.params_string,
            "architecture": self.architecture,
            "maxContextLength": self.max_context_length,
        }
        if self.kind == "llm":
            info |= {"vision": self.vision, "trainedForToolUse": self.trained_for_tool_use}
        else:
            info["embeddingLength"] = self.embedding_length
        return info | dict(self.extra)

    @classmethod
    def from_model_info(cls, info: Mapping[str, Any]) -> EmulatedModel:
        """A model from LM Studio's `ModelInfo` JSON (as `listDownloadedModels` returns it) plus `loaded`."""
        key = str(info["modelKey"])
        kind = info.get("type", "llm")
        if kind not in ("llm", "embedding"):
            raise ValueError(f"model {key!r}: type must be 'llm' or 'embedding', not {kind!r}")
        publisher = str(info.get("publisher", "emulator"))
        return cls(
            key=key,
            display_name=str(info.get("displayName", key)),
            loaded=bool(info.get("loaded", False)),
            vision=bool(info.get("vision", False)),
            max_context_length=int(info.get("maxContextLength", 4096)),
            kind=kind,
            publisher=publisher,
            path=str(info["path"]) if "path" in info else None,
            architecture=str(info.get("architecture", "emulated")),
            params_string=str(info.get("paramsString", "1B")),
            trained_for_tool_use=bool(info.get("trainedForToolUse", False)),
            embedding_length=int(info.get("embeddingLength", 768)),
            size_bytes=int(info.get("sizeBytes", 1_234_567_890)),
            format=str(info.get("format", "gguf")),
            extra={name: value for name, value in info.items() if name not in _KNOWN_KEYS},
        )


def load_models_file(path: str | Path) -> list[EmulatedModel]:
    """Read a catalogue file: a JSON array of `ModelInfo` objects, each with an optional `"loaded": true`."""
    entries = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ValueError(f"{path}: expected a JSON array of ModelInfo objects")
    return [EmulatedModel.from_model_info(entry) for entry in entries]


DEFAULT_MODELS: tuple[EmulatedModel, ...] = (
    EmulatedModel("fake-echo-1b", "Fake Echo 1B"),
    EmulatedModel("fake-vision-2b", "Fake Vision 2B", vision=True, max_context_length=8192),
    EmulatedModel("fake-unloaded-7b", "Fake Unloaded 7B", loaded=False, max_context_length=32768),
    EmulatedModel("fake-embed-small", "Fake Embed Small", kind="embedding", max_context_length=512),
)
