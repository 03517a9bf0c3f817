"""Which paths may be read or written, and opening them so that the check holds for the file opened.

A path is inside when its real path (every symlink resolved, `..` applied) lies inside the real path of an
allowed directory, compared component by component (`/a/app-evil` is not inside `/a/app`). Opening then
walks from the allowed directory one component at a time with `O_NOFOLLOW` (where the OS has `dir_fd`), so
a symlink swapped in after the check fails the open; the opened file's (st_dev, st_ino) must equal those
seen at check time, and on Linux the kernel's own name for the descriptor (`/proc/self/fd/N`) must still
lie inside. Anything but a regular file is refused before it is opened, and opened with `O_NONBLOCK`, so a
FIFO or device swapped in cannot block.

Entries starting with `~` are refused: no shell expands them here, and reading `<allowed>/~/...` instead
would surprise the caller. A file really named `~x` is reached as `./~x`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from .errors import FileAccessError, FileReadError, NoAllowedDirectoriesError

__all__ = ["AllowedDirectories", "CheckedPath", "open_confined", "open_directory"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_COMMON = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
#: Flags of every file opened for reading: never follow a final symlink, never block (FIFO, device).
READ_FLAGS = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | _COMMON
_DIR_FLAGS = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _COMMON
#: Whether paths can be opened component by component beneath a directory descriptor (POSIX).
CAN_WALK = bool(_NOFOLLOW and _DIRECTORY) and os.open in os.supports_dir_fd
_PROC_FD = Path("/proc/self/fd")


def _real(path: str | os.PathLike[str]) -> Path:
    """The real path (symlinks resolved; nonexistent tails kept lexically). Raises ValueError for a path the
    OS cannot encode."""
    return Path(os.path.realpath(path))


def _inside(path: Path, directory: Path) -> bool:
    # Path.is_relative_to compares whole components: /a/app-evil is not relative to /a/app.
    return path == directory or path.is_relative_to(directory)


@dataclass(frozen=True, slots=True)
class CheckedPath:
    """A path that passed the check: `real` lies inside the allowed directory `root`; `stat` is its lstat at
    check time (a regular file)."""

    entry: str
    real: Path
    root: Path
    stat: os.stat_result


class AllowedDirectories:
    """The directories whose contents may be read (and, with --allow-write, written).

    Each directory is stored as its real path. `.` and other relative directories are taken from `base`
    (the directory the server was started in). The first directory is where relative entries start.
    `roots` is set when the set was narrowed to a client's roots (for messages).
    """

    def __init__(
        self, dirs: Iterable[str | os.PathLike[str]], *, base: Path | None = None, roots: Sequence[str] | None = None
    ) -> None:
        start = base if base is not None else Path.cwd()
        unique: list[Path] = []
        for directory in dirs:
            real = _real(start / Path(directory))
            if real not in unique:
                unique.append(real)
        self.dirs: tuple[Path, ...] = tuple(unique)
        self.roots = None if roots is None else tuple(roots)

    def __bool__(self) -> bool:
        return bool(self.dirs)

    def __repr__(self) -> str:
        return f"AllowedDirectories({[str(d) for d in self.dirs]!r})"

    @property
    def listing(self) -> tuple[str, ...]:
        """The allowed directories as strings, for messages."""
        return tuple(str(d) for d in self.dirs)

    def narrowed(self, roots: Iterable[str | os.PathLike[str]]) -> AllowedDirectories:
        """The part of this set that also lies inside the client's roots (`file://` URIs or paths).

        Each pair (allowed A, root R) contributes the deeper of the two when one contains the other, so the
        result never reaches beyond this set. Roots that are not local files are ignored; no usable root
        gives an empty set.
        """
        given = [str(root) for root in roots]
        real_roots = [_real(path) for path in map(_root_path, given) if path is not None]
        kept: list[Path] = []
        for directory in self.dirs:
            for root in real_roots:
                if _inside(root, directory):
                    kept.append(root)
                elif _inside(directory, root):
                    kept.append(directory)
        return AllowedDirectories(kept, base=Path("/"), roots=given)

    def containing(self, real: Path) -> Path | None:
        """The allowed directory that `real` (a real path) lies inside, or None."""
        return next((d for d in self.dirs if _inside(real, d)), None)

    def display(self, path: Path) -> str:
        """`path` relative to the first allowed directory when inside it (POSIX separators), else absolute."""
        if self.dirs and _inside(path, self.dirs[0]):
            return path.relative_to(self.dirs[0]).as_posix() or "."
        return str(path)

    def absolute(self, entry: str, *, field: str = "files") -> Path:
        """`entry` made absolute (relative entries start at the first allowed directory), without resolving.

        Raises NoAllowedDirectoriesError, or InvalidInputError for an empty entry, a NUL byte or a leading `~`.
        """
        if not self.dirs:
            raise NoAllowedDirectoriesError(field=field, roots=self.roots)
        _check_entry(entry, field)
        return Path(entry) if os.path.isabs(entry) else self.dirs[0] / entry

    def resolve(self, entry: str, *, field: str = "files") -> tuple[Path, Path]:
        """(real path, allowed directory containing it) of `entry`, which need not exist.

        Raises FileAccessError (one wording, whatever exists outside) when the real path is outside.
        """
        return self.confine(self.absolute(entry, field=field), entry, field=field)

    def confine(self, path: Path, entry: str, *, field: str = "files") -> tuple[Path, Path]:
        """(real path, allowed directory containing it) of absolute `path`, which came from `entry`.

        Raises FileAccessError naming `entry` when the real path is outside.
        """
        try:
            real = _real(path)
        except ValueError:  # a character the OS cannot encode: it names nothing
            raise FileReadError(entry, "is not a valid path", "Check the name.", field=field) from None
        root = self.containing(real)
        if root is None:
            raise FileAccessError(entry, self.listing, field=field)
        return real, root

    def check(self, entry: str, *, field: str = "files") -> CheckedPath:
        """Resolve `entry` and require a regular file inside. Raises FileAccessError or FileReadError."""
        real, root = self.resolve(entry, field=field)
        return CheckedPath(entry, real, root, lstat_regular(entry, real, field=field))


def lstat_regular(entry: str, real: Path, *, field: str = "files") -> os.stat_result:
    """lstat of `real` (inside), which must be a regular file. Raises FileReadError naming what it is."""
    try:
        info = os.lstat(real)
    except FileNotFoundError:
        raise FileReadError(entry, "does not exist", "Check the path.", field=field) from None
    except OSError as exc:
        raise FileReadError(entry, f"cannot be read ({exc.strerror})", "Check its permissions.", field=field) from None
    if not stat.S_ISREG(info.st_mode):
        raise FileReadError(entry, f"is {describe_mode(info.st_mode)}", "Name a regular file.", field=field)
    return info


def describe_mode(mode: int) -> str:
    """What kind of file `mode` says it is, as a phrase ("a FIFO", "a directory")."""
    kinds = [
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symbolic link that cannot be resolved"),
        (stat.S_ISFIFO, "a FIFO (named pipe), not a regular file"),
        (stat.S_ISSOCK, "a socket, not a regular file"),
        (stat.S_ISCHR, "a character device, not a regular file"),
        (stat.S_ISBLK, "a block device, not a regular file"),
    ]
    return next((phrase for test, phrase in kinds if test(mode)), "not a regular file")


def _check_entry(entry: str, field: str) -> None:
    if not isinstance(entry, str) or not entry.strip():
        raise FileReadError(str(entry), "is empty", "Give a file, directory or glob.", field=field)
    if "\x00" in entry:
        raise FileReadError(entry, "contains a NUL byte", "Remove it: no file name can hold one.", field=field)
    if entry.startswith("~"):
        raise FileReadError(
            entry,
            "starts with '~', which is not expanded here",
            "Give the path relative to the first allowed directory, or absolute (write './~name' for a file "
            "really named '~name').",
            field=field,
        )


def _root_path(root: str) -> str | None:
    """The local path of a client root (`file:///home/me/app` or a plain path), or None."""
    if "\x00" in root:
        return None
    if "://" not in root:
        return root if os.path.isabs(root) else None
    parsed = urlparse(root)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return None
    return unquote(parsed.path)


def _walk_open(root: Path, real: Path, flags: int) -> int:
    """Open `real` (inside `root`) from `root` one component at a time, no component being a symlink."""
    if not CAN_WALK:
        return os.open(real, flags)
    parts = real.relative_to(root).parts
    dir_fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, _DIR_FLAGS, dir_fd=dir_fd)
            os.close(dir_fd)
            dir_fd = next_fd
        return os.open(parts[-1], flags, dir_fd=dir_fd) if parts else os.dup(dir_fd)
    finally:
        os.close(dir_fd)


def _kernel_path(fd: int) -> Path | None:
    """The path the kernel records for `fd` (Linux /proc), or None where that is not available."""
    try:
        return Path(os.readlink(_PROC_FD / str(fd)))
    except OSError:
        return None


def _changed(checked: CheckedPath, field: str) -> FileReadError:
    return FileReadError(
        checked.entry,
        "changed while it was being opened (a file or symbolic link was swapped in), so it was not read",
        "Try again once it stops changing.",
        field=field,
    )


def open_confined(checked: CheckedPath, *, field: str = "files") -> tuple[int, os.stat_result]:
    """Open a checked file read-only: (descriptor, fstat). The caller closes the descriptor.

    Raises FileReadError when the file opened is not the one checked (swapped, replaced, not regular).
    """
    try:
        fd = _walk_open(checked.root, checked.real, READ_FLAGS)
    except PermissionError as exc:
        raise FileReadError(
            checked.entry, f"cannot be read ({exc.strerror})", "Check its permissions.", field=field
        ) from None
    except OSError:  # ELOOP / ENOTDIR: a symlink appeared; ENOENT: it went away; ENXIO: a socket
        raise _changed(checked, field) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileReadError(checked.entry, f"is {describe_mode(info.st_mode)}", "Name a regular file.", field=field)
        if (info.st_dev, info.st_ino) != (checked.stat.st_dev, checked.stat.st_ino):
            raise _changed(checked, field)
        kernel = _kernel_path(fd)
        if kernel is not None and not _inside(kernel, checked.root):
            raise _changed(checked, field)
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def open_directory(root: Path, real: Path) -> int:
    """Open directory `real` (inside `root`) without following any symlink; the caller closes it.

    Raises OSError when a component is a symlink or not a directory. Not available where CAN_WALK is false.
    """
    fd = _walk_open(root, real, _DIR_FLAGS)
    kernel = _kernel_path(fd)
    if kernel is not None and not _inside(kernel, root):
        os.close(fd)
        raise OSError(f"{real} moved outside {root}")
    return fd
