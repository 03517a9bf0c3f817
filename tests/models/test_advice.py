"""Errors carry their facts as fields, speak Python in the model layer and tool words through the server's
`tool_message`; LM Studio's refusals get the advice that fits their cause (hunt-turn3 cases 10-12)."""

from __future__ import annotations

import pytest

from mcp_lmstudio import GenerationFailedError, GenerationTimeoutError, Image, ModelNotFoundError
from mcp_lmstudio.errors import (
    ContextOverflowError,
    InstanceNotFoundError,
    NoModelLoadedError,
    SDKMismatchError,
    WrongModelTypeError,
)
from mcp_lmstudio.models.events import GenerationResult, GenerationStats
from mcp_lmstudio.server.wording import tool_message
from mcp_lmstudio.testing import LMStudioEmulator
from mcp_lmstudio.testing._records import PredictionRecord
from tests.support import PNG_B64

from .conftest import Front, FrontFactory, lm_studio_error

pytestmark = pytest.mark.anyio

#: What only the server's vocabulary has: tool arguments and flags.
SERVER_WORDS = ("--timeout", "MCP_LMSTUDIO_TIMEOUT", "context_overflow", "max_tokens", "list_models shows", "`model`,")

PARTIAL = GenerationResult(
    text="so far",
    reasoning="",
    model="m",
    stop_reason="timeout",
    stats=GenerationStats(prompt_tokens=1, predicted_tokens=2, tokens_per_second=0.0, time_to_first_token_s=None),
)

ERRORS = [
    GenerationTimeoutError(2.5, "generating", PARTIAL),
    GenerationTimeoutError(2.5, "thinking", think_first=True),
    ContextOverflowError(model="m", prompt_tokens=900, context_length=512, reserved=100, images=2, turns=3),
    ContextOverflowError(model="m", prompt_tokens=None, context_length=512, policy="truncateMiddle"),
    ModelNotFoundError("x", ["a", "b"]),
    ModelNotFoundError("x", ["a"], setting="model_name"),
    NoModelLoadedError("127.0.0.1:1234"),
    GenerationFailedError("Boom.", reason="load", model="m"),
    GenerationFailedError("No images.", reason="vision", model="m", vision_models=["v"]),
    GenerationFailedError("Bad schema.", reason="schema"),
    SDKMismatchError("Invalid enum value 'openvino' (lmstudio 1.5.0)."),
    NoModelLoadedError("127.0.0.1:1234", kind="embedding"),
    WrongModelTypeError("nomic-embed", "embedding"),
    WrongModelTypeError("nomic-embed", "embedding", setting="model_name"),
    WrongModelTypeError("qwen3-8b", "llm"),
    InstanceNotFoundError("qwen3-8b:9", ["qwen3-8b", "nomic-embed"]),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda error: f"{type(error).__name__}-{getattr(error, 'reason', '')}")
def test_model_layer_messages_speak_python_and_the_server_words_them_its_way(error: Exception) -> None:
    message = str(error)
    assert not any(word in message for word in SERVER_WORDS), message
    assert tool_message(error) != message or isinstance(error, SDKMismatchError)  # type: ignore[arg-type]


def test_the_timeout_fields_and_both_wordings() -> None:
    error = ERRORS[0]
    assert isinstance(error, GenerationTimeoutError)
    assert (error.limit_s, error.phase, error.partial) == (2.5, "generating", PARTIAL)
    assert str(error) == (
        "The call did not finish within the 2.5 s time limit (the prediction was cancelled in LM Studio). Raise the "
        "limit (the `timeout=` argument, or the model's `timeout`), lower `maxTokens`, or use a faster model. The "
        "text generated so far is in the error's `partial`."
    )
    assert tool_message(error) == (
        "The call did not finish within the 2.5 s time limit (the prediction was cancelled in LM Studio). Raise the "
        "limit (--timeout / MCP_LMSTUDIO_TIMEOUT), lower max_tokens, or use a faster model."
    )
    assert "(--task-timeout / MCP_LMSTUDIO_TASK_TIMEOUT)" in tool_message(error, in_task=True)


def test_the_overflow_fields_and_both_wordings() -> None:
    error = ERRORS[2]
    assert "`maxTokens` asks for 100 more" in str(error) and "'contextOverflowPolicy': 'truncateMiddle'" in str(error)
    assert "max_tokens asks for 100 more" in tool_message(error)  # type: ignore[arg-type]
    assert "context_overflow 'truncate_middle' or 'rolling_window'" in tool_message(error)  # type: ignore[arg-type]


@pytest.mark.parametrize("error", ERRORS[2:4], ids=["stop_at_limit", "truncate_middle"])
def test_a_longer_context_is_load_model_for_a_tool_and_lms_load_in_python(error: ContextOverflowError) -> None:
    """A host can call load_model but cannot run `lms`; a Python caller is told about `lms load`."""
    assert "`lms load <model> --context-length N`" in str(error) and "load_model" not in str(error)
    assert "load_model with `context_length`" in tool_message(error) and "lms load" not in tool_message(error)


def test_an_embedding_model_named_to_generate_points_to_embed_in_each_vocabulary() -> None:
    error = WrongModelTypeError("nomic-embed", "embedding")
    assert "is an embedding model" in str(error) and "`embed()`" in str(error)
    assert "is an embedding model" in tool_message(error) and "the embed tool" in tool_message(error)
    assert "generate" in tool_message(WrongModelTypeError("qwen3-8b", "llm"))


async def test_a_vision_model_refusing_images_is_put_down_to_its_context(
    emulator: LMStudioEmulator, make_front: FrontFactory
) -> None:
    """Case 10: LM Studio says "does not support images" to a vision model loaded with too short a context."""
    emulator.unload_all()
    await emulator.load_instance("fake-vision-2b", context_length=1024)

    def refuse_images(record: PredictionRecord) -> str:
        if record.image_count:
            raise lm_studio_error("Model does not support images. Please use a model that does.")
        return "ok"

    emulator.reply = refuse_images
    with pytest.raises(GenerationFailedError) as caught:
        await make_front("fake-vision-2b").call("generate", ["What colour?", Image(PNG_B64, "image/png")])
    error = caught.value
    assert (error.reason, error.model, error.context_length) == ("vision_context", "fake-vision-2b", 1024)
    assert "1,024-token context" in str(error) and "--context-length" in str(error)
    assert "Loaded models with vision" not in str(error) and "Loaded models with vision" not in tool_message(error)


SYSTEM_REFUSAL = 'Error rendering prompt with jinja template: "Only user and assistant roles are supported!".'


async def test_a_template_that_refuses_the_system_role_gets_advice_about_the_system_message(
    emulator: LMStudioEmulator, front: Front
) -> None:
    """Case 11: the advice names the system message, and does not say to try again."""
    from mcp_lmstudio import Chat

    def refuse_system(record: PredictionRecord) -> str:
        if any(message.get("role") == "system" for message in record.history):
            raise lm_studio_error(SYSTEM_REFUSAL, "This is usually an issue with the model's prompt template.")
        return "ok"

    emulator.reply = refuse_system
    chat = Chat([{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}])
    with pytest.raises(GenerationFailedError) as caught:
        await front.call("generate", chat)
    message = str(caught.value)
    assert caught.value.reason == "system_role"
    assert "Leave the system message out, or fold its text into the first user message" in message
    assert "try again" not in message.lower() and "try again" not in tool_message(caught.value).lower()


@pytest.mark.parametrize("policy", [None, "stopAtLimit"])
async def test_mlx_context_size_exceeded_is_a_context_overflow_with_the_size(
    emulator: LMStudioEmulator, make_front: FrontFactory, policy: str | None
) -> None:
    """Case 12: MLX's words carry no size; the instance's context length is given all the same."""
    emulator.unload_all()
    await emulator.load_instance("fake-vision-2b", context_length=2048)

    def overflow(record: PredictionRecord) -> str:
        raise lm_studio_error("Context size has been exceeded.")

    emulator.reply = overflow
    config = {"contextOverflowPolicy": policy} if policy else None
    with pytest.raises(ContextOverflowError) as caught:
        await make_front("fake-vision-2b").call("generate", "hi", config=config)
    assert (caught.value.context_length, caught.value.prompt_tokens) == (2048, None)
    assert "2,048-token context" in tool_message(caught.value)
