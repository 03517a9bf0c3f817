"""Drive the server with the Python MCP clients people use, each in its own pinned environment.

    python scripts/clients.py

Installs openai-agents, pydantic-ai, langchain-mcp-adapters, mcp-use and fastmcp into .tools/clients-venv (once),
starts the emulator, and has each client spawn the server over stdio, list the tools and call them. Checks
that openai-agents makes every tool strict and that pydantic-ai's schema-driven test model calls every tool
successfully (but load_model and unload_model, which need real names). Exits non-zero if a client fails. (The
TypeScript SDK is covered by scripts/inspector.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import ROOT, emulator

VENV = ROOT / ".tools" / "clients-venv"
CLIENTS = [
    "openai-agents==0.24.0",
    "pydantic-ai-slim[mcp]==2.68.0",
    "langchain-mcp-adapters==0.3.2",
    "mcp-use==1.7.1",
    "fastmcp==3.4.11",
]


def client_python() -> Path:
    python = VENV / "bin" / "python"
    stamp = VENV / "installed.txt"
    if not stamp.exists() or stamp.read_text(encoding="utf-8") != "\n".join(CLIENTS):
        venv.create(VENV, with_pip=True, clear=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *CLIENTS], check=True)
        stamp.write_text("\n".join(CLIENTS), encoding="utf-8")
    return python


def main() -> int:
    python = client_python()
    check = Path(__file__).resolve().parent / "_clients_check.py"
    env = {**os.environ, "MCP_USE_ANONYMIZED_TELEMETRY": "false"}
    with emulator() as api_host:
        completed = subprocess.run(
            [str(python), str(check), sys.executable, api_host], env=env, timeout=900, check=False, cwd=ROOT
        )
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main())
