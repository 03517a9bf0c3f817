"""LM Studio 0.4 API tokens: `--api-token` / `LMSTUDIO_API_TOKEN`, refusals, the SDK version, secrecy.

Tests marked for a token-capable SDK need lmstudio 1.6.0b1 or later; the default environment has 1.5,
so they skip there and `.ci/run` runs this file again in an environment with 1.6.0b1, where
`MCP_LMSTUDIO_REQUIRE_TOKEN_SDK=1` turns any such skip into a failure. The tests for 1.5 (a token is an
upgrade error) run only there.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import anyio
import pytest
from mcp import Client

from mcp_lmstudio.cli.command import parse_settings
from mcp_lmstudio.models.api_token import UPGRADE_COMMAND, RedactingFilter, redact, sdk_supports_api_tokens
from mcp_lmstudio.server.app import create_server
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import LMStudioEmulator
from tests.stdio_support import server_command
from tests.support import text_of

pytestmark = pytest.mark.anyio

TOKEN = "sk-lm-AbCd1234:Secret0123456789Abcd"
WRONG = "sk-lm-AbCd1234:Wrong00000000000Abcd"
TOKENS = sdk_supports_api_tokens()


def _needs_token_sdk() -> None:
    if TOKENS:
        return
    reason = "needs lmstudio>=1.6.0b1 (.ci/run runs this file again with it)"
    if os.environ.get("MCP_LMSTUDIO_REQUIRE_TOKEN_SDK") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _assert_secret(text: str) -> None:
    assert "Secret0123456789Abcd" not in text and "Wrong00000000000Abcd" not in text and TOKEN not in text


@pytest.fixture
async def locked() -> object:
    async with LMStudioEmulator(api_token=TOKEN) as lms:
        yield lms


async def _generate(lms: LMStudioEmulator, api_token: str | None) -> tuple[bool, str]:
    server = create_server(Settings(host=lms.api_host, timeout=10, api_token=api_token))
    async with Client(server) as mcp:
        result = await mcp.call_tool("generate", {"prompt": "hi"})
        assert len((await mcp.list_tools()).tools) == 7  # the server keeps serving
    return bool(result.is_error), text_of(result)


# -- settings ---------------------------------------------------------------------------------------------


def test_the_flag_wins_over_the_sdk_s_own_variable_and_neither_is_shown() -> None:
    _command, settings = parse_settings(["--api-token", TOKEN], {"LMSTUDIO_API_TOKEN": WRONG})
    assert settings.api_token == TOKEN
    _command, settings = parse_settings([], {"LMSTUDIO_API_TOKEN": f" {WRONG}\n"})
    assert settings.api_token == WRONG
    assert parse_settings([], {"LMSTUDIO_API_TOKEN": ""})[1].api_token is None
    _assert_secret(repr(settings))


def test_help_names_the_flag_and_the_variable() -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "mcp_lmstudio", "--help"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "--api-token" in help_text and "LMSTUDIO_API_TOKEN" in help_text


def test_redaction_scrubs_the_token_and_its_halves_from_text_and_log_records() -> None:
    assert (
        redact(f"sent {{'clientPasskey': '{TOKEN.split(':')[1]}'}}", TOKEN) == "sent {'clientPasskey': '[api token]'}"
    )
    record = logging.LogRecord("lmstudio", logging.DEBUG, __file__, 1, "auth %s", (TOKEN,), None)
    RedactingFilter(TOKEN).filter(record)
    assert record.getMessage() == "auth [api token]"


# -- any SDK ----------------------------------------------------------------------------------------------


async def test_a_malformed_token_is_a_tool_error_naming_the_variable(emulator: LMStudioEmulator) -> None:
    failed, message = await _generate(emulator, "sk-lm-short:Secret0123456789Abcd")
    assert failed and "LMSTUDIO_API_TOKEN" in message and "sk-lm-XXXXXXXX:YYYYYYYYYYYYYYYYYYYY" in message
    _assert_secret(message)
    assert sum(emulator.connections.values()) == 0  # refused before connecting


async def test_a_missing_token_is_a_tool_error_naming_the_variable(locked: LMStudioEmulator) -> None:
    failed, message = await _generate(locked, None)
    assert failed and "requires an API token" in message and "LMSTUDIO_API_TOKEN" in message
    assert ("1.6.0b1" in message) == (not TOKENS)  # on SDK 1.5, also what to upgrade
    assert locked.predictions == []


# -- SDK 1.5: no token support ----------------------------------------------------------------------------


async def test_old_sdk_a_token_is_an_error_that_says_what_to_upgrade(locked: LMStudioEmulator) -> None:
    if TOKENS:
        pytest.skip("lmstudio 1.6+ sends tokens; the upgrade error is for 1.5")
    failed, message = await _generate(locked, TOKEN)
    assert failed and UPGRADE_COMMAND in message and "LMSTUDIO_API_TOKEN" in message
    _assert_secret(message)
    assert sum(locked.connections.values()) == 0


# -- SDK 1.6+: tokens -------------------------------------------------------------------------------------


async def test_the_right_token_authenticates_the_session(locked: LMStudioEmulator) -> None:
    _needs_token_sdk()
    assert await _generate(locked, TOKEN) == (False, "You said: hi")


async def test_a_wrong_token_is_a_tool_error_that_names_the_variable_not_the_token(locked: LMStudioEmulator) -> None:
    _needs_token_sdk()
    failed, message = await _generate(locked, WRONG)
    assert failed and "refused the API token given by --api-token / LMSTUDIO_API_TOKEN" in message
    _assert_secret(message)


@pytest.mark.parametrize("how", ["env", "flag"])
async def test_over_stdio_the_token_works_and_never_reaches_stderr(locked: LMStudioEmulator, how: str) -> None:
    _needs_token_sdk()
    env = {**os.environ, "LMSTUDIO_API_TOKEN": TOKEN} if how == "env" else dict(os.environ)
    extra = ["--api-token", TOKEN] if how == "flag" else []
    responses = await _stdio_calls(locked.api_host, env, extra + ["--log-level", "DEBUG"])
    assert responses["ok"]["result"]["content"][0]["text"] == "You said: hi"
    _assert_secret(responses["stderr"])


async def test_over_stdio_a_wrong_token_is_a_tool_error_and_stays_secret(locked: LMStudioEmulator) -> None:
    # Any SDK: 1.6 sends the token and LM Studio refuses it; 1.5 cannot send it and says what to upgrade.
    env = {**os.environ, "LMSTUDIO_API_TOKEN": WRONG}
    responses = await _stdio_calls(locked.api_host, env, ["--log-level", "DEBUG"])
    assert responses["ok"]["result"]["isError"] is True
    message = responses["ok"]["result"]["content"][0]["text"]
    assert "LMSTUDIO_API_TOKEN" in message
    assert ("refused the API token" if TOKENS else UPGRADE_COMMAND) in message
    _assert_secret(json.dumps(responses["ok"]) + responses["stderr"])


async def _stdio_calls(api_host: str, env: dict[str, str], extra: list[str]) -> dict[str, object]:
    """Initialize, call generate once, close; return the response and everything written to stderr."""
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "generate", "arguments": {"prompt": "hi"}}},
    ]  # fmt: skip
    with anyio.fail_after(60):
        process = await anyio.open_process(server_command(api_host, *extra), env=env)
        async with process:
            assert process.stdin is not None and process.stdout is not None and process.stderr is not None
            for message in messages:
                await process.stdin.send(json.dumps(message).encode() + b"\n")
            out = b""
            while b'"id":2' not in out.replace(b" ", b""):
                out += await process.stdout.receive()
            await process.stdin.aclose()
            await process.wait()
            err = b"".join([chunk async for chunk in process.stderr])
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    return {"ok": next(line for line in lines if line.get("id") == 2), "stderr": err.decode()}
