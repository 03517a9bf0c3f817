"""Build the MCP Bundle (`dist/mcp-lmstudio-<version>.mcpb`) that Claude Desktop installs in one click.

    python scripts/bundle.py

Stages manifest.json with what `uv` needs to build and run the server (pyproject.toml, README.md, LICENSE and
the package), checks the manifest with `mcpb validate`, packs it with `mcpb pack` (both from the npm package
@anthropic-ai/mcpb, installed into .tools/ on first use), then checks that the packed bundle holds exactly
those files and that a wheel builds from it as uv would build it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import NPM_DIR, ROOT

MCPB = "@anthropic-ai/mcpb@2.1.2"
FILES = ["manifest.json", "pyproject.toml", "README.md", "LICENSE"]
PACKAGE = "mcp_lmstudio"


def mcpb_command() -> list[str]:
    """The `mcpb` CLI, installed once into .tools/npm (the same place as the other npm tools)."""
    cli = NPM_DIR / "node_modules" / "@anthropic-ai" / "mcpb" / "dist" / "cli" / "cli.js"
    if not cli.exists():
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--prefix", str(NPM_DIR), "--no-audit", "--no-fund", "--silent", MCPB], check=True
        )
    return ["node", str(cli)]


def stage(directory: Path) -> None:
    for name in FILES:
        shutil.copy2(ROOT / name, directory / name)
    shutil.copytree(ROOT / PACKAGE, directory / PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def main() -> int:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    manifest = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    if manifest["version"] != version:
        print(f"manifest.json has version {manifest['version']}, pyproject.toml {version}", file=sys.stderr)
        return 1
    mcpb = mcpb_command()
    output = ROOT / "dist" / f"mcp-lmstudio-{version}.mcpb"
    output.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "bundle"
        staged.mkdir()
        stage(staged)
        subprocess.run([*mcpb, "validate", str(staged / "manifest.json")], check=True)
        subprocess.run([*mcpb, "pack", str(staged), str(output)], check=True)
        expected = {str(path.relative_to(staged)) for path in staged.rglob("*") if path.is_file()}
        with zipfile.ZipFile(output) as bundle:
            packed = set(bundle.namelist())
            if packed != expected:
                print(f"the bundle holds {sorted(packed ^ expected)} unexpectedly", file=sys.stderr)
                return 1
            unpacked = Path(tmp) / "unpacked"
            bundle.extractall(unpacked)
        # What uv does first on the user's machine: build the project in the bundle.
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(Path(tmp) / "wheel"),
             str(unpacked)],
            check=True,
        )  # fmt: skip
    size = output.stat().st_size
    print(f"built {output.relative_to(ROOT)} ({size:,} bytes, {len(packed)} files): valid, packed, builds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
