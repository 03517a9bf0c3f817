"""The MCP Bundle manifest (one-click install in Claude Desktop) agrees with the package, the CLI and the server.

`python scripts/bundle.py` (run by CI) validates and packs it with the official `mcpb` tool.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from mcp_lmstudio.cli.command import parse_settings
from mcp_lmstudio.server.app import create_server
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import LMStudioEmulator
from tests.support import text_of

ROOT = Path(__file__).resolve().parents[2]
MANIFEST: dict[str, Any] = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))


def args_as_claude_desktop_fills_them(directories: list[str]) -> list[str]:
    """The server's options from the manifest's args, the `multiple` directory setting expanded into one argument
    per folder the user picked (none when none), as MCPB hosts expand an array setting."""
    args = MANIFEST["server"]["mcp_config"]["args"]
    options = args[args.index("mcp-lmstudio") + 1 :]
    return [v for arg in options for v in (directories if arg == "${user_config.allowed_directories}" else [arg])]


def test_the_folders_setting_becomes_the_allowed_directories(tmp_path: Path) -> None:
    assert MANIFEST["user_config"]["allowed_directories"]["type"] == "directory"
    assert MANIFEST["user_config"]["allowed_directories"]["multiple"] is True
    picked = [str(tmp_path / "a"), str(tmp_path / "b")]
    for folder in picked:
        Path(folder).mkdir()
    _, settings = parse_settings(
        args_as_claude_desktop_fills_them(picked), as_claude_desktop_fills_it({"allow_write": "true"})
    )
    assert (settings.allow_dirs, settings.allow_write) == (tuple(picked), True)
    _, none = parse_settings(
        args_as_claude_desktop_fills_them([]), as_claude_desktop_fills_it({"allow_write": "false"})
    )
    assert (none.allow_dirs, none.allow_write) == ((), False)


def as_claude_desktop_fills_it(values: dict[str, str]) -> dict[str, str]:
    """The server's environment from the manifest, with `${user_config.x}` replaced by what the user entered."""
    env = MANIFEST["server"]["mcp_config"]["env"]
    return {
        name: re.sub(r"\$\{user_config\.(\w+)\}", lambda m: values.get(m[1], ""), value) for name, value in env.items()
    }


def test_the_manifest_matches_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert MANIFEST["version"] == project["version"]
    assert MANIFEST["name"] == project["name"]
    assert MANIFEST["server"]["type"] == "uv"
    assert "mcp-lmstudio" in MANIFEST["server"]["mcp_config"]["args"] and "mcp-lmstudio" in project["scripts"]
    assert (ROOT / MANIFEST["server"]["entry_point"]).is_file()


@pytest.mark.anyio
async def test_the_manifest_lists_the_servers_tools() -> None:
    async with Client(create_server(Settings()), mode="legacy") as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
    assert {tool["name"] for tool in MANIFEST["tools"]} == tools


def test_every_user_setting_reaches_the_server_and_empty_ones_mean_the_default() -> None:
    assert set(MANIFEST["user_config"]) == {
        "host",
        "model",
        "timeout",
        "api_token",
        "allowed_directories",
        "allow_write",
    }
    filled = as_claude_desktop_fills_it({"host": "http://127.0.0.1:1234/v1", "model": "qwen3-8b", "timeout": "55"})
    _, settings = parse_settings([], filled)
    assert (settings.host, settings.model, settings.timeout) == ("127.0.0.1:1234", "qwen3-8b", 55.0)
    _, defaults = parse_settings([], as_claude_desktop_fills_it({}))
    assert (defaults.host, defaults.model, defaults.timeout) == (None, None, 300.0)
    unfilled = MANIFEST["server"]["mcp_config"]["env"]  # a host that leaves the placeholders as they are
    _, untouched = parse_settings([], unfilled)
    assert (untouched.host, untouched.model, untouched.timeout) == (None, None, 300.0)


@pytest.mark.anyio
async def test_the_server_runs_with_the_bundles_environment(emulator: LMStudioEmulator) -> None:
    env = {**os.environ, **as_claude_desktop_fills_it({"host": emulator.api_host, "timeout": "55"})}
    params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_lmstudio"], env=env)
    with anyio.fail_after(60):
        async with Client(params) as client:
            result = await client.call_tool("generate", {"prompt": "from the bundle"})
    assert text_of(result) == "You said: from the bundle"
