"""The `mcp-lmstudio` command: serve MCP over stdio (default) or Streamable HTTP, or run the demo.

Only `demo` prints to stdout; when serving stdio, stdout carries nothing but JSON-RPC and every log line
goes to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import cast

import anyio

from . import __version__
from .http import is_loopback
from .session import LMStudioSession
from .settings import LOG_LEVELS, LogLevel, Settings

__all__ = ["configure_logging", "main", "parse_settings"]

ENV_HOST = "LMSTUDIO_HOST"
ENV_MODEL = "LMSTUDIO_MODEL"
ENV_TIMEOUT = "MCP_LMSTUDIO_TIMEOUT"
ENV_LOG_LEVEL = "MCP_LMSTUDIO_LOG_LEVEL"
ENV_AUTH_TOKEN = "MCP_LMSTUDIO_AUTH_TOKEN"

_DESCRIPTION = """\
An MCP server that runs prompts on models hosted locally in LM Studio.
Commands: serve (default) speaks MCP on stdin/stdout for Claude Desktop, Claude Code, VS Code, Cursor...;
demo starts the bundled LM Studio emulator and drives the real server through a real MCP client;
check finds LM Studio, lists its models and runs a tiny generation (exit status 0 when all is well)."""


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mcp-lmstudio", description=_DESCRIPTION)
    parser.add_argument(
        "command", nargs="?", choices=("serve", "demo", "check"), default="serve", help="default: serve"
    )
    parser.add_argument(
        "--host",
        help=f"LM Studio address HOST:PORT (env {ENV_HOST}; default: discover a local LM Studio, then localhost:1234)",
    )
    parser.add_argument("--model", help=f"default model key (env {ENV_MODEL}; default: the model LM Studio has loaded)")
    parser.add_argument(
        "--timeout", type=float, help=f"per-call time limit in seconds (env {ENV_TIMEOUT}; default 300)"
    )
    parser.add_argument(
        "--log-level", type=str.upper, choices=LOG_LEVELS, help=f"stderr log level (env {ENV_LOG_LEVEL}; default INFO)"
    )
    parser.add_argument("--transport", choices=("stdio", "http"), default="stdio", help="default: stdio")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port, with --transport http (default 8000)")
    parser.add_argument("--bind", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1, loopback only)")
    parser.add_argument(
        "--auth-token",
        help=f"bearer token every HTTP request must carry (env {ENV_AUTH_TOKEN}); required off loopback",
    )
    parser.add_argument("--version", action="version", version=f"mcp-lmstudio {__version__}")
    return parser


def parse_settings(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> tuple[str, Settings]:
    """Resolve the command and `Settings` from flags, then env vars, then defaults."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    env = os.environ if env is None else env
    timeout_text = args.timeout if args.timeout is not None else env.get(ENV_TIMEOUT, "300")
    try:
        timeout = float(timeout_text)
    except ValueError:
        parser.error(f"{ENV_TIMEOUT}={timeout_text!r} is not a number of seconds")
    if not 0 < timeout < float("inf"):
        parser.error(f"the timeout must be a positive number of seconds, got {timeout_text!r}")
    level = (args.log_level or env.get(ENV_LOG_LEVEL, "INFO")).upper()
    if level not in LOG_LEVELS:
        parser.error(f"{ENV_LOG_LEVEL}={level!r} is not one of {', '.join(LOG_LEVELS)}")
    auth_token = args.auth_token or env.get(ENV_AUTH_TOKEN) or None
    if args.transport == "http" and not is_loopback(args.bind) and not auth_token:
        parser.error(
            f"refusing to serve HTTP on {args.bind}, which other machines can reach, without a token: "
            f"set --auth-token or {ENV_AUTH_TOKEN}, or bind 127.0.0.1"
        )
    host = args.host or env.get(ENV_HOST) or None
    if host is not None:
        _check_host(parser, host, "--host" if args.host else ENV_HOST)
    settings = Settings(
        auth_token=auth_token,
        host=host,
        model=args.model or env.get(ENV_MODEL) or None,
        model_setting=ENV_MODEL if not args.model and env.get(ENV_MODEL) else "--model",
        host_setting=ENV_HOST if not args.host and env.get(ENV_HOST) else "--host",
        timeout=timeout,
        log_level=cast(LogLevel, level),
        transport=args.transport,
        port=args.port,
        bind=args.bind,
    )
    return args.command, settings


def _check_host(parser: argparse.ArgumentParser, host: str, source: str) -> None:
    if "://" in host:
        bare = host.split("://", 1)[1].rstrip("/")
        parser.error(f"{source}={host!r}: give HOST:PORT without a scheme, e.g. {bare!r}")
    name, _, port = host.rpartition(":")
    if not name or not port.isdigit() or not 0 < int(port) < 65536:
        parser.error(f"{source}={host!r} is not HOST:PORT (e.g. localhost:1234 or 127.0.0.1:1234)")


def main(argv: list[str] | None = None) -> None:
    """Entry point of `mcp-lmstudio` and `python -m mcp_lmstudio`."""
    command, settings = parse_settings(argv)
    configure_logging(settings.log_level)
    if command == "demo":
        from .demo import run_demo

        sys.exit(anyio.run(run_demo, settings))
    if command == "check":
        from .check import run_check

        sys.exit(anyio.run(run_check, settings))
    _serve_until_signalled(settings)


def configure_logging(level: LogLevel) -> None:
    """Log to stderr only. Below DEBUG, other libraries (the lmstudio SDK logs every websocket event at
    INFO under its class names) show only their warnings."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if level != "DEBUG":
        handler.addFilter(_ours_or_warnings)
    logging.basicConfig(level=level, handlers=[handler], force=True)


def _ours_or_warnings(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or record.name.startswith(("mcp_lmstudio", "mcp."))


def _serve_until_signalled(settings: Settings) -> None:
    from .http import serve_http
    from .server import create_server
    from .stdio import can_use_pipes, serve_stdio

    session = LMStudioSession.from_settings(settings)
    server = create_server(settings, session=session)
    if settings.transport == "http":
        # uvicorn handles SIGTERM/SIGINT itself: it stops accepting, gives calls in flight a grace period,
        # runs the lifespan exit (closing the session), then re-raises the signal, which these absorb.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda _signum, _frame: None)
        anyio.run(serve_http, server, settings)
        return
    if sys.stdin.isatty():
        logging.getLogger(__name__).warning(
            "mcp-lmstudio speaks MCP on stdin/stdout: add it to your MCP client's configuration "
            "(see README). To watch it work, run `mcp-lmstudio demo`. Ctrl-C quits."
        )

    async def serve() -> None:
        await serve_stdio(server)

    # The SDK's stdio transport (used when stdin/stdout are not pipes) leaves a worker thread blocked
    # reading stdin, which only a hard exit gets past.
    exit_hard = not can_use_pipes()
    anyio.run(_run_until_signal, serve, session, exit_hard)
    if exit_hard:
        _exit_now()


#: After SIGTERM/SIGINT, how long in-flight calls and the LM Studio session get to close.
SHUTDOWN_GRACE_S = 1.5


def _exit_now() -> None:
    # The SDK's stdio transport reads stdin in a worker thread that nothing can interrupt; once the session
    # is closed there is nothing left to clean up, so leave without waiting for it.
    sys.stderr.flush()
    os._exit(0)


async def _run_until_signal(serve: Callable[[], Awaitable[None]], session: LMStudioSession, exit_hard: bool) -> None:
    """Serve until done, or until SIGTERM/SIGINT cancels the calls in flight and closes the session."""
    async with anyio.create_task_group() as tg:
        serving = anyio.CancelScope()

        async def stop_on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    logging.getLogger(__name__).info("Received %s; shutting down", signal.Signals(signum).name)
                    serving.cancel()  # cancels in-flight calls (and their predictions), then closes the session
                    with anyio.move_on_after(SHUTDOWN_GRACE_S):
                        await session.wait_closed()
                    if exit_hard:
                        _exit_now()
                    return

        tg.start_soon(stop_on_signal)
        with serving:
            await serve()
        tg.cancel_scope.cancel()
