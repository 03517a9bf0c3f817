"""What a model reads in tools/list, and what it reads when its arguments are wrong: small, strict, plain."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from mcp_lmstudio.server.app import create_server
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import LMStudioEmulator
from tests.stdio_support import raw_stdio_server
from tests.support import closed_port, text_of
from tests.transports.test_http import http_server

pytestmark = pytest.mark.anyio

#: tools/list as JSON, compact: 19,076 bytes before issue 10 (four tools, no context_overflow or think_first);
#: 13,063 after it, and about 15,000 with those two; 18,567 with the arguments and result fields of files,
#: output_file and conversations (issues 17 and 19); 22,693 with load_model, unload_model and embed (about 3,900
#: bytes with their result schemas) and `type`/`default` in list_models' entries (issue 20); a little room left.
TOOLS_LIST_BYTES_LIMIT = 23_000


async def tools_list(mode: str = "legacy") -> dict[str, Any]:
    async with Client(create_server(Settings(host=f"127.0.0.1:{closed_port()}")), mode=mode) as client:  # type: ignore[arg-type]
        listed = await client.list_tools()
    return listed.model_dump(by_alias=True, exclude_none=True, mode="json")


def walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every schema object under `node`, with where it is."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, value in node.items():
            if key in ("properties", "$defs"):
                for name, sub in value.items():
                    found.extend(walk(sub, f"{path}/{key}/{name}"))
            elif key not in ("examples", "const", "enum", "default"):
                found.extend(walk(value, f"{path}/{key}"))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found.extend(walk(item, f"{path}/{index}"))
    return found


async def test_tools_list_is_small_and_prints_its_size() -> None:
    listed = await tools_list()
    size = len(json.dumps(listed, separators=(",", ":")))
    per_tool = {tool["name"]: len(json.dumps(tool, separators=(",", ":"))) for tool in listed["tools"]}
    print(f"tools/list: {size} bytes (19,076 before issue 10); per tool: {per_tool}")
    assert size <= TOOLS_LIST_BYTES_LIMIT


async def test_every_object_in_every_input_schema_is_closed() -> None:
    """What openai-agents needs to use a tool with a strict schema: no open object anywhere."""
    for tool in (await tools_list())["tools"]:
        for where, node in walk(tool["inputSchema"]):
            assert node.get("additionalProperties") is not True, (tool["name"], where)
            if "properties" in node:
                assert node.get("additionalProperties") is False, (tool["name"], where)
            assert not {"title", "$ref", "minLength", "maxLength"} & set(node), (tool["name"], where)
            assert node.get("type") != "object" or "properties" in node, (tool["name"], where)
            assert not {"annotations", "_meta"} & set(node.get("properties", {})), (tool["name"], where)


async def test_required_fields_are_marked_and_defaults_stated() -> None:
    tools = {tool["name"]: tool for tool in (await tools_list())["tools"]}
    for name in ("generate", "generate_stream"):
        schema = tools[name]["inputSchema"]
        assert schema["required"] == ["prompt"]
        assert {"type": "null"} in schema["properties"]["prompt"]["anyOf"]  # null when `messages` is given
        for field in ("max_tokens", "temperature"):
            assert "Default:" in schema["properties"][field]["description"]
    structured = tools["structured_generate"]["inputSchema"]
    assert structured["required"] == ["prompt", "json_schema"]
    assert structured["properties"]["json_schema"]["examples"]
    assert "required" not in tools["list_models"]["inputSchema"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_capabilities_advertise_tools_only(mode: str) -> None:
    async with Client(create_server(Settings(host=f"127.0.0.1:{closed_port()}")), mode=mode) as client:  # type: ignore[arg-type]
        capabilities = client.server_capabilities
        # A client that lists them anyway is told the method does not exist, as for any undeclared capability.
        with pytest.raises(MCPError) as refused:
            await client.list_prompts()
        assert refused.value.error.code == -32601
    assert capabilities is not None
    assert capabilities.tools is not None
    assert (capabilities.prompts, capabilities.resources) == (None, None)


async def test_message_parts_may_still_carry_mcp_annotations_and_meta(
    emulator: LMStudioEmulator, mcp_client: Client
) -> None:
    part = {"type": "text", "text": "hello", "annotations": {"audience": ["user"]}, "_meta": {"x": 1}}
    result = await mcp_client.call_tool("generate", {"messages": [{"role": "user", "content": [part]}]})
    assert (result.is_error, text_of(result)) == (False, "You said: hello")


async def test_a_schema_driven_call_with_only_the_required_fields_succeeds(mcp_client: Client) -> None:
    """pydantic-ai's test model sends the required fields only, with the first type or the example given."""
    assert not (await mcp_client.call_tool("generate", {"prompt": "a"})).is_error
    example = (await tools_list())["tools"][2]["inputSchema"]["properties"]["json_schema"]["examples"][0]
    result = await mcp_client.call_tool("structured_generate", {"prompt": "a", "json_schema": example})
    assert not result.is_error and result.structured_content == {"answer": "emulated"}


async def test_a_strict_client_sending_every_field_as_null_is_understood(mcp_client: Client) -> None:
    """Strict clients (openai-agents) mark every field required, so a model fills the unused nullable ones with
    null (and gives the others a value; here their defaults)."""
    schema = (await tools_list())["tools"][0]["inputSchema"]
    arguments: dict[str, Any] = {
        name: None if {"type": "null"} in field.get("anyOf", []) else field["default"]
        for name, field in schema["properties"].items()
    }
    result = await mcp_client.call_tool("generate", {**arguments, "messages": [{"role": "user", "content": "hi"}]})
    assert (result.is_error, text_of(result)) == (False, "You said: hi")


async def test_an_argument_error_over_stdio_names_the_field_and_the_fix(emulator: LMStudioEmulator) -> None:
    async with raw_stdio_server(emulator.api_host, "--log-level", "ERROR") as server:
        with anyio.fail_after(30):
            await server.initialize()
            response = await server.call_tool("generate", {"prompt": "hi", "maxTokens": 10})
    result = response["result"]
    assert result["isError"] is True
    assert result["content"] == [
        {"type": "text", "text": "`generate` has no argument `maxTokens`; did you mean `max_tokens`?"}
    ]


async def test_an_argument_error_over_http_names_the_field_the_value_and_the_range(
    emulator: LMStudioEmulator,
) -> None:
    async with http_server(emulator.api_host, "--log-level", "ERROR") as (url, _process):
        async with Client(streamable_http_client(url), mode="legacy") as client:
            result = await client.call_tool("generate", {"prompt": "x", "temperature": 7})
    assert result.is_error
    assert text_of(result) == "`temperature` must be from 0 to 5; got 7."
