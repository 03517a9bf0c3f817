"""`mcp-lmstudio check`: find LM Studio, list its models, run a tiny generation, and say what to fix.

Exit status: 0 all good; 1 LM Studio not reachable; 2 no usable model; 3 the generation failed.

The report goes to stdout, a line at a time as each step finishes. Log records (the session's and the lmstudio
SDK's) stay on stderr and are held until the report is done, so that the two never interleave on a terminal;
below `--log-level DEBUG` only warnings and errors are kept (the report already says what the INFO lines say).
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import (
    GenerationFailedError,
    GenerationTimeoutError,
    LMStudioUnavailableError,
    ModelNotFoundError,
    NoModelLoadedError,
)
from ..models.events import GenerationResult, LoadProgress, ModelDescription
from ..models.session import DEFAULT_HOST, LMStudioSession
from ..server.wording import tool_message
from ..settings import Settings
from ..text import plural

if TYPE_CHECKING:
    from ..models.async_model import AsyncLMStudio

__all__ = ["run_check"]

CHECK_PROMPT = "Reply with the single word: ready"


def say(line: str) -> None:
    """One line of the report, on stdout at once (even through a pipe)."""
    print(line, flush=True)


async def run_check(settings: Settings) -> int:
    """Run the self-check, printing each step; return the exit status."""
    with _logs_after_the_report(settings.log_level):
        if settings.host:
            say(f"Looking for LM Studio at {settings.host} (from {settings.host_setting}) ...")
        else:
            say(f"Looking for LM Studio on its local ports, then at {DEFAULT_HOST} ...")
        session = LMStudioSession.from_settings(settings, timeout=min(settings.timeout, 120))
        try:
            return await _check(session, settings)
        finally:
            await session.close()


async def _check(session: LMStudioSession, settings: Settings) -> int:
    try:
        model_layer = await session.model()
    except LMStudioUnavailableError as exc:
        say(f"FAIL  {exc}")
        return 1
    say(f"ok    connected to LM Studio at {session.api_host} ({_source(settings, session.api_host)})")
    models = [model for model in await model_layer.list_models() if model.type == "llm"]  # what can generate
    _print_models(models)
    if settings.model is None and not any(model.loaded for model in models):
        say("FAIL  no model is loaded and none is configured: load one in LM Studio, or pass --model KEY.")
        return 2
    try:
        result = await _generate(model_layer, settings, models)
    except ModelNotFoundError as exc:
        say(f"FAIL  {tool_message(exc)}")
        guess = _closest(exc.model, exc.available)
        if guess is not None:
            setting = exc.setting or "--model"
            fix = f"{setting} {guess}" if setting.startswith("--") else f"{setting}={guess}"
            say(f"      Did you mean {guess!r}? ({fix})")
        return 2
    except NoModelLoadedError as exc:
        say(f"FAIL  {tool_message(exc)}")
        return 2
    except (GenerationFailedError, GenerationTimeoutError, LMStudioUnavailableError) as exc:
        say(f"FAIL  {tool_message(exc)}")
        return 3
    stats = result.stats
    first = f"{stats.time_to_first_token_s:.2f} s" if stats.time_to_first_token_s is not None else "n/a"
    say(
        f"ok    {result.model} generated {plural(stats.predicted_tokens, 'token')} at {stats.tokens_per_second:.1f} "
        f"tokens/s (first token after {first}): {result.text.strip()!r}"
    )
    return 0


async def _generate(model_layer: AsyncLMStudio, settings: Settings, models: list[ModelDescription]) -> GenerationResult:
    """The tiny generation, saying so before LM Studio loads the model just in time (which can take minutes)."""
    loading: str | None = None
    if settings.model is not None and _needs_a_load(settings.model, models):
        loading = settings.model
        say(f"      loading {loading} ... (LM Studio loads it on first use; a large model takes a while)")
    started = time.monotonic()
    events = model_layer.stream_events(CHECK_PROMPT, config={"maxTokens": 16, "temperature": 0})
    async with contextlib.aclosing(events):
        async for event in events:
            if isinstance(event, LoadProgress):
                # The SDK reports 1.0 for a model that was loaded already; a load in progress starts below it.
                if loading is None and event.fraction < 1.0:  # a specifier the listing does not show
                    loading = event.model
                    say(f"      loading {loading} ... (LM Studio loads it on first use; a large model takes a while)")
                continue
            if loading is not None:  # the first event after the load
                say(f"ok    loaded {loading} in {time.monotonic() - started:.1f} s")
                loading = None
            if isinstance(event, GenerationResult):
                return event
    raise AssertionError("stream_events ended without a result")  # pragma: no cover


def _needs_a_load(specifier: str, models: list[ModelDescription]) -> bool:
    """Whether `specifier` names a downloaded model of which no instance is loaded."""
    if any(model.loaded and specifier in (model.key, model.model_key) for model in models):
        return False
    return any(not model.loaded and model.key == specifier for model in models)


def _closest(name: str, available: list[str]) -> str | None:
    matches = difflib.get_close_matches(name, available, n=1, cutoff=0.6)
    if not matches:  # a different case or separator: `Qwen3_8B` for `qwen3-8b`
        folded = {key.casefold().replace("_", "-"): key for key in available}
        matches = [folded[m] for m in difflib.get_close_matches(name.casefold().replace("_", "-"), list(folded), n=1)]
    return matches[0] if matches else None


def _source(settings: Settings, api_host: str) -> str:
    if settings.host:
        return f"from {settings.host_setting}"
    if api_host == DEFAULT_HOST:
        return "the default address of LM Studio's HTTP server"
    return "found by the lmstudio SDK's local port discovery"


def _print_models(models: list[ModelDescription]) -> None:
    if not models:
        say("warn  LM Studio has no LLMs downloaded: download one in LM Studio (or `lms get <model>`).")
        return
    say(f"ok    {plural(len(models), 'LLM')}:")
    for model in models:
        state = "loaded" if model.loaded else "downloaded"
        vision = ", vision" if model.vision else ""
        say(f"        {model.key:<40} {state:<10} context {model.context_length}{vision}")


class _HeldRecords(logging.Handler):
    """Keeps log records for later instead of writing them."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _logs_after_the_report(log_level: str) -> Iterator[None]:
    """Hold the root logger's records while the report prints, then hand them to its handlers (stderr)."""
    root = logging.getLogger()
    handlers = root.handlers[:]
    held = _HeldRecords(logging.DEBUG if log_level == "DEBUG" else logging.WARNING)
    root.handlers = [held]
    try:
        yield
    finally:
        root.handlers = handlers
        sys.stdout.flush()
        for record in held.records:
            for handler in handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)
