"""What LM Studio's failures read like: its own words once, cleanly, then the advice that fits the cause."""

from __future__ import annotations

import re

import anyio
import lmstudio
import pytest
from mcp import Client

from mcp_lmstudio.models.sdk_errors import server_error, unreachable_error
from mcp_lmstudio.server.app import create_server
from mcp_lmstudio.server.wording import tool_message
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import LMStudioEmulator
from tests.stdio_support import raw_stdio_server
from tests.support import PNG_B64, closed_port, text_of

pytestmark = pytest.mark.anyio

LOAD_ADVICE = "Pick a smaller model or one already loaded"


def assert_clean(message: str) -> None:
    """No doubled punctuation, no repeated sentence."""
    assert ".." not in message and "?." not in message and ". ." not in message, message
    sentences = [s.strip() for s in re.split(r"(?<=[.?!])\s", message) if s.strip()]
    assert len(sentences) == len(set(sentences)), message


@pytest.mark.parametrize(
    ("error", "structured", "reason", "advice"),
    [
        (lmstudio.LMStudioServerError("Chat response error", {"title": "'type' must be a string"}), True, "schema",
         "Simplify `json_schema`"),
        (lmstudio.LMStudioServerError("Model get/load error", {"title": "Failed to load model",
                                                               "cause": "Not enough memory."}), False, "load",
         LOAD_ADVICE),
        (lmstudio.LMStudioServerError("Chat response error", {"title": "Error loading model.",
                                                              "cause": "Insufficient system resources"}), False,
         "load", LOAD_ADVICE),
        (lmstudio.LMStudioModelNotFoundError("Chat response error: No model found that fits the query."), False,
         "evicted", "Try again: the next call loads it again"),
        (lmstudio.LMStudioServerError("Chat response error", {"title": "The model has crashed without additional "
                                                              "information. (Exit code: 11)"}), False, "crashed",
         "Try again"),
        (lmstudio.LMStudioServerError("Chat response error", {"title": "Model does not support images. Please use a "
                                                              "model that does."}), False, "vision",
         "does not accept images"),
        (lmstudio.LMStudioServerError("Chat response error", {"title": "Something unexpected"}), False, "lmstudio",
         "mcp-lmstudio check"),
    ],
)  # fmt: skip
def test_the_advice_follows_the_cause(
    error: lmstudio.LMStudioServerError, structured: bool, reason: str, advice: str
) -> None:
    translated = server_error(error, structured=structured, model="qwen3-8b")
    message = tool_message(translated)  # the server's words; `str()` is the same advice in Python's
    assert translated.reason == reason
    assert advice in message
    assert message.startswith("LM Studio said: ") and "Chat response error" not in message
    if reason != "load":
        assert LOAD_ADVICE not in message and "out of memory" not in message
    assert_clean(message)


def test_lm_studio_words_appear_once_with_cause_and_suggestion() -> None:
    error = lmstudio.LMStudioServerError(
        "Model load error", {"title": "Failed to load model", "cause": "Out of memory", "suggestion": "Unload one."}
    )
    message = str(server_error(error))
    assert message.startswith("LM Studio said: Failed to load model. Out of memory. Unload one. ")
    assert message.count("Failed to load model") == 1
    assert_clean(message)


def test_nothing_listening_is_said_once() -> None:
    port = closed_port()
    sdk_error = lmstudio.LMStudioClientError(f"LM Studio is not reachable at 127.0.0.1:{port}. Is LM Studio running?")
    message = str(unreachable_error(f"127.0.0.1:{port}", sdk_error))
    assert message.count("not reachable") == 1 and "Is LM Studio running" not in message
    assert message.startswith(f"LM Studio is not reachable at 127.0.0.1:{port}: nothing is listening there. Start")
    assert_clean(message)


async def test_images_for_a_model_without_vision_name_the_loaded_vision_models(emulator: LMStudioEmulator) -> None:
    async with Client(create_server(Settings(host=emulator.api_host)), mode="legacy") as client:
        image = {"data": PNG_B64, "mimeType": "image/png"}
        result = await client.call_tool("generate", {"prompt": "hi", "model": "fake-echo-1b", "images": [image]})
    message = text_of(result)
    assert result.is_error
    assert message == (
        "LM Studio said: Model does not support images. Please use a model that does. 'fake-echo-1b' does not accept "
        "images. Loaded models with vision: 'fake-vision-2b'; pass one as `model`, or leave the images out."
    )


def test_the_synchronous_model_layer_names_the_vision_models_too() -> None:
    from mcp_lmstudio import Image, LMStudio
    from mcp_lmstudio.errors import GenerationFailedError
    from mcp_lmstudio.testing import EmulatorThread

    with EmulatorThread() as lms, lmstudio.Client(lms.api_host) as client:
        model = LMStudio(client, "fake-echo-1b")
        with pytest.raises(GenerationFailedError, match="Loaded models with vision: 'fake-vision-2b'"):
            model.generate(["hi", Image(PNG_B64, "image/png")])


async def test_unreachable_lm_studio_over_stdio_names_the_address_once() -> None:
    host = f"127.0.0.1:{closed_port()}"
    async with raw_stdio_server(host, "--log-level", "ERROR") as server:
        with anyio.fail_after(30):
            await server.initialize()
            response = await server.call_tool("generate", {"prompt": "hi"})
    message = response["result"]["content"][0]["text"]
    assert message.startswith(f"LM Studio is not reachable at {host}: nothing is listening there. Start LM Studio")
    assert message.count(host) == 1
    assert_clean(message)


async def test_a_configured_default_model_that_does_not_exist_names_its_setting(
    emulator: LMStudioEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LMSTUDIO_MODEL", "qwen3-8b")
    async with raw_stdio_server(emulator.api_host, "--log-level", "ERROR") as server:
        with anyio.fail_after(30):
            await server.initialize()
            response = await server.call_tool("generate", {"prompt": "hi"})
    message = response["result"]["content"][0]["text"]
    assert message.startswith("The default model 'qwen3-8b' (set by LMSTUDIO_MODEL) is not available in LM Studio.")
    assert "Set LMSTUDIO_MODEL to one of these" in message and "omit `model`" not in message
    assert_clean(message)


async def test_a_model_named_in_the_call_is_the_callers_to_fix(emulator: LMStudioEmulator) -> None:
    settings = Settings(host=emulator.api_host, model="fake-echo-1b")
    async with Client(create_server(settings), mode="legacy") as client:
        result = await client.call_tool("generate", {"prompt": "hi", "model": "qwen3-8b"})
    assert text_of(result).startswith("Model 'qwen3-8b' is not available in LM Studio. Available model keys: ")
    assert "--model" not in text_of(result)
