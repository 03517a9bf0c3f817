"""Glob patterns of `files` entries, and the `.gitignore` rules applied while expanding them.

Globs: `*` and `?` match within one path component, `[...]` a character class (`[!...]` negated, `a-z`
ranges), `**` a whole component matches any number of components (including none; at the end, at least
one). Matching is case-sensitive, by `wildcards` (never a regular expression, so never slow). A run of `*`
counts as one, as do repeated `**` components; a glob may hold at most MAX_GLOB_STARS of them, and a
reversed range (`[z-a]`) is an error. `..` is not allowed after a wildcard, so a glob cannot climb out of
the directory its literal part names.

`.gitignore`: every `.gitignore` from the allowed directory down to a file's directory applies, each to
paths relative to its own directory, the nearest deciding (as in git). Only regular files named
`.gitignore` count (a symlink is not followed). Per call at most MAX_GITIGNORE_BYTES of them are read and
MAX_GITIGNORE_RULES rules kept; beyond that the rest is not applied and a note says so (what it would have
excluded is listed, still under every other rule). Patterns follow gitignore(5): `#` comments, `!`
negation, a trailing `/` for directories only, a `/` at the start or in the middle anchors the pattern to
its directory, a backslash escapes; a reversed range matches nothing, as in git.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

from .wildcards import GLOBSTAR, Globstar, PathPattern, PatternError, Wildcard, match_path

__all__ = [
    "GLOB_CHARACTERS",
    "MAX_GITIGNORE_BYTES",
    "MAX_GITIGNORE_RULES",
    "MAX_GLOB_STARS",
    "GitignoreBudget",
    "Glob",
    "IgnoreRules",
    "PatternError",
    "Rule",
    "gitignore_note",
    "is_glob",
    "parse_gitignore",
]

GLOB_CHARACTERS = frozenset("*?[")
#: `*` (each run counting once) and `**` components allowed in one glob.
MAX_GLOB_STARS = 16
#: Bytes of `.gitignore` files read per call, all files together.
MAX_GITIGNORE_BYTES = 256 * 1024
#: `.gitignore` rules kept per call, all files together.
MAX_GITIGNORE_RULES = 2000

_ANY = Wildcard.compile("*")


def is_glob(entry: str) -> bool:
    """Whether `entry` holds a wildcard character (`*`, `?` or `[`)."""
    return any(char in GLOB_CHARACTERS for char in entry)


def _with_trailing_globstar(pattern: list[Wildcard | Globstar]) -> None:
    """A final `**` matches at least one component: it becomes `*` then `**`."""
    if pattern and pattern[-1] is GLOBSTAR:
        pattern[-1:] = [_ANY, GLOBSTAR]


@dataclass(frozen=True, slots=True)
class Glob:
    """A glob split into its literal directory (`prefix`, components) and its wildcard part (`pattern`)."""

    prefix: tuple[str, ...]
    pattern: PathPattern

    @classmethod
    def parse(cls, entry: str) -> Glob:
        """Split `entry` at its first wildcard component and compile the rest.

        Raises PatternError (`..` after a wildcard, a reversed range, more than MAX_GLOB_STARS stars).
        """
        parts = PurePath(entry).parts
        first = next(index for index, part in enumerate(parts) if is_glob(part))
        items: list[Wildcard | Globstar] = []
        stars = 0
        for part in parts[first:]:
            if part == "..":
                raise PatternError("has `..` after a wildcard", "Put `..` only before the first wildcard.")
            if part == ".":
                continue
            if part == "**":
                if not items or items[-1] is not GLOBSTAR:
                    items.append(GLOBSTAR)
                    stars += 1
                continue
            wildcard = Wildcard.compile(part)
            stars += wildcard.stars
            items.append(wildcard)
        if stars > MAX_GLOB_STARS:
            raise PatternError(
                f"has {stars} `*` or `**` wildcards, over the limit of {MAX_GLOB_STARS} per glob",
                "Use fewer wildcards (a run such as `**` inside a name counts as one `*`).",
            )
        _with_trailing_globstar(items)
        return cls(parts[:first], tuple(items))

    @property
    def max_depth(self) -> int | None:
        """How many directory levels deep a match can lie (None: any, when the pattern has `**`)."""
        return None if GLOBSTAR in self.pattern else len(self.pattern)

    def matches(self, parts: Sequence[str]) -> bool:
        """Whether the path components `parts` (below the prefix) are selected."""
        return match_path(self.pattern, parts)


@dataclass(frozen=True, slots=True)
class Rule:
    """One `.gitignore` pattern. `basename` is set for a pattern without a `/`: it matches a name at any
    depth. Otherwise `pattern` matches the path relative to the `.gitignore`'s directory."""

    pattern: PathPattern
    basename: Wildcard | None
    negated: bool
    directories_only: bool

    def matches(self, parts: Sequence[str], *, is_dir: bool) -> bool:
        if self.directories_only and not is_dir:
            return False
        if self.basename is not None:
            return self.basename.matches(parts[-1])
        return match_path(self.pattern, parts)

    @classmethod
    def parse(cls, line: str) -> Rule | None:
        """The rule of one `.gitignore` line; None for a blank line or a comment."""
        line = _strip_trailing_spaces(line.removesuffix("\r"))
        if not line or line.startswith("#"):
            return None
        negated = line.startswith("!")
        line = line[1:] if negated else line
        directories_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            return None
        anchored = "/" in line
        items: list[Wildcard | Globstar] = []
        for part in (part for part in line.split("/") if part):
            if part.strip("*") == "" and len(part) > 1:
                if not items or items[-1] is not GLOBSTAR:
                    items.append(GLOBSTAR)
            else:
                items.append(Wildcard.compile(part, escapes=True, strict=False))
        basename = items[0] if not anchored and isinstance(items[0], Wildcard) else None
        _with_trailing_globstar(items)  # `abc/**` excludes what is inside abc, not abc (so `!abc/x` works)
        return cls(tuple(items), basename, negated, directories_only)


def _strip_trailing_spaces(line: str) -> str:
    """Trailing spaces are dropped unless escaped with a backslash (gitignore(5))."""
    end = len(line)
    while end > 0 and line[end - 1] == " " and not (end >= 2 and line[end - 2] == "\\"):
        end -= 1
    return line[:end]


@dataclass(slots=True)
class GitignoreBudget:
    """What one call may still read of `.gitignore` files; `exhausted` once something was left out."""

    bytes_left: int = MAX_GITIGNORE_BYTES
    rules_left: int = MAX_GITIGNORE_RULES
    exhausted: bool = False

    def take(self, data: bytes) -> bytes:
        """The part of `data` (read as at most `bytes_left + 1` bytes) within the budget: whole lines only."""
        if len(data) <= self.bytes_left:
            self.bytes_left -= len(data)
            return data
        kept = data[: self.bytes_left]
        kept = kept[: kept.rfind(b"\n") + 1]
        self.bytes_left = 0
        self.exhausted = True
        return kept


def gitignore_note() -> str:
    """The note when a call's `.gitignore` budget ran out."""
    return (
        f"Some .gitignore rules were not applied: a call reads at most {MAX_GITIGNORE_BYTES // 1024} KB of "
        f".gitignore files and keeps at most {MAX_GITIGNORE_RULES:,} rules, so files the rest would exclude "
        "may be listed."
    )


def parse_gitignore(data: bytes, budget: GitignoreBudget | None = None) -> tuple[Rule, ...]:
    """The rules of a `.gitignore` file's bytes, within `budget` (rules beyond it are left out)."""
    budget = budget if budget is not None else GitignoreBudget()
    rules: list[Rule] = []
    for line in data.decode("utf-8", errors="replace").split("\n"):
        rule = Rule.parse(line)
        if rule is None:
            continue
        if budget.rules_left <= 0:
            budget.exhausted = True
            break
        budget.rules_left -= 1
        rules.append(rule)
    return tuple(rules)


@dataclass(frozen=True, slots=True)
class IgnoreRules:
    """The `.gitignore` rules in force in one directory: (depth below the allowed directory, rules) per
    `.gitignore`, outermost first. Paths are given as components relative to the allowed directory."""

    layers: tuple[tuple[int, tuple[Rule, ...]], ...] = ()

    def with_layer(self, depth: int, rules: tuple[Rule, ...]) -> IgnoreRules:
        """These rules plus those of the `.gitignore` of the directory `depth` levels down (when it has any)."""
        return IgnoreRules((*self.layers, (depth, rules))) if rules else self

    def excludes(self, parts: tuple[str, ...], *, is_dir: bool) -> bool:
        """Whether `parts` (below every layer's directory) is excluded; the nearest matching rule wins."""
        for depth, rules in reversed(self.layers):
            relative = parts[depth:]
            for rule in reversed(rules):
                if rule.matches(relative, is_dir=is_dir):
                    return not rule.negated
        return False
