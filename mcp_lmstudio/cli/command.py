"""The `mcp-lmstudio` command: serve MCP over stdio (default) or Streamable HTTP, or run the demo.

Only `demo` prints to stdout; when serving stdio, stdout carries nothing but JSON-RPC and every log line
goes to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import cast

import anyio

from .. import __version__
from ..models.session import LMStudioSession
from ..settings import LOG_LEVELS, LogLevel, Settings
from ..transports.addresses import is_loopback
from .offload_options import add_offload_arguments, offload_settings

__all__ = ["configure_logging", "main", "parse_settings"]

ENV_HOST = "LMSTUDIO_HOST"
ENV_MODEL = "LMSTUDIO_MODEL"
ENV_TIMEOUT = "MCP_LMSTUDIO_TIMEOUT"
ENV_TASK_TIMEOUT = "MCP_LMSTUDIO_TASK_TIMEOUT"
#: A task's default time limit: an hour, and never shorter than the per-call limit.
DEFAULT_TASK_TIMEOUT_S = 3600.0
ENV_LOG_LEVEL = "MCP_LMSTUDIO_LOG_LEVEL"
ENV_AUTH_TOKEN = "MCP_LMSTUDIO_AUTH_TOKEN"
ENV_API_TOKEN = "LMSTUDIO_API_TOKEN"

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
        help=f"LM Studio address HOST:PORT, or the URL LM Studio shows (env {ENV_HOST}; default: discover a local "
        "LM Studio, then localhost:1234)",
    )
    parser.add_argument("--model", help=f"default model key (env {ENV_MODEL}; default: the model LM Studio has loaded)")
    parser.add_argument("--timeout", help=f"per-call time limit in seconds (env {ENV_TIMEOUT}; default 300)")
    parser.add_argument(
        "--task-timeout",
        help=f"time limit in seconds of a call run as an MCP task (env {ENV_TASK_TIMEOUT}; "
        f"default {DEFAULT_TASK_TIMEOUT_S:g}, or --timeout if longer)",
    )
    parser.add_argument(
        "--log-level", type=str.upper, choices=LOG_LEVELS, help=f"stderr log level (env {ENV_LOG_LEVEL}; default INFO)"
    )
    parser.add_argument("--transport", choices=("stdio", "http"), default="stdio", help="default: stdio")
    parser.add_argument(
        "--port", type=_port, help="HTTP port, with --transport http (default 8000; 0 picks a free one)"
    )
    parser.add_argument("--bind", help="HTTP bind address (default 127.0.0.1, loopback only)")
    parser.add_argument(
        "--auth-token",
        help=f"bearer token every HTTP request must carry (env {ENV_AUTH_TOKEN}); required off loopback",
    )
    parser.add_argument(
        "--api-token",
        help=f"LM Studio API token sk-lm-... when LM Studio requires authentication (env {ENV_API_TOKEN}; "
        "prefer the env var: a flag shows in the process list)",
    )
    add_offload_arguments(parser)
    parser.add_argument("--version", action="version", version=f"mcp-lmstudio {__version__}")
    return parser


def parse_settings(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> tuple[str, Settings]:
    """Resolve the command and `Settings` from flags, then env vars, then defaults."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    # An empty variable counts as unset, and so does a placeholder a host left unfilled (an MCP Bundle's
    # `${user_config.host}` when the user gave no host).
    env = {
        name: value
        for name, value in (os.environ if env is None else env).items()
        if value.strip() and not value.startswith("${")
    }
    if args.timeout is not None:
        timeout = _seconds(parser, args.timeout, f"--timeout {args.timeout}")
    else:
        timeout_text = env.get(ENV_TIMEOUT, "300")
        timeout = _seconds(parser, timeout_text, f"{ENV_TIMEOUT}={timeout_text!r}")
    task_timeout = _task_timeout(parser, args.task_timeout, env, timeout)
    level = (args.log_level or env.get(ENV_LOG_LEVEL, "INFO")).upper()
    if level not in LOG_LEVELS:
        parser.error(f"{ENV_LOG_LEVEL}={level!r} is not one of {', '.join(LOG_LEVELS)}")
    auth_token = args.auth_token or env.get(ENV_AUTH_TOKEN) or None
    bind = args.bind or "127.0.0.1"
    if args.transport == "http" and not is_loopback(bind) and not auth_token:
        parser.error(
            f"refusing to serve HTTP on {bind}, which other machines can reach, without a token: "
            f"set --auth-token or {ENV_AUTH_TOKEN}, or bind 127.0.0.1"
        )
    host = args.host or env.get(ENV_HOST) or None
    if host is not None:
        host = _check_host(parser, host, f"--host {host}" if args.host else f"{ENV_HOST}={host!r}")
    settings = Settings(
        api_token=(args.api_token or env.get(ENV_API_TOKEN) or "").strip() or None,
        auth_token=auth_token,
        host=host,
        model=args.model or env.get(ENV_MODEL) or None,
        model_setting=ENV_MODEL if not args.model and env.get(ENV_MODEL) else "--model",
        host_setting=ENV_HOST if not args.host and env.get(ENV_HOST) else "--host",
        timeout=timeout,
        task_timeout=task_timeout,
        log_level=cast(LogLevel, level),
        transport=args.transport,
        port=8000 if args.port is None else args.port,
        bind=bind,
        **offload_settings(parser, args, env),
        http_flags=tuple(
            flag
            for flag, value in (("--port", args.port), ("--bind", args.bind), ("--auth-token", args.auth_token))
            if value is not None
        ),
    )
    return args.command, settings


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give 1 to 65535, or 0 for any free port")
    return port


def _task_timeout(parser: argparse.ArgumentParser, flag: str | None, env: Mapping[str, str], timeout: float) -> float:
    """`--task-timeout`, else its env var, else an hour (or `--timeout`, if that is longer)."""
    if flag is not None:
        return _seconds(parser, flag, f"--task-timeout {flag}")
    text = env.get(ENV_TASK_TIMEOUT)
    if text is None:
        return max(DEFAULT_TASK_TIMEOUT_S, timeout)
    return _seconds(parser, text, f"{ENV_TASK_TIMEOUT}={text!r}")


def _seconds(parser: argparse.ArgumentParser, text: str, source: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        parser.error(f"{source}: not a number of seconds (e.g. 300)")
    if not 0 < seconds < float("inf"):
        parser.error(f"{source}: the time limit must be a positive number of seconds (e.g. 300)")
    return seconds


#: What people paste for LM Studio's address: its API URLs (`http://127.0.0.1:1234/v1`), with any scheme and path.
_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?P<address>[^/?#]*)(?:[/?#].*)?$", re.IGNORECASE)


def _check_host(parser: argparse.ArgumentParser, host: str, source: str) -> str:
    """`HOST:PORT` from what was given: a bare address, or a URL such as the one LM Studio shows."""
    match = _URL.match(host.strip())
    address = match["address"] if match else host
    name, _, port = address.rpartition(":")
    if not name or not port.isdigit() or not 0 < int(port) < 65536:
        example = f"{address or 'localhost'}:1234" if ":" not in address else "localhost:1234"
        parser.error(f"{source}: give LM Studio's address as HOST:PORT, e.g. {example} (LM Studio's default port)")
    return address


def main(argv: list[str] | None = None) -> None:
    """Entry point of `mcp-lmstudio` and `python -m mcp_lmstudio`."""
    command, settings = parse_settings(argv)
    configure_logging(settings.log_level)
    if settings.transport == "stdio" and settings.http_flags:
        logging.getLogger(__name__).warning(
            "%s only apply with --transport http; serving stdio, they are ignored", ", ".join(settings.http_flags)
        )
    if settings.api_token:
        from ..models.api_token import protect_api_token  # imports the SDK, which a plain start avoids

        protect_api_token(settings.api_token)
    if command in ("demo", "check"):
        sys.exit(_run_interruptible(command, settings))
    _serve_until_signalled(settings)


def _run_interruptible(command: str, settings: Settings) -> int:
    """Run `demo` or `check`; Ctrl-C ends it quietly with status 130, as shells expect."""
    if command == "demo":
        from .demo import run_demo as run
    else:
        from .check import run_check as run
    try:
        return anyio.run(run, settings)
    except KeyboardInterrupt:
        print(f"\n{command} interrupted.", file=sys.stderr)
        return 130


def configure_logging(level: LogLevel) -> None:
    """Log to stderr only. Below DEBUG, other libraries show only their warnings, and the lmstudio SDK (which
    logs every websocket event under its class names, and an ERROR per websocket when LM Studio goes away)
    shows nothing: its errors become one warning of ours."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if level != "DEBUG":
        handler.addFilter(_QuietSdk())
    logging.basicConfig(level=level, handlers=[handler], force=True)


class _QuietSdk(logging.Filter):
    """Our records and other libraries' warnings pass; the SDK's errors become one warning per burst."""

    #: SDK errors within this many seconds of the last reported one belong to the same event.
    BURST_S = 10.0

    def __init__(self) -> None:
        super().__init__()
        self._last_report = -self.BURST_S

    def filter(self, record: logging.LogRecord) -> bool:
        # The SDK logs structured events (its own message type) from inside its package.
        from_sdk = type(record.msg).__module__.startswith("lmstudio") or f"{os.sep}lmstudio{os.sep}" in record.pathname
        if from_sdk:
            if record.levelno < logging.ERROR or record.created - self._last_report < self.BURST_S:
                return False
            self._last_report = record.created
            record.name, record.levelno, record.levelname = "mcp_lmstudio.models.session", logging.WARNING, "WARNING"
            record.msg, record.args = (
                (
                    "The connection to LM Studio failed (it quit, restarted or dropped the link); the next call "
                    "reconnects. Run with --log-level DEBUG to see the lmstudio SDK's own messages."
                ),
                None,
            )
            return True
        return record.levelno >= logging.WARNING or record.name.startswith(("mcp_lmstudio", "mcp."))


def _serve_until_signalled(settings: Settings) -> None:
    from ..server.app import create_server

    session = LMStudioSession.from_settings(settings)
    server = create_server(settings, session=session)
    if settings.transport == "http":
        # Imported here: stdio never loads the HTTP transport (`import mcp` still loads uvicorn and starlette).
        from ..transports.http import PortUnavailableError, bind_socket, serve_http, serving_banner

        try:
            sock = bind_socket(settings.bind, settings.port)
        except PortUnavailableError as exc:
            print(f"mcp-lmstudio: {exc}", file=sys.stderr)
            sys.exit(1)
        print(serving_banner(sock, settings), file=sys.stderr, flush=True)
        # uvicorn handles SIGTERM/SIGINT itself once serving: it stops accepting, gives calls in flight a grace
        # period, runs the lifespan exit (closing the session), then re-raises the signal. These handlers catch
        # that re-raise, and a signal that comes before uvicorn took over, and end the process cleanly.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, _exit_cleanly)
        anyio.run(serve_http, server, settings, sock)
        return
    if sys.stdin.isatty():
        logging.getLogger(__name__).warning(
            "mcp-lmstudio speaks MCP on stdin/stdout: add it to your MCP client's configuration "
            "(see README). To watch it work, run `mcp-lmstudio demo`. Ctrl-C quits."
        )

    from ..transports.stdio import can_use_pipes, serve_stdio

    async def serve() -> None:
        await serve_stdio(server)

    # The SDK's stdio transport (used when stdin/stdout are not pipes) leaves a worker thread blocked
    # reading stdin, which only a hard exit gets past.
    exit_hard = not can_use_pipes()
    anyio.run(_run_until_signal, serve, session, exit_hard)
    if exit_hard:
        _exit_now()


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


#: After SIGTERM/SIGINT, how long in-flight calls and the LM Studio session get to close.
SESSION_CLOSE_GRACE_S = 1.5


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
                    with anyio.move_on_after(SESSION_CLOSE_GRACE_S):
                        await session.wait_closed()
                    if exit_hard:
                        _exit_now()
                    return

        tg.start_soon(stop_on_signal)
        with serving:
            await serve()
        tg.cancel_scope.cancel()
