"""Drive the server as a subprocess over raw stdio, seeing every byte it writes to stdout."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.abc import Process
from mcp import StdioServerParameters


def server_command(api_host: str, *extra: str, module: str = "mcp_lmstudio") -> list[str]:
    return [sys.executable, "-m", module, "--host", api_host, *extra]


def server_params(api_host: str, *extra: str) -> StdioServerParameters:
    command = server_command(api_host, *extra)
    return StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))


class RawStdioSession:
    """A JSON-RPC peer that records every stdout line the server writes."""

    def __init__(self, process: Process) -> None:
        self.process = process
        self.stdout_lines: list[bytes] = []
        self._buffer = b""
        self._next_id = 0
        self.responses: dict[int, dict[str, Any]] = {}
        self.notifications: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(json.dumps(message).encode() + b"\n")

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next_id += 1
        request_id = self._next_id
        await self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
        while request_id not in self.responses:
            await self._read_line()
        return self.responses[request_id]

    async def initialize(self) -> dict[str, Any]:
        result = await self.request(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw-test", "version": "0"}},
        )
        await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return result

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return await self.request("tools/call", {"name": name, "arguments": arguments})

    async def drain_until_exit(self) -> int:
        """Read stdout to its end and return the exit status."""
        assert self.process.stdout is not None
        async for chunk in self.process.stdout:
            self._buffer += chunk
        if self._buffer:
            self.stdout_lines.append(self._buffer)
            self._buffer = b""
        return await self.process.wait()

    async def read_message(self) -> None:
        """Read one message from stdout (a response or a notification)."""
        await self._read_line()

    async def _read_line(self) -> None:
        assert self.process.stdout is not None
        while b"\n" not in self._buffer:
            self._buffer += await self.process.stdout.receive()
        line, self._buffer = self._buffer.split(b"\n", 1)
        self.stdout_lines.append(line)
        message = json.loads(line)
        if "id" in message and ("result" in message or "error" in message):
            self.responses[message["id"]] = message
        else:
            self.notifications.append(message)

    async def close_stdin(self) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.aclose()

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)


@asynccontextmanager
async def raw_stdio_server(api_host: str, *extra: str, module: str = "mcp_lmstudio") -> AsyncIterator[RawStdioSession]:
    process = await anyio.open_process(server_command(api_host, *extra, module=module), stderr=None)
    try:
        yield RawStdioSession(process)
    finally:
        if process.returncode is None:
            process.kill()
            with anyio.move_on_after(5):
                await process.wait()
        await process.aclose()


def assert_only_json_rpc(lines: list[bytes]) -> None:
    """Every byte on stdout must belong to a JSON-RPC 2.0 message."""
    for line in lines:
        message = json.loads(line)
        assert message.get("jsonrpc") == "2.0", line
