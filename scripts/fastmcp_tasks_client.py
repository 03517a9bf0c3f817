"""An outside client library that speaks MCP Tasks, against the server: fastmcp's tasks client (fastmcp-tasks).

    python scripts/fastmcp_tasks_client.py

Installs the pinned fastmcp and fastmcp-tasks into their own virtual environment (.tools/fastmcp-venv), starts
the LM Studio emulator, and runs `_fastmcp_tasks_checks.py` in that environment against the server over stdio
and over Streamable HTTP: `generate` as a task (result, status, cancel) through fastmcp's own task handle,
and a plain `call_tool` that fastmcp resolves from the task transparently. Exits non-zero on a failure.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import ROOT, emulator, http_server

VENV = ROOT / ".tools" / "fastmcp-venv"
PACKAGES = ["fastmcp==4.1.4", "fastmcp-tasks==4.1.4"]
CHECKS = Path(__file__).resolve().parent / "_fastmcp_tasks_checks.py"


def fastmcp_python() -> Path:
    """The fastmcp environment's interpreter, installing the pins on first use (or when they change)."""
    python = VENV / "bin" / "python"
    stamp = VENV / "installed.txt"
    wanted = "\n".join(PACKAGES)
    if not stamp.exists() or stamp.read_text(encoding="utf-8") != wanted:
        venv.create(VENV, with_pip=True, clear=True)
        install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PACKAGES]
        done = subprocess.run(install, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(done.stdout + done.stderr)
            raise SystemExit(f"installing {', '.join(PACKAGES)} failed")
        stamp.write_text(wanted, encoding="utf-8")
    return python


def main() -> int:
    python = fastmcp_python()
    server = [sys.executable, "-m", "mcp_lmstudio"]
    with emulator("--token-delay", "0.02") as api_host:
        stdio = subprocess.run([str(python), str(CHECKS), "stdio", api_host, *server], check=False, timeout=300)
        with http_server(api_host) as url:
            http = subprocess.run([str(python), str(CHECKS), "http", api_host, url], check=False, timeout=300)
    ok = stdio.returncode == 0 and http.returncode == 0
    print(f"fastmcp tasks client: stdio {'ok' if stdio.returncode == 0 else 'FAILED'}, "
          f"http {'ok' if http.returncode == 0 else 'FAILED'}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
