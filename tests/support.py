"""Shared test data."""

from __future__ import annotations

import base64
import socket
import struct
import zlib

from mcp.types import CallToolResult, TextContent

from mcp_lmstudio.server.generation import REFERENCES_META


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def tiny_png() -> bytes:
    """A valid 1x1 white PNG."""
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", pixels) + _png_chunk(b"IEND", b"")


PNG_BYTES = tiny_png()
PNG_B64 = base64.b64encode(PNG_BYTES).decode("ascii")
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
JPEG_B64 = base64.b64encode(JPEG_BYTES).decode("ascii")

USER_SCHEMA = {
    "properties": {
        "user_id": {"title": "User Id", "type": "integer"},
        "name": {"title": "Name", "type": "string"},
    },
    "required": ["user_id", "name"],
    "title": "User",
    "type": "object",
}


def closed_port() -> int:
    """A local port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def text_of(result: CallToolResult) -> str:
    """The text blocks of a tool result, joined, without the closing note that names `response_id` and files."""
    return "".join(
        block.text
        for block in result.content
        if isinstance(block, TextContent) and REFERENCES_META not in (block.meta or {})
    )


def references_note(result: CallToolResult) -> str | None:
    """The closing note naming `response_id` and the files read, if the result has one."""
    notes = [b.text for b in result.content if isinstance(b, TextContent) and REFERENCES_META in (b.meta or {})]
    return notes[0] if notes else None
