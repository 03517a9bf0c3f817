"""Hunt (turn 3) cases 18 and 19, which passed, kept as regression tests through the real MCP client in memory:
recursive and odd JSON schemas reach LM Studio intact and answers are validated deep; odd images are used or
refused before any upload, with the fix named."""

from __future__ import annotations

import base64
import json
import os
import struct
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client

from mcp_lmstudio.server.app import create_server
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import LMStudioEmulator, Reply
from tests.support import text_of

pytestmark = pytest.mark.anyio

UI = {  # OpenAI's structured-outputs UI example, recursive through "#"
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["div", "button", "header", "section", "field", "form"]},
        "label": {"type": "string"},
        "children": {"type": "array", "items": {"$ref": "#"}},
        "attributes": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
                "required": ["name", "value"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["type", "label", "children", "attributes"],
    "additionalProperties": False,
}
NODE = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
    "required": ["name", "kids"],
    "additionalProperties": False,
}
TREE = {"$defs": {"node": NODE}, "$ref": "#/$defs/node"}
SCHEMAS: dict[str, tuple[dict[str, Any], str, str | None, str | None]] = {
    "UI, recursive via #": (
        UI,
        '{"type":"form","label":"P","attributes":[],"children":[{"type":"field","label":"N","attributes":[],"children":[]}]}',
        '{"type":"form","label":"P","attributes":[],"children":[{"type":"field","label":"N","attributes":[],'
        '"children":[{"type":"blink","label":"x","attributes":[],"children":[]}]}]}',
        "children/0/children/0/type",
    ),
    "tree via $defs, top-level $ref": (
        TREE,
        '{"name":"root","kids":[{"name":"a","kids":[]}]}',
        '{"name":"root","kids":[{"name":"a","kids":[{"name":7,"kids":[]}]}]}',
        "kids/0/kids/0/name",
    ),
    "boolean sub-schemas": (
        {"type": "object", "properties": {"any": True, "never": False, "n": {"type": "integer"}}, "required": ["n"]},
        '{"any": [1, {"x": null}], "n": 3}',
        None,
        None,
    ),
    "mixed enum + const": (
        {"type": "object", "properties": {"v": {"enum": [1, "1", True, None, 1.5]}, "k": {"const": "fixed"}}},
        '{"v": true, "k": "fixed"}',
        None,
        None,
    ),
    "draft-07 definitions": (
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "definitions": {"p": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}},
            "$ref": "#/definitions/p",
        },
        '{"x": 1.5}',
        None,
        None,
    ),
    "nullable top level": ({"type": ["object", "null"], "properties": {"a": {"type": "string"}}}, "null", None, None),
}


class Answer:
    def __init__(self) -> None:
        self.text = "{}"

    def __call__(self, _record: Any) -> Reply:
        return Reply(self.text)


@pytest.fixture
def answer() -> Answer:
    return Answer()


@pytest.fixture
async def lms(answer: Answer) -> AsyncIterator[LMStudioEmulator]:
    async with LMStudioEmulator(reply=answer) as emulator:
        yield emulator


@pytest.fixture
async def client(lms: LMStudioEmulator) -> AsyncIterator[Client]:
    async with Client(create_server(Settings(host=lms.api_host, timeout=20)), mode="legacy") as mcp:
        yield mcp


@pytest.mark.parametrize("case", list(SCHEMAS))
async def test_18_recursive_and_odd_schemas_pass_through_and_answers_are_validated_deep(
    client: Client, lms: LMStudioEmulator, answer: Answer, case: str
) -> None:
    schema, good, bad, where = SCHEMAS[case]
    answer.text = good
    result = await client.call_tool("structured_generate", {"prompt": "p", "json_schema": schema})
    assert not result.is_error, text_of(result)
    parsed = json.loads(good)
    assert result.structured_content == (parsed if isinstance(parsed, dict) else {"value": parsed})
    sent = (lms.predictions[-1].structured or {}).get("jsonSchema", {})
    assert all(key in sent for key in ("$defs", "definitions") if key in schema)  # refs stay resolvable
    if bad is not None:
        answer.text = bad
        result = await client.call_tool("structured_generate", {"prompt": "p", "json_schema": schema})
        assert result.is_error and f"does not satisfy the schema at {where}" in text_of(result)


def png(width: int, height: int) -> bytes:
    rows = b"".join(b"\x00" + b"\x10\x20\x30" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


B64 = base64.b64encode(png(32, 32)).decode()
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
    b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
BMP = (
    b"BM"
    + struct.pack("<IHHI", 58, 0, 0, 54)
    + struct.pack("<IiiHHIIiiII", 40, 1, 1, 1, 24, 0, 4, 0, 0, 0, 0)
    + b"\x00\x00\xff\x00"
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'
IMAGES: dict[str, tuple[dict[str, str], str]] = {
    "PNG declared image/jpeg": ({"data": B64, "mimeType": "image/jpeg"}, "refuse"),
    "GIF": ({"data": base64.b64encode(GIF).decode(), "mimeType": "image/gif"}, "refuse"),
    "BMP": ({"data": base64.b64encode(BMP).decode(), "mimeType": "image/bmp"}, "refuse"),
    "SVG": ({"data": base64.b64encode(SVG).decode(), "mimeType": "image/svg+xml"}, "refuse"),
    "data: URI in data": ({"data": "data:image/png;base64," + B64, "mimeType": "image/png"}, "refuse"),
    "base64 wrapped at 76": (
        {"data": "\n".join(B64[i : i + 76] for i in range(0, len(B64), 76)), "mimeType": "image/png"},
        "either",
    ),
    "MIME IMAGE/PNG": ({"data": B64, "mimeType": "IMAGE/PNG"}, "either"),
    "MIME image/jpg, PNG bytes": ({"data": B64, "mimeType": "image/jpg"}, "refuse"),
    "empty data": ({"data": "", "mimeType": "image/png"}, "refuse"),
    "21 MiB": (
        {"data": base64.b64encode(png(1, 1)[:8] + os.urandom(21 * 1024 * 1024)).decode(), "mimeType": "image/png"},
        "refuse",
    ),
    "plain PNG": ({"data": B64, "mimeType": "image/png"}, "accept"),
}


@pytest.mark.parametrize("case", list(IMAGES))
async def test_19_odd_images_are_used_or_refused_before_any_upload(
    client: Client, lms: LMStudioEmulator, case: str
) -> None:
    image, want = IMAGES[case]
    lms.reply = None  # the emulator's own answer, which counts the images it saw
    arguments = {"prompt": "Describe it.", "images": [image], "model": "fake-vision-2b"}
    result = await client.call_tool("generate", arguments)
    message = text_of(result)
    if want == "accept":
        assert not result.is_error and "I see 1 image" in message
    if want == "refuse":
        assert result.is_error
    if result.is_error:
        assert lms.uploads == [] and len(message) >= 40  # refused up front, with the fix named
    after = await client.call_tool("generate", {"prompt": "still there?"})
    assert not after.is_error
