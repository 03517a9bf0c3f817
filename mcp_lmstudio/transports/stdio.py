"""MCP over stdio on asyncio pipes, without the worker threads of the SDK's stdio transport.

The SDK reads stdin and writes stdout through a worker thread per line, which cost ~1.2 ms of CPU per
tool call here (of ~7 ms) and leaves a thread blocked in `read()` that nothing can interrupt at shutdown.
When stdin and stdout are pipes (as every MCP client spawns servers), this transport reads and writes them
on the event loop instead. Anything else (a terminal, a file) falls back to the SDK's transport.

As in the SDK, fd 0 and fd 1 are diverted while serving (to /dev/null and to stderr), so that a stray
`print()` or a child process cannot write into the protocol stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import AsyncIterator
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.shared.message import SessionMessage

from ..server._sdk import create_context_streams, lowlevel_server
from .jsonrpc import INTERNAL_ERROR, UnreadableMessageError, decode_message, encode_or_replace, error_body

__all__ = ["can_use_pipes", "serve_stdio"]

logger = logging.getLogger(__name__)

#: Longest accepted message line: images travel inline as base64, so allow generously.
MAX_LINE_BYTES = 256 * 1024 * 1024
INTERNAL_ERROR_REPLY = error_body(None, INTERNAL_ERROR, "Internal error: the message could not be decoded.")


def can_use_pipes() -> bool:
    """Whether stdin and stdout are pipes or sockets (never a terminal or a file)."""
    try:
        return all(_is_pipe(fd) for fd in (0, 1))
    except OSError:
        return False


def _is_pipe(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


async def serve_stdio(server: MCPServer[Any]) -> None:
    """Serve `server` on stdin/stdout until EOF.

    Falls back to the SDK's own stdio transport when stdin/stdout are not pipes, or when this `mcp` version
    has no low-level server to hand the streams to.
    """
    lowlevel = lowlevel_server(server)
    if lowlevel is None or not can_use_pipes():
        await server.run_stdio_async()
        return
    async with _pipe_streams() as (read_stream, write_stream):
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())


@contextlib.asynccontextmanager
async def _pipe_streams() -> AsyncIterator[tuple[Any, Any]]:
    wire_in, wire_out = _claim_standard_fds()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE_BYTES)
    read_transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(wire_in, "rb", buffering=0)
    )
    write_transport, write_protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(wire_out, "wb", buffering=0)
    )
    writer = asyncio.StreamWriter(write_transport, write_protocol, None, loop)
    incoming_writer, incoming = create_context_streams[SessionMessage | Exception](0)
    outgoing, outgoing_reader = create_context_streams[SessionMessage](0)

    async def read_messages() -> None:
        async with incoming_writer:
            while line := await _read_line(reader):
                text = line.decode("utf-8", errors="replace")  # as the SDK's transport reads stdin
                try:
                    message = decode_message(text)
                except UnreadableMessageError as exc:
                    logger.warning("Unreadable message on stdin: %s", exc)
                    if exc.reply is not None:  # the host would otherwise wait for an answer forever
                        writer.write(exc.reply + b"\n")
                    continue
                except Exception:  # a bug in decoding: that line's error, never the end of the session
                    logger.exception("Could not decode a message on stdin")
                    writer.write(INTERNAL_ERROR_REPLY + b"\n")
                    continue
                await incoming_writer.send(SessionMessage(message))

    async def write_messages() -> None:
        async with outgoing_reader:
            async for session_message in outgoing_reader:
                line = encode_or_replace(session_message)
                if line is not None:
                    writer.write(line + b"\n")
                    await writer.drain()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(read_messages)
            tg.start_soon(write_messages)
            yield incoming, outgoing
            tg.cancel_scope.cancel()
    finally:
        read_transport.close()
        write_transport.close()


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    """The next line (b"" at EOF). Over the limit, asyncio discards what it buffered; the rest of that line
    then fails to parse, is logged, and the session carries on."""
    while True:
        try:
            return await reader.readline()
        except ValueError:
            logger.error("Dropped part of an incoming message longer than %d bytes", MAX_LINE_BYTES)


def _claim_standard_fds() -> tuple[int, int]:
    """Move the wire to private descriptors; point fd 0 at /dev/null and fd 1 at stderr."""
    wire_in, wire_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return wire_in, wire_out
