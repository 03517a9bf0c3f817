"""Turning `files` entries into the files to consider: named files, directories walked, globs matched.

A file named explicitly is taken as it is (hidden or .gitignored). While walking a directory (or the
literal directory of a glob), hidden names (`.x`, so `.git` too) and what `.gitignore` files exclude are
skipped; a directory named explicitly (or as the literal part of a glob, `build/*.js`) is walked even when
.gitignore excludes it (its own `.gitignore` files still apply). Directory symlinks are never followed
during a walk; a file symlink is followed only when its real path is inside the allowed directories
(otherwise it is listed as skipped, with one wording whatever lies outside). Walks open each directory
beneath the one above without following symlinks, so a directory swapped for a symlink mid-walk is not
listed.

An entry holding `*`, `?` or `[` that does not exist literally is a glob. Order is deterministic: entries
in the order given, each one's files in sorted path order; a file reached twice is kept once, at its
first place (explicit if any entry named it).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .confinement import CAN_WALK, READ_FLAGS, AllowedDirectories, CheckedPath, describe_mode, open_directory
from .errors import FileReadError
from .patterns import MAX_GITIGNORE_BYTES, Glob, IgnoreRules, is_glob, parse_gitignore

__all__ = ["MAX_CANDIDATES", "MAX_DEPTH", "MAX_SCANNED", "Candidate", "Expansion", "expand"]

#: Files found by expansion beyond this are neither read nor listed (a note says so).
MAX_CANDIDATES = 1000
#: Directory entries looked at per call, so a huge tree cannot stall the call.
MAX_SCANNED = 100_000
#: Directory levels walked below a named directory.
MAX_DEPTH = 64

OUTSIDE_LINK = "is a symbolic link to outside the allowed directories"
DIRECTORY_LINK = "is a symbolic link to a directory; links are not followed when expanding (name it to read it)"
BROKEN_LINK = "is a symbolic link to nothing"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One file to consider. `checked` is None when it is skipped before opening (`skip` says why)."""

    display: str
    explicit: bool
    checked: CheckedPath | None
    skip: str | None = None

    @property
    def key(self) -> str:
        """What duplicates share: the real path when known, else the displayed path."""
        return str(self.checked.real) if self.checked is not None else self.display


@dataclass(slots=True)
class Expansion:
    """The candidates, plus notes on what expansion left out (walk limits)."""

    candidates: list[Candidate] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    scanned: int = 0
    truncated: bool = False


def expand(entries: Sequence[str], allowed: AllowedDirectories) -> Expansion:
    """Candidates for `entries`, de-duplicated by real path.

    Raises FileAccessError (outside), NoAllowedDirectoriesError, or FileReadError (an explicit entry that
    does not exist, a glob that matches nothing, `..` after a wildcard).
    """
    result = Expansion()
    index: dict[str, int] = {}
    for entry in entries:
        for candidate in _expand_entry(entry, allowed, result):
            position = index.get(candidate.key)
            if position is None:
                index[candidate.key] = len(result.candidates)
                result.candidates.append(candidate)
            elif candidate.explicit:
                result.candidates[position] = replace(result.candidates[position], explicit=True)
    return result


def _expand_entry(entry: str, allowed: AllowedDirectories, result: Expansion) -> list[Candidate]:
    real, root = allowed.resolve(entry)
    if is_glob(entry) and not os.path.lexists(real):
        return _expand_glob(entry, allowed, result)
    if os.path.isdir(real) and not os.path.islink(real):
        found = _walk(real, root, allowed, None, result, named=True)
        if not found and not result.truncated:
            raise FileReadError(
                entry,
                "is a directory with no files to read (hidden files, .git and what .gitignore excludes are skipped)",
                "Name the files you want explicitly.",
            )
        return found
    checked = allowed.check(entry)
    return [Candidate(allowed.display(checked.real), True, checked)]


def _expand_glob(entry: str, allowed: AllowedDirectories, result: Expansion) -> list[Candidate]:
    try:
        glob = Glob.parse(entry)
    except ValueError:
        raise FileReadError(entry, "has `..` after a wildcard", "Put `..` only before the first wildcard.") from None
    prefix = str(Path(*glob.prefix)) if glob.prefix else "."
    top, root = allowed.resolve(prefix)
    found: list[Candidate] = []
    if os.path.isdir(top) and not os.path.islink(top):
        found = _walk(top, root, allowed, glob, result, named=True)  # its literal directory counts as named
    if not found and not result.truncated:
        raise FileReadError(
            entry,
            "matches no files (hidden files, .git and what .gitignore excludes are skipped)",
            "Check the pattern, or name the files explicitly.",
        )
    return found


def _read_gitignore(directory: int | Path) -> bytes:
    """The bytes of `.gitignore` in `directory` (a descriptor or path), or b"" when none can be read."""
    try:
        if isinstance(directory, int):
            fd = os.open(".gitignore", READ_FLAGS, dir_fd=directory)
        else:
            fd = os.open(directory / ".gitignore", READ_FLAGS)
    except OSError:
        return b""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        return os.read(fd, MAX_GITIGNORE_BYTES)
    finally:
        os.close(fd)


def _open_dir(root: Path, real: Path) -> int | Path:
    return open_directory(root, real) if CAN_WALK else real


def _open_child(parent: int | Path, name: str) -> int | Path:
    if isinstance(parent, int):
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    return parent / name


def _close(directory: int | Path) -> None:
    if isinstance(directory, int):
        os.close(directory)


def _rules_above(top: Path, root: Path, *, named: bool) -> IgnoreRules:
    """The .gitignore rules of `top`'s ancestors up to `root`; none when `top` was named but they exclude it."""
    rules = IgnoreRules()
    for directory in reversed([top, *top.parents][1:]):
        if directory == root or directory.is_relative_to(root):
            handle = _open_dir(root, directory)
            try:
                rules = rules.with_layer(directory, parse_gitignore(_read_gitignore(handle)))
            finally:
                _close(handle)
    if named and rules.excludes(top, is_dir=True):
        return IgnoreRules()
    return rules


def _walk(
    top: Path, root: Path, allowed: AllowedDirectories, glob: Glob | None, result: Expansion, *, named: bool
) -> list[Candidate]:
    """The candidates under directory `top` (a real path inside `root`), in sorted path order."""
    matcher = glob.regex() if glob is not None else None
    depth_limit = glob.max_depth if glob is not None and glob.max_depth is not None else MAX_DEPTH
    try:
        rules = _rules_above(top, root, named=named)
    except OSError:
        return []
    found: list[Candidate] = []
    for path, info, is_link in _entries(top, root, rules, min(depth_limit, MAX_DEPTH), result):
        relative = path.relative_to(top).as_posix()
        if matcher is not None and not matcher.fullmatch(relative):
            continue
        if len(result.candidates) + len(found) >= MAX_CANDIDATES:
            _truncate(result, f"Expansion stopped after {MAX_CANDIDATES} files; the rest were not listed.")
            break
        found.append(_candidate(path, info, is_link, root, allowed))
    return found


def _truncate(result: Expansion, note: str) -> None:
    if note not in result.notes:
        result.notes.append(note + " Use a narrower directory or glob.")
    result.truncated = True


def _candidate(path: Path, info: os.stat_result, is_link: bool, root: Path, allowed: AllowedDirectories) -> Candidate:
    display = allowed.display(path)
    if not is_link:
        if not stat.S_ISREG(info.st_mode):
            return Candidate(display, False, None, f"is {describe_mode(info.st_mode)}")
        return Candidate(display, False, CheckedPath(display, path, root, info))
    real = Path(os.path.realpath(path))
    real_root = allowed.containing(real)
    if real_root is None:
        return Candidate(display, False, None, OUTSIDE_LINK)  # nothing about the target is looked at
    try:
        target = os.lstat(real)
    except OSError:
        return Candidate(display, False, None, BROKEN_LINK)
    if stat.S_ISDIR(target.st_mode):
        return Candidate(display, False, None, DIRECTORY_LINK)
    if not stat.S_ISREG(target.st_mode):
        return Candidate(display, False, None, f"is {describe_mode(target.st_mode)}")
    return Candidate(display, False, CheckedPath(display, real, real_root, target))


def _entries(
    top: Path, root: Path, rules: IgnoreRules, depth_limit: int, result: Expansion
) -> Iterator[tuple[Path, os.stat_result, bool]]:
    """(path, lstat, is a symlink) of every non-directory under `top`, depth first in name order, skipping
    hidden and ignored names and never entering a symlinked directory."""
    try:
        handle = _open_dir(root, top)
    except OSError:
        return
    stack = [(top, handle, _with_own_rules(rules, top, handle), _listing(handle, result))]
    try:
        while stack:
            directory, handle, layer, listing = stack[-1]
            item = next(listing, None)
            if item is None:
                _close(stack.pop()[1])
                continue
            name, info = item
            path = directory / name
            is_dir = stat.S_ISDIR(info.st_mode)
            if name.startswith(".") or layer.excludes(path, is_dir=is_dir):
                continue
            if not is_dir:
                yield path, info, stat.S_ISLNK(info.st_mode)
            elif len(stack) < depth_limit:
                try:
                    child = _open_child(handle, name)
                except OSError:  # swapped for a symlink, removed, or unreadable: not walked
                    continue
                stack.append((path, child, _with_own_rules(layer, path, child), _listing(child, result)))
    finally:
        for frame in stack:
            _close(frame[1])


def _with_own_rules(rules: IgnoreRules, directory: Path, handle: int | Path) -> IgnoreRules:
    return rules.with_layer(directory, parse_gitignore(_read_gitignore(handle)))


def _listing(handle: int | Path, result: Expansion) -> Iterator[tuple[str, os.stat_result]]:
    """(name, lstat) of a directory's entries in name order; counts them against MAX_SCANNED."""
    items: list[tuple[str, os.stat_result]] = []
    try:
        with os.scandir(handle) as scan:
            for entry in scan:
                result.scanned += 1
                if result.scanned > MAX_SCANNED:
                    _truncate(result, f"Expansion stopped after looking at {MAX_SCANNED:,} directory entries.")
                    break
                try:
                    items.append((entry.name, entry.stat(follow_symlinks=False)))
                except OSError:
                    continue
    except OSError:
        return iter(())
    return iter(sorted(items, key=lambda item: item[0]))
