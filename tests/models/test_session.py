"""The long-lived session: where it looks for LM Studio, and how it reconnects."""

from __future__ import annotations

import anyio
import pytest
from lmstudio import AsyncClient

from mcp_lmstudio import LMStudioUnavailableError
from mcp_lmstudio.models.session import DEFAULT_HOST, LMStudioSession
from mcp_lmstudio.testing import LMStudioEmulator

pytestmark = pytest.mark.anyio

DISCOVERY_PORT = 41343  # the first of the lmstudio SDK's well-known local API ports


async def test_without_a_host_the_sdk_discovery_finds_lm_studio() -> None:
    try:
        emulator = await LMStudioEmulator(port=DISCOVERY_PORT).__aenter__()
    except OSError:
        pytest.skip(f"port {DISCOVERY_PORT} is taken on this machine")
    try:
        session = LMStudioSession()
        with anyio.fail_after(10):
            await session.model()
        assert session.api_host == f"127.0.0.1:{DISCOVERY_PORT}"
        await session.close()
    finally:
        await emulator.__aexit__(None, None, None)


async def test_without_a_host_or_discovery_it_falls_back_to_localhost_1234() -> None:
    if await AsyncClient.find_default_local_api_host() or await AsyncClient.is_valid_api_host(DEFAULT_HOST):
        pytest.skip("a real LM Studio is running on this machine")
    session = LMStudioSession()
    with anyio.fail_after(10), pytest.raises(LMStudioUnavailableError, match=f"not reachable at {DEFAULT_HOST}"):
        await session.model()


async def test_concurrent_first_calls_open_one_connection(emulator: LMStudioEmulator) -> None:
    session = LMStudioSession(host=emulator.api_host)
    models = []
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for _ in range(16):

                async def connect() -> None:
                    models.append(await session.model())

                tg.start_soon(connect)
    assert len({id(model) for model in models}) == 1
    assert (session.connects, emulator.connections["llm"]) == (1, 1)
    await session.close()


async def test_a_closed_session_refuses_new_calls(emulator: LMStudioEmulator) -> None:
    session = LMStudioSession(host=emulator.api_host)
    await session.model()
    await session.close()
    with pytest.raises(LMStudioUnavailableError, match="shutting down"):
        await session.model()


async def test_liveness_reads_the_sdk_and_fails_open_on_unknown_internals(emulator: LMStudioEmulator) -> None:
    from mcp_lmstudio.models.session import _is_connected

    session = LMStudioSession(host=emulator.api_host)
    model = await session.model()
    assert _is_connected(model.client)  # a freshly entered client is recognised as connected
    await session.close()
    assert not _is_connected(model.client)  # a closed one is not
    assert _is_connected(object())  # internals it does not recognise: rely on error-driven reconnects
