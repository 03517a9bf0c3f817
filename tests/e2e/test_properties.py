"""Generated inputs: the adapter and the tools take anything and answer with a result or a clear error."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client, MCPError
from mcp.types import Tool

from mcp_lmstudio import Chat, Image, LMStudioTypeAdapter
from mcp_lmstudio.server.app import create_server
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import LMStudioEmulator
from tests.models.test_adapter import fake_upload
from tests.schema_strategies import from_schema
from tests.support import PNG_B64, text_of

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
IMAGES = st.just(Image(PNG_B64, "image/png"))
CONTENT = st.text(max_size=30) | st.lists(st.text(max_size=10) | IMAGES | JSON_VALUES, max_size=3) | JSON_VALUES
MESSAGES = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant", "tool", ""]), "content": CONTENT})
    | JSON_VALUES,
    max_size=4,
)
ADAPTER_INPUTS = (
    st.text(max_size=30)
    | st.lists(st.text(max_size=10) | IMAGES | JSON_VALUES, max_size=4)
    | MESSAGES.map(Chat)
    | JSON_VALUES
)


@settings(max_examples=300, deadline=None)
@given(ADAPTER_INPUTS)
def test_format_input_returns_a_prompt_or_chat_or_raises_a_documented_error(model_input: Any) -> None:
    try:
        formatted = LMStudioTypeAdapter().format_input(model_input, upload_image=fake_upload)
    except (TypeError, ValueError) as exc:
        assert str(exc)
    else:
        assert isinstance(formatted, str) or formatted.__class__.__name__ == "Chat"


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES | st.builds(json.dumps, JSON_VALUES))
def test_format_output_type_returns_a_schema_or_raises_a_documented_error(output_type: Any) -> None:
    try:
        schema = LMStudioTypeAdapter().format_output_type(output_type)
    except (TypeError, ValueError) as exc:
        assert str(exc)
    else:
        assert schema is None or "type" in schema


@asynccontextmanager
async def serving() -> AsyncIterator[tuple[Client, dict[str, Tool]]]:
    async with LMStudioEmulator() as emulator:
        async with Client(create_server(Settings(host=emulator.api_host, timeout=10))) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            yield client, tools


@pytest.fixture(scope="module")
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal("asyncio") as running:
        yield running


@pytest.fixture(scope="module")
def served(portal: BlockingPortal) -> Iterator[tuple[Client, dict[str, Tool]]]:
    with portal.wrap_async_context_manager(serving()) as client_and_tools:
        yield client_and_tools


def call(portal: BlockingPortal, client: Client, tool: str, arguments: dict[str, Any]) -> None:
    """Call the tool: a result, or an error that says something beyond 'Error executing tool'."""
    try:
        result = portal.call(client.call_tool, tool, arguments)
    except MCPError as exc:
        assert exc.error.message
        return
    if result.is_error:
        message = text_of(result)
        assert message and message != f"Error executing tool {tool}", arguments
    elif tool != "list_models":
        assert result.structured_content is not None


TOOL_NAMES = [
    "generate",
    "generate_stream",
    "structured_generate",
    "list_models",
    "load_model",
    "unload_model",
    "embed",
]
ANY_ARGUMENTS = st.dictionaries(
    st.sampled_from(["prompt", "messages", "images", "model", "temperature", "max_tokens", "stop", "json_schema"])
    | st.text(max_size=8),
    JSON_VALUES,
    max_size=5,
)
QUICK = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("tool", TOOL_NAMES)
def test_tools_answer_schema_valid_arguments(
    portal: BlockingPortal, served: tuple[Client, dict[str, Tool]], tool: str
) -> None:
    client, tools = served

    @QUICK
    @given(from_schema(tools[tool].input_schema))
    def check(arguments: dict[str, Any]) -> None:
        call(portal, client, tool, arguments)

    check()


@pytest.mark.parametrize("tool", TOOL_NAMES)
def test_tools_answer_arbitrary_arguments(
    portal: BlockingPortal, served: tuple[Client, dict[str, Tool]], tool: str
) -> None:
    client, _tools = served

    @QUICK
    @given(ANY_ARGUMENTS)
    def check(arguments: dict[str, Any]) -> None:
        call(portal, client, tool, arguments)

    check()
