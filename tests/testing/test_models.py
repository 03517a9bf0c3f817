"""The emulator's catalogue, instances and model endpoints, as the real SDK sees them."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator
from pathlib import Path

import lmstudio
import pytest

from mcp_lmstudio.testing import EmulatedModel, LMStudioEmulator, embed, load_models_file

pytestmark = pytest.mark.anyio

LLAMA = EmulatedModel(
    "llama-3.2-1b-instruct",
    "Llama 3.2 1B Instruct",
    publisher="hugging-quants",
    path="hugging-quants/Llama-3.2-1B-Instruct-Q8_0-GGUF/llama-3.2-1b-instruct-q8_0.gguf",
    architecture="llama",
    params_string="1B",
    max_context_length=131072,
)
NOMIC = EmulatedModel(
    "text-embedding-nomic-embed-text-v1.5",
    "Nomic Embed Text v1.5",
    kind="embedding",
    path="nomic-ai/nomic-embed-text-v1.5-GGUF/nomic-embed-text-v1.5.Q4_K_M.gguf",
    max_context_length=2048,
    embedding_length=768,
)
SMOL = EmulatedModel("smollm2-135m-instruct", "SmolLM2 135M", loaded=False, trained_for_tool_use=True)


@pytest.fixture
async def emulator() -> AsyncIterator[LMStudioEmulator]:
    async with LMStudioEmulator(models=[LLAMA, NOMIC, SMOL]) as lms:
        yield lms


async def test_a_path_prefix_resolves_to_the_loaded_instance(client: lmstudio.AsyncClient) -> None:
    model = await client.llm.model("hugging-quants/llama-3.2-1b-instruct")
    assert model.identifier == "llama-3.2-1b-instruct"
    info = await client.llm.get_model_info("hugging-quants/llama-3.2-1b-instruct")
    assert (info.identifier, info.architecture, info.params_string) == ("llama-3.2-1b-instruct", "llama", "1B")
    assert await model.count_tokens("Hello, world!") == len(await model.tokenize("Hello, world!"))


async def test_new_instances_are_numbered_and_a_taken_identifier_is_refused(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    second = await client.llm.load_new_instance("llama-3.2-1b-instruct", config={"contextLength": 2048})
    assert second.identifier == "llama-3.2-1b-instruct:2"
    assert await second.get_context_length() == 2048
    with pytest.raises(lmstudio.LMStudioServerError, match="Model load error.*already exists"):
        await client.llm.load_new_instance("llama-3.2-1b-instruct", "llama-3.2-1b-instruct")
    assert [m.identifier for m in await client.llm.list_loaded()] == [
        "llama-3.2-1b-instruct",
        "llama-3.2-1b-instruct:2",
    ]
    await client.llm.unload("llama-3.2-1b-instruct:2")
    assert list(emulator.instances) == ["llama-3.2-1b-instruct", "text-embedding-nomic-embed-text-v1.5"]


async def test_load_instance_sets_up_several_instances_for_a_test(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    assert await emulator.load_instance("llama-3.2-1b-instruct", context_length=8192) == "llama-3.2-1b-instruct:2"
    assert await emulator.load_instance("llama-3.2-1b-instruct", identifier="fast") == "fast"
    result = await (await client.llm.model("llama-3.2-1b-instruct:2")).respond("hi")
    assert result.load_config.context_length == 8192
    assert emulator.predictions[-1].identifier == "llama-3.2-1b-instruct:2"


async def test_jit_loads_evict_other_jit_models_across_namespaces(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await client.embedding.unload("text-embedding-nomic-embed-text-v1.5")
    embedder = await client.embedding.model("text-embedding-nomic-embed-text-v1.5", ttl=300)
    await client.llm.model("smollm2-135m-instruct", ttl=300)
    with pytest.raises(lmstudio.LMStudioModelNotFoundError):
        await embedder.get_info()
    assert any("Unloading other JIT model" in record.getMessage() for record in caplog.records)
    assert emulator.instances["smollm2-135m-instruct"].ttl_ms == 300_000


async def test_an_idle_instance_unloads_after_its_ttl(emulator: LMStudioEmulator) -> None:
    await emulator.load_instance("smollm2-135m-instruct", ttl=0.05)
    assert "smollm2-135m-instruct" in emulator.loaded
    await emulator.wait_for(lambda: "smollm2-135m-instruct" not in emulator.loaded, timeout=2)


async def test_embeddings_are_deterministic_and_sized_by_the_model(client: lmstudio.AsyncClient) -> None:
    model = await client.embedding.model("nomic-ai/nomic-embed-text-v1.5")
    first, again = await model.embed("the red car"), await model.embed("the red car")
    assert first == again and len(first) == 768
    assert math.isclose(math.fsum(x * x for x in first), 1.0, rel_tol=1e-4)
    assert len(await model.tokenize("Hello, world!")) == await model.count_tokens("Hello, world!") + 2


def test_texts_that_share_words_come_out_close() -> None:
    def cosine(a: str, b: str) -> float:
        return math.fsum(x * y for x, y in zip(embed(a, 768), embed(b, 768), strict=True))

    assert cosine("the red car", "the red bus") > 0.5 > cosine("the red car", "quantum chromodynamics") + 0.3


async def test_the_prompt_template_agrees_with_the_reported_prompt_tokens(client: lmstudio.AsyncClient) -> None:
    model = await client.llm.model("llama-3.2-1b-instruct")
    chat = lmstudio.Chat("Be terse.")
    chat.add_user_message("What is two plus two?")
    formatted = await client.llm._apply_prompt_template("llama-3.2-1b-instruct", chat._get_history_for_prediction())
    result = await model.respond(chat)
    assert result.stats.prompt_tokens_count == await model.count_tokens(formatted)


async def test_a_prompt_over_the_context_length_follows_the_overflow_policy(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    await emulator.load_instance("llama-3.2-1b-instruct", identifier="tiny", context_length=8)
    model = await client.llm.model("tiny")
    long_prompt = " ".join(["word"] * 20)
    with pytest.raises(lmstudio.LMStudioServerError, match="context length of only 8 tokens"):
        await model.respond(long_prompt)
    result = await model.respond(long_prompt, config={"contextOverflowPolicy": "rollingWindow"})
    assert result.stats.stop_reason == "eosFound" and result.stats.prompt_tokens_count == 8
    with pytest.raises(lmstudio.LMStudioServerError, match="context length of only 8 tokens"):
        await model.respond(long_prompt, config={"contextOverflowPolicy": "truncateMiddle"})  # the first message
    chat = lmstudio.Chat()
    chat.add_user_message("hi")
    chat.add_assistant_response(long_prompt)
    chat.add_user_message("and?")
    result = await model.respond(chat, config={"contextOverflowPolicy": "truncateMiddle"})
    assert result.stats.prompt_tokens_count == 8


async def test_repository_search_and_download(client: lmstudio.AsyncClient) -> None:
    found = await client.repository.search_models("smollm2-135m")
    options = await found[0].get_download_options()
    assert await options[0].download() == "smollm2-135m-instruct"


async def test_non_image_uploads_get_their_file_type(client: lmstudio.AsyncClient) -> None:
    handle = await client.files._prepare_file(b"raw data", "notes.txt")
    assert handle.file_type == "text/plain"


async def test_an_unknown_preset_is_preset_not_found(client: lmstudio.AsyncClient) -> None:
    model = await client.llm.model()
    with pytest.raises(lmstudio.LMStudioPresetNotFoundError):
        await model.respond("hi", preset="No such preset")


def test_a_catalogue_file_holds_lm_studio_model_infos(tmp_path: Path) -> None:
    entry = LLAMA.model_info() | {"loaded": True, "quantization": {"name": "Q8_0", "bits": 8}}
    (tmp_path / "models.json").write_text(json.dumps([entry, NOMIC.model_info()]))
    llama, nomic = load_models_file(tmp_path / "models.json")
    assert (llama.loaded, nomic.loaded, nomic.kind, nomic.embedding_length) == (True, False, "embedding", 768)
    assert llama.model_info() == LLAMA.model_info() | {"quantization": {"name": "Q8_0", "bits": 8}}


async def test_concurrent_jit_loads_of_one_model_each_load_a_copy_as_in_lm_studio(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    emulator.load_delay = 0.05
    handles = await asyncio.gather(*(client.llm.model("smollm2-135m-instruct") for _ in range(3)))
    expected = {"smollm2-135m-instruct", "smollm2-135m-instruct:2", "smollm2-135m-instruct:3"}
    assert {handle.identifier for handle in handles} == expected
    assert {i for i in emulator.instances if i.startswith("smollm2")} == expected


async def test_concurrent_jit_loads_can_share_one_load(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    emulator.merge_concurrent_loads = True
    emulator.load_delay = 0.05
    handles = await asyncio.gather(*(client.llm.model("smollm2-135m-instruct") for _ in range(3)))
    assert {handle.identifier for handle in handles} == {"smollm2-135m-instruct"}
    assert [i for i in emulator.instances if i.startswith("smollm2")] == ["smollm2-135m-instruct"]
