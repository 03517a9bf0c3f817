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

Bounds per call: MAX_CANDIDATES files listed, MAX_SCANNED directory entries looked at, MAX_DEPTH levels
walked, MAX_EXPANSION_SECONDS of walking, and the `.gitignore` budget (see `patterns`); a note says what
was left out. The directory an entry names is reached by one walk down from its allowed directory, which
gathers the `.gitignore` rules on the way.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .confinement import CAN_WALK, READ_FLAGS, AllowedDirectories, CheckedPath, describe_mode, still_inside
from .errors import FileReadError
from .patterns import GitignoreBudget, Glob, IgnoreRules, PatternError, gitignore_note, is_glob, parse_gitignore

__all__ = ["MAX_CANDIDATES", "MAX_DEPTH", "MAX_EXPANSION_SECONDS", "MAX_SCANNED", "Candidate", "Expansion", "expand"]

#: Files found by expansion beyond this are neither read nor listed (a note says so).
MAX_CANDIDATES = 1000
#: Directory entries looked at per call, so a huge tree cannot stall the call.
MAX_SCANNED = 100_000
#: Directory levels walked below a named directory.
MAX_DEPTH = 64
#: Time spent walking per call; then expansion stops and a note says the rest was not listed.
MAX_EXPANSION_SECONDS = 5.0

OUTSIDE_LINK = "is a symbolic link to outside the allowed directories"
DIRECTORY_LINK = "is a symbolic link to a directory; links are not followed when expanding (name it to read it)"
BROKEN_LINK = "is a symbolic link to nothing"
CHANGED_LINK = "is a symbolic link that changed while it was being checked"

_CHILD_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)

#: A directory being walked: an open descriptor, or its path where the OS cannot walk by descriptor.
Handle = int | Path
#: A path as its components below the allowed directory.
Parts = tuple[str, ...]


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


def _deadline() -> float:
    return time.monotonic() + MAX_EXPANSION_SECONDS


@dataclass(slots=True)
class Expansion:
    """The candidates, plus notes on what expansion left out (walk limits)."""

    candidates: list[Candidate] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    scanned: int = 0
    truncated: bool = False
    deadline: float = field(default_factory=_deadline)
    gitignore: GitignoreBudget = field(default_factory=GitignoreBudget)

    def out_of_time(self) -> bool:
        """Whether the time for walking is spent (noted, and the expansion marked truncated, when it is)."""
        if time.monotonic() <= self.deadline:
            return False
        _truncate(self, f"Expansion stopped after {MAX_EXPANSION_SECONDS:g} seconds; the rest were not listed.")
        return True


def expand(entries: Sequence[str], allowed: AllowedDirectories) -> Expansion:
    """Candidates for `entries`, de-duplicated by real path.

    Raises FileAccessError (outside), NoAllowedDirectoriesError, or FileReadError (an explicit entry that
    does not exist, a glob that matches nothing or is malformed, an entry too deep).
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
    if result.gitignore.exhausted:
        result.notes.append(gitignore_note())
    return result


def _expand_entry(entry: str, allowed: AllowedDirectories, result: Expansion) -> list[Candidate]:
    real, root = allowed.resolve(entry)
    if is_glob(entry) and not os.path.lexists(real):
        return _expand_glob(entry, allowed, result)
    if os.path.isdir(real) and not os.path.islink(real):
        found = _walk(real, root, allowed, None, result)
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
    except PatternError as exc:
        raise FileReadError(entry, exc.reason, exc.fix) from None
    prefix = str(Path(*glob.prefix)) if glob.prefix else "."
    top, root = allowed.resolve(entry, path=prefix)  # a refusal names the entry, not its directory
    found: list[Candidate] = []
    if os.path.isdir(top) and not os.path.islink(top):
        found = _walk(top, root, allowed, glob, result)  # its literal directory counts as named
    if not found and not result.truncated:
        raise FileReadError(
            entry,
            "matches no files (hidden files, .git and what .gitignore excludes are skipped)",
            "Check the pattern, or name the files explicitly.",
        )
    return found


def _read_gitignore(directory: Handle, budget: GitignoreBudget) -> bytes:
    """The bytes of `.gitignore` in `directory` within the call's budget, or b"" when none can be read."""
    if budget.exhausted and budget.bytes_left <= 0:
        return b""
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
        return budget.take(os.read(fd, budget.bytes_left + 1))
    except OSError:
        return b""
    finally:
        os.close(fd)


def _open_child(parent: Handle, name: str) -> Handle:
    if isinstance(parent, int):
        return os.open(name, _CHILD_FLAGS, dir_fd=parent)
    return parent / name


def _close(directory: Handle) -> None:
    if isinstance(directory, int):
        os.close(directory)


def _with_own_rules(rules: IgnoreRules, parts: Parts, handle: Handle, result: Expansion) -> IgnoreRules:
    data = _read_gitignore(handle, result.gitignore)
    return rules.with_layer(len(parts), parse_gitignore(data, result.gitignore)) if data else rules


def _descend(root: Path, base: Parts, result: Expansion) -> tuple[IgnoreRules, Handle]:
    """Open directory `root/base` by one walk down from `root`, never following a symlink, gathering the
    `.gitignore` rules of the directories above it: (rules, open handle). The rules are none when they
    exclude the directory or one above it (a directory named is walked even when ignored).

    Raises OSError when a component is a symlink, missing, or moved outside `root`.
    """
    handle: Handle = os.open(root, _CHILD_FLAGS) if CAN_WALK else root
    rules, excluded = IgnoreRules(), False
    try:
        for depth, name in enumerate(base):
            rules = _with_own_rules(rules, base[:depth], handle, result)
            excluded = excluded or rules.excludes(base[: depth + 1], is_dir=True)
            child = _open_child(handle, name)
            _close(handle)
            handle = child
            if isinstance(handle, int) and not still_inside(handle, root):
                raise OSError(f"{root.joinpath(*base[: depth + 1])} moved outside {root}")
    except BaseException:
        _close(handle)
        raise
    return (IgnoreRules() if excluded else rules), handle


def _walk(top: Path, root: Path, allowed: AllowedDirectories, glob: Glob | None, result: Expansion) -> list[Candidate]:
    """The candidates under directory `top` (a real path inside `root`), in sorted path order."""
    depth_limit = glob.max_depth if glob is not None and glob.max_depth is not None else MAX_DEPTH
    base = top.relative_to(root).parts
    try:
        rules, handle = _descend(root, base, result)
    except OSError:
        return []
    found: list[Candidate] = []
    for parts, info, is_link in _entries(base, handle, rules, min(depth_limit, MAX_DEPTH), result):
        if glob is not None and not glob.matches(parts[len(base) :]):
            continue
        if len(result.candidates) + len(found) >= MAX_CANDIDATES:
            _truncate(result, f"Expansion stopped after {MAX_CANDIDATES} files; the rest were not listed.")
            break
        found.append(_candidate(root.joinpath(*parts), info, is_link, root, allowed))
    return found


def _truncate(result: Expansion, note: str) -> None:
    note += " Use a narrower directory or glob."
    if note not in result.notes:
        result.notes.append(note)
    result.truncated = True


def _candidate(path: Path, info: os.stat_result, is_link: bool, root: Path, allowed: AllowedDirectories) -> Candidate:
    display = allowed.display(path)
    if not is_link:
        if not stat.S_ISREG(info.st_mode):
            return Candidate(display, False, None, f"is {describe_mode(info.st_mode)}")
        return Candidate(display, False, CheckedPath(display, path, root, info))
    try:
        real = Path(os.path.realpath(path))
    except (OSError, ValueError):  # swapped while it was resolved
        return Candidate(display, False, None, CHANGED_LINK)
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
    base: Parts, handle: Handle, rules: IgnoreRules, depth_limit: int, result: Expansion
) -> Iterator[tuple[Parts, os.stat_result, bool]]:
    """(components, lstat, is a symlink) of every non-directory under the open directory `base` (closed
    here), depth first in name order, skipping hidden and ignored names and never entering a symlink."""
    stack = [(base, handle, _with_own_rules(rules, base, handle, result), _listing(handle, result))]
    try:
        while stack and not result.out_of_time():
            parts, handle, layer, listing = stack[-1]
            item = next(listing, None)
            if item is None:
                _close(stack.pop()[1])
                continue
            name, info = item
            path = (*parts, name)
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
                stack.append((path, child, _with_own_rules(layer, path, child, result), _listing(child, result)))
    finally:
        for frame in stack:
            _close(frame[1])


def _listing(handle: Handle, result: Expansion) -> Iterator[tuple[str, os.stat_result]]:
    """(name, lstat) of a directory's entries in name order; counts them against MAX_SCANNED."""
    items: list[tuple[str, os.stat_result]] = []
    try:
        with os.scandir(handle) as scan:
            for entry in scan:
                result.scanned += 1
                if result.scanned > MAX_SCANNED:
                    _truncate(result, f"Expansion stopped after looking at {MAX_SCANNED:,} directory entries.")
                    break
                if result.out_of_time():
                    break
                try:
                    items.append((entry.name, entry.stat(follow_symlinks=False)))
                except OSError:
                    continue
    except OSError:
        return iter(())
    return iter(sorted(items, key=lambda item: item[0]))
