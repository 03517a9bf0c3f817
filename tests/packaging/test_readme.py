"""Every command, client configuration and Python example the README shows is run: by CI (.ci/run runs the line
verbatim) or here. A command added to the README without either fails `test_every_readme_command_is_run`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from mcp_lmstudio.cli.command import parse_settings
from mcp_lmstudio.testing import DEFAULT_MODELS, EmulatedModel, LMStudioEmulator, Reply
from mcp_lmstudio.testing._records import PredictionRecord, default_reply
from tests.support import PNG_BYTES, text_of

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI_LINES = {line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()}
BIN = Path(sys.executable).parent  # in CI, the README's own .venv/bin
PLACEHOLDER = "/absolute/path/to/mcp-lmstudio"
PROJECT_PLACEHOLDER = "/absolute/path/to/your/project"
#: The model key the README's examples use.
QWEN = EmulatedModel("qwen3-8b", "Qwen3 8B", vision=True)

#: The README commands this module runs (the others must be lines of .ci/run).
RUN_HERE = {
    ".venv/bin/mcp-lmstudio check": "test_check_against_the_emulator",
    'echo "$(pwd)/.venv/bin/mcp-lmstudio"': "test_the_absolute_path_command",
    ".venv/bin/mcp-lmstudio --transport http": "test_the_http_command",
    ".venv/bin/python -m mcp_lmstudio.testing --port 1234": "test_the_emulator_command",
    ".venv/bin/python -m pytest -m lmstudio": "test_the_live_tests_against_an_emulated_lm_studio",
    "LMSTUDIO_API_TOKEN=sk-lm-... mcp-lmstudio": "test_the_api_token_command",
    ".venv/bin/python scripts/release_check.py v0.1.0": "test_the_release_check_command",
    "claude mcp add lmstudio -- uvx mcp-lmstudio --allow-dir .": "test_the_claude_mcp_add_commands",
    "claude mcp add lmstudio -- /absolute/path/to/mcp-lmstudio --allow-dir .": "test_the_claude_mcp_add_commands",
    "claude mcp add --env LMSTUDIO_MODEL=qwen3-8b lmstudio -- uvx mcp-lmstudio --allow-dir .": (
        "test_the_claude_mcp_add_commands"
    ),
    "claude mcp add --scope project lmstudio -- uvx mcp-lmstudio --allow-dir .": "test_the_claude_mcp_add_commands",
}

#: README commands that cannot run here, each with the reason and what runs in its place.
NOT_RUN_HERE = {
    "uvx mcp-lmstudio check": "needs the package on PyPI; scripts/wheel_install.py (CI) runs "
    "`uvx --from <the built wheel> mcp-lmstudio check` with an API token, the same resolution",
    "pipx install mcp-lmstudio": "needs the package on PyPI; pipx installs with pip into an environment of its own, "
    "as scripts/wheel_install.py (CI) does with the built wheel",
    "git tag v0.1.0 && git push origin v0.1.0": "publishes a release (needs the GitHub repository and the PyPI "
    "trusted publisher); tests/packaging/test_workflows.py checks the workflow it starts",
}


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def commands() -> list[str]:
    found = []
    for block in blocks("bash"):
        for line in block.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                found.append(command)
    return found


def local(command: str) -> list[str]:
    """`command` as a list, with `.venv/bin/` being the environment that runs the tests."""
    return [word.replace(".venv/bin/", f"{BIN}/") for word in command.split()]


def test_every_readme_command_is_run() -> None:
    shown = commands()
    assert len(shown) >= 10
    for command in shown:
        is_ci = command == ".ci/run" or any(command in line for line in CI_LINES)  # CI runs `bash .ci/run`
        assert is_ci or command in RUN_HERE or command in NOT_RUN_HERE, f"nothing runs the README command {command!r}"
    for test_name in RUN_HERE.values():
        assert test_name in globals(), test_name
    assert set(NOT_RUN_HERE) <= set(shown), "an exception for a command the README no longer shows"
    assert not set(NOT_RUN_HERE) & CI_LINES


def test_the_readme_opens_with_the_two_commands_for_a_fresh_machine() -> None:
    first_block = blocks("bash")[0]
    assert README.index("```bash") < README.index("\n## ")  # before any section
    demo, suite = [line for line in first_block.splitlines() if line and not line.startswith("#")]
    assert demo.startswith("python3 -m venv .venv") and demo.endswith(".venv/bin/mcp-lmstudio demo")
    assert suite.endswith('.venv/bin/pip install -e ".[test]" && .venv/bin/python -m pytest')
    assert {demo, suite} <= CI_LINES


@pytest.mark.anyio
async def test_check_against_the_emulator(emulator: LMStudioEmulator) -> None:
    env = {**os.environ, "LMSTUDIO_HOST": emulator.api_host}
    completed = await anyio.run_process(local(".venv/bin/mcp-lmstudio check"), env=env, check=False)
    assert completed.returncode == 0, completed.stdout.decode()


def test_the_absolute_path_command() -> None:
    out = subprocess.run(
        ["bash", "-c", 'echo "$(pwd)/.venv/bin/mcp-lmstudio"'], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == f"{ROOT}/.venv/bin/mcp-lmstudio"


def run_until_banner(command: list[str], banner: str, in_use: str) -> None:
    """Start a long-running command, wait for its banner (or its message that the port is taken), stop it."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None and process.stderr is not None
        try:
            for line in process.stdout if "testing" in command else process.stderr:
                if banner in line or in_use in line:
                    return
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(30)
        pytest.fail(f"{command} ended without its banner: {process.stderr.read()}")


def test_the_http_command() -> None:
    run_until_banner(
        local(".venv/bin/mcp-lmstudio --transport http"),
        "serving MCP over Streamable HTTP at http://127.0.0.1:8000/mcp",
        "Port 8000 is already in use",
    )


def test_the_emulator_command() -> None:
    run_until_banner(
        local(".venv/bin/python -m mcp_lmstudio.testing --port 1234"),
        "LM Studio emulator listening on 127.0.0.1:1234",
        "Port 1234 on 127.0.0.1 is already in use",
    )


def _live_reply(record: PredictionRecord) -> Reply:
    return Reply('{"answer": 4}') if record.structured else default_reply(record)


@pytest.mark.anyio
async def test_the_live_tests_against_an_emulated_lm_studio() -> None:
    async with LMStudioEmulator(reply=_live_reply) as lms:
        env = {**os.environ, "LMSTUDIO_HOST": lms.api_host}
        with anyio.fail_after(300):
            completed = await anyio.run_process(
                local(".venv/bin/python -m pytest -m lmstudio") + ["-p", "no:cacheprovider", "-q"],
                env=env, cwd=ROOT, check=False,
            )  # fmt: skip
    assert completed.returncode == 0, completed.stdout.decode()[-2000:]


def client_configs() -> list[tuple[str, dict[str, Any]]]:
    configs = []
    for block in blocks("json"):
        document = json.loads(block)
        servers = document.get("mcpServers") or document.get("servers") or {}
        configs.extend(servers.items())
    return configs


def test_the_readme_shows_a_config_for_each_client() -> None:
    assert len(client_configs()) == 5  # Claude Desktop, Claude Code, VS Code, Cursor, LM Studio
    allowing = [config for _name, config in client_configs() if "--allow-dir" in config.get("args", [])]
    assert len(allowing) == 3  # files by path, shown for Claude Desktop, Claude Code and VS Code
    assert all(config["command"] == PLACEHOLDER for _name, config in client_configs())


@pytest.mark.anyio
@pytest.mark.parametrize(("name", "config"), client_configs(), ids=[name for name, _ in client_configs()])
async def test_each_client_config_starts_a_working_server(name: str, config: dict[str, Any], tmp_path: Path) -> None:
    """Started in a project directory (as Claude Code and VS Code start servers), with the README's project path
    standing for it: where a config allows a directory, a file in it is read by path."""
    command = config["command"].replace(PLACEHOLDER, str(BIN / "mcp-lmstudio"))
    args = [arg.replace(PROJECT_PLACEHOLDER, str(tmp_path)) for arg in config.get("args", [])]
    (tmp_path / "notes.txt").write_text("the README's project file")
    async with LMStudioEmulator(models=[*DEFAULT_MODELS, QWEN]) as emulator:
        env = {**os.environ, **config.get("env", {}), "LMSTUDIO_HOST": emulator.api_host}
        params = StdioServerParameters(command=command, args=args, env=env, cwd=tmp_path)
        with anyio.fail_after(60):
            async with Client(params) as client:
                result = await client.call_tool("generate", {"prompt": f"hello from {name}"})
                if "--allow-dir" in args:
                    read = await client.call_tool("generate", {"prompt": "read", "files": ["notes.txt"]})
                    assert not read.is_error, text_of(read)
                    assert "the README's project file" in emulator.predictions[-1].last_user_text
    assert text_of(result) == f"You said: hello from {name}"


@pytest.mark.anyio
async def test_the_model_layer_example_runs(tmp_path: Path) -> None:
    example = next(block for block in blocks("python") if "AsyncLMStudio" in block)
    async with LMStudioEmulator(models=[*DEFAULT_MODELS, QWEN]) as lms:
        # The one change: the example finds LM Studio by discovery; here the emulator is named.
        code = example.replace("lmstudio.AsyncClient()", f"lmstudio.AsyncClient({lms.api_host!r})")
        assert code != example
        (tmp_path / "cat.png").write_bytes(PNG_BYTES)
        with anyio.fail_after(60):
            completed = await anyio.run_process([sys.executable, "-c", code], cwd=tmp_path, check=False)
    assert completed.returncode == 0, completed.stderr.decode()
    assert "You said: Say hi" in completed.stdout.decode()


@pytest.mark.anyio
async def test_the_emulator_example_runs(tmp_path: Path) -> None:
    example = next(block for block in blocks("python") if "LMStudioEmulator" in block)
    with anyio.fail_after(60):
        completed = await anyio.run_process([sys.executable, "-c", example], cwd=tmp_path, check=False)
    assert completed.returncode == 0, completed.stderr.decode()


@pytest.mark.anyio
async def test_the_api_token_command() -> None:
    """The server started as shown, with a token LM Studio requires: it connects (lmstudio 1.6) or says to
    upgrade the SDK (1.5 cannot send a token)."""
    token = "sk-lm-Abcd1234:Abcdefghij0123456789"
    async with LMStudioEmulator(api_token=token) as lms:
        env = {**os.environ, "LMSTUDIO_API_TOKEN": token, "LMSTUDIO_HOST": lms.api_host}
        params = StdioServerParameters(command=str(BIN / "mcp-lmstudio"), args=[], env=env)
        with anyio.fail_after(60):
            async with Client(params) as client:
                result = await client.call_tool("generate", {"prompt": "with a token"})
    assert text_of(result) == "You said: with a token" or "lmstudio>=1.6.0b1" in text_of(result), text_of(result)
    assert token not in text_of(result)


def test_the_release_check_command() -> None:
    """Passes, or (before a release is prepared) says only that the changelog's section is not dated yet."""
    completed = subprocess.run(
        local(".venv/bin/python scripts/release_check.py v0.1.0"), cwd=ROOT, capture_output=True, text=True,
        check=False, timeout=60,
    )  # fmt: skip
    problems = completed.stderr.splitlines()
    assert completed.returncode == 0 or all("still says unreleased" in line for line in problems), problems


def claude_mcp_add(command: str) -> tuple[dict[str, str], list[str]]:
    """`claude mcp add [options] NAME -- COMMAND ARGS...`: the environment it sets and the server command."""
    options, server = command.removeprefix("claude mcp add ").split(" -- ")
    words, env = options.split(), {}
    while words[0].startswith("-"):
        flag, value, *words = words
        assert flag in ("-e", "--env", "-s", "--scope"), flag
        if flag in ("-e", "--env"):
            env.update([value.split("=", 1)])
        else:
            assert value in ("local", "user", "project")
    assert words == ["lmstudio"]
    return env, server.split()


@pytest.mark.anyio
async def test_the_claude_mcp_add_commands() -> None:
    """`claude` itself (Claude Code's CLI) is not run: each command after `--` is. The clone's starts a working
    server; `uvx mcp-lmstudio` is the published package (scripts/wheel_install.py runs it from the built wheel),
    so here its options are checked against the CLI."""
    shown = [command for command in commands() if command.startswith("claude mcp add")]
    assert set(shown) == {command for command, test in RUN_HERE.items() if test == "test_the_claude_mcp_add_commands"}
    for command in shown:
        env, server = claude_mcp_add(command)
        if server[0] == "uvx":
            assert server[1] == "mcp-lmstudio"
            _command, settings = parse_settings(server[2:], env)
            assert settings.model == env.get("LMSTUDIO_MODEL")
            continue
        assert server[0] == PLACEHOLDER
        async with LMStudioEmulator(models=[*DEFAULT_MODELS, QWEN]) as emulator:
            params = StdioServerParameters(
                command=str(BIN / "mcp-lmstudio"), args=server[1:],
                env={**os.environ, **env, "LMSTUDIO_HOST": emulator.api_host},
            )  # fmt: skip
            with anyio.fail_after(60):
                async with Client(params) as client:
                    result = await client.call_tool("generate", {"prompt": "from claude mcp add"})
        assert text_of(result) == "You said: from claude mcp add"


def test_the_readme_names_the_windows_paths_and_the_published_commands() -> None:
    for text in (
        r".venv\Scripts\mcp-lmstudio.exe",
        r"%APPDATA%\Claude\claude_desktop_config.json",
        "uvx mcp-lmstudio",
        "pipx install mcp-lmstudio",
        "releases/latest",
        "asked to approve",
    ):
        assert text in README, text
    # The installed commands come right after the quick start, and say they need the package on PyPI.
    assert README.index("uvx mcp-lmstudio") < README.index("```bash")
    assert "once published" in README[: README.index("## Add it to your MCP client")]


def test_the_readme_carries_the_registry_name() -> None:
    """The MCP registry accepts a PyPI package whose description (this README) names the server.json entry."""
    server = json.loads((ROOT / "server.json").read_text(encoding="utf-8"))
    assert f"mcp-name: {server['name']}" in README
