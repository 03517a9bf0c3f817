"""The emulator behaves as LM Studio does where lmstudio-js's own heavy tests recorded it, through the real SDK."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx_ws
import lmstudio
import pytest

from mcp_lmstudio.testing import DEFAULT_MODELS, EmulatedModel, LMStudioEmulator, ToolCall, tool_round_trip

pytestmark = pytest.mark.anyio


async def _list_loaded(api_host: str, namespace: str = "llm") -> dict[str, dict[str, Any]]:
    """`listLoaded` off the wire (the SDK's instance info leaves out `ttlMs`), by identifier."""
    async with httpx_ws.aconnect_ws(f"http://{api_host}/{namespace}") as ws:
        await ws.send_json({"authVersion": 1, "clientIdentifier": str(uuid.uuid4()), "clientPasskey": "p"})
        assert (await ws.receive_json())["success"]
        await ws.send_json({"type": "rpcCall", "endpoint": "listLoaded", "callId": 1})
        result = json.loads(await ws.receive_text())["result"]
        return {info["identifier"]: info for info in result}


async def test_a_jit_load_gets_sixty_minutes_ttl_and_a_4096_context(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    model = await client.llm.model("fake-unloaded-7b", ttl=None)  # no TTL asked: LM Studio's JIT default
    assert (await model.get_info()).max_context_length == 32768
    assert await model.get_context_length() == 4096
    assert (await _list_loaded(emulator.api_host))["fake-unloaded-7b"]["ttlMs"] == 3_600_000
    await client.llm.unload("fake-unloaded-7b")
    await client.llm.model("fake-unloaded-7b", ttl=90)
    assert (await _list_loaded(emulator.api_host))["fake-unloaded-7b"]["ttlMs"] == 90_000


async def test_a_load_without_context_length_gets_4096_or_the_smaller_maximum(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    big = await client.llm.load_new_instance("fake-unloaded-7b")
    assert await big.get_context_length() == 4096
    assert await (await client.embedding.model("fake-embed-small")).get_context_length() == 512  # max 512
    assert emulator.instances["fake-vision-2b"].context_length == 4096  # loaded at start, max 8192
    assert await emulator.load_instance("fake-vision-2b", context_length=8192) == "fake-vision-2b:2"
    own_default = EmulatedModel("long-1b", "Long 1B", max_context_length=65536, default_context_length=16384)
    async with LMStudioEmulator(models=[own_default]) as lms:
        async with lmstudio.AsyncClient(lms.api_host) as sdk:
            assert await (await sdk.llm.model("long-1b")).get_context_length() == 16384


async def test_load_new_instance_applies_identifier_config_ttl_and_reports_progress(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    progress: list[float] = []
    model = await client.llm.load_new_instance(
        "fake-unloaded-7b",
        "mine",
        config={"contextLength": 8192, "gpu": {"ratio": 0.5}},
        ttl=120,
        on_load_progress=progress.append,
    )
    assert model.identifier == "mine"
    assert progress[-1] == 1.0 and progress == sorted(progress)
    assert await model.get_context_length() == 8192
    load_config = await model.get_load_config()
    assert (load_config.context_length, load_config.gpu and load_config.gpu.ratio) == (8192, 0.5)
    info = (await _list_loaded(emulator.api_host))["mine"]
    assert (info["ttlMs"], info["contextLength"], info["modelKey"]) == (120_000, 8192, "fake-unloaded-7b")
    assert (await model.respond("hi")).content == "You said: hi"
    await client.llm.unload("mine")
    assert "mine" not in emulator.loaded
    with pytest.raises(lmstudio.LMStudioModelNotFoundError):
        await model.get_info()


async def test_a_context_length_above_the_maximum_fails_to_load(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    with pytest.raises(lmstudio.LMStudioServerError, match=r"context length of 65536 tokens.*at most 32768"):
        await client.llm.load_new_instance("fake-unloaded-7b", config={"contextLength": 65536})
    with pytest.raises(lmstudio.LMStudioServerError, match="context length of 40960 tokens"):
        await client.llm.model("fake-unloaded-7b", config={"contextLength": 40960})
    assert "fake-unloaded-7b" not in emulator.loaded
    with pytest.raises(ValueError, match="at most 4096"):
        await emulator.load_instance("fake-echo-1b", context_length=4097)
    with pytest.raises(lmstudio.LMStudioServerError, match="at most 512"):
        await client.embedding.load_new_instance("fake-embed-small", config={"contextLength": 1024})


async def test_embedding_models_carry_no_params_string_and_embed_lists(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    embedder = await client.embedding.model("fake-embed-small")
    assert (await embedder.get_info()).params_string is None
    assert "paramsString" not in (await _list_loaded(emulator.api_host, "embedding"))["fake-embed-small"]
    assert (await (await client.llm.model("fake-echo-1b")).get_info()).params_string == "1B"
    vectors = await embedder.embed(["the red car", "a blue boat"])
    assert [len(vector) for vector in vectors] == [768, 768] and vectors[0] != vectors[1]
    assert vectors[0] == await embedder.embed("the red car")
    second = await client.embedding.load_new_instance("fake-embed-small", "embed-2", ttl=60)
    assert await second.embed("x") == await embedder.embed("x")
    await client.embedding.unload("embed-2")


async def test_an_unknown_draft_model_fails_as_in_lm_studio(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    llm = await client.llm.model("fake-echo-1b")
    with pytest.raises(lmstudio.LMStudioServerError, match='Cannot find model "invalid-model"'):
        await llm.complete("1 + 1 = 2; 2 + 2 = ", config={"draftModel": "invalid-model"})
    with pytest.raises(lmstudio.LMStudioServerError, match='Cannot find model "fake-embed-small"'):
        await llm.respond("hi", config={"draftModel": "fake-embed-small"})  # not an LLM


async def test_a_draft_model_adds_lm_studios_draft_statistics(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    emulator.reply = "one two three four five"
    llm = await client.llm.model("fake-echo-1b")
    fragments: list[lmstudio.LlmPredictionFragment] = []
    result = await llm.respond("hi", config={"draftModel": "fake-unloaded-7b"}, on_prediction_fragment=fragments.append)
    stats = result.stats
    assert stats.used_draft_model_key == "fake-unloaded-7b"
    assert (stats.accepted_draft_tokens_count, stats.rejected_draft_tokens_count) == (4, 2)
    assert stats.total_draft_tokens_count == 6 and stats.ignored_draft_tokens_count == 0
    assert [fragment.contains_drafted for fragment in fragments] == [False, True, True, True, True]
    plain = await llm.respond("hi")
    assert plain.stats.used_draft_model_key is None and plain.stats.total_draft_tokens_count is None


async def test_a_round_that_ends_in_tool_calls_reports_eos_found(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    emulator.reply = tool_round_trip(ToolCall("add", {"a": 1, "b": 3}), then="4")
    rounds: list[lmstudio.PredictionRoundResult] = []

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    await (await client.llm.model("fake-echo-1b")).act("1 + 3?", [add], on_prediction_completed=rounds.append)
    assert [r.stats.stop_reason for r in rounds] == ["eosFound", "eosFound"]
    assert emulator.predictions[0].tool_calls == [ToolCall("add", {"a": 1, "b": 3})]


async def test_default_models_load_as_lm_studio_loads_them() -> None:
    async with LMStudioEmulator(models=DEFAULT_MODELS) as lms:
        lengths = {identifier: instance.context_length for identifier, instance in lms.instances.items()}
    assert lengths == {"fake-echo-1b": 4096, "fake-vision-2b": 4096, "fake-embed-small": 512}


async def test_a_prompt_that_fits_the_maximum_but_not_a_default_jit_load_is_refused(
    client: lmstudio.AsyncClient,
) -> None:
    model = await client.llm.model("fake-unloaded-7b")  # 32768 at most, loaded at 4096
    with pytest.raises(lmstudio.LMStudioServerError, match="context length of only 4096 tokens"):
        await model.respond("word " * 5000, config={"contextOverflowPolicy": "stopAtLimit"})
