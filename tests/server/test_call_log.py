"""One INFO line per tool call: the tool, the model, the tokens, the seconds and the outcome, never the prompt."""

from __future__ import annotations

import logging
import re

import pytest
from mcp import Client

from mcp_lmstudio.testing import LMStudioEmulator, Reply

pytestmark = pytest.mark.anyio

PROMPT = "secret-prompt-7f3a"
SPEED = r"\(\d+\.\d tokens/s\)"


def call_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "mcp_lmstudio.calls"]


async def test_a_generation_logs_one_line_with_model_tokens_seconds_and_outcome(
    emulator: LMStudioEmulator, mcp_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    result = await mcp_client.call_tool("generate", {"prompt": PROMPT})
    assert not result.is_error
    [line] = call_lines(caplog)
    assert re.fullmatch(
        rf"call generate: model fake-echo-1b, \d+ prompt \+ \d+ generated tokens {SPEED}, \d+\.\d\d s, ok \(eosFound\)",
        line,
    ), line
    assert all(PROMPT not in record.getMessage() for record in caplog.records)
    assert all(record.levelno == logging.INFO for record in caplog.records if record.name == "mcp_lmstudio.calls")


async def test_structured_generate_logs_its_model_and_tokens_too(
    emulator: LMStudioEmulator, mcp_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.reply = Reply('{"a": "b"}')
    caplog.set_level(logging.INFO)
    await mcp_client.call_tool("structured_generate", {"prompt": PROMPT, "json_schema": {"type": "object"}})
    [line] = call_lines(caplog)
    assert line.startswith("call structured_generate: model fake-echo-1b, ") and line.endswith(", ok (eosFound)")
    assert "generated token" in line


async def test_errors_and_tools_without_a_model_log_their_outcome(
    emulator: LMStudioEmulator, mcp_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await mcp_client.call_tool("generate", {"prompt": PROMPT, "max_tokens": 0})
    await mcp_client.call_tool("generate", {"prompt": PROMPT, "model": "no-such-model"})
    await mcp_client.call_tool("list_models", {})
    refused, unknown, listed = call_lines(caplog)
    assert re.fullmatch(r"call generate: \d+\.\d\d s, error", refused), refused
    assert re.fullmatch(r"call generate: model no-such-model, \d+\.\d\d s, error", unknown), unknown
    assert re.fullmatch(r"call list_models: \d+\.\d\d s, ok", listed), listed
    assert all(PROMPT not in line for line in call_lines(caplog))
