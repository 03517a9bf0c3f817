from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator

import lmstudio
import pytest
from mcp import Client

from mcp_lmstudio.server.app import create_server
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import LMStudioEmulator

# Conversation history defaults to an SQLite file in the user's data directory (platformdirs reads
# XDG_DATA_HOME on Linux): every server the suite starts, in memory or as a subprocess, keeps it here instead,
# and the directory goes when the run ends.
_DATA_HOME = tempfile.TemporaryDirectory(prefix="mcp-lmstudio-test-data-", ignore_cleanup_errors=True)
os.environ["XDG_DATA_HOME"] = _DATA_HOME.name


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the lmstudio SDK is asyncio-only


@pytest.fixture
async def emulator() -> AsyncIterator[LMStudioEmulator]:
    async with LMStudioEmulator() as lms:
        yield lms


@pytest.fixture
async def client(emulator: LMStudioEmulator) -> AsyncIterator[lmstudio.AsyncClient]:
    async with lmstudio.AsyncClient(emulator.api_host) as sdk_client:
        yield sdk_client


@pytest.fixture(params=["auto", "legacy"])
def mode(request: pytest.FixtureRequest) -> str:
    """The in-memory client's protocol mode: 2026-07-28 (`auto`) or the 2025-11-25 handshake (`legacy`)."""
    return str(request.param)


@pytest.fixture
async def mcp_client(emulator: LMStudioEmulator, mode: str) -> AsyncIterator[Client]:
    server = create_server(Settings(host=emulator.api_host, timeout=10))
    async with Client(server, mode=mode) as mcp:  # type: ignore[arg-type]
        yield mcp
