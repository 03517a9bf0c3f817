"""File names as shown to the model and the host: valid Unicode on one line.

A name is whatever bytes the file system holds. Bytes that are not UTF-8 reach Python as lone surrogates
(`surrogateescape`), which no UTF-8 encoder accepts: they are shown as `\\xNN`. Characters that could
break a header line or reorder it on screen (categories Cc, Cf, Zl, Zp: controls, U+0085, U+2028, U+2029,
bidirectional controls, zero-width characters) are shown as `\\xNN` or `\\uNNNN`, so a file name cannot
fake another file's header. The result is used for display only, never to open a file.
"""

from __future__ import annotations

import unicodedata

__all__ = ["printable"]

_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def printable(name: str) -> str:
    """`name` with undecodable bytes and line-breaking, control or format characters escaped."""
    if name.isprintable():  # false for every character escaped here (and for some that are kept)
        return name
    return "".join(_shown(char) for char in name)


def _shown(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte the file system encoding could not decode
        return f"\\x{code - 0xDC00:02x}"
    if unicodedata.category(char) not in _ESCAPED_CATEGORIES:
        return char
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
