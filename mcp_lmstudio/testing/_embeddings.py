"""Deterministic embeddings: the same text always gives the same unit vector of the model's length.

Feature hashing: each lower-cased word (a run of letters or digits) adds a fixed pseudo-random ±1
pattern over 8 of the vector's positions (chosen by a BLAKE2b hash of the word), and the sum is
normalised to length 1. Texts that share words therefore share components: the cosine similarity of two
texts is about the share of words they have in common (e.g. "the red car" and "the red bus" ≈ 0.67,
texts with no word in common ≈ 0), much like a bag-of-words model. Empty text gives a fixed unit vector.
"""

from __future__ import annotations

import hashlib
import math
import re

__all__ = ["embed"]

_WORD = re.compile(r"\w+")
#: How many positions one word touches.
SPREAD = 8


def _word_pattern(word: str, length: int) -> list[tuple[int, float]]:
    digest = hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=SPREAD * 4).digest()
    pattern = []
    for k in range(SPREAD):
        chunk = int.from_bytes(digest[4 * k : 4 * k + 4], "little")
        pattern.append((chunk % length, 1.0 if chunk & 0x8000_0000 else -1.0))
    return pattern


def embed(text: str, length: int) -> list[float]:
    """The embedding of `text`: `length` floats with Euclidean norm 1."""
    vector = [0.0] * length
    words = _WORD.findall(text.lower()) or [""]
    for word in words:
        for index, sign in _word_pattern(word, length):
            vector[index] += sign
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    return [round(value / norm, 7) for value in vector]
