"""Every private lmstudio name the model layer uses goes through `models/_sdk.py`; each is checked here, so
that an SDK upgrade that removes or changes one fails with a message saying which, and where to fix it."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import lmstudio
import msgspec
import pytest

from mcp_lmstudio.models import _sdk
from mcp_lmstudio.testing import LMStudioEmulator

pytestmark = pytest.mark.anyio


def require(holds: object, name: str) -> None:
    """Fail, naming `name`, unless `holds`."""
    if not holds:
        pytest.fail(f"lmstudio {_sdk.SDK_VERSION} removed/changed {name}; update models/_sdk.py")


async def test_client_sessions_tell_an_entered_client_and_enter_async_client_enters(emulator: LMStudioEmulator) -> None:
    client = lmstudio.AsyncClient(emulator.api_host)
    require(not _sdk.has_open_sessions(client), "AsyncClient._sessions (empty before entering)")
    try:
        await _sdk.enter_async_client(client)
        require(_sdk.has_open_sessions(client), "AsyncClient._sessions / AsyncClient.__aenter__")
    finally:
        await client.aclose()


async def test_the_websocket_chain_of_each_session_is_there_and_clears_on_close(emulator: LMStudioEmulator) -> None:
    client = lmstudio.AsyncClient(emulator.api_host)
    await _sdk.enter_async_client(client)
    for namespace in ("llm", "system", "files"):
        session = client._sessions.get(namespace)
        require(session is not None, f"AsyncClient._sessions[{namespace!r}]")
        websocket = getattr(session, "_lmsws", None)
        require(websocket is not None, "session._lmsws")
        handler = getattr(websocket, "_ws_handler", None)
        require(handler is not None and getattr(handler, "_ws", None) is not None, "_lmsws._ws_handler._ws")
    require(_sdk.websockets_alive(client), "the websocket chain read by websockets_alive")
    await client.aclose()
    require(not _sdk.websockets_alive(client), "the websocket chain (not cleared when the client closes)")


async def test_raw_listings_and_handles(emulator: LMStudioEmulator, client: lmstudio.AsyncClient) -> None:
    loaded = await _sdk.list_loaded_raw(client)
    require(isinstance(loaded, list) and all("identifier" in info for info in loaded), 'llm.remote_call("listLoaded")')
    downloaded = await _sdk.list_downloaded_raw(client)
    require(
        isinstance(downloaded, list) and all("modelKey" in info for info in downloaded),
        'system.remote_call("listDownloadedModels")',
    )
    handle = _sdk.model_handle(client, "fake-echo-1b")
    require(isinstance(handle, lmstudio.AsyncLLM) and handle.identifier == "fake-echo-1b", "llm._create_handle")
    embeddings = await _sdk.list_loaded_raw(client, "embedding")
    require([info["identifier"] for info in embeddings] == ["fake-embed-small"], 'embedding.remote_call("listLoaded")')
    embedder = _sdk.model_handle(client, "fake-embed-small", "embedding")
    require(isinstance(embedder, lmstudio.AsyncEmbeddingModel), "embedding._create_handle")


async def test_the_prediction_stream_can_be_watched(emulator: LMStudioEmulator, client: lmstudio.AsyncClient) -> None:
    llm = await client.llm.model("fake-echo-1b")
    stream = await llm.respond_stream("hi")
    endpoint = getattr(stream, "_endpoint", None)
    require(endpoint is not None, "AsyncPredictionStream._endpoint")
    for name in ("iter_message_events", "_set_result", "_fragment_content", "_is_cancelled"):
        require(hasattr(endpoint, name), f"PredictionEndpoint.{name}")
    watch = _sdk.watch_prediction(stream)
    async with stream:
        text = "".join([fragment.content async for fragment in stream])
    require(text == "You said: hi", "the prediction events (through the wrapped iter_message_events)")
    require(watch.packet is not None and watch.packet["stats"]["stopReason"] == "eosFound", "the success packet")


def _fields(struct: type[Any]) -> set[str]:
    return {field.name for field in msgspec.structs.fields(struct)}


def test_the_structs_rebuilt_from_raw_packets_keep_their_fields() -> None:
    require(
        {"content", "tokens_count", "contains_drafted", "reasoning_type"} <= _fields(lmstudio.LlmPredictionFragment),
        "LlmPredictionFragment's fields",
    )
    require("stop_reason" in _fields(lmstudio.LlmPredictionStats), "LlmPredictionStats.stop_reason")
    names = {field.name for field in dataclasses.fields(lmstudio.PredictionResult)}
    require(
        {"content", "parsed", "stats", "model_info", "load_config", "prediction_config"} <= names,
        "PredictionResult's fields",
    )
    from lmstudio.json_api import PredictionFragmentEvent

    require(inspect.isclass(PredictionFragmentEvent), "lmstudio.json_api.PredictionFragmentEvent")
    require(_sdk.PLACEHOLDER_FILE_HANDLE.file_type == "image", "FileHandle(name, identifier, size_bytes, file_type)")


def test_a_changed_name_fails_with_the_message_that_says_where_to_fix_it() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"lmstudio \S+ removed/changed X; update models/_sdk.py"):
        require(False, "X")
