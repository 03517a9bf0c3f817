"""The emulator itself: what the SDK sees, and the faults it can inject."""

from __future__ import annotations

import json
import sys

import anyio
import httpx
import lmstudio
import pytest

from mcp_lmstudio.testing import LMStudioEmulator
from tests.support import closed_port

pytestmark = pytest.mark.anyio


async def test_the_greeting_identifies_lm_studio(emulator: LMStudioEmulator) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://{emulator.api_host}/lmstudio-greeting")
    assert (response.status_code, response.json()) == (200, {"lmstudio": True})
    assert await lmstudio.AsyncClient.is_valid_api_host(emulator.api_host)


async def test_the_sdk_opens_and_authenticates_its_five_namespaces(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    assert dict(emulator.connections) == {"embedding": 1, "files": 1, "llm": 1, "repository": 1, "system": 1}


async def test_an_unknown_rpc_gets_a_warning_and_no_reply_as_in_lm_studio(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(TimeoutError), anyio.fail_after(0.5):
        await client.llm.remote_call("noSuchEndpoint")
    assert ("llm", "noSuchEndpoint") in emulator.rpc_calls
    assert any("unknown endpoint, endpoint = noSuchEndpoint" in record.getMessage() for record in caplog.records)


async def test_an_unknown_model_key_is_path_not_found(client: lmstudio.AsyncClient) -> None:
    with pytest.raises(lmstudio.LMStudioServerError, match="generic.pathNotFound"):
        await client.llm.model("no-such-model")


async def test_a_jit_load_reports_progress(emulator: LMStudioEmulator, client: lmstudio.AsyncClient) -> None:
    progress: list[float] = []
    await client.llm.model("fake-unloaded-7b", on_load_progress=progress.append)
    assert progress[-1] == 1.0 and len(progress) >= 4
    assert "fake-unloaded-7b" in emulator.loaded


async def test_rejected_authentication_fails_the_connection(emulator: LMStudioEmulator) -> None:
    emulator.reject_auth = True
    # lmstudio 1.5.0 surfaces an auth refusal as a bare ValueError; 1.6 as LMStudioServerError ("Authentication
    # failed ... access denied"), as it does against LM Studio.
    with pytest.raises((ValueError, lmstudio.LMStudioServerError)):
        async with lmstudio.AsyncClient(emulator.api_host):
            pass


async def test_dropped_connections_fail_the_stream_in_flight(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    emulator.reply = " ".join(["word"] * 500)
    emulator.token_delay = 0.01
    llm = await client.llm.model("fake-echo-1b")
    stream = await llm.respond_stream("go")
    with anyio.fail_after(5), pytest.raises(lmstudio.LMStudioWebsocketError):
        async for _fragment in stream:
            await emulator.drop_connections()


async def test_a_malformed_frame_ends_that_namespace_session(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    await emulator.send_malformed_frame("llm")
    with anyio.fail_after(5), pytest.raises(lmstudio.LMStudioWebsocketError):
        await client.llm.list_loaded()


async def test_stop_and_start_reuse_the_port(emulator: LMStudioEmulator) -> None:
    port = emulator.port
    await emulator.stop()
    assert not await lmstudio.AsyncClient.is_valid_api_host(emulator.api_host)
    await emulator.start()
    assert emulator.port == port
    async with lmstudio.AsyncClient(emulator.api_host) as sdk_client:
        assert [llm.identifier for llm in await sdk_client.llm.list_loaded()] == ["fake-echo-1b", "fake-vision-2b"]


async def test_a_cancelled_prediction_ends_with_user_stopped(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    emulator.hang_predictions = True
    llm = await client.llm.model("fake-echo-1b")
    stream = await llm.respond_stream("go")
    await stream.start()
    await stream.cancel()
    with anyio.fail_after(5):
        result = await stream.wait_for_result()
    assert result.stats.stop_reason == "userStopped"
    assert emulator.predictions[0].cancelled


async def test_the_command_line_serves_the_emulator() -> None:
    port = closed_port()
    command = [sys.executable, "-m", "mcp_lmstudio.testing", "--port", str(port), "--reply", "hi from the CLI"]
    async with await anyio.open_process(command, stderr=None) as process:
        try:
            assert process.stdout is not None
            banner = b""
            with anyio.fail_after(15):
                while b"\n" not in banner:
                    banner += await process.stdout.receive()
            assert f"listening on 127.0.0.1:{port}".encode() in banner
            async with lmstudio.AsyncClient(f"127.0.0.1:{port}") as sdk_client:
                llm = await sdk_client.llm.model()
                assert (await llm.respond("x")).content == "hi from the CLI"
        finally:
            process.terminate()
            with anyio.fail_after(10):
                await process.wait()


def test_structured_replies_satisfy_the_schema() -> None:
    from mcp_lmstudio.testing import sample_for_schema

    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 3},
            "kind": {"enum": ["cat", "dog"]},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "pet": {"$ref": "#/$defs/Pet"},
        },
        "$defs": {"Pet": {"type": "object", "properties": {"name": {"type": "string", "minLength": 10}}}},
    }
    value = sample_for_schema(schema, schema)
    assert json.loads(json.dumps(value)) == {
        "n": 3,
        "kind": "cat",
        "tags": ["emulated", "emulated1"],
        "pet": {"name": "emulatedxx"},
    }


async def test_model_info_comes_from_the_catalogue_and_a_start_load_gets_lm_studios_default_context(
    client: lmstudio.AsyncClient,
) -> None:
    llm = await client.llm.model("fake-vision-2b")
    info = await llm.get_info()
    assert (info.model_key, info.display_name, info.vision) == ("fake-vision-2b", "Fake Vision 2B", True)
    assert (info.max_context_length, await llm.get_context_length()) == (8192, 4096)
    with pytest.raises(lmstudio.LMStudioModelNotFoundError):
        await client.llm._create_handle("not-loaded").get_info()


async def test_every_socket_sets_tcp_nodelay(emulator: LMStudioEmulator, client: lmstudio.AsyncClient) -> None:
    import socket

    sockets = [ws.transport.get_extra_info("socket") for ws in emulator._sockets]
    assert len(sockets) == 5
    assert all(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for sock in sockets)


@pytest.mark.parametrize(
    ("stops", "expected_text"),
    [(["beta STOP"], "alpha "), (["STOP"], "alpha beta "), (["gam"], "alpha beta STOP "), (["zzz"], None)],
)
async def test_stop_strings_spanning_tokens_are_never_sent(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient, stops: list[str], expected_text: str | None
) -> None:
    emulator.reply = "alpha beta STOP gamma"
    llm = await client.llm.model("fake-echo-1b")
    stream = await llm.respond_stream("go", config={"stopStrings": stops})
    streamed = "".join([fragment.content async for fragment in stream])
    result = stream.result()
    assert streamed == result.content == (expected_text if expected_text is not None else emulator.reply)
    assert result.stats.stop_reason == ("stopStringFound" if expected_text is not None else "eosFound")
    assert result.stats.predicted_tokens_count >= len(result.content.split())


async def test_a_failing_reply_script_becomes_an_error_reply(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    def broken(_record: object) -> str:
        raise RuntimeError("script bug")

    emulator.reply = broken
    llm = await client.llm.model("fake-echo-1b")
    with anyio.fail_after(5), pytest.raises(lmstudio.LMStudioServerError, match="script bug"):
        await llm.respond("hi")
    assert emulator.predictions[0].stop_reason == "failed"


async def test_stats_are_derived_from_the_script_so_runs_repeat(
    emulator: LMStudioEmulator, client: lmstudio.AsyncClient
) -> None:
    emulator.token_delay, emulator.prompt_processing_delay = 0.01, 0.02
    llm = await client.llm.model("fake-echo-1b")
    first, second = (await llm.respond("same prompt")).stats, (await llm.respond("same prompt")).stats
    assert first == second
    assert (first.tokens_per_second, first.time_to_first_token_sec) == (100.0, 0.03)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "array", "items": {"type": "integer"}, "minItems": 3, "uniqueItems": True},
        {"type": "integer", "exclusiveMaximum": 0},
        {"type": "number", "exclusiveMinimum": 0.5, "maximum": 1},
        {"type": "integer", "minimum": 7, "multipleOf": 5},
        {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                   {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}]},
        {"type": "object", "minProperties": 2},
        {"type": "object", "required": ["undeclared"]},
        {"type": "string", "format": "date-time"},
        {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "minItems": 2},
        {"type": "array", "items": {"enum": ["a", "b", "c"]}, "minItems": 3, "uniqueItems": True},
    ],
)  # fmt: skip
def test_sample_replies_satisfy_the_schema(schema: dict[str, object]) -> None:
    import jsonschema

    from mcp_lmstudio.testing import sample_for_schema

    jsonschema.validate(sample_for_schema(schema, schema), schema)


def test_the_cli_refuses_a_malformed_api_token_with_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from mcp_lmstudio.testing.__main__ import main

    with pytest.raises(SystemExit) as exited:
        main(["--port", "0", "--api-token", "not-a-token"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "argument --api-token" in error and "sk-lm-XXXXXXXX:" in error and "not-a-token" not in error
