"""Wildcard matching without regular expressions, so no pattern can make matching slow.

A component pattern (one path component: `*`, `?`, `[...]`, literal characters) is split at its `*`s into
segments of single-character tokens. A name matches when the first segment matches at its start, the last
at its end, and each middle segment at the leftmost place after the one before: for tokens that each match
exactly one character, the leftmost choice is never worse, so there is no backtracking beyond rescanning
one segment. Cost is at most len(name) x len(pattern) steps; literal segments use `str.find`. (A translation
to `re` backtracks exponentially: `*************Z` against a 20-character name took seconds, with the GIL
held.)

A path pattern is a sequence of component patterns and GLOBSTAR (`**`, any number of components, none
included), matched by the two-pointer method with backtracking to the last GLOBSTAR only: at most
components x pattern-components component matches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["GLOBSTAR", "CharClass", "Globstar", "PathPattern", "PatternError", "Wildcard", "match_path"]


class PatternError(ValueError):
    """A pattern that cannot be used (a reversed range such as `[z-a]`, too many wildcards): `reason` says
    what is wrong (a phrase following the pattern), `fix` what to do."""

    def __init__(self, reason: str, fix: str = "Check the pattern.") -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


@dataclass(frozen=True, slots=True)
class CharClass:
    """`[...]`: the characters and (low, high) ranges it holds; `negated` for `[!...]`."""

    chars: frozenset[str]
    ranges: tuple[tuple[str, str], ...]
    negated: bool

    def matches(self, char: str) -> bool:
        hit = char in self.chars or any(low <= char <= high for low, high in self.ranges)
        return hit != self.negated


#: One token matches one character: a literal character, any character (None, for `?`) or a class.
Token = str | None | CharClass
#: A segment between two `*`: a plain string when every token is literal (fast path), else its tokens.
Segment = str | tuple[Token, ...]


class Globstar:
    """The type of GLOBSTAR (one instance)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "GLOBSTAR"


#: `**` as a whole component: matches any number of path components, including none.
GLOBSTAR: Final = Globstar()


@dataclass(frozen=True, slots=True)
class Wildcard:
    """A compiled component pattern. `stars` counts its `*` runs (each run is one `*`)."""

    segments: tuple[Segment, ...]
    stars: int
    min_length: int

    @classmethod
    def compile(cls, part: str, *, escapes: bool = False, strict: bool = True) -> Wildcard:
        """Compile one component. `escapes`: a backslash makes the next character literal (gitignore).
        `strict`: a reversed range raises PatternError (else it matches nothing, as in git)."""
        segments: list[Segment] = []
        tokens: list[Token] = []
        index = 0
        while index < len(part):
            char = part[index]
            if char == "*":
                while index < len(part) and part[index] == "*":
                    index += 1
                segments.append(_segment(tokens))
                tokens = []
                continue
            if char == "\\" and escapes and index + 1 < len(part):
                tokens.append(part[index + 1])
                index += 2
            elif char == "?":
                tokens.append(None)
                index += 1
            elif char == "[":
                token, index = _char_class(part, index, escapes=escapes, strict=strict)
                tokens.append(token)
            else:
                tokens.append(char)
                index += 1
        segments.append(_segment(tokens))
        return cls(tuple(segments), len(segments) - 1, sum(len(segment) for segment in segments))

    @property
    def matches_anything(self) -> bool:
        """Whether this is a lone `*` (every name matches)."""
        return self.segments == ("", "")

    def matches(self, name: str) -> bool:
        """Whether the whole of `name` matches."""
        segments = self.segments
        if len(name) < self.min_length:
            return False
        if len(segments) == 1:
            return len(name) == self.min_length and _at(segments[0], name, 0)
        first, last = segments[0], segments[-1]
        end = len(name) - len(last)
        if not (_at(first, name, 0) and _at(last, name, end)):
            return False
        position = len(first)
        for segment in segments[1:-1]:
            found = _find(segment, name, position, end)
            if found < 0:
                return False
            position = found + len(segment)
        return True


def _segment(tokens: list[Token]) -> Segment:
    if all(isinstance(token, str) for token in tokens):
        return "".join(token for token in tokens if isinstance(token, str))
    return tuple(tokens)


def _at(segment: Segment, name: str, start: int) -> bool:
    """Whether `segment` matches `name` at `start` (the caller has checked that it fits)."""
    if isinstance(segment, str):
        return name.startswith(segment, start)
    for offset, token in enumerate(segment):
        char = name[start + offset]
        if token is None:
            continue
        if isinstance(token, str):
            if token != char:
                return False
        elif not token.matches(char):
            return False
    return True


def _find(segment: Segment, name: str, start: int, end: int) -> int:
    """The leftmost index in [start, end - len(segment)] where `segment` matches, or -1."""
    if isinstance(segment, str):
        return name.find(segment, start, end)
    for index in range(start, end - len(segment) + 1):
        if _at(segment, name, index):
            return index
    return -1


def _char_class(part: str, start: int, *, escapes: bool, strict: bool) -> tuple[Token, int]:
    """The class at `part[start]` (a `[`) and the index after it; a `[` with no closing `]` is literal."""
    index = start + 1
    negated = index < len(part) and (part[index] == "!" or (escapes and part[index] == "^"))
    if negated:
        index += 1
    items: list[str] = []
    while index < len(part) and (part[index] != "]" or not items):
        if part[index] == "\\" and escapes and index + 1 < len(part):
            index += 1
        items.append(part[index])
        index += 1
    if index >= len(part):
        return "[", start + 1
    chars: set[str] = set()
    ranges: list[tuple[str, str]] = []
    position = 0
    while position < len(items):
        if position + 2 < len(items) and items[position + 1] == "-":
            low, high = items[position], items[position + 2]
            if low > high and not strict:  # as git: the range is empty, but its first character counts
                chars.add(low)
            elif low > high:
                raise PatternError(
                    f"has the reversed range `{low}-{high}` in `{part[start : index + 1]}`",
                    "Write a range from low to high, as in `[a-z]`.",
                )
            ranges.append((low, high))
            position += 3
        else:
            chars.add(items[position])
            position += 1
    return CharClass(frozenset(chars), tuple(ranges), negated), index + 1


#: A path pattern: component patterns and GLOBSTAR.
PathPattern = Sequence[Wildcard | Globstar]


def match_path(pattern: PathPattern, parts: Sequence[str]) -> bool:
    """Whether the components `parts` match `pattern` (component patterns and GLOBSTAR) as a whole."""
    if not parts or not pattern:
        return not parts and all(item is GLOBSTAR for item in pattern)
    last = pattern[-1]
    if isinstance(last, Wildcard) and not last.matches(parts[-1]):  # the usual quick refusal
        return False
    p = n = 0
    star_p, star_n = -1, 0
    while n < len(parts):
        item = pattern[p] if p < len(pattern) else None
        if item is GLOBSTAR:
            star_p, star_n = p, n
            p += 1
        elif isinstance(item, Wildcard) and item.matches(parts[n]):
            p += 1
            n += 1
        elif star_p >= 0:
            star_n += 1
            p, n = star_p + 1, star_n
        else:
            return False
    return all(item is GLOBSTAR for item in pattern[p:])
