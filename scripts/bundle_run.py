"""Run the built MCP Bundle as Claude Desktop does, with an LM Studio API token.

    python scripts/bundle_run.py        # after scripts/bundle.py

Unpacks `dist/mcp-lmstudio-<version>.mcpb` into a fresh directory, fills the manifest's `mcp_config` as Claude
Desktop does (`${__dirname}` is the unpacked bundle, `${user_config.x}` what the user entered: the emulator's
address, a time limit and the token), and starts the server with `uv run` and the manifest's arguments (Claude
Desktop runs its own uv with them): uv builds the bundled project, resolves its dependencies from pyproject.toml,
and runs `mcp-lmstudio`. Then one `generate` against the emulator requiring the token, and a check that uv
resolved an lmstudio that can send one (1.6.0b1 or later).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import ROOT, emulator
from _packaging import TOKEN, call_with_token, check_sdk_version, uv, uv_env


def fill(value: str, dirname: Path, user_config: dict[str, str]) -> str:
    value = value.replace("${__dirname}", str(dirname))
    return re.sub(r"\$\{user_config\.(\w+)\}", lambda m: user_config.get(m[1], ""), value)


def fill_args(args: list[str], dirname: Path, user_config: dict[str, str], lists: dict[str, list[str]]) -> list[str]:
    """The args as an MCPB host fills them: a `multiple` setting alone in an argument expands into one argument
    per value (none when empty)."""
    filled: list[str] = []
    for arg in args:
        whole = re.fullmatch(r"\$\{user_config\.(\w+)\}", arg)
        if whole and whole[1] in lists:
            filled.extend(lists[whole[1]])
        else:
            filled.append(fill(arg, dirname, user_config))
    return filled


def main() -> int:
    started = time.monotonic()
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    bundle = ROOT / "dist" / f"mcp-lmstudio-{version}.mcpb"
    if not bundle.exists():
        print(f"{bundle.relative_to(ROOT)} is missing: run scripts/bundle.py first", file=sys.stderr)
        return 1
    uv_executable = str(uv())
    with tempfile.TemporaryDirectory(prefix="mcp-lmstudio-bundle-") as tmp:
        unpacked = Path(tmp) / "mcp-lmstudio"
        with zipfile.ZipFile(bundle) as archive:
            archive.extractall(unpacked)
        config = json.loads((unpacked / "manifest.json").read_text(encoding="utf-8"))["server"]["mcp_config"]
        with emulator("--api-token", TOKEN) as api_host:
            user_config = {"host": api_host, "model": "", "timeout": "55", "api_token": TOKEN, "allow_write": "false"}
            env = {name: fill(value, unpacked, user_config) for name, value in config["env"].items()}
            env = {**uv_env(Path(tmp) / "uv-cache"), **env, "MCP_LMSTUDIO_LOG_LEVEL": "WARNING"}
            # One allowed directory, as a user who picked a folder in Claude Desktop's settings has it.
            args = fill_args(config["args"], unpacked, user_config, {"allowed_directories": [tmp]})
            print(f"{config['command']} {' '.join(args)}  (with the token in LMSTUDIO_API_TOKEN)")
            call_with_token(uv_executable, args, env, "the bundle")
        # The environment `uv run` made for the bundle: which lmstudio it resolved.
        found = subprocess.run(
            [uv_executable, "run", "--directory", str(unpacked), "python", "-c",
             "import lmstudio; print(lmstudio.__version__)"],
            capture_output=True, text=True, env=env, check=True,
        ).stdout.strip()  # fmt: skip
        check_sdk_version(found, "the bundle's uv environment")
    print(f"the bundle runs through uv run and sends a token ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
