"""The command line as a person meets it: where HTTP serves, refused ports, ignored flags, Ctrl-C, the demo and
the emulator's own command, and the lmstudio SDK's log chatter. Every test runs the real entry point."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import httpx
import pytest

from mcp_lmstudio.testing import LMStudioEmulator
from tests.support import closed_port

SERVER = [sys.executable, "-m", "mcp_lmstudio"]


@contextmanager
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SERVER, *args], capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def assert_no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr


@pytest.mark.anyio
async def test_http_prints_its_url_and_that_no_token_is_needed(emulator: LMStudioEmulator) -> None:
    command = [*SERVER, "--transport", "http", "--port", "0", "--host", emulator.api_host, "--log-level", "ERROR"]
    async with await anyio.open_process(command) as process:
        try:
            assert process.stderr is not None
            with anyio.fail_after(30):
                banner = (await process.stderr.receive()).decode()
            assert banner.startswith("mcp-lmstudio: serving MCP over Streamable HTTP at http://127.0.0.1:")
            assert banner.rstrip().endswith("/mcp (no token required; only this machine can connect)")
            url = banner.split(" at ", 1)[1].split()[0]
            async with httpx.AsyncClient() as http:  # listening as soon as the line is printed
                response = await http.post(url, json={}, headers={"Accept": "application/json, text/event-stream"})
            assert response.status_code in (200, 400, 406)
        finally:
            process.terminate()
            with anyio.fail_after(10):
                await process.wait()


def test_http_with_a_token_says_every_request_needs_it() -> None:
    command = [*SERVER, "--transport", "http", "--port", "0", "--auth-token", "s3cret", "--log-level", "ERROR"]
    with subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True) as process:
        try:
            assert process.stderr is not None
            banner = process.stderr.readline()
        finally:
            process.terminate()
            process.wait(10)
    assert "every request needs the header 'Authorization: Bearer <token>'" in banner
    assert "s3cret" not in banner


def test_a_port_in_use_suggests_another() -> None:
    with taken_port() as port:
        completed = run("--transport", "http", "--port", str(port))
    assert completed.returncode == 1
    assert completed.stderr.strip() == (
        f"mcp-lmstudio: Port {port} is already in use on 127.0.0.1 (another server, or an mcp-lmstudio still "
        "running). Pass --port with a free port, or --port 0 for any free one."
    )


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_an_impossible_port_is_one_line_not_a_traceback(port: str) -> None:
    completed = run("--transport", "http", "--port", port)
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines()[-1] == (
        f"mcp-lmstudio: error: argument --port: {port!r} is not a port: give 1 to 65535, or 0 for any free port"
    )
    assert_no_traceback(completed.stderr)


def test_http_flags_given_with_stdio_are_warned_about() -> None:
    completed = run("--port", "9000", "--bind", "127.0.0.1", "--host", f"127.0.0.1:{closed_port()}")
    assert completed.returncode == 0  # stdin was empty: the stdio server ends at EOF
    assert "--port, --bind only apply with --transport http; serving stdio, they are ignored" in completed.stderr


@pytest.mark.anyio
@pytest.mark.parametrize("command", ["check", "demo"])
async def test_ctrl_c_ends_check_and_demo_quietly_with_status_130(command: str) -> None:
    async with LMStudioEmulator(prompt_processing_delay=60) as emulator:
        args = [*SERVER, command, "--host", emulator.api_host]
        async with await anyio.open_process(args, stdout=subprocess.DEVNULL) as process:
            with anyio.fail_after(60):
                await emulator.wait_for(lambda: emulator.running_count > 0, timeout=60)
                process.send_signal(signal.SIGINT)
                status = await process.wait()
                assert process.stderr is not None
                stderr = b"".join([chunk async for chunk in process.stderr]).decode()
    assert status == 130
    assert stderr.strip().splitlines()[-1] == f"{command} interrupted."
    assert_no_traceback(stderr)


def test_the_emulator_command_says_when_its_port_is_taken() -> None:
    with taken_port() as port:
        completed = subprocess.run(
            [sys.executable, "-m", "mcp_lmstudio.testing", "--port", str(port)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert completed.returncode == 1
    assert completed.stderr.strip() == (
        f"Port {port} on 127.0.0.1 is already in use. Pass another with --port N, or --port 0 for any free port."
    )


def test_the_demo_against_an_unreachable_host_prints_the_host_and_the_error() -> None:
    host = f"127.0.0.1:{closed_port()}"
    completed = run("demo", "--host", host, timeout=120)
    assert completed.returncode == 1
    assert completed.stdout.startswith(f"DEMO: using the LM Studio at {host} (from --host), not the emulator")
    assert f"ERROR: LM Studio is not reachable at {host}: nothing is listening there." in completed.stdout
    assert "null" not in completed.stdout
    assert completed.stdout.rstrip().endswith("Demo stopped: the server cannot reach LM Studio (see above).")


def test_an_exported_lmstudio_host_does_not_turn_the_demo_away_from_the_emulator() -> None:
    host = f"127.0.0.1:{closed_port()}"
    completed = run("demo", env={"LMSTUDIO_HOST": host}, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.startswith(f"DEMO: ignoring LMSTUDIO_HOST={host}; pass --host {host} to use that")
    assert "DEMO: LM Studio emulator (not a real model) listening on" in completed.stdout


def test_the_sdks_errors_when_lm_studio_goes_away_become_one_warning() -> None:
    code = (
        "from mcp_lmstudio.cli.command import configure_logging; configure_logging('WARNING');"
        "from lmstudio._logging import new_logger;"
        "[new_logger('AsyncWebsocketHandler').error('Websocket failed, terminating session.') for _ in range(5)];"
        "new_logger('AsyncWebsocketHandler').info('Websocket session disconnected')"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "WARNING mcp_lmstudio.models.session: The connection to LM Studio failed" in lines[0]
    assert "the next call reconnects" in lines[0]
    debug = subprocess.run(
        [sys.executable, "-c", code.replace("'WARNING'", "'DEBUG'")], capture_output=True, text=True, timeout=60
    )
    assert debug.stderr.count("Websocket failed") == 5  # the SDK's own words, at DEBUG


def test_check_says_where_it_looks_and_which_setting_chose_it() -> None:
    host = f"127.0.0.1:{closed_port()}"
    completed = run("check", env={"LMSTUDIO_HOST": host})
    assert completed.returncode == 1
    first, failure = completed.stdout.splitlines()[:2]
    assert first == f"Looking for LM Studio at {host} (from LMSTUDIO_HOST) ..."
    assert failure.startswith(f"FAIL  LM Studio is not reachable at {host}: nothing is listening there. Start")
