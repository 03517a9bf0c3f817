"""Shared by scripts/wheel_install.py and scripts/bundle_run.py: uv, the wheel, and a token-checked MCP call."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters
from packaging.version import Version

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import ROOT

#: The uv that installs the wheel and runs the bundle (Claude Desktop ships a uv of its own).
UV = "uv==0.13.9"
UV_VENV = ROOT / ".tools" / "uv-venv"
#: What the emulator requires and the installs must send (LM Studio's token format; not a real token).
TOKEN = "sk-lm-Ci123456:Ci0123456789abcdefgh"
#: The first lmstudio release that can send a token.
TOKEN_SDK = Version("1.6.0b1")


def uv() -> Path:
    """The pinned uv, installed once into .tools/uv-venv."""
    executable = UV_VENV / "bin" / "uv"
    stamp = UV_VENV / "installed.txt"
    if not stamp.exists() or stamp.read_text(encoding="utf-8") != UV:
        venv.create(UV_VENV, with_pip=True, clear=True)
        subprocess.run([str(UV_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", UV], check=True)
        stamp.write_text(UV, encoding="utf-8")
    return executable


def uv_env(cache: Path) -> dict[str, str]:
    """uv with its own cache (so that nothing is reused from an earlier run) and no project around it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("UV_", "VIRTUAL_ENV"))}
    return {**env, "UV_CACHE_DIR": str(cache), "UV_NO_CONFIG": "1", "UV_PYTHON_DOWNLOADS": "never"}


def build_wheel(out: Path) -> Path:
    """Build the wheel as a release does (hatchling, from the source tree); return its path."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(ROOT)], check=True
    )
    (wheel,) = out.glob("mcp_lmstudio-*.whl")
    return wheel


def check_sdk_version(found: str, where: str) -> None:
    """Fail unless `found` (an lmstudio version) can send a token."""
    print(f"{where}: lmstudio {found}")
    if Version(found) < TOKEN_SDK:
        sys.exit(f"{where} installed lmstudio {found}, which cannot send an LM Studio API token (needs {TOKEN_SDK})")


def call_with_token(command: str, args: list[str], env: dict[str, str], label: str) -> None:
    """Start the server as an MCP client does, call `generate` once, and fail unless it answered."""

    async def call() -> str:
        params = StdioServerParameters(command=command, args=args, env=env)
        with anyio.fail_after(300):  # the first `uv run` resolves and installs the environment
            async with Client(params) as client:
                result = await client.call_tool("generate", {"prompt": f"token from {label}"})
        texts = [getattr(part, "text", "") for part in result.content]
        if result.is_error or texts[:1] != [f"You said: token from {label}"]:
            sys.exit(f"{label}: the call with a token failed: {texts}")
        return texts[0]

    print(f"{label}: generate with a token: {anyio.run(call)!r}")
