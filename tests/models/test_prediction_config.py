"""Reasoning control: what the lmstudio SDK lets a prediction say about thinking (see README).

LM Studio's configuration schema has `llm.prediction.reasoning.enableThinking` and
`llm.prediction.reasoning.budgetTokens` (lmstudio-js `lms-kv-config`), but the Python SDK maps neither, so the
server offers no reasoning switch. These tests pin that down, and fail the day the SDK gains such a key, so
that it can be exposed then.
"""

from __future__ import annotations

import lmstudio
import msgspec
import pytest
from lmstudio import LlmPredictionConfig

from mcp_lmstudio.errors import InvalidInputError
from mcp_lmstudio.models.prediction_config import check_prediction_config
from mcp_lmstudio.testing import LMStudioEmulator

pytestmark = pytest.mark.anyio


def test_the_sdk_s_prediction_config_has_no_thinking_switch_or_budget() -> None:
    names = {field.encode_name for field in msgspec.structs.fields(LlmPredictionConfig)}
    reasoning = {name for name in names if any(word in name.lower() for word in ("reason", "think", "effort"))}
    assert reasoning == {"reasoningParsing"}, f"the SDK now maps {reasoning}: expose it as a tool argument"


@pytest.mark.parametrize("key", ["enableThinking", "reasoningBudget", "reasoningEffort"])
def test_the_server_refuses_keys_the_sdk_would_drop(key: str) -> None:
    with pytest.raises(InvalidInputError, match=f"Unknown prediction setting '{key}'"):
        check_prediction_config({key: True})


async def test_reasoning_parsing_only_tells_lm_studio_how_to_split_tags(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    # The one reasoning key the SDK sends: it reaches LM Studio as `llm.prediction.reasoning.parsing`, and
    # says where thinking starts and ends in the output, not whether the model thinks.
    llm = await client.llm.model("fake-echo-1b")
    parsing = {"enabled": True, "startString": "<think>", "endString": "</think>"}
    await llm.respond("hi", config={"reasoningParsing": parsing})
    assert emulator.predictions[0].config["llm.prediction.reasoning.parsing"] == parsing
