"""The allowed directories from the settings: `--allow-dir DIR` (repeatable), else MCP_LMSTUDIO_ALLOW_DIRS.

`.` and other relative directories are taken from the directory the server was started in (`base`).
None are allowed by default.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import InvalidInputError
from .confinement import AllowedDirectories

__all__ = ["allowed_from", "dirs_from_env", "write_allowed_from_env"]


def allowed_from(dirs: Sequence[str], *, base: Path) -> AllowedDirectories:
    """The allowed set for the `--allow-dir` values (or MCP_LMSTUDIO_ALLOW_DIRS), checked at start-up.

    A leading `~` is expanded here (the operator's setting, e.g. from the environment, where no shell did it).
    Raises InvalidInputError when a directory does not exist, is not a directory, or holds a NUL byte.
    """
    dirs = [os.path.expanduser(directory) for directory in dirs]
    for directory in dirs:
        if "\x00" in directory or not directory.strip():
            raise InvalidInputError(f"Allowed directory {directory!r} is not a valid path. Fix --allow-dir.")
        path = base / Path(directory)
        if not path.exists():
            raise InvalidInputError(
                f"Allowed directory {directory!r} does not exist ({path}). Create it, or fix --allow-dir / "
                "MCP_LMSTUDIO_ALLOW_DIRS."
            )
        if not path.is_dir():
            raise InvalidInputError(
                f"Allowed directory {directory!r} is not a directory ({path}). Allow the directory that holds "
                "it instead (--allow-dir / MCP_LMSTUDIO_ALLOW_DIRS)."
            )
    return AllowedDirectories(dirs, base=base)


def dirs_from_env(value: str | None) -> list[str]:
    """MCP_LMSTUDIO_ALLOW_DIRS split on the OS path separator; empty items dropped, unset or blank: []."""
    if not value or not value.strip():
        return []
    return [item for item in value.split(os.pathsep) if item.strip()]


def write_allowed_from_env(value: str | None) -> bool:
    """Whether MCP_LMSTUDIO_ALLOW_WRITE allows writing: only "1" (or "true"/"yes", any case) does."""
    return value is not None and value.strip().lower() in ("1", "true", "yes")
