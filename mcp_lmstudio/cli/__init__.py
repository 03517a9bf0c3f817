"""The `mcp-lmstudio` command: serve (stdio or HTTP), `check` and `demo`."""

from __future__ import annotations

from .command import main, parse_settings

__all__ = ["main", "parse_settings"]
