"""The one seam to the lmstudio SDK's private names, and the lenient decoding of what it would refuse.

Everything here leans on something lmstudio does not document: an attribute with a leading underscore, an
RPC endpoint called by name, a method entered by hand. tests/models/test_sdk_seam.py exercises each one and
fails with "lmstudio X.Y removed/changed <name>; update models/_sdk.py" when an upgrade breaks it.

LM Studio ships faster than the SDK, and the SDK decodes LM Studio's data against closed lists (model
types, formats, stop reasons, fragment kinds). What a call needs is decoded here instead, leniently:

* model listings come raw (`list_loaded_raw`, `list_downloaded_raw`): `resolution` reads the fields it
  knows and leaves out entries of a type it does not (a drafter, say);
* a prediction's events pass through `watch_prediction`: a fragment or a final `success` packet the SDK
  cannot decode is rebuilt from the raw packet, and the raw `success` packet is kept, so that the answer
  and the readable statistics always come back.

Each undecodable value is logged once per process, as a warning naming the SDK version.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from importlib.metadata import version
from typing import Any, cast

import lmstudio
import msgspec
from lmstudio import AsyncClient, Client, LlmPredictionFragment, PredictionResult
from lmstudio.json_api import PredictionFragmentEvent

__all__ = [
    "PLACEHOLDER_FILE_HANDLE",
    "SDK_VERSION",
    "PredictionWatch",
    "enter_async_client",
    "has_open_sessions",
    "list_downloaded_raw",
    "list_loaded_raw",
    "log_once",
    "model_handle",
    "watch_prediction",
    "websockets_alive",
]

logger = logging.getLogger(__name__)

SDK_VERSION = version("lmstudio")

#: What a decoder of the SDK raises for a value outside its schema (msgspec), a missing key, a wrong type,
#: or JSON it cannot hold (a 5,000-digit number, JSON nested thousands deep).
DECODE_ERRORS = (msgspec.MsgspecError, LookupError, TypeError, ValueError, RecursionError)

# -- clients ------------------------------------------------------------------------------------------------


def has_open_sessions(client: AsyncClient | Client) -> bool:
    """Whether `client` has opened its namespace sessions: entered (async), or used at least once (sync).

    The SDK has no public "is entered" flag; `_sessions` is filled on entry (async) or first use (sync).
    """
    return bool(getattr(client, "_sessions", None))


async def enter_async_client(client: AsyncClient) -> None:
    """Enter `client` without a context manager: its lifetime is the model layer's, not one `async with`."""
    await client.__aenter__()


def websockets_alive(client: object, namespaces: Sequence[str] = ("llm", "system", "files")) -> bool:
    """Whether every one of `namespaces` still has its websocket (a dropped link clears it).

    The SDK exposes no liveness flag. Internals it does not recognise count as alive, so that a changed SDK
    degrades to reconnecting after a call fails with a lost connection.
    """
    sessions = getattr(client, "_sessions", None)
    if not isinstance(sessions, dict):
        return True  # unrecognised internals
    for namespace in namespaces:
        if namespace not in sessions:
            return False
        if not hasattr(sessions[namespace], "_lmsws"):
            return True  # unrecognised internals
        websocket = sessions[namespace]._lmsws
        if websocket is None:
            return False  # closed
        handler = getattr(websocket, "_ws_handler", None)
        if handler is None or not hasattr(handler, "_ws"):
            return True  # unrecognised internals
        if handler._ws is None:
            return False  # its websocket task ended: the link dropped
    return True


def model_handle(client: AsyncClient | Client, identifier: str, kind: str = "llm") -> Any:
    """The SDK's handle (`AsyncLLM` / `LLM`, or the embedding model's) for a loaded instance, without a round trip.

    `client.llm.model(identifier)` would ask LM Studio again (and report a load); `list_loaded()` builds its
    handles the same way. `kind` is the namespace: "llm" or "embedding".
    """
    return getattr(client, kind)._create_handle(identifier)


#: A file handle for formatting an input before anything is uploaded (to check it, with no I/O).
PLACEHOLDER_FILE_HANDLE = lmstudio.FileHandle(name="image.png", identifier="pending", size_bytes=0, file_type="image")

# -- raw listings -------------------------------------------------------------------------------------------


def list_loaded_raw(client: AsyncClient | Client, kind: str = "llm") -> Any:
    """LM Studio's `listLoaded` in the namespace `kind` ("llm" or "embedding"), undecoded: instance info dicts
    (an awaitable for `AsyncClient`)."""
    return getattr(client, kind).remote_call("listLoaded")


def list_downloaded_raw(client: AsyncClient | Client) -> Any:
    """LM Studio's `listDownloadedModels`, undecoded: `ModelInfo` dicts of every type (awaitable for async).

    `list_downloaded()` would refuse the whole list for one entry of a type or format the SDK does not know.
    """
    return client.system.remote_call("listDownloadedModels")


# -- predictions --------------------------------------------------------------------------------------------

_logged: set[str] = set()


def log_once(what: str, value: object) -> None:
    """Warn once per process that LM Studio sent `value` (for `what`) this SDK does not know."""
    key = f"{what}:{value!r}"[:200]
    if key not in _logged:
        _logged.add(key)
        logger.warning(
            "LM Studio sent %s %r, which lmstudio %s does not know; it is read leniently. Upgrading the lmstudio "
            "package may help.",
            what,
            value,
            SDK_VERSION,
        )


class PredictionWatch:
    """What `watch_prediction` keeps of one prediction: its raw final `success` packet, once it came."""

    def __init__(self) -> None:
        self.packet: dict[str, Any] | None = None


def watch_prediction(stream: lmstudio.AsyncPredictionStream | lmstudio.PredictionStream) -> PredictionWatch:
    """Keep `stream`'s raw `success` packet, and decode what the SDK cannot, before `stream.start()`.

    Wraps the stream's private endpoint (`_endpoint.iter_message_events`), through which the SDK turns each
    packet into events: a `fragment` or `success` packet whose decoding fails is rebuilt from its raw fields
    instead of failing the prediction. Returns the watch, whose `packet` is set when the prediction ends.
    """
    watch = PredictionWatch()
    endpoint = stream._endpoint
    decode = endpoint.iter_message_events

    def iter_message_events(contents: Any) -> Iterable[Any]:
        kind = contents.get("type") if isinstance(contents, dict) else None
        if kind == "success":
            watch.packet = contents
        try:
            return list(decode(contents))
        except DECODE_ERRORS as exc:
            if kind == "success":
                log_once("a prediction result", _short(exc))
                return [endpoint._set_result(_undecoded_result(endpoint))]
            if kind == "fragment" and isinstance(contents.get("fragment"), dict):
                return _lenient_fragment(endpoint, contents["fragment"], exc)
            raise

    endpoint.iter_message_events = iter_message_events  # type: ignore[method-assign]
    return watch


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__


def _undecoded_result(endpoint: Any) -> PredictionResult:
    """A stand-in for the result the SDK could not decode; the model layer reads the raw packet instead."""
    content = "".join(endpoint._fragment_content)
    stats = lmstudio.LlmPredictionStats(stop_reason=cast(Any, "undecoded"))  # msgspec does not check on init
    none = cast(Any, None)
    return PredictionResult(
        content=content, parsed=content, stats=stats, model_info=none, load_config=none, prediction_config=none
    )


def _lenient_fragment(endpoint: Any, raw: dict[str, Any], exc: BaseException) -> list[Any]:
    if endpoint._is_cancelled:
        return []  # as the SDK does: fragments after a cancel are dropped
    log_once("a fragment", _short(exc))
    content = raw.get("content")
    tokens = raw.get("tokensCount")
    fragment = LlmPredictionFragment(
        content=content if isinstance(content, str) else "",
        tokens_count=tokens if isinstance(tokens, int) else 1,
        contains_drafted=bool(raw.get("containsDrafted", False)),
        reasoning_type=cast(Any, str(raw.get("reasoningType", "none"))),
    )
    endpoint._fragment_content.append(fragment.content)
    return [PredictionFragmentEvent(fragment)]
