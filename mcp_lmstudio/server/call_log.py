"""One INFO line per tool call on stderr, so that a user reading the host's log sees what answered and how fast:
the tool, the model, the tokens, the seconds and the outcome. Never the prompt, the answer or an error's text
(tool errors are logged on their own by the tool, at INFO).

    call generate: model qwen3-8b, 24 prompt + 311 generated tokens (35.2 tokens/s), 9.81 s, ok (eosFound)
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from mcp.types import CallToolResult

from ..models.events import GenerationResult
from ..text import plural

__all__ = ["CallRecord", "logged_call", "note_generation"]

logger = logging.getLogger("mcp_lmstudio.calls")


@dataclass
class CallRecord:
    """What is known of one call: filled in as it runs."""

    tool: str
    model: str | None = None
    generation: GenerationResult | None = None
    outcome: str = "ok"

    def finish(self, result: object) -> None:
        """Set the outcome from the call's result."""
        if isinstance(result, CallToolResult):
            self.outcome = "error" if result.is_error else "ok"
        else:
            self.outcome = "ok (answered later)"  # e.g. a task was created, or more input is asked for

    def line(self, seconds: float) -> str:
        parts = [f"call {self.tool}:"]
        generation = self.generation
        model = generation.model if generation is not None else self.model
        if model is not None:
            parts.append(f"model {model},")
        if generation is not None:
            stats = generation.stats
            speed = f" ({stats.tokens_per_second:.1f} tokens/s)" if stats.tokens_per_second else ""
            tokens = f"{stats.prompt_tokens:,} prompt + {plural(stats.predicted_tokens, 'generated token')}{speed},"
            parts.append(tokens)
        parts.append(f"{seconds:.2f} s,")
        outcome = self.outcome
        if generation is not None and outcome == "ok":
            outcome += f" ({generation.stop_reason})"
        parts.append(outcome)
        return " ".join(parts)


_current: contextvars.ContextVar[CallRecord | None] = contextvars.ContextVar("mcp_lmstudio_call", default=None)


@contextlib.contextmanager
def logged_call(tool: str, arguments: Mapping[str, Any]) -> Iterator[CallRecord]:
    """Log one line when the call inside ends; give `record.finish` the call's result."""
    requested = arguments.get("model") if tool != "list_models" else None
    record = CallRecord(tool, model=requested if isinstance(requested, str) else None)
    reset = _current.set(record)
    started = time.monotonic()
    try:
        yield record
    except anyio.get_cancelled_exc_class():
        record.outcome = "cancelled"
        raise
    except BaseException:
        record.outcome = "failed (unexpected error)"
        raise
    finally:
        _current.reset(reset)
        if logger.isEnabledFor(logging.INFO):  # the line is built only for a log that shows it
            logger.info("%s", record.line(time.monotonic() - started))


def note_generation(result: GenerationResult) -> None:
    """Record the generation the current call produced (its model, tokens and stop reason)."""
    record = _current.get()
    if record is not None:
        record.generation = result
