"""`AsyncLMStudio` driving the real lmstudio SDK against the emulator over real websockets."""

from __future__ import annotations

import json

import anyio
import jsonschema
import lmstudio
import pydantic
import pytest

from mcp_lmstudio import (
    AsyncLMStudio,
    Chat,
    GenerationFailedError,
    GenerationTimeoutError,
    Image,
    InvalidInputError,
    LMStudioUnavailableError,
    ModelNotFoundError,
    NoModelLoadedError,
    Regex,
    from_lmstudio,
)
from mcp_lmstudio.testing import LMStudioEmulator, Reply
from tests.support import PNG_B64, PNG_BYTES, closed_port

pytestmark = pytest.mark.anyio


async def test_generate_returns_the_answer(emulator: LMStudioEmulator, client: lmstudio.AsyncClient) -> None:
    model = AsyncLMStudio(client)
    assert await model.generate("Hello there") == "You said: Hello there"
    assert emulator.predictions[0].model == "fake-echo-1b"  # the first loaded model


async def test_reasoning_is_kept_apart_from_the_answer(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    emulator.reply = Reply("The answer is 4.", reasoning="2 plus 2 is 4.")
    model = AsyncLMStudio(client)
    result = await model.generate_result("What is 2+2?")
    assert (result.text, result.reasoning, result.stop_reason) == ("The answer is 4.", "2 plus 2 is 4.", "eosFound")
    assert "".join([chunk async for chunk in model.generate_stream("again")]) == "The answer is 4."


async def test_result_carries_model_and_stats(client: lmstudio.AsyncClient) -> None:
    result = await AsyncLMStudio(client, "fake-vision-2b").generate_result("one two")
    assert result.model == "fake-vision-2b"
    assert result.stats.predicted_tokens == 4  # "You said: one two"
    assert result.stats.prompt_tokens > 0
    assert result.stats.time_to_first_token_s is not None


async def test_sampling_settings_reach_lm_studio_under_its_keys(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    config = {
        "temperature": 0.1,
        "maxTokens": 50,
        "topPSampling": 0.9,
        "topKSampling": 20,
        "minPSampling": 0.05,
        "repeatPenalty": 1.1,
        "stopStrings": ["\n\n"],
    }
    await AsyncLMStudio(client).generate("hi", config=config)
    assert emulator.predictions[0].config == {
        "llm.prediction.temperature": 0.1,
        "llm.prediction.maxPredictedTokens": {"checked": True, "value": 50},
        "llm.prediction.topPSampling": {"checked": True, "value": 0.9},
        "llm.prediction.topKSampling": 20.0,
        "llm.prediction.minPSampling": {"checked": True, "value": 0.05},
        "llm.prediction.repeatPenalty": {"checked": True, "value": 1.1},
        "llm.prediction.stopStrings": ["\n\n"],
    }


@pytest.mark.parametrize(("key", "hint"), [("topP", "topPSampling"), ("top_k", "topKSampling"), ("temprature", "")])
async def test_a_wrong_setting_key_is_an_error_and_nothing_is_sent(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient, key: str, hint: str
) -> None:
    with pytest.raises(InvalidInputError, match=f"Unknown prediction setting '{key}'.*{hint}"):
        await AsyncLMStudio(client).generate("hi", config={key: 1})
    assert emulator.predictions == []


async def test_stop_strings_end_the_answer_before_the_stop(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    emulator.reply = "alpha beta STOP gamma"
    result = await AsyncLMStudio(client).generate_result("go", config={"stopStrings": ["STOP"]})
    assert (result.text, result.stop_reason) == ("alpha beta ", "stopStringFound")


async def test_max_tokens_caps_the_answer(emulator: LMStudioEmulator, client: lmstudio.AsyncClient) -> None:
    emulator.reply = "one two three four five"
    result = await AsyncLMStudio(client).generate_result("go", config={"maxTokens": 2})
    assert (result.text, result.stop_reason, result.stats.predicted_tokens) == (
        "one two",
        "maxPredictedTokensReached",
        2,
    )


async def test_a_prompt_with_an_image_uploads_it_through_the_session(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    answer = await AsyncLMStudio(client, "fake-vision-2b").generate(["What is this?", Image(PNG_B64, "image/png")])
    assert answer == "I see 1 image. You said: What is this?"
    assert [(upload.name, upload.content, upload.file_type) for upload in emulator.uploads] == [
        ("image.png", PNG_BYTES, "image")
    ]
    user_turn = emulator.predictions[0].history[-1]
    assert user_turn["content"][1]["identifier"] == emulator.uploads[0].identifier


async def test_a_chat_reaches_lm_studio_in_order(emulator: LMStudioEmulator, client: lmstudio.AsyncClient) -> None:
    chat = Chat()
    chat.add_system_message("Be terse.")
    chat.add_user_message("First")
    chat.add_assistant_message("Answer")
    chat.add_user_message(["Second", Image(PNG_B64, "image/png")])
    await AsyncLMStudio(client, "fake-vision-2b").generate(chat)
    history = emulator.predictions[0].history
    assert [(message["role"], message["content"][0]["text"]) for message in history] == [
        ("system", "Be terse."),
        ("user", "First"),
        ("assistant", "Answer"),
        ("user", "Second"),
    ]
    assert history[-1]["content"][1]["type"] == "file"


class Pet(pydantic.BaseModel):
    name: str
    age: int
    tags: list[str]


async def test_json_schema_output_is_constrained_and_satisfies_the_schema(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    text = await AsyncLMStudio(client).generate("a pet", Pet)
    jsonschema.validate(json.loads(text), Pet.model_json_schema())
    assert emulator.predictions[0].structured == {"type": "json", "jsonSchema": Pet.model_json_schema()}


async def test_regex_output_is_refused_before_anything_is_sent(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    with pytest.raises(TypeError, match="Regex-based structured outputs are not supported"):
        await AsyncLMStudio(client).generate("digits", Regex("[0-9]+"))
    assert emulator.predictions == [] and emulator.uploads == []


async def test_an_unknown_model_is_refused_with_the_available_keys(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    with pytest.raises(ModelNotFoundError, match="'fake-echo-1b', 'fake-unloaded-7b', 'fake-vision-2b'"):
        await AsyncLMStudio(client, "qwen-typo").generate("hi")
    assert emulator.predictions == []


async def test_a_downloaded_model_is_loaded_just_in_time(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    assert await AsyncLMStudio(client, "fake-unloaded-7b").generate("hi") == "You said: hi"
    assert "fake-unloaded-7b" in emulator.loaded


async def test_no_loaded_model_and_none_named_is_a_clear_error(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    emulator.unload_all()
    with pytest.raises(NoModelLoadedError, match="No model is loaded in LM Studio"):
        await AsyncLMStudio(client).generate("hi")


async def test_a_model_unloaded_after_first_use_is_resolved_again(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    model = AsyncLMStudio(client, "fake-vision-2b")
    await model.generate("one")
    emulator.unload("fake-vision-2b")
    assert await model.generate("two") == "You said: two"
    assert "fake-vision-2b" in emulator.loaded


async def test_breaking_out_of_a_stream_cancels_the_prediction(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    emulator.reply = " ".join(["word"] * 200)
    emulator.token_delay = 0.01
    async for _chunk in AsyncLMStudio(client).generate_stream("go"):
        break
    with anyio.fail_after(5):
        await emulator.wait_for(lambda: emulator.predictions[0].finished)
    assert (emulator.predictions[0].cancelled, emulator.predictions[0].stop_reason) == (True, "userStopped")


async def test_cancelling_the_task_cancels_the_prediction(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    emulator.reply = " ".join(["word"] * 500)
    emulator.token_delay = 0.01
    model = AsyncLMStudio(client)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:

            async def consume() -> None:
                async for _chunk in model.generate_stream("go"):
                    pass

            tg.start_soon(consume)
            await emulator.wait_for(lambda: bool(emulator.predictions) and emulator.predictions[0].fragments > 3)
            tg.cancel_scope.cancel()
        await emulator.wait_for(lambda: emulator.predictions[0].finished)
    assert emulator.predictions[0].cancelled
    assert emulator.predictions[0].fragments < 500


async def test_the_time_limit_cancels_a_hung_prediction(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    emulator.hang_predictions = True
    with anyio.fail_after(5), pytest.raises(GenerationTimeoutError, match="0.2 s time limit"):
        await AsyncLMStudio(client, timeout=0.2).generate("hi")
    with anyio.fail_after(5):
        await emulator.wait_for(lambda: emulator.predictions[0].finished)
    assert emulator.predictions[0].cancelled


async def test_the_client_keeps_working_after_a_cancelled_prediction(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    emulator.hang_predictions = True
    model = AsyncLMStudio(client)
    with pytest.raises(GenerationTimeoutError):
        await model.generate("hi", timeout=0.1)
    emulator.hang_predictions = False
    assert await model.generate("again") == "You said: again"


async def test_an_unentered_client_is_entered_on_first_use_and_closed(emulator: LMStudioEmulator) -> None:
    model = AsyncLMStudio(lmstudio.AsyncClient(emulator.api_host))
    assert await model.generate("hi") == "You said: hi"
    await model.close()
    with anyio.fail_after(5):
        await emulator.wait_for(lambda: emulator.open_sockets == 0)


async def test_a_closed_port_is_reported_as_unreachable_with_the_fix() -> None:
    host = f"127.0.0.1:{closed_port()}"
    with pytest.raises(LMStudioUnavailableError, match=f"not reachable at {host}.*lms server start"):
        await AsyncLMStudio(lmstudio.AsyncClient(host)).generate("hi")


async def test_generate_batch_is_not_implemented(client: lmstudio.AsyncClient) -> None:
    with pytest.raises(NotImplementedError, match="does not support batch inference"):
        await AsyncLMStudio(client).generate_batch(["a", "b"])


async def test_list_models_reports_loaded_and_downloaded(client: lmstudio.AsyncClient) -> None:
    models = {model.key: model for model in await AsyncLMStudio(client).list_models()}
    assert sorted(models) == ["fake-echo-1b", "fake-embed-small", "fake-unloaded-7b", "fake-vision-2b"]
    assert models["fake-embed-small"].type == "embedding" and models["fake-echo-1b"].type == "llm"
    assert (models["fake-vision-2b"].loaded, models["fake-vision-2b"].vision) == (True, True)
    assert (models["fake-unloaded-7b"].loaded, models["fake-unloaded-7b"].context_length) == (False, 32768)


async def test_from_lmstudio_dispatches_on_the_client_type(client: lmstudio.AsyncClient) -> None:
    model = from_lmstudio(client, "fake-echo-1b")
    assert isinstance(model, AsyncLMStudio) and model.model_name == "fake-echo-1b"
    with pytest.raises(ValueError, match="Invalid client type"):
        from_lmstudio("not a client")  # type: ignore[arg-type]


async def test_a_silent_port_is_reported_as_unreachable_quickly() -> None:
    import socket

    with socket.socket() as silent:  # accepts connections (the kernel does) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        host = f"127.0.0.1:{silent.getsockname()[1]}"
        with anyio.fail_after(10), pytest.raises(LMStudioUnavailableError, match="did not answer like LM Studio"):
            await AsyncLMStudio(lmstudio.AsyncClient(host)).generate("hi")


async def test_a_failed_first_connection_is_retried_cleanly_on_the_next_call(emulator: LMStudioEmulator) -> None:
    emulator.reject_auth = True
    model = AsyncLMStudio(lmstudio.AsyncClient(emulator.api_host))
    with pytest.raises(LMStudioUnavailableError, match="refused the connection's authentication"):
        await model.generate("hi")
    emulator.reject_auth = False
    assert await model.generate("again") == "You said: again"
    await model.close()
    with anyio.fail_after(5):
        await emulator.wait_for(lambda: emulator.open_sockets == 0)


async def test_concurrent_first_calls_enter_the_client_once(emulator: LMStudioEmulator) -> None:
    model = AsyncLMStudio(lmstudio.AsyncClient(emulator.api_host))
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for index in range(3):
                tg.start_soon(model.generate, f"call {index}")
    assert emulator.connections["llm"] == 1
    await model.close()


async def test_the_timeout_message_says_where_the_call_was(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    emulator.load_delay = 2.0
    with anyio.fail_after(5), pytest.raises(GenerationTimeoutError, match="LM Studio was still loading the model"):
        await AsyncLMStudio(client, "fake-unloaded-7b").generate("hi", timeout=0.3)
    emulator.load_delay, emulator.prompt_processing_delay = 0.0, 2.0
    with anyio.fail_after(5), pytest.raises(GenerationTimeoutError, match="still processing the prompt"):
        await AsyncLMStudio(client).generate("hi", timeout=0.3)


async def test_images_for_a_model_without_vision_are_refused_by_lm_studio(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    with pytest.raises(GenerationFailedError, match="Model does not support images"):
        await AsyncLMStudio(client, "fake-echo-1b").generate(["What is this?", Image(PNG_B64, "image/png")])
    assert emulator.predictions == []


async def test_something_else_on_the_port_is_named_as_such() -> None:
    async def not_lm_studio(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.receive()
            await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, not_lm_studio)
        with anyio.fail_after(10), pytest.raises(LMStudioUnavailableError, match="something else is listening there"):
            await AsyncLMStudio(lmstudio.AsyncClient(f"127.0.0.1:{port}")).generate("hi")
        tg.cancel_scope.cancel()


async def test_a_typing_typeddict_output_type_works_on_every_supported_python(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    from tests.test_types import StdPet

    text = await AsyncLMStudio(client).generate("Describe a pet", StdPet)
    sent = emulator.predictions[-1].structured
    assert sent is not None and sent["jsonSchema"]["required"] == ["name"]
    jsonschema.validate(json.loads(text), sent["jsonSchema"])
