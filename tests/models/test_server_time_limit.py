"""The server's side of a time limit that ends a generation: the text so far comes back with a note
(CONTRACT: "When the time limit ends a call, the text generated so far comes back ...")."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client
from mcp.types import TextContent

from mcp_lmstudio.server.app import create_server
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import LMStudioEmulator
from tests.support import text_of

pytestmark = pytest.mark.anyio

SLOW = " ".join(f"w{index}" for index in range(400))


@pytest.mark.parametrize("tool", ["generate", "generate_stream"])
async def test_the_text_so_far_comes_back_with_a_note(emulator: LMStudioEmulator, tool: str) -> None:
    emulator.reply, emulator.token_delay = SLOW, 0.01
    async with Client(create_server(Settings(host=emulator.api_host, timeout=0.5)), mode="legacy") as client:
        with anyio.fail_after(10):
            result = await client.call_tool(tool, {"prompt": "go"})
    assert not result.is_error
    answer, note = (block.text for block in result.content if isinstance(block, TextContent))
    assert answer and SLOW.startswith(answer)
    assert note.startswith("[Cut off: the 0.5 s time limit ended the call after ")
    assert "(--timeout / MCP_LMSTUDIO_TIMEOUT), lower max_tokens" in note
    assert result.structured_content is not None and result.structured_content["stop_reason"] == "timeout"
    assert emulator.predictions[0].cancelled


async def test_structured_output_cut_off_by_the_time_limit_stays_an_error(emulator: LMStudioEmulator) -> None:
    emulator.reply, emulator.token_delay = '{"a": "' + SLOW + '"}', 0.01
    async with Client(create_server(Settings(host=emulator.api_host, timeout=0.3)), mode="legacy") as client:
        with anyio.fail_after(10):
            result = await client.call_tool("structured_generate", {"prompt": "go", "json_schema": {"type": "object"}})
    assert emulator.predictions[0].text  # some JSON was written before the limit
    assert result.is_error and "0.3 s time limit" in text_of(result) and "--timeout" in text_of(result)
