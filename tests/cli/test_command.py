"""The command line: flags over env vars over defaults, help text, version, and the demo."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mcp_lmstudio import __version__
from mcp_lmstudio.cli.command import parse_settings
from mcp_lmstudio.settings import Settings


def test_defaults_apply_without_flags_or_env() -> None:
    assert parse_settings([], {}) == ("serve", Settings(base_dir=os.getcwd()))


def test_env_vars_configure_the_server() -> None:
    env = {
        "LMSTUDIO_HOST": "10.0.0.5:1234",
        "LMSTUDIO_MODEL": "qwen3-8b",
        "MCP_LMSTUDIO_TIMEOUT": "45",
        "MCP_LMSTUDIO_LOG_LEVEL": "debug",
    }
    _, settings = parse_settings([], env)
    assert (settings.host, settings.model, settings.timeout, settings.log_level) == (
        "10.0.0.5:1234",
        "qwen3-8b",
        45.0,
        "DEBUG",
    )


def test_flags_win_over_env_vars() -> None:
    env = {"LMSTUDIO_HOST": "env:1", "LMSTUDIO_MODEL": "env-model", "MCP_LMSTUDIO_TIMEOUT": "45"}
    argv = ["--host", "flag:2", "--model", "flag-model", "--timeout", "9", "--log-level", "warning"]
    _, settings = parse_settings(argv, env)
    assert (settings.host, settings.model, settings.timeout, settings.log_level) == (
        "flag:2",
        "flag-model",
        9.0,
        "WARNING",
    )


def test_http_transport_flags() -> None:
    command, settings = parse_settings(["serve", "--transport", "http", "--port", "9001"], {})
    assert (command, settings.transport, settings.port, settings.bind) == ("serve", "http", 9001, "127.0.0.1")


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--timeout", "0"], {}, "--timeout 0: the time limit must be a positive number of seconds (e.g. 300)"),
        (["--timeout", "-5"], {}, "--timeout -5: the time limit must be a positive number of seconds (e.g. 300)"),
        ([], {"MCP_LMSTUDIO_TIMEOUT": "0"}, "MCP_LMSTUDIO_TIMEOUT='0': the time limit must be a positive number"),
        ([], {"MCP_LMSTUDIO_TIMEOUT": "soon"}, "MCP_LMSTUDIO_TIMEOUT='soon': not a number of seconds (e.g. 300)"),
        (["--port", "70000"], {}, "'70000' is not a port: give 1 to 65535, or 0 for any free port"),
        (["--port", "-1"], {}, "'-1' is not a port"),
        ([], {"MCP_LMSTUDIO_LOG_LEVEL": "loud"}, "MCP_LMSTUDIO_LOG_LEVEL='LOUD' is not one of"),
    ],
)
def test_bad_settings_are_reported_by_the_parser(
    argv: list[str], env: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_settings(argv, env)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_help_names_every_env_var() -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "mcp_lmstudio", "--help"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    for name in ("LMSTUDIO_HOST", "LMSTUDIO_MODEL", "MCP_LMSTUDIO_TIMEOUT", "MCP_LMSTUDIO_LOG_LEVEL"):
        assert name in help_text


def test_version_is_printed() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mcp_lmstudio", "--version"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == f"mcp-lmstudio {__version__}"


def test_the_demo_drives_every_tool_on_the_emulator() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mcp_lmstudio", "demo"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    for heading in ("== tools/list", "== list_models", "== generate", "== generate_stream", "== structured_generate"):
        assert heading in result.stdout
    assert "Demo finished: all tools answered." in result.stdout


def test_the_package_exports_exactly_its_public_names() -> None:
    import mcp_lmstudio

    assert all(getattr(mcp_lmstudio, name) is not None for name in mcp_lmstudio.__all__)


def test_starting_the_server_does_not_import_the_lmstudio_sdk() -> None:
    """Nor our HTTP transport (stdio does not need it; `import mcp` itself still imports uvicorn and starlette,
    upstream), nor the PDF and imaging libraries (only a call with such files needs them)."""
    code = (
        "import sys, mcp_lmstudio.cli.command, mcp_lmstudio.server.app, mcp_lmstudio.transports.stdio;"
        "mcp_lmstudio.server.app.create_server(mcp_lmstudio.cli.command.parse_settings([], {})[1]);"
        "print(sorted(m for m in ('lmstudio', 'jsonschema', 'websockets', 'mcp_lmstudio.transports.http', 'pypdf', "
        "'PIL') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.strip() == "[]"


def test_serving_stdio_does_not_import_the_http_transport() -> None:
    """The real start path (`python -m mcp_lmstudio` on pipes, stdin closed at once), read from -X importtime."""
    command = [sys.executable, "-X", "importtime", "-m", "mcp_lmstudio", "--host", "127.0.0.1:9", "--history", "off"]
    done = subprocess.run(command, input=b"", capture_output=True, timeout=120, check=True)
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.decode().splitlines() if "|" in line}
    assert "mcp_lmstudio.transports.stdio" in imported
    assert "mcp_lmstudio.transports.http" not in imported


def test_http_on_a_non_loopback_address_needs_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_settings(["--transport", "http", "--bind", "0.0.0.0"], {})
    assert "refusing to serve HTTP on 0.0.0.0" in capsys.readouterr().err
    env = {"MCP_LMSTUDIO_AUTH_TOKEN": "tok-9f3a"}
    _, settings = parse_settings(["--transport", "http", "--bind", "0.0.0.0"], env)
    assert settings.auth_token == "tok-9f3a" and "tok-9f3a" not in repr(settings)


def test_server_json_matches_the_package_and_the_cli() -> None:
    import json
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    manifest = json.loads((root / "server.json").read_text(encoding="utf-8"))
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    package = manifest["packages"][0]
    assert manifest["version"] == package["version"] == project["version"]
    assert package["identifier"] == project["name"]
    env_vars = {variable["name"] for variable in package["environmentVariables"]}
    assert env_vars == {
        "LMSTUDIO_HOST",
        "LMSTUDIO_MODEL",
        "MCP_LMSTUDIO_TIMEOUT",
        "MCP_LMSTUDIO_TASK_TIMEOUT",
        "MCP_LMSTUDIO_LOG_LEVEL",
        "LMSTUDIO_API_TOKEN",
    }


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("127.0.0.1:99999", "give LM Studio's address as HOST:PORT, e.g. localhost:1234"),
        ("localhost", "give LM Studio's address as HOST:PORT, e.g. localhost:1234"),
        ("http://localhost/v1", "give LM Studio's address as HOST:PORT, e.g. localhost:1234"),
        ("192.168.1.5", "e.g. 192.168.1.5:1234"),
        (":1234", "give LM Studio's address as HOST:PORT"),
    ],
)
def test_a_malformed_host_is_refused_with_an_example(
    host: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parse_settings(["--host", host], {})
    assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_settings([], {"LMSTUDIO_HOST": host})
    assert f"LMSTUDIO_HOST={host!r}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("given", "address"),
    [
        ("http://127.0.0.1:1234/v1", "127.0.0.1:1234"),  # what LM Studio shows for its OpenAI-compatible API
        ("http://localhost:1234/api/v1/", "localhost:1234"),
        ("ws://127.0.0.1:1234", "127.0.0.1:1234"),
        ("127.0.0.1:1234/", "127.0.0.1:1234"),
        ("  localhost:1234 ", "localhost:1234"),
        ("[::1]:1234", "[::1]:1234"),
    ],
)
def test_the_urls_people_paste_for_lm_studio_are_accepted(given: str, address: str) -> None:
    assert parse_settings(["--host", given], {})[1].host == address
    assert parse_settings([], {"LMSTUDIO_HOST": given})[1].host == address


def test_the_console_script_is_installed() -> None:
    from pathlib import Path

    script = Path(sys.executable).parent / "mcp-lmstudio"
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.strip() == f"mcp-lmstudio {__version__}"
