"""`mcp-lmstudio check`: find LM Studio, list its models, run a tiny generation, and say what to fix.

Exit status: 0 all good; 1 LM Studio not reachable; 2 no usable model; 3 the generation failed.
"""

from __future__ import annotations

from ..errors import (
    GenerationFailedError,
    GenerationTimeoutError,
    LMStudioUnavailableError,
    ModelNotFoundError,
    NoModelLoadedError,
)
from ..models.events import ModelDescription
from ..models.session import DEFAULT_HOST, LMStudioSession
from ..server.wording import tool_message
from ..settings import Settings
from ..text import plural

__all__ = ["run_check"]

CHECK_PROMPT = "Reply with the single word: ready"


async def run_check(settings: Settings) -> int:
    """Run the self-check, printing each step; return the exit status."""
    if settings.host:
        print(f"Looking for LM Studio at {settings.host} (from {settings.host_setting}) ...")
    else:
        print(f"Looking for LM Studio on its local ports, then at {DEFAULT_HOST} ...")
    session = LMStudioSession.from_settings(settings, timeout=min(settings.timeout, 120))
    try:
        return await _check(session, settings)
    finally:
        await session.close()


async def _check(session: LMStudioSession, settings: Settings) -> int:
    try:
        model_layer = await session.model()
    except LMStudioUnavailableError as exc:
        print(f"FAIL  {exc}")
        return 1
    print(f"ok    connected to LM Studio at {session.api_host} ({_source(settings, session.api_host)})")
    models = await model_layer.list_models()
    _print_models(models)
    if settings.model is None and not any(model.loaded for model in models):
        print("FAIL  no model is loaded and none is configured: load one in LM Studio, or pass --model KEY.")
        return 2
    try:
        result = await model_layer.generate_result(CHECK_PROMPT, config={"maxTokens": 16, "temperature": 0})
    except (ModelNotFoundError, NoModelLoadedError) as exc:
        print(f"FAIL  {tool_message(exc)}")
        return 2
    except (GenerationFailedError, GenerationTimeoutError, LMStudioUnavailableError) as exc:
        print(f"FAIL  {tool_message(exc)}")
        return 3
    stats = result.stats
    first = f"{stats.time_to_first_token_s:.2f} s" if stats.time_to_first_token_s is not None else "n/a"
    print(
        f"ok    {result.model} generated {plural(stats.predicted_tokens, 'token')} at {stats.tokens_per_second:.1f} "
        "tokens/s "
        f"(first token after {first}): {result.text.strip()!r}"
    )
    return 0


def _source(settings: Settings, api_host: str) -> str:
    if settings.host:
        return f"from {settings.host_setting}"
    if api_host == DEFAULT_HOST:
        return "the default address of LM Studio's HTTP server"
    return "found by the lmstudio SDK's local port discovery"


def _print_models(models: list[ModelDescription]) -> None:
    if not models:
        print("warn  LM Studio has no LLMs downloaded: download one in LM Studio (or `lms get <model>`).")
        return
    print(f"ok    {len(models)} LLMs:")
    for model in models:
        state = "loaded" if model.loaded else "downloaded"
        vision = ", vision" if model.vision else ""
        print(f"        {model.key:<40} {state:<10} context {model.context_length}{vision}")
