"""Listing, loading and unloading models and embedding texts, the same through both front ends."""

from __future__ import annotations

import pytest

from mcp_lmstudio.errors import (
    InstanceNotFoundError,
    InvalidInputError,
    LoadConfigError,
    ModelNotFoundError,
    NoModelLoadedError,
    WrongModelTypeError,
)
from mcp_lmstudio.models import LoadProgress, ModelDescription
from mcp_lmstudio.testing import EmulatedModel, LMStudioEmulator, embed

from .conftest import Front, FrontFactory

pytestmark = pytest.mark.anyio


def defaults(models: list[ModelDescription]) -> list[str]:
    return [model.key for model in models if model.default]


async def test_every_entry_has_its_type_and_the_first_loaded_llm_is_the_default(front: Front) -> None:
    models = await front.call("list_models")
    assert [(model.key, model.type) for model in models] == [
        ("fake-echo-1b", "llm"),
        ("fake-vision-2b", "llm"),
        ("fake-embed-small", "embedding"),
        ("fake-unloaded-7b", "llm"),
    ]
    assert defaults(models) == ["fake-echo-1b"]


@pytest.mark.parametrize(
    ("model_name", "expected"),
    [
        ("fake-vision-2b", ["fake-vision-2b"]),
        ("fake-unloaded-7b", ["fake-unloaded-7b"]),  # not loaded: a call loads it just in time
        ("emulator/fake-unloaded-7b", ["fake-unloaded-7b"]),  # a path prefix names it too
        ("no-such-model", []),  # such a call fails, naming it: nothing would be used
        ("fake-embed-small", []),  # an embedding model cannot generate
    ],
)
async def test_the_default_flag_follows_the_configured_model(
    make_front: FrontFactory, model_name: str, expected: list[str]
) -> None:
    assert defaults(await make_front(model_name).call("list_models")) == expected


async def test_a_configured_model_with_an_instance_under_another_name_marks_that_instance(
    emulator: LMStudioEmulator, make_front: FrontFactory
) -> None:
    await emulator.load_instance("fake-unloaded-7b", "big-one")
    assert defaults(await make_front("fake-unloaded-7b").call("list_models")) == ["big-one"]


async def test_nothing_is_the_default_when_nothing_is_loaded_or_configured(
    emulator: LMStudioEmulator, front: Front
) -> None:
    emulator.unload_all()
    models = await front.call("list_models")
    assert defaults(models) == [] and {model.loaded for model in models} == {False}


async def test_load_model_loads_a_new_instance_with_its_configuration(emulator: LMStudioEmulator, front: Front) -> None:
    emulator.load_delay = 0.2
    events = await front.load_events(
        "fake-unloaded-7b", identifier="big", context_length=8192, ttl=600, gpu_offload=0.5
    )
    assert [event for event in events if isinstance(event, LoadProgress)][-1] == LoadProgress("fake-unloaded-7b", 1.0)
    assert events[-1] == ModelDescription(
        key="big",
        model_key="fake-unloaded-7b",
        display_name="Fake Unloaded 7B",
        loaded=True,
        context_length=8192,
        vision=False,
    )
    instance = emulator.instances["big"]
    assert (instance.context_length, instance.ttl_ms) == (8192, 600_000)
    assert instance.load_config["llm.load.llama.acceleration.offloadRatio"] == 0.5


async def test_a_second_instance_of_a_loaded_model_gets_lm_studios_next_name(front: Front) -> None:
    model = await front.call("load_model", "fake-echo-1b", gpu_offload="off")
    assert (model.key, model.model_key, model.loaded) == ("fake-echo-1b:2", "fake-echo-1b", True)


async def test_an_embedding_model_loads_in_its_own_namespace(emulator: LMStudioEmulator, front: Front) -> None:
    emulator.unload_all()
    model = await front.call("load_model", "fake-embed-small", identifier="vectors")
    assert (model.key, model.type) == ("vectors", "embedding")
    assert emulator.instances["vectors"].kind == "embedding"


async def test_a_context_over_the_models_maximum_is_refused_before_loading(
    emulator: LMStudioEmulator, front: Front
) -> None:
    with pytest.raises(LoadConfigError) as caught:
        await front.call("load_model", "fake-unloaded-7b", context_length=40_000)
    error = caught.value
    assert (error.model, error.setting, error.value, error.limit, error.said) == (
        "fake-unloaded-7b",
        "context_length",
        40_000,
        32_768,
        None,
    )
    assert "40,000" in str(error) and "32,768" in str(error)
    # Refused by the check, not by LM Studio: this one lists a smaller maximum than the emulator enforces.
    strict = EmulatedModel(
        "strict-3b", "Strict 3B", loaded=False, max_context_length=8192, extra={"maxContextLength": 2048}
    )
    emulator.models[strict.key] = strict
    with pytest.raises(LoadConfigError, match="at most 2,048 tokens"):
        await front.call("load_model", "strict-3b", context_length=4096)
    assert "strict-3b" not in emulator.instances


async def test_lm_studios_own_refusal_of_a_context_names_the_value_and_the_limit(
    emulator: LMStudioEmulator, front: Front
) -> None:
    # Its listing does not give the maximum, so only LM Studio can refuse the context length.
    mystery = EmulatedModel(
        "mystery-3b", "Mystery 3B", loaded=False, max_context_length=2048, extra={"maxContextLength": None}
    )
    emulator.models[mystery.key] = mystery
    with pytest.raises(LoadConfigError) as caught:
        await front.call("load_model", "mystery-3b", context_length=4096)
    error = caught.value
    assert (error.model, error.value, error.limit) == ("mystery-3b", 4096, 2048)
    assert error.said is not None and "at most 2048 tokens" in error.said
    assert "mystery-3b" not in emulator.instances


async def test_an_unknown_model_or_a_taken_identifier_is_refused_before_loading(front: Front) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        await front.call("load_model", "no-such-model")
    assert caught.value.loading and caught.value.available == [
        "fake-echo-1b",
        "fake-embed-small",
        "fake-unloaded-7b",
        "fake-vision-2b",
    ]
    with pytest.raises(InvalidInputError, match="'fake-vision-2b' is already loaded"):
        await front.call("load_model", "fake-unloaded-7b", identifier="fake-vision-2b")
    with pytest.raises(InvalidInputError, match="`gpu_offload` must be 'max', 'off' or a ratio from 0 to 1, not 2"):
        await front.call("load_model", "fake-unloaded-7b", gpu_offload=2)


async def test_unload_model_unloads_that_instance_and_refuses_an_unknown_one(
    emulator: LMStudioEmulator, front: Front
) -> None:
    unloaded = await front.call("unload_model", "fake-embed-small")
    assert (unloaded.key, unloaded.type) == ("fake-embed-small", "embedding")
    assert "fake-embed-small" not in emulator.instances
    with pytest.raises(InstanceNotFoundError) as caught:
        await front.call("unload_model", "fake-echo")  # LM Studio would match a prefix; an unload must be exact
    assert caught.value.loaded == ["fake-echo-1b", "fake-vision-2b"]
    assert "fake-echo-1b" in emulator.instances


async def test_embed_returns_one_vector_per_text_in_their_order(front: Front) -> None:
    texts = ["the red car", "a blue bus", "", "the red car"]
    result = await front.call("embed", texts)
    assert (result.model, result.dimensions) == ("fake-embed-small", 768)
    assert result.vectors == [embed(text, 768) for text in texts]
    single = await front.call("embed", "one text")
    assert single.vectors == [embed("one text", 768)]


async def test_embed_refuses_an_llm_and_generation_refuses_an_embedding_model(front: Front) -> None:
    with pytest.raises(WrongModelTypeError) as to_embed:
        await front.call("embed", "x", model="fake-echo-1b")
    assert (to_embed.value.model, to_embed.value.model_type) == ("fake-echo-1b", "llm")
    with pytest.raises(WrongModelTypeError) as to_generate:
        await front.call("generate", "x", model="fake-embed-small")
    assert (to_generate.value.model, to_generate.value.model_type) == ("fake-embed-small", "embedding")


async def test_embed_without_a_loaded_embedding_model_says_so(emulator: LMStudioEmulator, front: Front) -> None:
    emulator.unload("fake-embed-small")
    with pytest.raises(NoModelLoadedError) as caught:
        await front.call("embed", "x")
    assert caught.value.kind == "embedding"
    result = await front.call("embed", "x", model="fake-embed-small")  # named: loaded just in time
    assert result.model == "fake-embed-small"
