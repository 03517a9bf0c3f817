"""Install the built wheel as users will, with pip and with uv, and use an LM Studio API token from each.

    python scripts/wheel_install.py [--wheel dist/mcp_lmstudio-<version>-py3-none-any.whl]

Builds the wheel, then installs it three ways, each into a fresh environment: `pip install <wheel>` in a new
venv, `uv pip install <wheel>` in a new uv venv, and `uvx --from <wheel> mcp-lmstudio` (how `uvx mcp-lmstudio`
runs it once it is on PyPI; the wheel is the direct requirement and lmstudio a transitive one, as there). Each
must have resolved an lmstudio that can send a token (1.6.0b1 or later) without being asked for pre-releases,
and each must pass `mcp-lmstudio check` and a `generate` call over stdio against the emulator requiring a token
(and refuse without it). The pip install also runs `--version` and the demo (the emulator ships in the wheel).
Prints the resolvers' lines for lmstudio, so that the CI log shows what was chosen.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import emulator
from _packaging import TOKEN, build_wheel, call_with_token, check_sdk_version, uv, uv_env

#: A resolver's line about lmstudio itself (not mcp-lmstudio, not a package it pulled in).
SDK_LINE = re.compile(r"^(Collecting|Downloading|Using cached|\+) (?<![\w-])lmstudio\b")


def lmstudio_lines(output: str) -> str:
    lines = [line.strip() for line in output.splitlines()]
    return "\n".join(f"    {line}" for line in lines if SDK_LINE.match(line))


def run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if completed.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    return completed


def sdk_version(python: list[str], env: dict[str, str]) -> str:
    return run([*python, "-c", "import lmstudio; print(lmstudio.__version__)"], env).stdout.strip()


def check_against(command: list[str], api_host: str, env: dict[str, str], label: str) -> None:
    """`mcp-lmstudio check` and one `generate` with the token, from the environment `command` runs in."""
    env = {**env, "LMSTUDIO_HOST": api_host, "LMSTUDIO_API_TOKEN": TOKEN, "MCP_LMSTUDIO_LOG_LEVEL": "WARNING"}
    report = run([*command, "check"], env).stdout
    if TOKEN in report or "tokens/s" not in report:
        sys.exit(f"{label}: check did not pass with the token:\n{report}")
    print(f"{label}: check with a token: ok")
    call_with_token(command[0], command[1:], env, label)
    refused = subprocess.run([*command, "check"], capture_output=True, text=True, check=False,
                             env={**env, "LMSTUDIO_API_TOKEN": ""})  # fmt: skip
    if refused.returncode != 1 or "requires an API token" not in refused.stdout:
        sys.exit(f"{label}: check without the token should say one is required:\n{refused.stdout}")
    print(f"{label}: check without the token: refused, as it should be")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="test this wheel (default: build one from the source tree)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    uv_executable = str(uv())
    with tempfile.TemporaryDirectory(prefix="mcp-lmstudio-wheel-") as tmp:
        root = Path(tmp)
        if args.wheel is not None:
            wheel = args.wheel.resolve()
        else:
            wheel = build_wheel(root / "dist")
            print(f"built {wheel.name}")
        base_env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
        with emulator("--api-token", TOKEN) as api_host:
            # 1. pip, in a fresh venv, as `pip install mcp-lmstudio` will.
            pip_venv = root / "pip-venv"
            venv.create(pip_venv, with_pip=True)
            output = run([str(pip_venv / "bin" / "pip"), "install", str(wheel)], base_env).stdout
            print(f"pip install {wheel.name}:\n{lmstudio_lines(output)}")
            check_sdk_version(sdk_version([str(pip_venv / "bin" / "python")], base_env), "pip")
            check_against([str(pip_venv / "bin" / "mcp-lmstudio")], api_host, base_env, "pip")
            print(f"pip: {run([str(pip_venv / 'bin' / 'mcp-lmstudio'), '--version'], base_env).stdout.strip()}")
            run([str(pip_venv / "bin" / "mcp-lmstudio"), "demo"], base_env)  # the bundled emulator ships in it
            print("pip: demo from the wheel: ok")

            # 2. uv pip, in a fresh uv venv.
            env = uv_env(root / "uv-cache")
            uv_venv = root / "uv-venv"
            run([uv_executable, "venv", "--quiet", "--python", sys.executable, str(uv_venv)], env)
            uv_python = str(uv_venv / "bin" / "python")
            output = run([uv_executable, "pip", "install", "--python", uv_python, str(wheel)], env)
            print(f"uv pip install {wheel.name}:\n{lmstudio_lines(output.stderr)}")
            check_sdk_version(sdk_version([uv_python], base_env), "uv pip")
            check_against([str(uv_venv / "bin" / "mcp-lmstudio")], api_host, base_env, "uv pip")

            # 3. uvx: a throwaway tool environment, as `uvx mcp-lmstudio` gets.
            uvx = [uv_executable, "tool", "run", "--isolated", "--python", sys.executable, "--from", str(wheel)]
            check_sdk_version(sdk_version([*uvx, "python"], env), "uvx")
            check_against([*uvx, "mcp-lmstudio"], api_host, env, "uvx")
    elapsed = time.monotonic() - started
    print(f"the wheel installs with pip, uv pip and uvx, and sends a token from each ({elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
