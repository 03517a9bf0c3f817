"""Translation of lmstudio SDK errors into mcp-lmstudio errors that say what happened and what to do next.

The one place that knows how the SDK (and the httpx and JSON errors it lets through) reports a failure. Each
message quotes LM Studio's own words once, then gives the advice that fits the cause:

* the model failed to load (out of memory, missing files): a smaller model, or one already loaded;
* images sent to a model without vision: the loaded models that have it; images refused by a model that
  has vision: its context (LM Studio wants about 1,500 tokens for images), not another model;
* a prompt template that refuses the system role: the system message (drop it or fold it in), not "again";
* a JSON schema the engine refused: the schema;
* the model was unloaded (evicted) while the call ran, or the engine crashed: try again;
* data the installed SDK cannot decode (LM Studio is newer): `SDKMismatchError`, never "not reachable",
  since LM Studio answered.

The errors carry their facts as fields and word them for Python callers (see `mcp_lmstudio.errors`).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import lmstudio
import msgspec

from ..errors import (
    GenerationFailedError,
    InvalidInputError,
    LMStudioUnavailableError,
    McpLmStudioError,
    SDKMismatchError,
)
from ..text import valid_unicode
from ._sdk import SDK_VERSION
from .api_token import auth_refused_error, is_auth_refusal

__all__ = [
    "CONNECT_ERRORS",
    "classify",
    "lmstudio_words",
    "translate_errors",
    "unreachable_error",
    "vision_error",
]

#: What to do when nothing answers, for every "not reachable" message.
START_LM_STUDIO = (
    "Start LM Studio and turn on its server (Developer tab, or run `lms server start`), "
    "or point --host / LMSTUDIO_HOST at the address it shows."
)


@contextlib.contextmanager
def translate_errors(api_host: str, *, structured: bool = False, model: str | None = None) -> Iterator[None]:
    """Turn lmstudio SDK errors into mcp-lmstudio errors whose advice fits the cause.

    `structured` says whether the request carried a JSON schema (so that a refusal can be blamed on it), and
    `model` names the model in messages when it is known.
    """
    try:
        yield
    except McpLmStudioError:
        raise
    except (lmstudio.LMStudioWebsocketError, lmstudio.LMStudioChannelClosedError) as exc:
        raise LMStudioUnavailableError(
            f"Lost the connection to LM Studio at {api_host} ({_strip_end(lmstudio_words(exc))}): LM Studio quit, "
            "restarted or dropped the connection. The next call reconnects; if it fails too, check that LM Studio "
            "is running."
        ) from exc
    except lmstudio.LMStudioServerError as exc:
        raise server_error(exc, structured=structured, model=model) from exc
    except msgspec.MsgspecError as exc:  # a ValueError: before the SDK's ValueErrors below
        raise sdk_mismatch(exc, model) from exc
    except lmstudio.LMStudioValueError as exc:
        raise InvalidInputError(
            f"The lmstudio SDK refused the request: {_sentence(lmstudio_words(exc))} Check the arguments."
        ) from exc
    except lmstudio.LMStudioClientError as exc:
        if _is_decoding_refusal(exc):
            raise sdk_mismatch(exc, model) from exc
        raise unreachable_error(api_host, exc) from exc


def _is_decoding_refusal(exc: lmstudio.LMStudioClientError) -> bool:
    """Whether the SDK refused data LM Studio sent (rather than failing to reach it)."""
    return str(exc).startswith(("Unknown model type", "No 'type' field"))


def sdk_mismatch(exc: BaseException, model: str | None) -> SDKMismatchError:
    """The error for data LM Studio sent that the installed SDK cannot decode (LM Studio is newer)."""
    said = f"{_strip_end(lmstudio_words(exc))} (lmstudio {SDK_VERSION})."
    return SDKMismatchError(said, model=model)


def classify(exc: lmstudio.LMStudioServerError, *, structured: bool = False) -> str:
    """What LM Studio's error is put down to (`GenerationFailedError.reason`), from its type and words."""
    lowered = f"{exc} {lmstudio_words(exc)}".lower()
    if isinstance(exc, lmstudio.LMStudioModelNotFoundError) or _mentions(lowered, "unloaded", "evicted"):
        return "evicted"
    if _mentions(lowered, "does not support image", "vision", "images are not supported"):
        return "vision"
    if _mentions(lowered, "only user and assistant roles", "system role not supported", "system role is not"):
        return "system_role"
    if str(exc).startswith(("Model get/load", "Model load")) or _mentions(
        lowered, "failed to load", "error loading", "out of memory", "insufficient", "vram", "oom"
    ):
        return "load"
    if _mentions(lowered, "crash", "exited unexpectedly"):
        return "crashed"
    return "schema" if structured else "lmstudio"


def server_error(
    exc: lmstudio.LMStudioServerError, *, structured: bool = False, model: str | None = None
) -> GenerationFailedError:
    """The error for something LM Studio reported, with the advice for its cause (see the module docstring)."""
    return GenerationFailedError(
        _sentence(lmstudio_words(exc)), reason=classify(exc, structured=structured), model=model
    )


def vision_error(words: str, model: str | None, loaded: list[Any]) -> GenerationFailedError:
    """The error for images LM Studio refused, from its raw `listLoaded` answer (`loaded`).

    Refused by a model that has no vision: the loaded models that do. Refused by one that has vision (LM
    Studio says "does not support images" when the context is too short for them): its context.
    """
    infos = [info for info in loaded if isinstance(info, dict)]
    vision = [str(info.get("identifier")) for info in infos if info.get("vision") is True]
    if model is not None and model in vision:
        length = next((info.get("contextLength") for info in infos if info.get("identifier") == model), None)
        context = length if isinstance(length, int) and not isinstance(length, bool) else None
        return GenerationFailedError(_sentence(words), reason="vision_context", model=model, context_length=context)
    return GenerationFailedError(_sentence(words), reason="vision", model=model, vision_models=vision)


#: What entering an `AsyncClient` raises when LM Studio is absent, silent, not LM Studio, or refuses us:
#: the SDK lets httpx and JSON errors through, and 1.5.0 turns an auth refusal into a ValueError.
CONNECT_ERRORS = (lmstudio.LMStudioError, httpx.HTTPError, OSError, ValueError)


def unreachable_error(
    api_host: str, exc: BaseException, *, searched: bool = False, token_given: bool | None = None
) -> LMStudioUnavailableError:
    """The error for a failed connection attempt, with the cause and the fix.

    `searched`: no address was configured, and LM Studio's own local ports were tried before `api_host`.
    `token_given`: whether an API token was sent, for an authentication refusal (see `api_token`).
    """
    if is_auth_refusal(exc):
        return auth_refused_error(api_host, token_given)
    where = f"{api_host} (nor on LM Studio's own local ports)" if searched else api_host
    return LMStudioUnavailableError(f"LM Studio is not reachable at {where}: {_connect_cause(exc)}. {START_LM_STUDIO}")


def _connect_cause(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "something accepted the connection but did not answer like LM Studio in time"
    if isinstance(exc, json.JSONDecodeError):
        return "something else is listening there (its greeting is not LM Studio's)"
    if isinstance(exc, lmstudio.LMStudioWebsocketError):
        return "it answered, but its websocket connection failed (is it LM Studio?)"
    if isinstance(exc, ConnectionRefusedError) or (
        isinstance(exc, lmstudio.LMStudioClientError) and "not reachable" in str(exc)
    ):
        return "nothing is listening there"
    return _strip_end(lmstudio_words(exc))


def lmstudio_words(exc: BaseException) -> str:
    """What LM Studio (or the SDK) said, on one line, without the SDK's prefix and layout."""
    details: Any = getattr(exc, "server_error", None)
    if details is not None and (details.title or details.root_title):
        parts = [details.title or details.root_title, details.cause, details.suggestion]
        return valid_unicode(" ".join(_sentence(str(part)) for part in parts if part))
    lines = [line.strip() for line in valid_unicode(str(exc)).splitlines() if line.strip()]
    text = " ".join(lines[:2]) if lines else type(exc).__name__
    return re.sub(r"^(RPC|Model get/load|Model load|Chat response|Completion|Prediction) error: ", "", text)


def _mentions(text: str, *needles: str) -> bool:
    return any(needle in text for needle in needles)


def _strip_end(text: str) -> str:
    return text.strip().rstrip(".")


def _sentence(text: str) -> str:
    """`text` ending in exactly one full stop (or its own ? or !)."""
    text = text.strip()
    return text if text.endswith(("?", "!")) else text.rstrip(".") + "."
