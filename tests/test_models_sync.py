"""`LMStudio` over the synchronous `lmstudio.Client`, against the emulator served from a thread."""

from __future__ import annotations

from collections.abc import Iterator

import lmstudio
import pytest

from mcp_lmstudio import GenerationTimeoutError, Image, LMStudio, ModelNotFoundError, from_lmstudio
from mcp_lmstudio.testing import EmulatorThread, LMStudioEmulator, Reply
from tests.support import PNG_B64


@pytest.fixture
def served() -> Iterator[EmulatorThread]:
    with EmulatorThread() as lms:
        yield lms


@pytest.fixture
def sync_client(served: EmulatorThread) -> Iterator[lmstudio.Client]:
    with lmstudio.Client(served.api_host) as sdk_client:
        yield sdk_client


def emulator_of(served: EmulatorThread) -> LMStudioEmulator:
    assert served.emulator is not None
    return served.emulator


def wait_until_finished(served: EmulatorThread) -> None:
    served.call(lambda emu: emu.wait_for(lambda: all(record.finished for record in emu.predictions)))


def test_generate_returns_the_answer_without_reasoning(served: EmulatorThread, sync_client: lmstudio.Client) -> None:
    emulator_of(served).reply = Reply("Four.", reasoning="2+2=4")
    result = LMStudio(sync_client).generate_result("2+2?")
    assert (result.text, result.reasoning) == ("Four.", "2+2=4")


def test_images_are_uploaded_with_the_same_client(served: EmulatorThread, sync_client: lmstudio.Client) -> None:
    answer = LMStudio(sync_client, "fake-vision-2b").generate(["Look", Image(PNG_B64, "image/png")])
    assert answer == "I see 1 image. You said: Look"
    assert len(emulator_of(served).uploads) == 1


def test_leaving_a_stream_early_cancels_the_prediction(served: EmulatorThread, sync_client: lmstudio.Client) -> None:
    emulator = emulator_of(served)
    emulator.reply = " ".join(["word"] * 300)
    emulator.token_delay = 0.01
    for _chunk in LMStudio(sync_client).generate_stream("go"):
        break
    wait_until_finished(served)
    assert (emulator.predictions[0].cancelled, emulator.predictions[0].stop_reason) == (True, "userStopped")


def test_the_time_limit_cancels_a_hung_prediction(served: EmulatorThread, sync_client: lmstudio.Client) -> None:
    emulator = emulator_of(served)
    emulator.hang_predictions = True
    with pytest.raises(GenerationTimeoutError, match="time limit"):
        LMStudio(sync_client, timeout=0.2).generate("hi")
    wait_until_finished(served)
    assert emulator.predictions[0].cancelled


def test_an_unknown_model_lists_the_available_keys(served: EmulatorThread, sync_client: lmstudio.Client) -> None:
    with pytest.raises(ModelNotFoundError, match="fake-echo-1b"):
        LMStudio(sync_client).generate("hi", model="nope")
    assert emulator_of(served).predictions == []


def test_from_lmstudio_returns_the_sync_model(sync_client: lmstudio.Client) -> None:
    model = from_lmstudio(sync_client)
    assert isinstance(model, LMStudio)
    assert model.generate("ping") == "You said: ping"
    with pytest.raises(NotImplementedError):
        model.generate_batch(["a"])


def test_a_short_time_limit_still_cancels_the_prediction(served: EmulatorThread, sync_client: lmstudio.Client) -> None:
    emulator = emulator_of(served)
    model = LMStudio(sync_client)
    model.generate("resolve the model first", timeout=5)
    emulator.predictions.clear()
    emulator.hang_predictions = True
    with pytest.raises(GenerationTimeoutError, match="the prediction was cancelled"):
        model.generate("hi", timeout=0.01)
    wait_until_finished(served)
    assert emulator.predictions[0].cancelled


def test_the_time_limit_counts_a_slow_model_load(served: EmulatorThread, sync_client: lmstudio.Client) -> None:
    emulator = emulator_of(served)
    emulator.load_delay = 0.5
    with pytest.raises(GenerationTimeoutError, match="LM Studio was still loading the model"):
        LMStudio(sync_client, "fake-unloaded-7b").generate("hi", timeout=0.2)
    assert emulator.predictions == []


def test_a_model_unloaded_after_first_use_is_resolved_again(
    served: EmulatorThread, sync_client: lmstudio.Client
) -> None:
    model = LMStudio(sync_client, "fake-vision-2b")
    model.generate("one")
    emulator_of(served).unload("fake-vision-2b")
    assert model.generate("two") == "You said: two"
