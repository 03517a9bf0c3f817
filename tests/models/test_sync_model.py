"""`LMStudio` over the synchronous `lmstudio.Client`, against the emulator served from a thread: what only the
sync front end does. What both front ends do is tested once, for both, in tests/models/test_front_ends.py."""

from __future__ import annotations

from collections.abc import Iterator

import lmstudio
import pytest

from mcp_lmstudio import GenerationTimeoutError, LMStudio, from_lmstudio
from mcp_lmstudio.testing import EmulatorThread, LMStudioEmulator


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
