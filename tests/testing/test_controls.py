"""Public emulator controls for an LM Studio that fails, or is newer than its SDK, as the real SDK sees them."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx_ws
import lmstudio
import pytest

from mcp_lmstudio.testing import (
    DEFAULT_MODELS,
    MLX_CONTEXT_EXCEEDED,
    MODEL_CRASHED,
    SYSTEM_ROLE_UNSUPPORTED,
    EmulatedModel,
    ErrorPayload,
    LMStudioEmulator,
    PredictionRecord,
    Reply,
    load_models_file,
)

pytestmark = pytest.mark.anyio

DRAFTER = EmulatedModel("gemma-4-31b-it-mtp", "Gemma 4 31B MTP drafter", kind="drafter", loaded=False)
OPENVINO = EmulatedModel("intel/phi-4-mini-ov", "Phi 4 mini OpenVINO", loaded=False, format="openvino")
MISTRAL = EmulatedModel("mistral-7b-instruct", "Mistral 7B Instruct", template_refuses_system=True)


async def _raw_messages(api_host: str, namespace: str, create: dict[str, Any]) -> list[dict[str, Any]]:
    """Every message of one channel (`create` is its `channelCreate`) or RPC (an `rpcCall`), off the wire."""
    async with httpx_ws.aconnect_ws(f"http://{api_host}/{namespace}") as ws:
        await ws.send_json({"authVersion": 1, "clientIdentifier": str(uuid.uuid4()), "clientPasskey": "p"})
        assert (await ws.receive_json())["success"]
        await ws.send_json(create)
        messages: list[dict[str, Any]] = []
        while True:
            message = json.loads(await ws.receive_text())
            messages.append(message)
            if message.get("type") in ("channelClose", "channelError", "rpcResult", "rpcError"):
                return messages


def _predict_call(text: str) -> dict[str, Any]:
    history = {"messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]}
    parameter = {
        "modelSpecifier": {"type": "query", "query": {"identifier": "fake-echo-1b"}},
        "history": history,
        "predictionConfigStack": {"layers": []},
    }
    return {"type": "channelCreate", "endpoint": "predict", "channelId": 1, "creationParameter": parameter}


# -- scripted errors ------------------------------------------------------------------------------------


async def test_a_reply_error_fails_the_prediction_with_lm_studios_payload(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    emulator.reply = Reply(
        error=ErrorPayload("Engine fell over", cause="out of VRAM", suggestion="Use a smaller model")
    )
    llm = await client.llm.model("fake-echo-1b")
    with pytest.raises(lmstudio.LMStudioServerError) as raised:
        await llm.respond("hi")
    message = str(raised.value)
    assert "Engine fell over" in message
    assert "Reported cause:\n    out of VRAM" in message
    assert "Suggested potential remedy:\n    Use a smaller model" in message
    assert (emulator.predictions[-1].stop_reason, emulator.predictions[-1].fragments) == ("failed", 0)


async def test_a_reply_error_may_be_a_title_or_a_known_lm_studio_error(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    llm = await client.llm.model("fake-echo-1b")
    emulator.reply = Reply(error=MLX_CONTEXT_EXCEEDED)
    with pytest.raises(lmstudio.LMStudioServerError, match=r"Context size has been exceeded\."):
        await llm.respond("hi")
    emulator.reply = Reply(error="Only user and assistant roles are supported!")
    with pytest.raises(lmstudio.LMStudioServerError, match="Only user and assistant roles are supported!"):
        await llm.respond("hi")
    emulator.reply = None
    assert (await llm.respond("hi")).content == "You said: hi"


async def test_a_reply_script_can_refuse_only_some_predictions(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    def script(record: PredictionRecord) -> Reply:
        return Reply(error=MLX_CONTEXT_EXCEEDED) if "long" in record.last_user_text else Reply("fine")

    emulator.reply = script
    llm = await client.llm.model("fake-echo-1b")
    assert (await llm.respond("short")).content == "fine"
    with pytest.raises(lmstudio.LMStudioServerError, match="Context size has been exceeded"):
        await llm.respond("a long one")


async def test_error_after_fails_mid_stream_after_that_many_fragments(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    emulator.reply = Reply("one two three four five six", error_after=3)
    llm = await client.llm.model("fake-echo-1b")
    received: list[str] = []
    with pytest.raises(lmstudio.LMStudioServerError, match=r"The model has crashed without additional information"):
        await llm.respond("hi", on_prediction_fragment=lambda fragment: received.append(fragment.content))
    assert "".join(received) == "one two three"
    assert (emulator.predictions[-1].fragments, emulator.predictions[-1].stop_reason) == (3, "failed")
    assert "fake-echo-1b" in emulator.loaded  # no unload unless asked


async def test_a_crash_can_unload_the_instance_and_take_a_given_error(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    emulator.reply = Reply("one two three", error=ErrorPayload("Engine exited"), error_after=1, unload_on_error=True)
    llm = await client.llm.model("fake-echo-1b")
    with pytest.raises(lmstudio.LMStudioServerError, match="Engine exited"):
        await llm.respond("hi")
    assert emulator.predictions[-1].text == "one"
    assert "fake-echo-1b" not in emulator.loaded
    assert (Reply(error_after=2).failure, Reply(error="x").failure) == (MODEL_CRASHED, ErrorPayload("x"))


async def test_an_error_after_more_fragments_than_the_reply_has_comes_at_its_end(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    emulator.reply = Reply("only two", error_after=50)
    llm = await client.llm.model("fake-echo-1b")
    with pytest.raises(lmstudio.LMStudioServerError, match="crashed"):
        await llm.respond("hi")
    assert emulator.predictions[-1].text == "only two"


# -- a success packet newer than the SDK ------------------------------------------------------------------


async def test_any_stop_reason_goes_out_in_the_success_packet(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    llm = await client.llm.model("fake-echo-1b")
    emulator.reply = Reply("The answer is forty two.", stop_reason="modelUnloaded")  # known to the SDK
    result = await llm.respond("q")
    assert (result.content, result.stats.stop_reason) == ("The answer is forty two.", "modelUnloaded")
    emulator.reply = Reply("The answer is forty two.", stop_reason="modelCrashed")  # newer than lmstudio 1.5
    with pytest.raises(Exception, match="Invalid enum value 'modelCrashed'"):
        await llm.respond("q")
    assert (emulator.predictions[-1].text, emulator.predictions[-1].stop_reason) == (
        "The answer is forty two.",
        "modelCrashed",
    )


async def test_extra_fields_reach_fragments_and_stats(emulator: LMStudioEmulator, client: lmstudio.AsyncClient) -> None:
    emulator.reply = Reply(
        "a b",
        fragment_fields={"containsDrafted": True, "futureFragmentField": "x"},
        stats_fields={"promptTokensCount": 7, "futureCounter": 3},
    )
    fragments: list[lmstudio.LlmPredictionFragment] = []
    result = await (await client.llm.model("fake-echo-1b")).respond("hi", on_prediction_fragment=fragments.append)
    assert result.content == "a b" and result.stats.prompt_tokens_count == 7  # the SDK reads what it knows
    assert [fragment.contains_drafted for fragment in fragments] == [True, True]
    wire = await _raw_messages(emulator.api_host, "llm", _predict_call("hi"))
    sent = [message["message"] for message in wire if message.get("type") == "channelSend"]
    assert [m["fragment"]["futureFragmentField"] for m in sent if m["type"] == "fragment"] == ["x", "x"]
    success = next(m for m in sent if m["type"] == "success")
    assert (success["stats"]["futureCounter"], success["stats"]["stopReason"]) == (3, "eosFound")


# -- a catalogue newer than the SDK -----------------------------------------------------------------------


async def test_a_drafter_model_is_listed_with_its_type_and_never_loads_alone() -> None:
    async with LMStudioEmulator(models=[*DEFAULT_MODELS, DRAFTER]) as lms:
        async with lmstudio.AsyncClient(lms.api_host) as sdk:
            with pytest.raises(lmstudio.LMStudioClientError, match="Unknown model type 'drafter'"):
                await sdk.system.list_downloaded_models()  # lmstudio 1.5 predates drafters
            with pytest.raises(lmstudio.LMStudioServerError, match="Cannot find a model with path"):
                await sdk.llm.load_new_instance("gemma-4-31b-it-mtp")
            result = await (await sdk.llm.model("fake-echo-1b")).respond(
                "hi", config={"draftModel": "gemma-4-31b-it-mtp"}
            )
            assert result.stats.used_draft_model_key == "gemma-4-31b-it-mtp"
        info = DRAFTER.model_info()
        assert (info["type"], "paramsString" in info, "vision" in info) == ("drafter", False, False)
    with pytest.raises(ValueError, match="pass loaded=False"):
        EmulatedModel("mtp", "MTP", kind="drafter")


async def test_a_model_of_an_unknown_format_is_listed_as_it_is() -> None:
    async with LMStudioEmulator(models=[*DEFAULT_MODELS, OPENVINO]) as lms:
        async with lmstudio.AsyncClient(lms.api_host) as sdk:
            with pytest.raises(Exception, match="Invalid enum value 'openvino'"):
                await sdk.system.list_downloaded_models()  # lmstudio 1.5 knows six formats
            assert (await (await sdk.llm.model("fake-echo-1b")).respond("hi")).content == "You said: hi"


async def test_unknown_model_info_fields_are_sent_as_given(tmp_path: Any) -> None:
    odd = EmulatedModel("odd-1b", "Odd 1B", extra={"quantization": {"name": "Q4_K_M", "bits": 4}, "newField": [1]})
    async with LMStudioEmulator(models=[odd]) as lms:
        async with lmstudio.AsyncClient(lms.api_host) as sdk:
            (listed,) = await sdk.system.list_downloaded_models()  # lmstudio 1.5 knows neither field
            assert listed.model_key == "odd-1b"
        wire = await _raw_messages(lms.api_host, "llm", {"type": "rpcCall", "endpoint": "listLoaded", "callId": 1})
        (info,) = wire[-1]["result"]
        assert (info["quantization"]["bits"], info["newField"]) == (4, [1])
    catalogue = tmp_path / "models.json"
    catalogue.write_text(json.dumps([{"type": "drafter", "modelKey": "mtp", "format": "openvino", "x": 1}]))
    (from_file,) = load_models_file(catalogue)
    assert (from_file.kind, from_file.format, from_file.extra) == ("drafter", "openvino", {"x": 1})


# -- a template that refuses a system message ---------------------------------------------------------------


async def test_a_template_that_refuses_the_system_role_fails_template_and_prediction() -> None:
    chat = lmstudio.Chat("You are terse.")
    chat.add_user_message("Hi")
    async with LMStudioEmulator(models=[MISTRAL]) as lms:
        async with lmstudio.AsyncClient(lms.api_host) as sdk:
            llm = await sdk.llm.model("mistral-7b-instruct")
            with pytest.raises(lmstudio.LMStudioServerError, match="Only user and assistant roles") as raised:
                await llm.apply_prompt_template(chat)
            assert "Suggested potential remedy:\n    This is usually an issue with the model's prompt" in str(
                raised.value
            )
            with pytest.raises(lmstudio.LMStudioServerError, match=SYSTEM_ROLE_UNSUPPORTED.title.split(":")[0]):
                await llm.respond(chat)
            without_system = lmstudio.Chat()
            without_system.add_user_message("Hi")
            assert (await llm.respond(without_system)).content == "You said: Hi"
            assert "Hi" in await llm.apply_prompt_template(without_system)
