"""Run inside the clients' own environment by scripts/clients.py: each client lists the tools and calls them.

    python _clients_check.py PYTHON HOST:PORT

PYTHON runs the server (`PYTHON -m mcp_lmstudio --host HOST:PORT`); the emulator listens at HOST:PORT.
Prints one line per check and exits non-zero if any failed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

PYTHON, API_HOST = sys.argv[1], sys.argv[2]
ARGS = ["-m", "mcp_lmstudio", "--host", API_HOST, "--log-level", "WARNING"]
TOOLS = {"generate", "generate_stream", "structured_generate", "list_models", "load_model", "unload_model", "embed"}
NEEDS_NAMES = {"load_model", "unload_model"}
PET = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def _text(content: Any) -> str:
    return "".join(getattr(block, "text", "") for block in content)


async def openai_agents() -> str:
    from agents.mcp import MCPServerStdio
    from agents.mcp.util import MCPUtil

    params: Any = {"command": PYTHON, "args": ARGS}
    # The default client_session_timeout_seconds is 5 s: too short for a local model (see README).
    async with MCPServerStdio(params, client_session_timeout_seconds=30) as server:
        tools = await server.list_tools()
        converted = [MCPUtil.to_function_tool(tool, server, convert_schemas_to_strict=True) for tool in tools]
        not_strict = [tool.name for tool in converted if not tool.strict_json_schema]
        assert not not_strict, f"not strict: {not_strict}"
        schema = next(tool.params_json_schema for tool in converted if tool.name == "generate")
        # A strict model fills every field: the unused nullable ones with null, the others with a value.
        filled = {
            name: None if {"type": "null"} in field.get("anyOf", []) else field.get("default")
            for name, field in schema["properties"].items()
        }
        result = await server.call_tool("generate", {**filled, "prompt": "hi"})
        assert _text(result.content) == "You said: hi", result
    return f"{len(converted)} tools, all strict; a call filling every field (unused ones null) answered"


async def pydantic_ai() -> str:
    from fastmcp.client.transports import StdioTransport
    from pydantic_ai import Agent
    from pydantic_ai.mcp import MCPToolset
    from pydantic_ai.models.test import TestModel

    # load_model and unload_model need the name of a model and of an instance, which no schema can give a model
    # that fills in arguments blindly: they are left out (and tested through the real client in the suite).
    toolset = MCPToolset(StdioTransport(command=PYTHON, args=ARGS), tool_error_behavior="error").filtered(
        lambda _ctx, tool: tool.name not in NEEDS_NAMES
    )
    model = TestModel()  # calls every tool with arguments made from its schema (required fields only)
    agent = Agent(model, toolsets=[toolset])
    async with agent:
        result = await agent.run("use the tools")
    returns = [
        part
        for message in result.all_messages()
        for part in getattr(message, "parts", [])
        if type(part).__name__ == "ToolReturnPart"
    ]
    called = {part.tool_name for part in returns}
    assert called == TOOLS - NEEDS_NAMES, called
    return f"TestModel called {sorted(called)} from their schemas; none failed"


async def langchain_mcp_adapters() -> str:
    from langchain_mcp_adapters.client import MultiServerMCPClient

    client = MultiServerMCPClient({"lm": {"command": PYTHON, "args": ARGS, "transport": "stdio"}})
    tools = {tool.name: tool for tool in await client.get_tools()}
    assert set(tools) == TOOLS, tools
    answer = await tools["generate"].ainvoke({"prompt": "hi"})
    assert "You said: hi" in json.dumps(answer), answer
    pet = await tools["structured_generate"].ainvoke({"prompt": "a pet", "json_schema": PET})
    assert "emulated" in json.dumps(pet), pet
    return f"{len(tools)} tools; generate and structured_generate answered"


async def mcp_use() -> str:
    from mcp_use import MCPClient
    from mcp_use.agents.adapters import LangChainAdapter

    client = MCPClient.from_dict({"mcpServers": {"lm": {"command": PYTHON, "args": ARGS}}})
    try:
        tools = {tool.name: tool for tool in await LangChainAdapter().create_tools(client)}
        assert set(tools) == TOOLS, tools
        answer = await tools["generate"].ainvoke({"prompt": "hi"})
        assert "You said: hi" in str(answer), answer
        # It validates arguments against the schema, where `prompt` is required (null with `messages`).
        conversation = await tools["generate"].ainvoke(
            {"prompt": None, "messages": [{"role": "user", "content": "yo"}]}
        )
        assert "You said: yo" in str(conversation), conversation
    finally:
        await client.close_all_sessions()
    return f"{len(tools)} tools through its JSON-schema-to-pydantic conversion; prompt and messages answered"


async def fastmcp() -> str:
    from fastmcp import Client
    from fastmcp.client.transports import StdioTransport

    async with Client(StdioTransport(command=PYTHON, args=ARGS)) as client:
        tools = {tool.name for tool in await client.list_tools()}
        assert tools == TOOLS, tools
        progress: list[str] = []

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            progress.append(message or "")

        result = await client.call_tool("generate_stream", {"prompt": "hi"}, progress_handler=on_progress)
        assert result.data.text == "You said: hi", result
        models = await client.call_tool("list_models", {})
        assert len(models.data.models) >= 1, models
    return f"{len(TOOLS)} tools; typed results; {len(progress)} progress messages"


CLIENTS: list[tuple[str, Callable[[], Awaitable[str]]]] = [
    ("openai-agents", openai_agents),
    ("pydantic-ai", pydantic_ai),
    ("langchain-mcp-adapters", langchain_mcp_adapters),
    ("mcp-use", mcp_use),
    ("fastmcp", fastmcp),
]


async def main() -> int:
    failures = 0
    for name, check in CLIENTS:
        try:
            detail = await asyncio.wait_for(check(), timeout=120)
            print(f"ok    {name}: {detail}", flush=True)
        except Exception:  # report every client, then fail
            failures += 1
            print(f"FAIL  {name}:\n{traceback.format_exc()}", flush=True)
    print(f"\n{len(CLIENTS) - failures}/{len(CLIENTS)} clients worked.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
