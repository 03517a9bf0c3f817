"""Which paths may be read or written, and opening them so that the check holds for the file opened.

An entry is first checked as text, before any file-system call: made absolute (relative entries start at
the first allowed directory) and normalised (`..` applied lexically), it must lie inside an allowed
directory as configured or as its real path, compared component by component (`/a/app-evil` is not inside
`/a/app`). Only then is it resolved, from that allowed directory's real path, and its real path (every
symlink resolved) must lie inside an allowed directory's real path too. So nothing outside is looked at to
decide a refusal: `/proc/<pid>/cwd/x` or `/elsewhere/link-to-app/x` is refused whatever they lead to (a
consequence: an absolute path that reaches an allowed directory through a symlink outside it is refused;
name it from the allowed directory instead). Entries more than MAX_ENTRY_DEPTH components below their
allowed directory are refused (so no entry costs more than a bounded walk). Opening then
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
from .names import printable

__all__ = ["MAX_ENTRY_DEPTH", "AllowedDirectories", "CheckedPath", "open_confined", "open_directory", "still_inside"]

#: Components an entry may lie below its allowed directory (as given, and as its real path).
MAX_ENTRY_DEPTH = 64

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
    OS cannot encode, OSError when a symlink changes while it is resolved."""
    return Path(os.path.realpath(path))


def _real_or_none(path: str | os.PathLike[str]) -> Path | None:
    """The real path, or None when it cannot be had (an unencodable name, a symlink changing meanwhile)."""
    try:
        return _real(path)
    except (OSError, ValueError):
        return None


def _normalised(path: str | os.PathLike[str]) -> Path:
    """`path` (absolute) with `.` and `..` applied as text, touching nothing."""
    return Path(os.path.normpath(path))


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
        pairs: dict[Path, Path] = {}
        for directory in dirs:
            real = _real_or_none(start / Path(directory))
            if real is None:  # changed while it was resolved: not allowed rather than a crash
                continue
            configured = _normalised(start / Path(directory))
            # The configured spelling counts only when it names the same directory (not `link/..`).
            pairs.setdefault(real, configured if configured != real and _real_or_none(configured) == real else real)
        #: The allowed directories' real paths.
        self.dirs: tuple[Path, ...] = tuple(pairs)
        #: Each directory as configured (absolute, normalised), or its real path.
        self.configured: tuple[Path, ...] = tuple(pairs.values())
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
        real_roots = [real for path in map(_root_path, given) if path is not None and (real := _real_or_none(path))]
        kept: list[Path] = []
        for directory, configured in zip(self.dirs, self.configured, strict=True):
            for root in real_roots:
                if _inside(root, directory):
                    kept.append(root)
                elif _inside(directory, root):
                    kept.append(configured)
        return AllowedDirectories(kept, base=Path("/"), roots=given)

    def containing(self, real: Path) -> Path | None:
        """The allowed directory that `real` (a real path) lies inside, or None."""
        return next((d for d in self.dirs if _inside(real, d)), None)

    def display(self, path: Path) -> str:
        """`path` relative to the first allowed directory when inside it (POSIX separators), else absolute;
        printable (see `names`), for showing only."""
        if self.dirs and _inside(path, self.dirs[0]):
            return printable(path.relative_to(self.dirs[0]).as_posix() or ".")
        return printable(str(path))

    def absolute(self, entry: str, *, field: str = "files") -> Path:
        """`entry` made absolute (relative entries start at the first allowed directory) and normalised as
        text (`..` applied lexically), touching nothing.

        Raises NoAllowedDirectoriesError, or InvalidInputError for an empty entry, a NUL byte or a leading `~`.
        """
        if not self.dirs:
            raise NoAllowedDirectoriesError(field=field, roots=self.roots)
        _check_entry(entry, field)
        return _normalised(entry if os.path.isabs(entry) else self.configured[0] / entry)

    def relative(self, path: Path) -> tuple[Path, Path] | None:
        """(real path of the allowed directory, the rest) when absolute normalised `path` lies inside an
        allowed directory as configured or as its real path, compared as text; else None."""
        for directory, configured in zip(self.dirs, self.configured, strict=True):
            for spelling in (configured, directory):
                if _inside(path, spelling):
                    return directory, path.relative_to(spelling)
        return None

    def resolve(self, entry: str, *, field: str = "files", path: str | None = None) -> tuple[Path, Path]:
        """(real path, allowed directory containing it) of `entry` (or of `path`, which came from it), which
        need not exist.

        Raises FileAccessError (one wording, whatever exists outside) when it is outside, FileReadError when
        it is too deep or changed while it was resolved.
        """
        return self.confine(self.absolute(entry if path is None else path, field=field), entry, field=field)

    def confine(self, path: Path, entry: str, *, field: str = "files") -> tuple[Path, Path]:
        """(real path, allowed directory containing it) of absolute normalised `path`, which came from `entry`.

        The text is checked first (nothing outside is touched); then the path is resolved from the allowed
        directory. Raises FileAccessError naming `entry` when either lies outside, FileReadError when it is
        over MAX_ENTRY_DEPTH components deep or changed while it was resolved.
        """
        lexical = self.relative(path)
        if lexical is None:
            raise FileAccessError(entry, self.listing, field=field)
        start, rest = lexical
        _check_depth(entry, rest, field)
        try:
            real = _real(start / rest)
        except ValueError:  # a character the OS cannot encode: it names nothing
            raise FileReadError(entry, "is not a valid path", "Check the name.", field=field) from None
        except OSError:  # a symlink swapped or removed while it was being resolved
            raise FileReadError(
                entry,
                "changed while it was being checked (a symbolic link was swapped in or removed), so it was not read",
                "Try again once it stops changing.",
                field=field,
            ) from None
        root = self.containing(real)
        if root is None:
            raise FileAccessError(entry, self.listing, field=field)
        _check_depth(entry, real.relative_to(root), field)
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


def _check_depth(entry: str, rest: Path, field: str) -> None:
    if len(rest.parts) > MAX_ENTRY_DEPTH:
        raise FileReadError(
            entry,
            f"lies {len(rest.parts)} levels below its allowed directory, over the limit of {MAX_ENTRY_DEPTH}",
            "Name a path at most that deep.",
            field=field,
        )


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
    if not still_inside(fd, root):
        os.close(fd)
        raise OSError(f"{real} moved outside {root}")
    return fd


def still_inside(fd: int, root: Path) -> bool:
    """Whether the kernel's name for open `fd` lies inside `root` (True where the OS does not say)."""
    kernel = _kernel_path(fd)
    return kernel is None or _inside(kernel, root)
