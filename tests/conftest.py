from __future__ import annotations

from collections.abc import AsyncIterator

import lmstudio
import pytest

from mcp_lmstudio.testing import LMStudioEmulator


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
