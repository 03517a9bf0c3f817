"""`mcp-lmstudio check`: where LM Studio is, its models, a tiny generation, and an exit status to script on."""

from __future__ import annotations

import os
import subprocess
import sys

import anyio
import pytest
from anyio.streams.text import TextReceiveStream

from mcp_lmstudio.models.api_token import sdk_supports_api_tokens
from mcp_lmstudio.testing import EmulatedModel, LMStudioEmulator
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


# -- what the report says, and where the log goes --------------------------------------------------------------

REPORT_PREFIXES = ("Looking for LM Studio", "ok    ", "warn  ", "FAIL  ", "      ", "        ")


async def run(*args: str, env: dict[str, str] | None = None, stderr: int = subprocess.PIPE) -> tuple[int, str, str]:
    with anyio.fail_after(60):
        completed = await anyio.run_process(
            [sys.executable, "-m", "mcp_lmstudio", "check", *args],
            check=False, env={**os.environ, **(env or {})}, stderr=stderr,
        )  # fmt: skip
    return completed.returncode, completed.stdout.decode(), (completed.stderr or b"").decode()


async def test_one_model_is_counted_in_the_singular() -> None:
    async with LMStudioEmulator(models=[EmulatedModel("solo-1b", "Solo 1B")]) as lms:
        status, out = await check("--host", lms.api_host)
    assert status == 0, out
    assert "ok    1 LLM:\n" in out and "1 LLMs" not in out


async def test_log_lines_stay_on_stderr_after_the_report(emulator: LMStudioEmulator) -> None:
    status, out, err = await run("--host", emulator.api_host, "--log-level", "DEBUG")
    assert status == 0, out + err
    assert all(line.startswith(REPORT_PREFIXES) for line in out.splitlines()), out
    assert " DEBUG " in err and " INFO " in err  # DEBUG shows everything, on stderr
    # Both on one terminal: the report in one piece, the log after it (asyncio's first line comes before the
    # check starts), never a log line inside the report.
    status, merged, _ = await run("--host", emulator.api_host, "--log-level", "DEBUG", stderr=subprocess.STDOUT)
    lines = merged.splitlines()
    report = [index for index, line in enumerate(lines) if line.startswith(REPORT_PREFIXES)]
    assert report == list(range(report[0], report[0] + len(report))), merged
    assert len(out.splitlines()) == len(report) and report[0] <= 1
    assert " INFO " in "\n".join(lines[report[-1] :])


async def test_below_debug_the_log_keeps_only_warnings(emulator: LMStudioEmulator) -> None:
    status, out, err = await run("--host", emulator.api_host)
    assert status == 0, out + err
    assert "Connected to LM Studio" not in err  # the report says so already
    assert "Connected to LM Studio" not in out


async def test_check_says_when_it_loads_the_default_model_before_the_load() -> None:
    async with LMStudioEmulator(load_delay=1.5) as lms:
        lines: list[tuple[float, str]] = []
        with anyio.fail_after(60):
            async with await anyio.open_process(
                [sys.executable, "-m", "mcp_lmstudio", "check", "--host", lms.api_host, "--model", "fake-unloaded-7b"],
                stderr=subprocess.DEVNULL,
            ) as process:
                assert process.stdout is not None
                pending = ""
                async for chunk in TextReceiveStream(process.stdout):
                    *complete, pending = (pending + chunk).split("\n")
                    lines.extend((anyio.current_time(), line) for line in complete)
        assert process.returncode == 0, lines
    loading = next(at for at, line in lines if line.startswith("      loading fake-unloaded-7b ..."))
    loaded = next(at for at, line in lines if line.startswith("ok    loaded fake-unloaded-7b in "))
    assert loaded - loading >= 1.0  # printed before LM Studio started loading, not with the result
    assert lines[-1][1].startswith("ok    fake-unloaded-7b generated")


async def test_a_loaded_default_model_is_not_announced_as_loading(emulator: LMStudioEmulator) -> None:
    status, out = await check("--host", emulator.api_host, "--model", "fake-echo-1b")
    assert status == 0, out
    assert "loading" not in out


async def test_a_mistyped_default_model_gets_the_close_match(emulator: LMStudioEmulator) -> None:
    status, out = await check("--host", emulator.api_host, "--model", "fake-unloded-7b")
    assert status == 2
    assert "The default model 'fake-unloded-7b' (set by --model) is not available" in out
    assert "Did you mean 'fake-unloaded-7b'? (--model fake-unloaded-7b)" in out
    assert "loading" not in out and not emulator.predictions
    status, out, _ = await run("--host", emulator.api_host, env={"LMSTUDIO_MODEL": "Fake_Vision_2B"})
    assert status == 2
    assert "Did you mean 'fake-vision-2b'? (LMSTUDIO_MODEL=fake-vision-2b)" in out


async def test_a_name_like_none_gets_no_suggestion(emulator: LMStudioEmulator) -> None:
    status, out = await check("--host", emulator.api_host, "--model", "llama-70b-instruct")
    assert status == 2
    assert "is not available" in out and "Did you mean" not in out


# -- API tokens ---------------------------------------------------------------------------------------------------

TOKEN = "sk-lm-Chk12345:Secret0123456789Chk0"


@pytest.mark.skipif(not sdk_supports_api_tokens(), reason="the installed lmstudio (1.5) cannot send a token")
async def test_check_sends_the_api_token_an_lm_studio_requires() -> None:
    async with LMStudioEmulator(api_token=TOKEN) as lms:
        status, out, err = await run("--host", lms.api_host, env={"LMSTUDIO_API_TOKEN": TOKEN})
        assert status == 0, out + err
        assert "tokens/s" in out
        status, out, err = await run("--host", lms.api_host, env={"LMSTUDIO_API_TOKEN": ""})
    assert status == 1
    assert "requires an API token" in out and "LMSTUDIO_API_TOKEN" in out
    assert "Secret0123456789Chk0" not in out + err
