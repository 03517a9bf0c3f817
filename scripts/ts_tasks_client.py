"""The official TypeScript SDK's experimental tasks client (2025-11-25, as VS Code uses tasks) against the server.

    python scripts/ts_tasks_client.py

Installs the pinned `@modelcontextprotocol/sdk` with the other npm tools (.tools/npm), starts the LM Studio
emulator, and runs `_ts_tasks_checks.mjs` against the server over stdio and over Streamable HTTP:
`callToolStream` with a task, `getTask`, `getTaskResult`, `listTasks`, `cancelTask`. Exits non-zero on a failure.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import NPM_DIR, emulator, http_server, npm_tools

CHECKS = Path(__file__).resolve().parent / "_ts_tasks_checks.mjs"


def main() -> int:
    node, _bin_dir = npm_tools()
    # Node resolves `@modelcontextprotocol/sdk` from the script's own folder, so run it from beside node_modules.
    script = NPM_DIR / CHECKS.name
    shutil.copyfile(CHECKS, script)
    server = [sys.executable, "-m", "mcp_lmstudio", "--log-level", "WARNING"]
    with emulator("--token-delay", "0.02") as api_host:
        stdio = subprocess.run([str(node), str(script), "stdio", api_host, *server], check=False, timeout=300)
        with http_server(api_host) as url:
            http = subprocess.run([str(node), str(script), "http", api_host, url], check=False, timeout=300)
    print(f"TypeScript SDK tasks client: stdio {'ok' if stdio.returncode == 0 else 'FAILED'}, "
          f"http {'ok' if http.returncode == 0 else 'FAILED'}")  # fmt: skip
    return 0 if stdio.returncode == 0 and http.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
