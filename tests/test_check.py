"""`mcp-lmstudio check`: where LM Studio is, its models, a tiny generation, and an exit status to script on."""

from __future__ import annotations

import sys

import anyio
import pytest

from mcp_lmstudio.testing import LMStudioEmulator
from tests.support import closed_port

pytestmark = pytest.mark.anyio


async def check(*args: str) -> tuple[int, str]:
    with anyio.fail_after(60):
        completed = await anyio.run_process([sys.executable, "-m", "mcp_lmstudio", "check", *args], check=False)
    return completed.returncode, completed.stdout.decode()


async def test_check_reports_connection_models_and_speed(emulator: LMStudioEmulator) -> None:
    status, out = await check("--host", emulator.api_host)
    assert status == 0, out
    assert f"connected to LM Studio at {emulator.api_host} (from --host)" in out
    assert "fake-unloaded-7b" in out and "downloaded" in out
    assert "tokens/s" in out
    assert emulator.predictions[0].config["llm.prediction.maxPredictedTokens"] == {"checked": True, "value": 16}


async def test_check_says_how_to_fix_an_unreachable_lm_studio() -> None:
    host = f"127.0.0.1:{closed_port()}"
    status, out = await check("--host", host)
    assert status == 1
    assert f"LM Studio is not reachable at {host}" in out and "lms server start" in out


async def test_check_fails_when_no_model_is_loaded(emulator: LMStudioEmulator) -> None:
    emulator.unload_all()
    status, out = await check("--host", emulator.api_host)
    assert status == 2
    assert "no model is loaded" in out


async def test_check_fails_when_the_generation_does_not_finish(emulator: LMStudioEmulator) -> None:
    emulator.hang_predictions = True
    status, out = await check("--host", emulator.api_host, "--timeout", "1")
    assert status == 3
    assert "did not finish within the 1 s time limit" in out
