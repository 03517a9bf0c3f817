"""Translation of lmstudio SDK errors into mcp-lmstudio errors that say what happened and what to do next.

The one place that knows how the SDK (and the httpx and JSON errors it lets through) reports a failure.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import httpx
import lmstudio

from .errors import (
    GenerationFailedError,
    InvalidInputError,
    LMStudioUnavailableError,
    McpLmStudioError,
)

__all__ = ["CONNECT_ERRORS", "translate_errors", "unreachable_error"]


@contextlib.contextmanager
def translate_errors(api_host: str) -> Iterator[None]:
    """Turn lmstudio SDK errors into mcp-lmstudio errors that say what to do next."""
    try:
        yield
    except McpLmStudioError:
        raise
    except (lmstudio.LMStudioWebsocketError, lmstudio.LMStudioChannelClosedError) as exc:
        raise LMStudioUnavailableError(
            f"Lost the connection to LM Studio at {api_host} ({_first_line(exc)}). "
            "Check that LM Studio is still running; the next call reconnects."
        ) from exc
    except lmstudio.LMStudioPredictionError as exc:
        raise GenerationFailedError(
            f"LM Studio failed to generate: {_first_line(exc)}. Try again, or try another model from list_models."
        ) from exc
    except lmstudio.LMStudioServerError as exc:
        raise GenerationFailedError(
            f"LM Studio reported an error: {_first_line(exc)}. If a model failed to load (e.g. out of memory), "
            "pick a smaller one or one already loaded (see list_models)."
        ) from exc
    except lmstudio.LMStudioValueError as exc:
        raise InvalidInputError(
            f"The lmstudio SDK refused the request: {_first_line(exc)}. Check the arguments against the tool's schema."
        ) from exc
    except lmstudio.LMStudioClientError as exc:
        raise unreachable_error(api_host, exc) from exc


#: What entering an `AsyncClient` raises when LM Studio is absent, silent, not LM Studio, or refuses us:
#: the SDK lets httpx and JSON errors through, and 1.5.0 turns an auth refusal into a ValueError.
CONNECT_ERRORS = (lmstudio.LMStudioError, httpx.HTTPError, OSError, ValueError)


def unreachable_error(api_host: str, exc: BaseException) -> LMStudioUnavailableError:
    """The error for a failed connection attempt, with the cause and the fix."""
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        cause = "something accepted the connection but did not answer like LM Studio in time"
    elif isinstance(exc, json.JSONDecodeError):
        cause = "something else is listening there (its greeting is not LM Studio's)"
    elif isinstance(exc, ValueError) and not isinstance(exc, lmstudio.LMStudioError):
        cause = "it refused the connection's authentication (LM Studio may require an API token)"
    else:
        cause = _first_line(exc)
    return LMStudioUnavailableError(
        f"LM Studio is not reachable at {api_host}: {cause}. Start LM Studio and enable its server "
        "(Developer tab, or run `lms server start`), or point --host / LMSTUDIO_HOST at where it listens."
    )


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines[:2]) if lines else type(exc).__name__
