"""`Settings`: the server's configuration, resolved once at the edge (flag, then env var, then default)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["LOG_LEVELS", "Settings"]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LOG_LEVELS: tuple[LogLevel, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything `create_server` and the CLI need to know."""

    host: str | None = None
    """LM Studio's `HOST:PORT`; None discovers a local LM Studio, then tries localhost:1234."""
    model: str | None = None
    """Default model key; None uses whatever model LM Studio has loaded."""
    model_setting: str = "--model"
    """Where `model` was set (`--model` or `LMSTUDIO_MODEL`), for messages that name the fix."""
    host_setting: str = "--host"
    """Where `host` was set (`--host` or `LMSTUDIO_HOST`), for messages."""
    timeout: float = 300.0
    """Per-call time limit in seconds; on expiry the prediction is cancelled in LM Studio."""
    task_timeout: float = 3600.0
    """Time limit in seconds of a call that runs as an MCP task (tasks exist to outlive host timeouts)."""
    task_retention: float = 600.0
    """Seconds a finished task's result is kept at least; a task's TTL is `task_timeout + task_retention`."""
    log_level: LogLevel = "INFO"
    transport: Literal["stdio", "http"] = "stdio"
    port: int = 8000
    bind: str = "127.0.0.1"
    api_token: str | None = field(default=None, repr=False)
    """LM Studio's API token (`sk-lm-...`), when LM Studio 0.4+ requires authentication. Never logged."""
    auth_token: str | None = field(default=None, repr=False)
    """Bearer token every HTTP request must carry; required to bind a non-loopback address."""
    http_flags: tuple[str, ...] = ()
    """The HTTP-only flags given on the command line (warned about when serving stdio)."""
    allow_dirs: tuple[str, ...] = ()
    """`--allow-dir`: the only directories `files` may read from (and `output_file` write to); none by default.
    Relative ones (`.`) are taken from `base_dir`."""
    base_dir: str | None = None
    """The directory relative `allow_dirs` start from; None: the current directory when the server is built."""
    allow_write: bool = False
    """`--allow-write`: `output_file` may create files inside the allowed directories."""
    history: str | None = None
    """`--history`: `sqlite:PATH`, `memory` or `off`; None: an SQLite file in the user's data directory."""
    history_ttl: float = 7 * 24 * 3600.0
    """`--history-ttl`: seconds a conversation not continued is kept."""
