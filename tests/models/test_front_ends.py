"""One set of cases for both front ends (`front` is parametrised: "async" and "sync", see conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import lmstudio
import pytest

from mcp_lmstudio import GenerationTimeoutError, Image, LMStudio, ModelNotFoundError
from mcp_lmstudio.models import GenerationResult, LoadProgress, PromptProgress, TextFragment
from mcp_lmstudio.models.preflight import ContextOverflowError
from mcp_lmstudio.testing import EmulatorThread, LMStudioEmulator, Reply
from tests.support import PNG_B64

from .conftest import Front, FrontFactory

pytestmark = pytest.mark.anyio


async def test_the_answer_comes_back_with_reasoning_kept_apart(emulator: LMStudioEmulator, front: Front) -> None:
    emulator.reply = Reply("Four.", reasoning="2+2=4")
    result = await front.call("generate_result", "2+2?")
    assert (result.text, result.reasoning, result.stop_reason, result.model) == (
        "Four.",
        "2+2=4",
        "eosFound",
        "fake-echo-1b",
    )
    assert result.stats.context_length == 4096 and result.stats.prompt_tokens > 0


async def test_list_models_lists_loaded_instances_then_downloaded_models(front: Front) -> None:
    models = {model.key: model for model in await front.call("list_models")}
    assert list(models) == ["fake-echo-1b", "fake-vision-2b", "fake-embed-small", "fake-unloaded-7b"]
    assert (models["fake-vision-2b"].loaded, models["fake-vision-2b"].vision) == (True, True)
    assert (models["fake-unloaded-7b"].loaded, models["fake-unloaded-7b"].context_length) == (False, 32768)


async def test_a_model_loaded_just_in_time_reports_its_progress(
    emulator: LMStudioEmulator, make_front: FrontFactory
) -> None:
    emulator.load_delay = 0.2
    events = await make_front("fake-unloaded-7b").events("hi")
    progress = [event for event in events if isinstance(event, LoadProgress)]
    assert progress and progress[-1] == LoadProgress("fake-unloaded-7b", 1.0)
    assert isinstance(events[-1], GenerationResult) and events[-1].text == "You said: hi"
    assert "fake-unloaded-7b" in emulator.loaded


async def test_prompt_progress_comes_before_the_text(emulator: LMStudioEmulator, front: Front) -> None:
    emulator.prompt_processing_delay = 0.1
    events = await front.events("hi")
    kinds = [type(event) for event in events]
    assert PromptProgress in kinds and kinds.index(PromptProgress) < kinds.index(TextFragment)


async def test_the_context_pre_flight_refuses_a_prompt_that_cannot_fit(
    emulator: LMStudioEmulator, make_front: FrontFactory
) -> None:
    tiny = await emulator.load_instance("fake-echo-1b", identifier="tiny", context_length=64)
    front = make_front(tiny)
    with pytest.raises(ContextOverflowError) as caught:
        await front.call("generate", " ".join(["word"] * 100), config={"contextOverflowPolicy": "stopAtLimit"})
    error = caught.value
    assert (error.model, error.context_length, error.reserved) == ("tiny", 64, 1)
    assert error.prompt_tokens is not None and error.prompt_tokens > 64
    assert emulator.predictions == []


async def test_an_unknown_model_is_refused_before_any_load(emulator: LMStudioEmulator, front: Front) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        await front.call("generate", "hi", model="qwen-typo")
    assert caught.value.model == "qwen-typo" and "fake-unloaded-7b" in caught.value.available
    assert caught.value.setting is None and emulator.predictions == []


async def test_a_model_unloaded_after_first_use_is_resolved_again(
    emulator: LMStudioEmulator, make_front: FrontFactory
) -> None:
    front = make_front("fake-vision-2b")
    await front.call("generate", "one")
    emulator.unload("fake-vision-2b")
    assert await front.call("generate", "two") == "You said: two"


async def test_the_time_limit_keeps_the_text_generated_so_far(emulator: LMStudioEmulator, front: Front) -> None:
    emulator.reply, emulator.token_delay = " ".join(f"w{index}" for index in range(400)), 0.01
    with anyio.fail_after(10), pytest.raises(GenerationTimeoutError) as caught:
        await front.call("generate_result", "go", timeout=0.5)
    error = caught.value
    assert (error.limit_s, error.phase) == (0.5, "generating")
    partial = error.partial
    assert isinstance(partial, GenerationResult) and partial.stop_reason == "timeout"
    assert partial.text and emulator.reply.startswith(partial.text)  # type: ignore[union-attr]
    assert partial.stats.predicted_tokens >= len(partial.text.split())
    with anyio.fail_after(5):
        await emulator.wait_for(lambda: emulator.predictions[0].finished)
    assert emulator.predictions[0].cancelled


async def test_text_interval_merges_the_text_that_comes_within_it(emulator: LMStudioEmulator, front: Front) -> None:
    emulator.reply, emulator.token_delay = " ".join(f"w{index}" for index in range(40)), 0.01

    async def text_events(interval: float) -> list[TextFragment]:
        events = await front.events("go", text_interval=interval)
        return [event for event in events if isinstance(event, TextFragment)]

    each = await text_events(0.0)
    merged = await text_events(60.0)  # longer than the whole answer: the first at once, the rest at the end
    assert len(each) > 10 and len(merged) == 2
    assert merged[0] == each[0] and "".join(event.text for event in merged) == emulator.reply
    assert merged[-1].tokens == each[-1].tokens == 40


async def test_the_time_limit_keeps_text_held_back_by_text_interval(emulator: LMStudioEmulator, front: Front) -> None:
    emulator.reply, emulator.token_delay = " ".join(f"w{index}" for index in range(400)), 0.01
    with anyio.fail_after(10), pytest.raises(GenerationTimeoutError) as caught:
        await front.events("go", timeout=0.5, text_interval=60.0)
    partial = caught.value.partial
    assert isinstance(partial, GenerationResult) and emulator.reply.startswith(partial.text)
    assert len(partial.text.split()) > 5  # more than the first fragment, which alone went out before the limit


async def test_a_time_limit_before_any_text_has_no_partial(emulator: LMStudioEmulator, front: Front) -> None:
    emulator.hang_predictions = True
    with anyio.fail_after(10), pytest.raises(GenerationTimeoutError) as caught:
        await front.call("generate", "hi", timeout=0.3)
    assert caught.value.partial is None and caught.value.phase in ("starting", "prompt")


async def _list_loaded(client: lmstudio.AsyncClient | lmstudio.Client) -> list[object]:
    if isinstance(client, lmstudio.Client):
        return list(await anyio.to_thread.run_sync(client.llm.list_loaded))
    return list(await client.llm.list_loaded())


async def test_close_leaves_a_client_that_was_open_when_handed_over(make_front: FrontFactory) -> None:
    client = make_front().layer.client
    await _list_loaded(client)  # opened by its owner (the async fixture entered it; this opens the sync one)
    front = make_front()
    await front.call("generate", "one")
    await front.call("close")
    assert await _list_loaded(client)  # the owner's client still answers


def test_a_sync_client_the_model_layer_opened_is_closed_by_close(emulator_thread_host: str) -> None:
    from mcp_lmstudio.models._sdk import has_open_sessions

    client = lmstudio.Client(emulator_thread_host)
    model = LMStudio(client)
    assert model.generate("hi") == "You said: hi"
    assert has_open_sessions(client)
    model.close()
    assert not has_open_sessions(client)


@pytest.fixture
def emulator_thread_host() -> Iterator[str]:
    with EmulatorThread() as lms:
        yield lms.api_host


async def test_images_are_uploaded_once_with_the_same_client(
    emulator: LMStudioEmulator, make_front: FrontFactory
) -> None:
    image = Image(PNG_B64, "image/png")
    answer = await make_front("fake-vision-2b").call("generate", ["Look", image, image])
    assert answer == "I see 2 images. You said: Look"
    assert len(emulator.uploads) == 1


async def test_the_time_limit_counts_a_slow_model_load(emulator: LMStudioEmulator, make_front: FrontFactory) -> None:
    emulator.load_delay = 2.0
    with anyio.fail_after(10), pytest.raises(GenerationTimeoutError) as caught:
        await make_front("fake-unloaded-7b").call("generate", "hi", timeout=0.3)
    assert caught.value.phase == "loading" and "LM Studio was still loading the model" in str(caught.value)
    assert emulator.predictions == []
