"""Against a real LM Studio: deselected by default; run with `python -m pytest -m lmstudio`.

Needs LM Studio with its server on and an LLM loaded (or `LMSTUDIO_MODEL` naming a downloaded one);
`LMSTUDIO_HOST` points at it when it is not found by discovery or at localhost:1234.
"""

from __future__ import annotations

import os
import sys

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.support import text_of

pytestmark = [pytest.mark.anyio, pytest.mark.lmstudio]


async def test_check_passes_against_the_real_lm_studio() -> None:
    with anyio.fail_after(300):
        completed = await anyio.run_process([sys.executable, "-m", "mcp_lmstudio", "check"], check=False)
    assert completed.returncode == 0, completed.stdout.decode()


async def test_every_tool_answers_against_the_real_lm_studio() -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_lmstudio"], env=dict(os.environ))
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    with anyio.fail_after(600):
        async with Client(params) as client:
            assert not (await client.call_tool("list_models", {})).is_error
            answer = await client.call_tool("generate", {"prompt": "Say OK.", "max_tokens": 256})
            assert not answer.is_error and text_of(answer)
            structured = await client.call_tool(
                "structured_generate", {"prompt": "What is 2+2?", "json_schema": schema, "max_tokens": 512}
            )
            assert not structured.is_error, text_of(structured)
            assert structured.structured_content == {"answer": 4}
