"""Progress notifications for a generation: load and prompt-processing fractions, then tokens so far.

`generate` puts a status line in each notification's `message`, written for hosts that show the latest one
beside the running call (Claude Code shows about 200 characters): the phase, tokens so far and the speed, e.g.
"Loading model qwen3-8b: 40%", "Processing the prompt: 75%", "Generating: 120 tokens, 35.2 tokens/s".
`generate_stream` puts the new answer text there instead.
"""

from __future__ import annotations

import math
import time
from typing import Any

from mcp.server.mcpserver import Context

from ..models.events import LoadProgress, PromptProgress, TextFragment
from ..text import plural

#: generate_stream sends at most one text notification per interval (so at most 40 per second).
STREAM_INTERVAL_S = 0.025
#: generate sends a keep-alive progress notification at most once per interval while generating.
HEARTBEAT_INTERVAL_S = 1.0
#: The speed is shown once tokens have come for this long (earlier figures swing wildly).
RATE_AFTER_S = 0.5
#: Longest model name shown in a status line, which hosts cut at about 200 characters.
MAX_NAME_CHARS = 80


class ProgressReporter:
    """Sends progress: loading and prompt processing below 1, then tokens so far.

    Token notifications (carrying the new text when streaming) go out at most once per `interval`, the first
    at once: the model layer is asked for text at that pace (`stream_events(text_interval=reporter.interval)`)
    and each text event it gives is reported, so that one clock sets the pace.
    """

    def __init__(self, ctx: Context[Any, Any], *, stream_text: bool) -> None:
        self.ctx = ctx
        self.stream_text = stream_text
        self.interval = STREAM_INTERVAL_S if stream_text else HEARTBEAT_INTERVAL_S
        self.pending: list[str] = []
        self.last_progress = -1.0
        self.tokens = 0
        self.reasoning = False
        self._first_token: tuple[float, int] | None = None  # (when, tokens then)
        self.status = "Starting"

    async def on_event(self, event: LoadProgress | PromptProgress | TextFragment) -> None:
        # Loading maps to [0, 0.49] and prompt processing to [0.5, 0.99], so that token counts (1, 2, ...)
        # keep the whole sequence strictly increasing. When streaming, only answer text goes in `message`,
        # so that the messages concatenate to the answer.
        if isinstance(event, LoadProgress):
            name = event.model if len(event.model) <= MAX_NAME_CHARS else f"{event.model[: MAX_NAME_CHARS - 3]}..."
            self.status = f"Loading model {name}: {_clamp(event.fraction):.0%}"
            await self._send(_clamp(event.fraction) * 0.49, None if self.stream_text else self.status)
            return
        if isinstance(event, PromptProgress):
            self.status = f"Processing the prompt: {_clamp(event.fraction):.0%}"
            await self._send(0.5 + _clamp(event.fraction) * 0.49, None if self.stream_text else self.status)
            return
        self.take_fragment(event)
        await self.flush()

    def take_fragment(self, event: TextFragment) -> None:
        """Count a text fragment (and keep its text when streaming) for the next `flush`."""
        if self._first_token is None:
            self._first_token = (time.monotonic(), event.tokens)
        self.tokens = event.tokens
        self.reasoning = event.reasoning
        if self.stream_text and not event.reasoning:
            self.pending.append(event.text)

    async def flush(self) -> None:
        if self.stream_text and self.pending:
            text, self.pending = "".join(self.pending), []
            # A fragment may carry text without a new token; progress must still move forward.
            await self._send(max(self.tokens, math.nextafter(self.last_progress, math.inf)), text)
        elif self.tokens > self.last_progress:
            await self._send(self.tokens, "" if self.stream_text else self.generating_status())

    def generating_status(self) -> str:
        """The status line while tokens come: reasoning or generating, tokens so far, and the speed."""
        phase = "Reasoning" if self.reasoning else "Generating"
        self.status = f"{phase}: {plural(self.tokens, 'token')}"
        if self._first_token is not None:
            started, tokens_then = self._first_token
            elapsed = time.monotonic() - started
            if elapsed >= RATE_AFTER_S:
                self.status += f", {(self.tokens - tokens_then) / elapsed:.1f} tokens/s"
        return self.status

    async def _send(self, progress: float, message: str | None) -> None:
        if progress <= self.last_progress:
            return
        self.last_progress = progress
        await self.ctx.report_progress(progress, None, message)


def _clamp(fraction: float) -> float:
    return min(max(fraction, 0.0), 1.0)
