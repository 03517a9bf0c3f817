"""list_models, load_model, unload_model and embed through the real `mcp` client against the emulator."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest
from mcp import Client

from mcp_lmstudio.server.app import create_server
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import EmulatedModel, LMStudioEmulator, embed
from tests.support import text_of

pytestmark = pytest.mark.anyio


class Progress:
    """The progress notifications of one call; `first` is set when one came."""

    def __init__(self) -> None:
        self.messages: list[str | None] = []
        self.first = anyio.Event()

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.messages.append(message)
        self.first.set()


def server(emulator: LMStudioEmulator, **settings: Any) -> Any:
    return create_server(Settings(host=emulator.api_host, **{"timeout": 10, **settings}))


async def listed(client: Client) -> list[dict[str, Any]]:
    result = await client.call_tool("list_models", {})
    assert not result.is_error and result.structured_content is not None
    models: list[dict[str, Any]] = result.structured_content["models"]
    return models


async def logged(caplog: pytest.LogCaptureFixture, text: str) -> None:
    """Wait until a log line holds `text` (the server logs a given-up load when the SDK has read its end)."""
    with anyio.fail_after(5):
        while text not in caplog.text:  # noqa: ASYNC110 (a log record has no event to wait on)
            await anyio.sleep(0.01)


def default_keys(models: list[dict[str, Any]]) -> list[str]:
    return [model["key"] for model in models if model.get("default")]


async def test_the_model_tools_are_annotated_for_what_they_change(mcp_client: Client) -> None:
    tools = {tool.name: tool.annotations for tool in (await mcp_client.list_tools()).tools}
    hints = {
        name: (a.read_only_hint, a.destructive_hint, a.idempotent_hint, a.open_world_hint)
        for name, a in tools.items()
        if a is not None and name in ("list_models", "load_model", "unload_model", "embed")
    }
    assert hints == {
        "list_models": (True, False, True, False),
        "load_model": (False, False, False, False),
        "unload_model": (False, True, False, False),  # another application may be using the instance
        "embed": (True, False, True, False),
    }


async def test_every_entry_has_a_type_and_the_configured_model_is_the_default(emulator: LMStudioEmulator) -> None:
    async with Client(server(emulator, model="fake-unloaded-7b")) as client:
        models = await listed(client)
    assert {model["key"]: model["type"] for model in models} == {
        "fake-echo-1b": "llm",
        "fake-vision-2b": "llm",
        "fake-embed-small": "embedding",
        "fake-unloaded-7b": "llm",
    }
    assert default_keys(models) == ["fake-unloaded-7b"]  # configured, so used although not loaded yet


async def test_without_a_configured_model_the_first_loaded_llm_is_the_default(emulator: LMStudioEmulator) -> None:
    async with Client(server(emulator)) as client:
        assert default_keys(await listed(client)) == ["fake-echo-1b"]
        emulator.unload("fake-echo-1b")
        assert default_keys(await listed(client)) == ["fake-vision-2b"]
        emulator.unload_all()
        assert default_keys(await listed(client)) == []  # nothing loaded and nothing configured


async def test_a_configured_model_that_does_not_resolve_marks_nothing(emulator: LMStudioEmulator) -> None:
    async with Client(server(emulator, model="no-such-model")) as client:
        assert default_keys(await listed(client)) == []


async def test_load_model_reports_progress_and_returns_the_new_instance(emulator: LMStudioEmulator) -> None:
    emulator.load_delay = 0.2
    progress = Progress()
    arguments = {"model": "fake-unloaded-7b", "identifier": "big", "context_length": "8192", "ttl": 600}
    async with Client(server(emulator)) as client:
        result = await client.call_tool("load_model", arguments | {"gpu_offload": "0.5"}, progress_callback=progress)
        models = await listed(client)
    assert not result.is_error, text_of(result)
    assert result.structured_content == {
        "key": "big",
        "model_key": "fake-unloaded-7b",
        "display_name": "Fake Unloaded 7B",
        "loaded": True,
        "context_length": 8192,
        "vision": False,
        "type": "llm",
    }
    assert result.structured_content in models  # as list_models shows it
    assert "Loading model fake-unloaded-7b: 100%" in progress.messages
    assert progress.messages[0] == "Loading model fake-unloaded-7b: 25%"
    instance = emulator.instances["big"]
    assert (instance.context_length, instance.ttl_ms) == (8192, 600_000)
    assert instance.load_config["llm.load.llama.acceleration.offloadRatio"] == 0.5


async def test_a_context_over_the_models_maximum_names_the_value_and_the_limit(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    result = await mcp_client.call_tool("load_model", {"model": "fake-unloaded-7b", "context_length": 65536})
    assert result.is_error
    assert text_of(result) == (
        "Cannot load 'fake-unloaded-7b' with context_length 65,536: the model supports at most 32,768 tokens. "
        "Pass a context_length of at most 32,768, or leave it out for LM Studio's default."
    )
    assert "fake-unloaded-7b" not in emulator.instances


async def test_lm_studios_own_refusal_of_a_context_is_a_tool_error_with_both_numbers(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    # Its listing does not give the maximum, so nothing is refused before LM Studio refuses.
    emulator.models["quiet-3b"] = EmulatedModel(
        "quiet-3b", "Quiet 3B", loaded=False, max_context_length=2048, extra={"maxContextLength": None}
    )
    result = await mcp_client.call_tool("load_model", {"model": "quiet-3b", "context_length": 4096})
    assert result.is_error
    assert text_of(result).startswith(
        "Cannot load 'quiet-3b' with context_length 4,096: the model supports at most 2,048 tokens. LM Studio said: "
    )


async def test_an_unknown_model_to_load_lists_the_downloaded_ones(mcp_client: Client) -> None:
    result = await mcp_client.call_tool("load_model", {"model": "qwen-typo"})
    assert result.is_error
    assert text_of(result) == (
        "Model 'qwen-typo' is not downloaded in LM Studio. Downloaded model keys: 'fake-echo-1b', "
        "'fake-embed-small', 'fake-unloaded-7b', 'fake-vision-2b'. Pass one of these (or its path) as `model`."
    )


async def test_a_cancelled_load_is_finished_by_lm_studio_and_unload_model_removes_it(
    emulator: LMStudioEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """The lmstudio SDK sends LM Studio no cancel for a load (it only drops its channel), so the load goes on."""
    emulator.load_delay = 0.8
    progress = Progress()
    async with Client(server(emulator)) as client:
        with caplog.at_level(logging.INFO, logger="mcp_lmstudio.models.async_model"):
            with anyio.move_on_after(5) as scope:
                async with anyio.create_task_group() as group:
                    arguments = {"model": "fake-unloaded-7b", "identifier": "given-up"}
                    group.start_soon(lambda: client.call_tool("load_model", arguments, progress_callback=progress))
                    await progress.first.wait()
                    group.cancel_scope.cancel()  # the MCP client sends notifications/cancelled
            assert not scope.cancelled_caught
            assert "given-up" not in emulator.instances  # the call ended before the load did
            await emulator.wait_for(lambda: "given-up" in emulator.instances)
            await logged(caplog, "after its load_model call was given up")
        assert "given-up" in [model["key"] for model in await listed(client)]
        unloaded = await client.call_tool("unload_model", {"identifier": "given-up"})
    assert unloaded.structured_content == {"identifier": "given-up", "model_key": "fake-unloaded-7b", "type": "llm"}
    assert "given-up" not in emulator.instances


async def test_a_load_past_the_time_limit_says_lm_studio_finishes_it(emulator: LMStudioEmulator) -> None:
    emulator.load_delay = 1.0
    async with Client(server(emulator, timeout=0.3)) as client:
        result = await client.call_tool("load_model", {"model": "fake-unloaded-7b"})
        await emulator.wait_for(lambda: "fake-unloaded-7b" in emulator.instances)
        assert "fake-unloaded-7b" in [model["key"] for model in await listed(client) if model["loaded"]]
    assert result.is_error
    assert text_of(result) == (
        "The call did not finish within the 0.3 s time limit (LM Studio was still loading the model; it finishes "
        "the load anyway (nothing can stop a load from here), so the new instance shows up in list_models once "
        "loaded, and unload_model removes it). Raise the limit (--timeout / MCP_LMSTUDIO_TIMEOUT)."
    )


async def test_unload_model_unloads_the_instance(emulator: LMStudioEmulator, mcp_client: Client) -> None:
    result = await mcp_client.call_tool("unload_model", {"identifier": "fake-vision-2b"})
    assert (result.is_error, text_of(result)) == (False, "Unloaded 'fake-vision-2b' (an instance of fake-vision-2b).")
    assert "fake-vision-2b" not in emulator.instances


async def test_unloading_an_unknown_identifier_lists_the_loaded_ones(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    result = await mcp_client.call_tool("unload_model", {"identifier": "fake-echo"})
    assert result.is_error
    assert text_of(result) == (
        "No loaded model instance has the identifier 'fake-echo'. Loaded instances: 'fake-echo-1b', "
        "'fake-vision-2b', 'fake-embed-small'. Pass one of these exactly as `identifier` (list_models shows them "
        "as `key`, with `loaded` true)."
    )
    assert set(emulator.instances) == {"fake-echo-1b", "fake-vision-2b", "fake-embed-small"}


async def test_embed_returns_the_vectors_in_input_order(mcp_client: Client) -> None:
    texts = ["the red car", "a blue bus", "the red car", ""]
    result = await mcp_client.call_tool("embed", {"input": texts})
    assert not result.is_error, text_of(result)
    assert result.structured_content == {
        "model": "fake-embed-small",
        "dimensions": 768,
        "embeddings": [embed(text, 768) for text in texts],
    }
    assert text_of(result).startswith("4 embeddings of 768 dimensions from fake-embed-small, in input order")
    single = await mcp_client.call_tool("embed", {"input": "[1, 2]", "model": "fake-embed-small"})
    assert single.structured_content is not None
    assert single.structured_content["embeddings"] == [embed("[1, 2]", 768)]  # a text that looks like JSON stays text


async def test_embed_refuses_more_than_256_texts(mcp_client: Client) -> None:
    result = await mcp_client.call_tool("embed", {"input": ["x"] * 257})
    assert result.is_error and text_of(result) == ("`input` holds 257 texts; give one text, or an array of 1 to 256.")


async def test_an_llm_named_in_embed_says_which_tool_fits(mcp_client: Client) -> None:
    result = await mcp_client.call_tool("embed", {"input": "x", "model": "fake-echo-1b"})
    assert result.is_error
    assert text_of(result) == (
        "Model 'fake-echo-1b' is an LLM, not an embedding model: it generates text (generate, generate_stream or "
        "structured_generate). To embed, pass `model` with an embedding model (list_models shows type "
        "'embedding'), or leave it out to use the loaded one."
    )


@pytest.mark.parametrize("tool", ["generate", "structured_generate"])
async def test_an_embedding_model_named_in_a_generation_tool_says_to_use_embed(
    emulator: LMStudioEmulator, mcp_client: Client, tool: str
) -> None:
    arguments: dict[str, Any] = {"prompt": "x", "model": "fake-embed-small"}
    if tool == "structured_generate":
        arguments["json_schema"] = {"type": "object"}
    result = await mcp_client.call_tool(tool, arguments)
    assert result.is_error
    assert text_of(result) == (
        "Model 'fake-embed-small' is an embedding model: it turns text into vectors and cannot generate text. Use "
        "the embed tool for embeddings. Pass `model` with an LLM (list_models shows type 'llm')."
    )
    assert emulator.predictions == []


async def test_an_embedding_model_configured_as_the_default_is_named_with_its_setting(
    emulator: LMStudioEmulator,
) -> None:
    async with Client(server(emulator, model="fake-embed-small")) as client:
        result = await client.call_tool("generate", {"prompt": "x"})
    assert result.is_error
    assert text_of(result).startswith("The default model 'fake-embed-small' (set by --model) is an embedding model")
    assert "Set --model to an LLM" in text_of(result)


async def test_embed_without_an_embedding_model_loaded_says_how_to_get_one(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    emulator.unload("fake-embed-small")
    result = await mcp_client.call_tool("embed", {"input": "x"})
    assert result.is_error
    assert "No embedding model is loaded" in text_of(result) and "load_model" in text_of(result)
