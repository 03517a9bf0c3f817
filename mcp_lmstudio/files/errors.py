"""Errors of files by path. Each is an `InvalidInputError`, so the MCP layer turns it into one tool error.

Messages name the problem, the value and the fix. A path outside the allowed directories always gets the
same wording (`FileAccessError`), whether or not anything exists there: the message depends only on the
entry as given and on the allowed directories, never on the file system outside them.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import InvalidInputError

__all__ = [
    "FileAccessError",
    "FileLimitError",
    "FileReadError",
    "NoAllowedDirectoriesError",
    "OutputFileError",
    "WriteNotAllowedError",
]

_ALLOW_DIR_FIX = (
    "start the server with --allow-dir DIR (repeatable), or set MCP_LMSTUDIO_ALLOW_DIRS to a list of "
    "directories separated by the OS path separator (':' on Linux and macOS, ';' on Windows)"
)


def _listing(allowed: Sequence[str]) -> str:
    return ", ".join(allowed) if allowed else "none"


class FileAccessError(InvalidInputError):
    """`entry` (of the tool argument `field`) is not inside the allowed directories.

    The wording is identical for an existing and a nonexistent path: it names only the entry and the
    allowed directories.
    """

    def __init__(self, entry: str, allowed: Sequence[str], *, field: str = "files") -> None:
        self.entry = entry
        self.allowed = tuple(allowed)
        self.field = field
        first = f" (relative paths are taken from {allowed[0]})" if allowed else ""
        super().__init__(
            f"`{field}` entry {entry!r} is not inside the allowed directories ({_listing(allowed)}). Name a path "
            f"under one of them{first}. To allow another directory, re{_ALLOW_DIR_FIX}."
        )


class NoAllowedDirectoriesError(InvalidInputError):
    """`files` or `output_file` was given but no directory is allowed (none configured, or the client's
    roots exclude every configured one)."""

    def __init__(self, *, field: str = "files", roots: Sequence[str] | None = None) -> None:
        self.field = field
        self.roots = None if roots is None else tuple(roots)
        if roots is None:
            problem = "no directory is allowed"
        else:
            problem = (
                "none of the client's roots "
                f"({_listing(list(roots))}) lies inside or around the directories the server allows"
            )
        super().__init__(
            f"`{field}` cannot be used: {problem}. To allow a directory, {_ALLOW_DIR_FIX}; "
            "or pass the content in the prompt instead."
        )


class FileReadError(InvalidInputError):
    """An entry inside the allowed directories cannot be read: it does not exist, is not a regular file,
    is binary, is an unreadable PDF or image, or changed while it was opened. `reason` says which."""

    def __init__(self, entry: str, reason: str, fix: str, *, field: str = "files") -> None:
        self.entry = entry
        self.reason = reason
        self.field = field
        super().__init__(f"`{field}` entry {entry!r} {reason}. {fix}")


class FileLimitError(InvalidInputError):
    """Files named explicitly exceed a limit (one file's size, the number of files, or the total size)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class WriteNotAllowedError(InvalidInputError):
    """`output_file` was given but the server was not started with writing allowed."""

    def __init__(self) -> None:
        super().__init__(
            "`output_file` needs writing to be allowed, and it is off. Restart the server with --allow-write "
            "(or set MCP_LMSTUDIO_ALLOW_WRITE=1), or omit `output_file` to get the answer as text."
        )


class OutputFileError(InvalidInputError):
    """`output_file` names something that cannot be written: a directory, a symbolic link, an existing file
    without `overwrite`, or a path whose directory does not exist."""

    def __init__(self, entry: str, reason: str, fix: str) -> None:
        self.entry = entry
        self.reason = reason
        super().__init__(f"`output_file` {entry!r} {reason}. {fix}")
