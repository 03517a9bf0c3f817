"""Smoke-test lmstudio-js (`@lmstudio/sdk` 2.x from npm) against the LM Studio emulator.

    python scripts/js_smoke.py

Installs the SDK into `.js-smoke/` (git ignores it) with `npm install`, using an npm `overrides` entry
for `@lmstudio/lms-isomorphic` (the SDK asks for ^0.5, which the registry may lack; 0.4.6 works), then
runs `scripts/js_smoke/smoke.mjs` twice, each time against a fresh emulator: once plainly, once with an
LM Studio API token required and given to the SDK (`apiToken`). Skips (exit 0) when node or npm is
missing; exits 1 if a check fails.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "scripts" / "js_smoke"
CACHE = ROOT / ".js-smoke"
API_TOKEN = "sk-lm-Sm0keT3s:abcdefghijKLMNOPQRST"


def install() -> None:
    """Copy the smoke test into the cache and install its dependencies when they changed."""
    CACHE.mkdir(exist_ok=True)
    (CACHE / ".gitignore").write_text("*\n")
    shutil.copy(SOURCE / "smoke.mjs", CACHE / "smoke.mjs")
    manifest = (SOURCE / "package.json").read_text()
    if (CACHE / "package.json").exists() and (CACHE / "package.json").read_text() == manifest:
        if (CACHE / "node_modules" / "@lmstudio" / "sdk").is_dir():
            return
    (CACHE / "package.json").write_text(manifest)
    npm = shutil.which("npm")
    assert npm is not None
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=CACHE, check=True)


def run_against_emulator(*emulator_args: str, token: str | None = None) -> bool:
    """Start an emulator, run the smoke test against it, stop it; return whether every check passed."""
    command = [sys.executable, "-m", "mcp_lmstudio.testing", "--port", "0", *emulator_args]
    emulator = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    try:
        assert emulator.stdout is not None
        found = re.search(r"listening on ([\d.]+:\d+)", emulator.stdout.readline())
        if found is None:
            print("the emulator did not start")
            return False
        node = shutil.which("node")
        assert node is not None
        smoke = [node, "smoke.mjs", f"ws://{found.group(1)}", *([token] if token else [])]
        return subprocess.run(smoke, cwd=CACHE, timeout=120, check=False).returncode == 0
    finally:
        emulator.terminate()
        emulator.wait(10)


def main() -> int:
    if shutil.which("node") is None or shutil.which("npm") is None:
        print("node or npm not found: skipping the lmstudio-js smoke test")
        return 0
    install()
    print("== lmstudio-js against the emulator")
    plain = run_against_emulator()
    print("== lmstudio-js with an API token")
    with_token = run_against_emulator("--api-token", API_TOKEN, token=API_TOKEN)
    return 0 if plain and with_token else 1


if __name__ == "__main__":
    sys.exit(main())
