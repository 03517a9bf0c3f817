"""`mcp-lmstudio demo`: the whole path, shown on the bundled LM Studio emulator.

Starts the emulator, spawns the real server as a stdio subprocess, connects the real `mcp` client, lists
the tools and calls each one, printing what comes back (a tool error is printed as the error it is). Uses a
real LM Studio instead when `--host` is given on the command line; `LMSTUDIO_HOST` alone does not turn the
demo away from the emulator.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult

from ..settings import Settings
from ..testing import LMStudioEmulator, Reply
from ..testing._records import PredictionRecord, default_reply

__all__ = ["run_demo"]

_PET_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "species": {"enum": ["cat", "dog"]}, "age": {"type": "integer"}},
    "required": ["name", "species", "age"],
}


def _demo_reply(record: PredictionRecord) -> Reply:
    if record.structured:
        return default_reply(record)
    return Reply(
        "Local models keep your data on your machine, cost nothing per token, and work offline.",
        reasoning="The user wants a one-line pitch for local models.",
    )


def _show(title: str, payload: Any) -> None:
    print(f"\n== {title}")
    print(payload if isinstance(payload, str) else json.dumps(payload, indent=2))


async def run_demo(settings: Settings) -> int:
    """Run the demo; return the process exit status."""
    if settings.host is not None and settings.host_setting == "--host":
        print(f"DEMO: using the LM Studio at {settings.host} (from --host), not the emulator")
        return await _drive(settings.host, settings)
    if settings.host is not None:
        print(f"DEMO: ignoring LMSTUDIO_HOST={settings.host}; pass --host {settings.host} to use that LM Studio")
    async with LMStudioEmulator(reply=_demo_reply, token_delay=0.01) as emulator:
        print(f"DEMO: LM Studio emulator (not a real model) listening on {emulator.api_host}")
        status = await _drive(emulator.api_host, settings)
        _summarise(emulator)
        return status


def _summarise(emulator: LMStudioEmulator) -> None:
    records = emulator.predictions
    print(f"\nThe emulator served {len(records)} predictions over {sum(emulator.connections.values())} websockets.")


async def _drive(api_host: str, settings: Settings) -> int:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_lmstudio", "--host", api_host, "--log-level", "ERROR", "--timeout", str(settings.timeout)],
    )
    streamed: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if message and progress >= 1:
            streamed.append(message)

    async with Client(params) as client:
        tools = await client.list_tools()
        _show("tools/list", [tool.name for tool in tools.tools])
        models = await client.call_tool("list_models", {})
        _show("list_models", _outcome(models))
        if models.is_error:
            print("\nDemo stopped: the server cannot reach LM Studio (see above).")
            return 1
        prompt = {"prompt": "Why run a model locally? One sentence.", "max_tokens": 64}
        answer = await client.call_tool("generate", prompt)
        _show("generate", _outcome(answer))
        stream = await client.call_tool("generate_stream", prompt, progress_callback=on_progress)
        _show("generate_stream progress messages", streamed)
        _show("generate_stream result text", ("ERROR: " if stream.is_error else "") + _text(stream.content))
        pet = await client.call_tool("structured_generate", {"prompt": "Invent a pet.", "json_schema": _PET_SCHEMA})
        _show("structured_generate", _outcome(pet))
        refused = await client.call_tool("structured_generate", {"prompt": "digits", "regex": "[0-9]+"})
        _show(f"structured_generate with regex (isError={refused.is_error})", _text(refused.content))
        failures = [r for r in (models, answer, stream, pet) if r.is_error]
    print("\nDemo finished:", "all tools answered." if not failures else f"{len(failures)} tool calls failed.")
    return 1 if failures else 0


def _outcome(result: CallToolResult) -> Any:
    """The structured content of a result, or its error text."""
    if result.is_error or result.structured_content is None:
        return f"ERROR: {_text(result.content)}" if result.is_error else _text(result.content)
    return result.structured_content


def _text(content: list[Any]) -> str:
    return "".join(getattr(block, "text", "") for block in content)
