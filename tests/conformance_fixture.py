"""The conformance suite's `tasks-*` fixture tools, served with this project's own tasks implementation.

    python -m tests.conformance_fixture --port N

The suite's tasks scenarios call tools of their own (`greet`, `slow_compute`, `failing_job`,
`protocol_error_job`); this server mounts them on the same `TasksExtension`, `LegacyTasksMiddleware` and
`TaskRunner` that `mcp_lmstudio.server.app` uses, over the same Streamable HTTP app. Not shipped: test-only.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp_types.jsonrpc import INTERNAL_ERROR

from mcp_lmstudio.server.tasks import LegacyTasksMiddleware, TaskRunner, TasksExtension, TaskStore
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.transports.http import serve_http

#: The fixtures' task support, as the scenarios describe them (`failing_job` is registered as required).
FIXTURE_TASK_TOOLS = {"slow_compute": "optional", "failing_job": "required", "protocol_error_job": "optional"}


@dataclass
class FixtureState:
    tasks: TaskRunner


async def greet(name: str) -> str:
    """Sync-only: says hello."""
    return f"Hello, {name}!"


async def slow_compute(seconds: float = 1.0, label: str = "") -> str:
    """Task-supporting: sleeps `seconds`, then answers (cancellable while it sleeps)."""
    await anyio.sleep(seconds)
    return f"Computed {label or 'result'} after {seconds:g} s"


async def failing_job() -> str:
    """Task-required: a tool execution error after a short while."""
    await anyio.sleep(0.5)
    raise ToolError("failing_job failed on purpose")


async def protocol_error_job() -> str:
    """Task-supporting: ends in a JSON-RPC (protocol) error."""
    raise MCPError(code=INTERNAL_ERROR, message="protocol_error_job raised a protocol error on purpose")


def create_fixture_server(*, task_timeout: float = 120.0, retention: float = 60.0) -> MCPServer[FixtureState]:
    @contextlib.asynccontextmanager
    async def lifespan(_server: MCPServer[FixtureState]) -> AsyncIterator[FixtureState]:
        async with TaskRunner(TaskStore(ttl_s=task_timeout + retention, time_limit_s=task_timeout)) as tasks:
            yield FixtureState(tasks)

    extension = TasksExtension(FIXTURE_TASK_TOOLS)  # type: ignore[arg-type]
    server = MCPServer(
        "tasks-conformance-fixture",
        lifespan=lifespan,
        extensions=[extension],
        middleware=[LegacyTasksMiddleware(extension)],
    )
    for tool in (greet, slow_compute, failing_job, protocol_error_job):
        server.add_tool(tool, structured_output=False)
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = Settings(transport="http", port=args.port, log_level="WARNING")
    anyio.run(serve_http, create_fixture_server(), settings)


if __name__ == "__main__":
    main()
