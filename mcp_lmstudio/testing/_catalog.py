"""The emulator's model catalogue: what `listDownloadedModels` lists, and how it is read from a file.

A catalogue entry is an `EmulatedModel`; its `model_info()` is LM Studio's `ModelInfo` wire shape
(lms-shared-types `modelInfoSchema`: `LLMInfo` or `EmbeddingModelInfo`, and the speculative-decoding
`DrafterModelInfo` that newer LM Studio lists). Loaded instances of a model live in `_instances.py`, not here.

Catalogues from an LM Studio newer than its SDK are expressible: `kind="drafter"` (`"type": "drafter"`),
any `format` string (`"openvino"`, `"pte"`...), and `extra` for further, unknown `ModelInfo` fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["DEFAULT_MODELS", "EmulatedModel", "load_models_file"]

#: LM Studio's load context length when neither the load nor the model's own load defaults give one (capped
#: at the model's maximum): lmstudio-js's recorded snapshots show a 32768-token model loaded at 4096.
DEFAULT_LOAD_CONTEXT_LENGTH = 4096

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
        "defaultContextLength",
    }
)

ModelKind = Literal["llm", "embedding", "drafter"]


@dataclass(frozen=True, slots=True)
class EmulatedModel:
    """One downloaded model the emulator knows; `loaded` makes one instance of it at start.

    `kind` is the `ModelInfo` `type`: "llm", "embedding", or "drafter" (a speculative-decoding drafter, as
    newer LM Studio lists them; it is only listed by `listDownloadedModels` and usable as a prediction's
    draft model, never loaded as an instance, so give it `loaded=False`). `format` is sent as given, so a
    format newer than the SDK knows (`format="openvino"`) is expressible. `path` defaults to
    `{publisher}/{key}/{key}-Q4_K_M.gguf` (LM Studio's `publisher/repo/file` form). `params_string` defaults
    to "1B" for an LLM and is left out for embedding and drafter models, as LM Studio leaves it out.
    `template_refuses_system` makes its prompt template refuse a system message, as Mistral's and Gemma's
    do: `applyPromptTemplate` and `predict` with a system message in the history fail with LM Studio's
    `Error rendering prompt with jinja template: "Only user and assistant roles are supported!".` and its
    suggestion (lmstudio-bug-tracker#1054). `default_context_length` is the model's own load default (LM
    Studio's per-model load settings): the context length of a load that does not give one, including the
    instance `loaded` makes at start; when None, LM Studio's 4096 (or `max_context_length` when smaller).
    `embedding_length` is the size of the vectors an embedding model returns. `extra` holds further
    `ModelInfo` fields (unknown ones included), sent as given and overriding the others, e.g.
    `extra={"quantization": {"name": "Q4_K_M", "bits": 4}}`.

    Example: `EmulatedModel("gemma-mtp", "Gemma MTP drafter", kind="drafter", loaded=False)`.
    """

    key: str
    display_name: str
    loaded: bool = True
    vision: bool = False
    max_context_length: int = 4096
    kind: ModelKind = "llm"
    publisher: str = "emulator"
    path: str | None = None
    architecture: str = "emulated"
    params_string: str | None = None
    trained_for_tool_use: bool = False
    embedding_length: int = 768
    size_bytes: int = 1_234_567_890
    format: str = "gguf"
    default_context_length: int | None = None
    template_refuses_system: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.kind == "drafter" and self.loaded:
            raise ValueError(f"drafter model {self.key!r}: LM Studio never loads a drafter alone; pass loaded=False")

    @property
    def file_path(self) -> str:
        """The model's path relative to LM Studio's models folder (`publisher/repo/file`)."""
        return self.path if self.path is not None else f"{self.publisher}/{self.key}/{self.key}-Q4_K_M.gguf"

    @property
    def load_context_length(self) -> int:
        """The context length of a load that does not give one (see `default_context_length`)."""
        if self.default_context_length is not None:
            return self.default_context_length
        return min(DEFAULT_LOAD_CONTEXT_LENGTH, self.max_context_length or DEFAULT_LOAD_CONTEXT_LENGTH)

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
        }
        params = self.params_string if self.params_string is not None or self.kind != "llm" else "1B"
        if params is not None:
            info["paramsString"] = params
        info |= {"architecture": self.architecture, "maxContextLength": self.max_context_length}
        if self.kind == "llm":
            info |= {"vision": self.vision, "trainedForToolUse": self.trained_for_tool_use}
        elif self.kind == "embedding":
            info["embeddingLength"] = self.embedding_length
        return info | dict(self.extra)

    @classmethod
    def from_model_info(cls, info: Mapping[str, Any]) -> EmulatedModel:
        """A model from LM Studio's `ModelInfo` JSON (as `listDownloadedModels` returns it) plus `loaded`."""
        key = str(info["modelKey"])
        kind = info.get("type", "llm")
        if kind not in ("llm", "embedding", "drafter"):
            raise ValueError(f"model {key!r}: type must be 'llm', 'embedding' or 'drafter', not {kind!r}")
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
            params_string=str(info["paramsString"]) if "paramsString" in info else None,
            trained_for_tool_use=bool(info.get("trainedForToolUse", False)),
            embedding_length=int(info.get("embeddingLength", 768)),
            size_bytes=int(info.get("sizeBytes", 1_234_567_890)),
            format=str(info.get("format", "gguf")),
            default_context_length=int(info["defaultContextLength"]) if "defaultContextLength" in info else None,
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
