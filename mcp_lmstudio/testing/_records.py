"""What the emulator answers (`Reply`, `ToolCall`) and what it records (`PredictionRecord`, `UploadRecord`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from ._errors import MODEL_CRASHED, ErrorPayload
from ._schema import sample_for_schema

__all__ = [
    "PredictionRecord",
    "Reply",
    "ReplySource",
    "ToolCall",
    "UploadRecord",
    "default_reply",
    "tokenize",
    "tool_round_trip",
]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call the emulated model makes: sent as LM Studio's `toolCallGeneration*` packets.

    `id` defaults to `call_<n>` numbered within the prediction.
    """

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """What the emulated model answers.

    `text` is split into word-sized tokens, one `fragment` packet each; `reasoning` comes first, between
    `<think>` tags. `fragments`, when given, replaces that split: each string goes out as one fragment
    exactly as it is (lone UTF-16 surrogates such as "\\ud83d" included, as JSON escapes). `tool_calls`
    follow the text; the round then ends with `eosFound`, as LM Studio reports it.

    Errors and an LM Studio newer than its SDK:

    * `error`: the prediction fails with this LM Studio error payload (an `ErrorPayload`, or a string as
      its title) once `error_after` fragments have gone out (0, the default: before the first), e.g.
      `Reply(error=MLX_CONTEXT_EXCEEDED)` or `Reply("one two three four", error_after=3)`. `error_after`
      alone fails with `MODEL_CRASHED`, as a crashing engine does mid-stream; `unload_on_error` also
      unloads the instance as the error goes out (the engine process is gone).
    * `stop_reason`: sent as `stats.stopReason` in the final `success` packet instead of the one the
      emulator works out (unless the client cancelled), any string, even one the SDK does not know:
      `Reply("Hi", stop_reason="modelCrashed")`.
    * `fragment_fields` / `stats_fields`: extra fields in every `fragment` and in the `success` packet's
      `stats` (they override the emulator's own), e.g. `Reply("Hi", stats_fields={"newCounter": 3})`.
    """

    text: str = ""
    reasoning: str = ""
    fragments: Sequence[str] | None = None
    tool_calls: Sequence[ToolCall] = ()
    error: ErrorPayload | str | None = None
    error_after: int | None = None
    unload_on_error: bool = False
    stop_reason: str | None = None
    fragment_fields: Mapping[str, Any] = field(default_factory=dict, hash=False)
    stats_fields: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def failure(self) -> ErrorPayload | None:
        """The error this reply ends with, if any (`error`, or `MODEL_CRASHED` for `error_after` alone)."""
        if isinstance(self.error, str):
            return ErrorPayload(self.error)
        if self.error is None and self.error_after is not None:
            return MODEL_CRASHED
        return self.error

    def answer_tokens(self) -> list[str]:
        """The answer's fragments: the scripted ones, or `text` split into tokens."""
        return list(self.fragments) if self.fragments is not None else tokenize(self.text)


@dataclass
class PredictionRecord:
    """What the emulator received for one `predict` channel, and how it ended.

    `started` is false while the prediction waits for a free slot (`max_parallel_predictions`), and stays
    false when it is cancelled before one frees. `identifier` is the instance that served it.
    """

    model: str
    history: list[dict[str, Any]]
    config: dict[str, Any]
    structured: dict[str, Any] | None
    cancelled: bool = False
    stop_reason: str | None = None
    text: str = ""
    fragments: int = 0
    started: bool = False
    identifier: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        """Whether the prediction has ended (answered, stopped, failed or lost its connection)."""
        return self.stop_reason is not None

    @property
    def last_user_text(self) -> str:
        """The text of the last user message in the history."""
        for message in reversed(self.history):
            if message.get("role") == "user":
                return "".join(part.get("text", "") for part in message.get("content", []) if part["type"] == "text")
        return ""

    @property
    def image_count(self) -> int:
        """How many image parts the history carries."""
        return sum(
            1
            for message in self.history
            for part in message.get("content", [])
            if part.get("type") == "file" and part.get("fileType", "image") == "image"
        )

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The tool definitions sent in `llm.prediction.tools` (LM Studio's `toolArray` setting)."""
        setting = self.config.get("llm.prediction.tools")
        if isinstance(setting, dict) and setting.get("type") == "toolArray":
            return list(setting.get("tools") or [])
        return []


@dataclass(frozen=True, slots=True)
class UploadRecord:
    """One `uploadFileBase64` call."""

    name: str
    content: bytes
    identifier: str
    file_type: str


ReplySource: TypeAlias = "str | Reply | Callable[[PredictionRecord], Reply | str] | None"

_TOKEN = re.compile(r"\s*\S+|\s+")


def tokenize(text: str) -> list[str]:
    """Split text into word-sized tokens that join back into exactly `text`."""
    return _TOKEN.findall(text)


def default_reply(record: PredictionRecord) -> Reply:
    """The unscripted model: a value satisfying the JSON schema under structured output; with tools, one
    round trip (call the first tool with schema-satisfying arguments, then report its result); otherwise
    an echo of the last user turn."""
    if record.structured and record.structured.get("type") == "json":
        schema = record.structured.get("jsonSchema") or {}
        return Reply(json.dumps(sample_for_schema(schema, schema)))
    if record.tools:
        return _default_tool_reply(record)
    images = record.image_count
    seen = f"I see {images} image{'s' if images != 1 else ''}. " if images else ""
    return Reply(f"{seen}You said: {record.last_user_text}")


def _default_tool_reply(record: PredictionRecord) -> Reply:
    last = record.history[-1] if record.history else {}
    if last.get("role") == "tool":
        results = "; ".join(str(part.get("content", "")) for part in last.get("content", []))
        return Reply(f"The tool returned: {results}")
    function = record.tools[0].get("function") or {}
    parameters = function.get("parameters") or {"type": "object"}
    arguments = sample_for_schema(parameters, parameters)
    name = str(function.get("name", "tool"))
    call = ToolCall(name, arguments if isinstance(arguments, dict) else {})
    return Reply(f"Calling {name}.", tool_calls=[call])


def tool_round_trip(*calls: ToolCall, then: str = "The tool returned: {result}") -> ReplySource:
    """A reply script for one tool round trip, as an agent using `model.act()` sees it.

    While the last message is not a tool result, the model makes `calls`; once it is, it answers `then`,
    with `{result}` replaced by the tool results' contents (joined by "; ").
    """

    def script(record: PredictionRecord) -> Reply:
        last = record.history[-1] if record.history else {}
        if last.get("role") != "tool":
            return Reply("", tool_calls=calls)
        results = [str(part.get("content", "")) for part in last.get("content", [])]
        return Reply(then.replace("{result}", "; ".join(results)))

    return script
