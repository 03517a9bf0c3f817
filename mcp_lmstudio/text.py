"""Valid Unicode from whatever LM Studio sends.

LM Studio's JSON may carry UTF-16 surrogates as escapes (`"\\ud83d"`): a model's tokenizer can split one
emoji across two fragments, each a lone surrogate on its own. Python decodes them into a `str` that cannot
be encoded as UTF-8, so one such string in a result used to fail the stdio writer and end the process.
Every string that comes from LM Studio passes through here: a surrogate pair (even split across
fragments) is joined into its character, and a truly lone surrogate becomes U+FFFD, as a UTF-16 decoder
in "replace" mode does.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["REPLACEMENT_CHARACTER", "SurrogateJoiner", "is_valid_unicode", "valid_json_strings", "valid_unicode"]

REPLACEMENT_CHARACTER = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
#: A JSON escape of a UTF-16 surrogate (`\\ud83d`), the only way valid text can decode to one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def is_valid_unicode(text: str) -> bool:
    """Whether `text` can be encoded as UTF-8 (holds no surrogate)."""
    return text.isascii() or _SURROGATE.search(text) is None


def valid_unicode(text: str) -> str:
    """`text` with surrogate pairs joined and lone surrogates replaced by U+FFFD (costs little when clean)."""
    if is_valid_unicode(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def valid_json_strings(value: Any, source: str) -> Any:
    """`value`, parsed from the JSON text `source`, with every string (keys too) made valid Unicode.

    A JSON document may escape a lone surrogate (`"\\ud83d"`) and still be valid JSON; the parsed string then
    cannot be encoded. Costs one regex scan of `source` when it holds no such escape.
    """
    if _SURROGATE_ESCAPE.search(source) is None:
        return value
    return _clean(value)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return valid_unicode(value)
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {valid_unicode(key): _clean(item) for key, item in value.items()}
    return value


def _ends_with_high_surrogate(text: str) -> bool:
    return bool(text) and "\ud800" <= text[-1] <= "\udbff"


class SurrogateJoiner:
    """Makes a stream of fragments valid Unicode, joining a surrogate pair split across two fragments.

    A fragment ending in a high surrogate keeps it back until the next fragment (or `flush()` at the end),
    so that the pieces returned concatenate exactly to the valid text of the whole stream.
    """

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = ""

    def feed(self, fragment: str) -> str:
        """The valid text of `fragment` that can be released now (may be empty)."""
        if fragment.isascii() and not self._held:
            return fragment
        text = self._held + fragment
        if _ends_with_high_surrogate(text):
            text, self._held = text[:-1], text[-1]
        else:
            self._held = ""
        return valid_unicode(text)

    def flush(self) -> str:
        """What is still held at the end of the stream: a lone high surrogate, as U+FFFD."""
        held, self._held = self._held, ""
        return valid_unicode(held)


def plural(count: int, noun: str) -> str:
    """`1 token`, `2 tokens`: a count with its noun."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
