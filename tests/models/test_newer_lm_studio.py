"""LM Studio newer than the installed lmstudio SDK: values it does not know break no call that does not need
them (hunt-turn3 cases 01-03), on both front ends."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import pytest

from mcp_lmstudio.models import GenerationResult, TextFragment
from mcp_lmstudio.testing import DEFAULT_MODELS, EmulatedModel, LMStudioEmulator

from .conftest import Front, FrontFactory

pytestmark = pytest.mark.anyio

#: A speculative-decoding drafter, as newer LM Studio lists it (lmstudio-js `DrafterModelInfo`).
DRAFTER = EmulatedModel("gemma-4-31b-it-mtp", "Gemma 4 31B MTP drafter", loaded=False, extra={"type": "drafter"})
#: A model in a format lmstudio 1.5.0's closed list lacks.
OPENVINO = EmulatedModel("phi-4-mini-ov", "Phi 4 mini OpenVINO", loaded=False, format="openvino")


@pytest.fixture
async def emulator() -> AsyncIterator[LMStudioEmulator]:
    async with LMStudioEmulator(models=[*DEFAULT_MODELS, DRAFTER, OPENVINO]) as lms:
        yield lms


async def test_a_drafter_in_the_catalogue_is_left_out_of_list_models_and_logged(
    front: Front, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_lmstudio.models import _sdk

    monkeypatch.setattr(_sdk, "_logged", set())  # logged once per process: start afresh
    with caplog.at_level(logging.WARNING, logger="mcp_lmstudio.models._sdk"):
        keys = [model.key for model in await front.call("list_models")]
    assert DRAFTER.key not in keys and "fake-unloaded-7b" in keys
    assert OPENVINO.key in keys  # an LLM of an unknown format is listed with what is known
    assert [record.getMessage().split(",")[0] for record in caplog.records] == ["LM Studio sent a model type 'drafter'"]


@pytest.mark.parametrize("model", ["fake-echo-1b", "fake-unloaded-7b", "emulator/fake-echo"])
async def test_calls_naming_a_model_work_beside_unknown_entries(make_front: FrontFactory, model: str) -> None:
    result = await make_front().call("generate_result", "hi", model=model)
    assert result.text == "You said: hi"


async def test_a_model_of_an_unknown_format_answers(emulator: LMStudioEmulator, front: Front) -> None:
    result = await front.call("generate_result", "hi", model=OPENVINO.key)
    # LM Studio's final packet describes the model (format "openvino"): the SDK cannot decode it, the answer
    # and the statistics come back all the same.
    assert (result.text, result.stop_reason, result.model) == ("You said: hi", "eosFound", OPENVINO.key)
    assert result.stats.predicted_tokens == 3 and result.stats.prompt_tokens > 0


async def test_an_unknown_stop_reason_keeps_the_finished_answer(
    emulator: LMStudioEmulator, front: Front, stop_reason: Callable[[str], None]
) -> None:
    emulator.reply = "The answer is forty two."
    stop_reason("modelCrashed")
    events = await front.events("q")
    result = events[-1]
    assert isinstance(result, GenerationResult)
    assert (result.text, result.stop_reason) == ("The answer is forty two.", "modelCrashed")
    assert result.stats.predicted_tokens == 5 and result.stats.context_length == 4096
    assert "".join(event.text for event in events if isinstance(event, TextFragment)) == result.text


async def test_an_unknown_fragment_kind_keeps_its_text(
    emulator: LMStudioEmulator, front: Front, answer_fragment_kind: Callable[[str], None]
) -> None:
    answer_fragment_kind("finalAnswer")
    result = await front.call("generate_result", "hello")
    assert (result.text, result.reasoning) == ("You said: hello", "")


async def test_the_server_keeps_its_session_and_lists_models_beside_a_drafter(emulator: LMStudioEmulator) -> None:
    from mcp import Client

    from mcp_lmstudio.server.app import create_server
    from mcp_lmstudio.settings import Settings

    async with Client(create_server(Settings(host=emulator.api_host, timeout=10)), mode="legacy") as client:
        listing = await client.call_tool("list_models", {})
        opened = sum(emulator.connections.values())
        named = await client.call_tool("generate", {"prompt": "hi", "model": "fake-unloaded-7b"})
        assert sum(emulator.connections.values()) == opened  # no reconnect: the session was not dropped
    assert not listing.is_error and not named.is_error
    assert listing.structured_content is not None
    assert DRAFTER.key not in [entry["key"] for entry in listing.structured_content["models"]]
