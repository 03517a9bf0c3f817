"""Writing the answer to `output_file`: confined like reading, atomic, and never replacing by accident.

The target's directory must resolve inside an allowed directory; the target must not be a symbolic link,
a directory or anything but a regular file, and must not exist unless `overwrite` is true. Its name must
fit file systems (at most 255 bytes), and no component of it may be a version-control directory (`.git`,
`.hg`, `.svn`, any case), whose files (hooks, config) can run commands. All of this is checked before
anything is generated. The text goes to a temporary file of fixed-length name (`.mcp-lmstudio-<16 hex>.tmp`)
in the same directory (created with O_EXCL, mode 0o644 less the umask; an overwritten file keeps its read
and write permissions, but never execute, setuid, setgid or sticky bits: an answer is text, and a model
steered by what it read must not leave a program behind), is fsynced, then renamed over the target (`overwrite`) or
hard-linked to it (otherwise: the link fails if the name exists, even when it appeared meanwhile). The
temporary file is removed on any failure, so a failed write leaves nothing behind. Where the OS has
`dir_fd`, every step is relative to the directory opened without following symlinks.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .confinement import CAN_WALK, AllowedDirectories, describe_mode, open_directory
from .errors import OutputFileError, WriteNotAllowedError

__all__ = [
    "MAX_NAME_BYTES",
    "RECEIPT_PREVIEW_CHARS",
    "VCS_DIRECTORIES",
    "OutputTarget",
    "WrittenFile",
    "check_output_target",
    "receipt",
    "write_answer",
]

RECEIPT_PREVIEW_CHARS = 200
#: Longest file name (bytes, in the file-system encoding) written.
MAX_NAME_BYTES = 255
#: Components refused anywhere in `output_file` (compared case-insensitively).
VCS_DIRECTORIES = frozenset({".git", ".hg", ".svn"})
#: Permission bits an overwritten file keeps: read and write only.
KEPT_MODE_BITS = 0o666
_CREATE_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
) | getattr(os, "O_BINARY", 0)
# Errors of os.link on file systems without hard links; there the target is checked, then renamed into place.
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS, errno.EXDEV}


@dataclass(frozen=True, slots=True)
class OutputTarget:
    """A checked `output_file`: `name` in `directory` (a real path inside allowed directory `root`).
    `mode` holds the permission bits of the file it will replace, or None for a new file."""

    entry: str
    directory: Path
    root: Path
    name: str
    mode: int | None

    @property
    def path(self) -> Path:
        """The absolute path of the target."""
        return self.directory / self.name


@dataclass(frozen=True, slots=True)
class WrittenFile:
    """A written answer: its absolute path and size in bytes (UTF-8)."""

    path: Path
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        """The contract's `output_file` result: {"path", "bytes"}."""
        return {"path": str(self.path), "bytes": self.bytes}


def check_output_target(entry: str, allowed: AllowedDirectories, *, allow_write: bool, overwrite: bool) -> OutputTarget:
    """Check `output_file` before anything is generated.

    Raises WriteNotAllowedError, NoAllowedDirectoriesError, FileAccessError (outside), or OutputFileError
    (not a file name, missing directory, a symlink, a directory, or an existing file without `overwrite`).
    """
    if not allow_write:
        raise WriteNotAllowedError()
    absolute = allowed.absolute(entry, field="output_file")
    if os.path.basename(entry) in ("", ".", "..") or entry.endswith(("/", os.sep)):
        raise OutputFileError(entry, "names a directory, not a file", "Give a file path such as 'notes/answer.md'.")
    _check_name(entry, absolute.name)
    directory, root = allowed.confine(absolute.parent, entry, field="output_file")
    lexical = allowed.relative(absolute)
    below = (*(lexical[1].parts if lexical else ()), *directory.relative_to(root).parts)
    if any(part.lower() in VCS_DIRECTORIES for part in below):
        raise OutputFileError(
            entry,
            "is inside version-control data (.git, .hg or .svn), whose files can run commands",
            "Write the answer elsewhere in the project.",
        )
    if not directory.is_dir():
        raise OutputFileError(entry, "is in a directory that does not exist", "Create the directory first.")
    mode = _existing_mode(entry, directory / absolute.name, overwrite=overwrite)
    return OutputTarget(entry, directory, root, absolute.name, mode)


def _check_name(entry: str, name: str) -> None:
    try:
        size = len(os.fsencode(name))
    except UnicodeError:  # a lone surrogate: no file system can hold it
        raise OutputFileError(entry, "is not a valid file name", "Check the name.") from None
    if size > MAX_NAME_BYTES:
        raise OutputFileError(
            entry,
            f"has a file name of {size:,} bytes, over the {MAX_NAME_BYTES}-byte limit of file systems",
            "Use a shorter name.",
        )


def _existing_mode(entry: str, target: Path, *, overwrite: bool) -> int | None:
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputFileError(entry, f"cannot be checked ({exc.strerror})", "Pick another path.") from None
    if stat.S_ISLNK(info.st_mode):
        raise OutputFileError(entry, "is a symbolic link", "Name a regular file (links are never written through).")
    if stat.S_ISDIR(info.st_mode):
        raise OutputFileError(entry, "is a directory", "Name a file inside it.")
    if not stat.S_ISREG(info.st_mode):
        raise OutputFileError(entry, f"is {describe_mode(info.st_mode)}", "Name a regular file.")
    if not overwrite:
        raise OutputFileError(entry, "already exists", "Pass `overwrite: true` to replace it, or pick another name.")
    return stat.S_IMODE(info.st_mode) & KEPT_MODE_BITS


def write_answer(
    entry: str, text: str, allowed: AllowedDirectories, *, allow_write: bool, overwrite: bool
) -> WrittenFile:
    """Write `text` (UTF-8) to `output_file` atomically; raises as check_output_target, or OutputFileError
    when the write fails (nothing is left behind)."""
    target = check_output_target(entry, allowed, allow_write=allow_write, overwrite=overwrite)
    data = text.encode("utf-8", errors="replace")  # a lone surrogate becomes '?', never an exception
    try:
        handle = open_directory(target.root, target.directory) if CAN_WALK else None
    except OSError:
        raise _failed(target, "changed while it was being written (a symbolic link was swapped in)") from None
    try:
        temp = _write_temp(handle, target, data)
        try:
            _commit(handle, target, temp, overwrite=overwrite)
        finally:
            _unlink(handle, target, temp)  # after a link, the temporary name; after a rename, already gone
        if handle is not None:
            os.fsync(handle)  # make the new directory entry durable
    except OSError as exc:
        raise _failed(target, f"could not be written ({exc.strerror or exc})") from None
    finally:
        if handle is not None:
            os.close(handle)
    return WrittenFile(target.path, len(data))


def _failed(target: OutputTarget, reason: str) -> OutputFileError:
    return OutputFileError(target.entry, reason, "Nothing was written; check the directory, then try again.")


def _at(handle: int | None, target: OutputTarget, name: str) -> str:
    """`name` relative to the open directory, or as a full path where there is no directory descriptor."""
    return name if handle is not None else str(target.directory / name)


def _write_temp(handle: int | None, target: OutputTarget, data: bytes) -> str:
    """Create and fill a temporary file (fixed-length name) beside the target; its name. Removed on failure."""
    name = f".mcp-lmstudio-{secrets.token_hex(8)}.tmp"
    fd = os.open(_at(handle, target, name), _CREATE_FLAGS, 0o644, dir_fd=handle)  # 0o644 less the umask
    try:
        if target.mode is not None and hasattr(os, "fchmod"):
            os.fchmod(fd, target.mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink(handle, target, name)
        raise
    os.close(fd)
    return name


def _commit(handle: int | None, target: OutputTarget, temp: str, *, overwrite: bool) -> None:
    """Move the temporary file to the target name: rename when overwriting, else link (fails if it exists)."""
    source, destination = _at(handle, target, temp), _at(handle, target, target.name)
    if overwrite:
        os.replace(source, destination, src_dir_fd=handle, dst_dir_fd=handle)
        return
    try:
        os.link(source, destination, src_dir_fd=handle, dst_dir_fd=handle)
    except FileExistsError:
        raise OutputFileError(
            target.entry, "already exists (it appeared while the answer was written)", "Pass `overwrite: true`."
        ) from None
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        if os.path.lexists(target.path):
            raise OutputFileError(target.entry, "already exists", "Pass `overwrite: true`.") from None
        os.replace(source, destination, src_dir_fd=handle, dst_dir_fd=handle)


def _unlink(handle: int | None, target: OutputTarget, name: str) -> None:
    try:
        os.unlink(_at(handle, target, name), dir_fd=handle)
    except FileNotFoundError:
        pass


def receipt(written: WrittenFile, text: str) -> str:
    """The short text returned instead of the answer: the path, the size and the first 200 characters."""
    preview = text[:RECEIPT_PREVIEW_CHARS]
    more = "..." if len(text) > RECEIPT_PREVIEW_CHARS else ""
    return f"The answer was written to {written.path} ({written.bytes:,} bytes). It begins:\n{preview}{more}"
