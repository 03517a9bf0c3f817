"""The settings for handing work over by reference: `--allow-dir`, `--allow-write`, `--history`, `--history-ttl`.

Each is a flag, else an environment variable (for hosts that configure servers through `env`, such as the MCP
Bundle), else the default; a bad value is a usage error naming the flag or variable, before anything serves.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from ..files import allowed_from, dirs_from_env, write_allowed_from_env
from ..history import describe_ttl
from ..history.setting import DEFAULT_TTL_S, parse_setting

__all__ = ["add_offload_arguments", "offload_settings"]

ENV_ALLOW_DIRS = "MCP_LMSTUDIO_ALLOW_DIRS"
ENV_ALLOW_WRITE = "MCP_LMSTUDIO_ALLOW_WRITE"
ENV_HISTORY = "MCP_LMSTUDIO_HISTORY"
ENV_HISTORY_TTL = "MCP_LMSTUDIO_HISTORY_TTL"


def add_offload_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the four flags to the command's parser."""
    parser.add_argument(
        "--allow-dir",
        action="extend",
        nargs="*",  # one or more, repeatable; none at all too, as an MCP Bundle passes an empty directory list
        metavar="DIR",
        help=f"directories `files` may read from, repeatable; `.` is where the server starts (env {ENV_ALLOW_DIRS}, "
        "separated by the OS path separator; default: none)",
    )
    parser.add_argument(
        "--allow-write",
        action="store_true",
        default=None,
        help=f"let `output_file` write answers inside the allowed directories (env {ENV_ALLOW_WRITE}=1; default off)",
    )
    parser.add_argument(
        "--history",
        metavar="sqlite:PATH|memory|off",
        help=f"where conversations are kept (env {ENV_HISTORY}; default: an SQLite file in your data directory)",
    )
    parser.add_argument(
        "--history-ttl",
        metavar="SECONDS",
        help=f"forget a conversation not continued for this long (env {ENV_HISTORY_TTL}; "
        f"default {describe_ttl(DEFAULT_TTL_S)})",
    )


def offload_settings(
    parser: argparse.ArgumentParser, args: argparse.Namespace, env: Mapping[str, str]
) -> dict[str, Any]:
    """The `Settings` fields for the four settings, each checked now (a usage error exits with status 2)."""
    dirs = args.allow_dir if args.allow_dir else dirs_from_env(env.get(ENV_ALLOW_DIRS))
    base = Path.cwd()
    try:
        allowed_from(dirs, base=base)
    except InvalidInputError as exc:
        parser.error(str(exc))
    history = args.history or env.get(ENV_HISTORY) or None
    ttl_text = args.history_ttl or env.get(ENV_HISTORY_TTL)
    ttl = DEFAULT_TTL_S if ttl_text is None else _ttl(parser, ttl_text)
    if history is not None:
        try:
            parse_setting(history)
        except ValueError as exc:
            parser.error(f"{'--history' if args.history else ENV_HISTORY}: {exc}")
    write = args.allow_write if args.allow_write is not None else write_allowed_from_env(env.get(ENV_ALLOW_WRITE))
    return {
        "allow_dirs": tuple(dirs),
        "base_dir": str(base),
        "allow_write": bool(write),
        "history": history,
        "history_ttl": ttl,
    }


def _ttl(parser: argparse.ArgumentParser, text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        parser.error(f"--history-ttl / {ENV_HISTORY_TTL}: {text!r} is not a positive number of seconds")
    return seconds
