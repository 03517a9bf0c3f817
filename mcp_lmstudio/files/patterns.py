"""Glob patterns of `files` entries, and the `.gitignore` rules applied while expanding them.

Globs: `*` and `?` match within one path component, `[...]` a character class (`[!...]` negated), `**` a
whole component matches any number of components (including none). Matching is case-sensitive and on
POSIX-style relative paths. `..` is not allowed after a wildcard, so a glob cannot climb out of the
directory its literal part names.

`.gitignore`: every `.gitignore` from the allowed directory down to a file's directory applies, each to
paths relative to its own directory, the nearest deciding (as in git). Only regular files named
`.gitignore` count (a symlink is not followed), and only their first 256 KB.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

import pathspec

__all__ = ["GLOB_CHARACTERS", "Glob", "IgnoreRules", "is_glob", "parse_gitignore"]

GLOB_CHARACTERS = frozenset("*?[")
MAX_GITIGNORE_BYTES = 256 * 1024


def is_glob(entry: str) -> bool:
    """Whether `entry` holds a wildcard character (`*`, `?` or `[`)."""
    return any(char in GLOB_CHARACTERS for char in entry)


def _class(part: str, start: int) -> tuple[str, int]:
    """Regex for the `[...]` class at `part[start]` and the index after it; a lone `[` is literal."""
    end = start + 1
    if end < len(part) and part[end] == "!":
        end += 1
    if end < len(part) and part[end] == "]":
        end += 1
    end = part.find("]", end)
    if end < 0:
        return re.escape("["), start + 1
    body = part[start + 1 : end]
    negate = body.startswith("!")
    body = body[1:] if negate else body
    # Escape what `re` would read as set operations or escapes; ranges (a-z) keep their meaning.
    body = re.sub(r"([\\\[&~|^])", r"\\\1", body)
    return f"[{'^' if negate else ''}{body}]", end + 1


def _component(part: str) -> str:
    """Regex matching one path component against the glob component `part`."""
    out: list[str] = []
    index = 0
    while index < len(part):
        char = part[index]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            regex, index = _class(part, index)
            out.append(regex)
            continue
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Glob:
    """A glob split into its literal directory (`prefix`, components) and its wildcard part (`pattern`)."""

    prefix: tuple[str, ...]
    pattern: tuple[str, ...]

    @classmethod
    def parse(cls, entry: str) -> Glob:
        """Split `entry` at its first wildcard component. Raises ValueError when `..` follows a wildcard."""
        parts = PurePath(entry).parts
        first = next(index for index, part in enumerate(parts) if is_glob(part))
        pattern = tuple(part for part in parts[first:] if part != ".")
        if ".." in pattern:
            raise ValueError("`..` cannot follow a wildcard")
        return cls(parts[:first], pattern)

    @property
    def max_depth(self) -> int | None:
        """How many directory levels deep a match can lie (None: any, when the pattern has `**`)."""
        return None if "**" in self.pattern else len(self.pattern)

    def regex(self) -> re.Pattern[str]:
        """A regex that fully matches the POSIX relative paths (below the prefix) this glob selects."""
        pieces: list[str] = []
        for index, part in enumerate(self.pattern):
            last = index == len(self.pattern) - 1
            if part == "**":
                pieces.append(".+" if last else "(?:[^/]+/)*")
            else:
                pieces.append(_component(part) + ("" if last else "/"))
        return re.compile("".join(pieces), re.DOTALL)


def parse_gitignore(data: bytes) -> pathspec.GitIgnoreSpec | None:
    """The rules of a `.gitignore` file's bytes (at most MAX_GITIGNORE_BYTES are used); None when it has none."""
    lines = data[:MAX_GITIGNORE_BYTES].decode("utf-8", errors="replace").splitlines()
    try:
        spec = pathspec.GitIgnoreSpec.from_lines(lines)
    except Exception:  # a malformed pattern must not break expansion; such a file is ignored as git would
        return None
    return spec if spec.patterns else None


@dataclass(frozen=True, slots=True)
class IgnoreRules:
    """The `.gitignore` rules in force in one directory: (directory, rules) pairs, outermost first."""

    layers: tuple[tuple[PurePath, pathspec.GitIgnoreSpec], ...] = ()

    def with_layer(self, directory: PurePath, spec: pathspec.GitIgnoreSpec | None) -> IgnoreRules:
        """These rules plus those of `directory`'s own `.gitignore` (when it has any)."""
        return self if spec is None else IgnoreRules((*self.layers, (directory, spec)))

    def excludes(self, path: PurePath, *, is_dir: bool) -> bool:
        """Whether `path` (absolute, below every layer's directory) is excluded; the nearest matching rule wins."""
        for directory, spec in reversed(self.layers):
            relative = path.relative_to(directory).as_posix() + ("/" if is_dir else "")
            decision = spec.check_file(relative).include
            if decision is not None:
                return decision
        return False
