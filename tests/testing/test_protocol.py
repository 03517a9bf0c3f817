"""Emulator endpoints the Python SDK does not call: lmstudio-js's completeRawText, dev plugins, the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx_ws
import lmstudio
import pytest

from mcp_lmstudio.testing import EmulatedModel, LMStudioEmulator

pytestmark = pytest.mark.anyio


async def _channel(api_host: str, namespace: str, endpoint: str, parameter: dict[str, Any]) -> list[dict[str, Any]]:
    """Open one channel on a fresh, authenticated socket; return its packets up to channelClose/channelError."""
    async with httpx_ws.aconnect_ws(f"http://{api_host}/{namespace}") as ws:
        await ws.send_json({"authVersion": 1, "clientIdentifier": str(uuid.uuid4()), "clientPasskey": "p"})
        assert (await ws.receive_json())["success"]
        create = {"type": "channelCreate", "endpoint": endpoint, "channelId": 1, "creationParameter": parameter}
        await ws.send_json(create)
        packets = []
        while True:
            message = await ws.receive_json()
            packets.append(message)
            if message["type"] in ("channelClose", "channelError"):
                return packets
            if message.get("message", {}).get("type") == "ready":  # a dev plugin registration: end it
                await ws.send_json({"type": "channelSend", "channelId": 1, "message": {"type": "end"}})


async def _rpc(api_host: str, namespace: str, endpoint: str, parameter: dict[str, Any]) -> dict[str, Any]:
    """One RPC on a fresh, authenticated socket; return the `rpcResult` or `rpcError` message."""
    async with httpx_ws.aconnect_ws(f"http://{api_host}/{namespace}") as ws:
        await ws.send_json({"authVersion": 1, "clientIdentifier": str(uuid.uuid4()), "clientPasskey": "p"})
        assert (await ws.receive_json())["success"]
        await ws.send_json({"type": "rpcCall", "endpoint": endpoint, "callId": 1, "parameter": parameter})
        answer: dict[str, Any] = await ws.receive_json()
        return answer


async def test_an_instance_reference_resolves_and_missing_model_info_can_be_none(emulator: LMStudioEmulator) -> None:
    reference = emulator.instances["fake-echo-1b"].reference
    specifier = {"type": "instanceReference", "instanceReference": reference}
    info = await _rpc(emulator.api_host, "llm", "getModelInfo", {"specifier": specifier, "throwIfNotFound": True})
    assert info["result"]["identifier"] == "fake-echo-1b"
    missing = {"specifier": {"type": "query", "query": {"identifier": "nope"}}, "throwIfNotFound": False}
    assert "result" not in await _rpc(emulator.api_host, "llm", "getModelInfo", missing)


async def test_complete_raw_text_predicts_from_the_raw_prompt(emulator: LMStudioEmulator) -> None:
    parameter = {
        "modelSpecifier": {"type": "query", "query": {"identifier": "fake-echo-1b"}},
        "rawPrompt": "Once upon a time",
        "predictionConfigStack": {"layers": []},
    }
    packets = await _channel(emulator.api_host, "llm", "completeRawText", parameter)
    success = packets[-2]["message"]
    assert success["type"] == "success" and success["stats"]["promptTokensCount"] == 4
    assert emulator.predictions[0].text == "You said: Once upon a time"


async def test_a_development_plugin_registers_and_gets_credentials(emulator: LMStudioEmulator) -> None:
    manifest = {"type": "plugin", "runner": "python", "owner": "me", "name": "dice"}
    packets = await _channel(emulator.api_host, "plugins", "registerDevelopmentPlugin", {"manifest": manifest})
    ready = packets[0]["message"]
    assert ready["type"] == "ready" and ready["clientIdentifier"] == emulator.plugins[0].client_identifier
    assert packets[-1]["type"] == "channelClose" and emulator.plugins[0].ended


def test_the_command_line_serves_a_catalogue_file(tmp_path: Path) -> None:
    model = EmulatedModel("my-model", "My Model", publisher="me", path="me/my-model-GGUF/my-model-Q4_K_M.gguf")
    (tmp_path / "models.json").write_text(json.dumps([model.model_info() | {"loaded": True}]))
    command = [sys.executable, "-m", "mcp_lmstudio.testing", "--port", "0", "--models", str(tmp_path / "models.json")]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as served:
        try:
            assert served.stdout is not None
            found = re.search(r"listening on (\S+) ", served.stdout.readline())
            assert found is not None
            with lmstudio.Client(found.group(1)) as client:
                assert client.llm.model("me/my-model").identifier == "my-model"
        finally:
            served.terminate()
