"""Run inside the fastmcp environment by fastmcp_tasks_client.py: fastmcp's tasks client against the server.

    python _fastmcp_tasks_checks.py stdio HOST:PORT SERVER-COMMAND...
    python _fastmcp_tasks_checks.py http HOST:PORT URL

Imports only fastmcp (this file never runs in the project's own environment).
"""

from __future__ import annotations

import asyncio
import sys

from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from fastmcp_tasks.client import call_tool_task

LONG_PROMPT = " ".join(f"w{i}" for i in range(400))  # the emulator echoes it slowly: time to cancel


def text(result: object) -> str:
    return "".join(getattr(block, "text", "") for block in getattr(result, "content", []))


async def check(client: Client) -> None:
    async with client:
        plain = await client.call_tool("generate", {"prompt": "hello from fastmcp"})
        assert text(plain) == "You said: hello from fastmcp", plain
        print("  call_tool resolved through a task:", text(plain))

        task = await call_tool_task(client, "generate", {"prompt": "a fastmcp task"})
        status = await task.status()
        assert status.status in ("working", "completed"), status
        result = await task.result()
        assert text(result) == "You said: a fastmcp task", result
        print(f"  task {task.task_id[:8]}...: {status.status} -> completed: {text(result)}")

        structured = await call_tool_task(
            client, "structured_generate", {"prompt": "json", "json_schema": {"type": "object"}}
        )
        assert (await structured.result()).structured_content is not None
        print("  structured_generate as a task: completed")

        slow = await call_tool_task(client, "generate", {"prompt": LONG_PROMPT})
        await slow.wait(state="working", timeout=30)
        await slow.cancel()
        final = await slow.wait(timeout=30)
        assert final.status == "cancelled", final
        print(f"  task {slow.task_id[:8]}...: cancelled")


def main() -> None:
    mode, api_host, *rest = sys.argv[1:]
    if mode == "stdio":
        transport = StdioTransport(command=rest[0], args=[*rest[1:], "--host", api_host])
        client = Client(transport)
    else:
        client = Client(rest[0])
    print(f"fastmcp tasks client over {mode}:")
    asyncio.run(check(client))


if __name__ == "__main__":
    main()
