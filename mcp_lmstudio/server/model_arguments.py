"""The arguments of the tools that manage models (`load_model`, `unload_model`, `embed`): their schemas, small
and strict like the generation tools' (`arguments.py`), and the check of `embed`'s texts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..errors import InvalidInputError
from .arguments import MAX_PROMPT_CHARS, IntegerText, NumberText, check_text

__all__ = [
    "MAX_EMBED_TEXTS",
    "ContextLength",
    "EmbedInput",
    "EmbeddingModelKey",
    "GpuOffload",
    "Identifier",
    "InstanceIdentifier",
    "LoadModelKey",
    "Ttl",
    "embed_input",
]

#: Texts per `embed` call (LM Studio embeds them one request each).
MAX_EMBED_TEXTS = 256

LoadModelKey = Annotated[
    str,
    Field(min_length=1, max_length=512, description="Model key or path of a downloaded model (see list_models)."),
]
Identifier = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=256,
        description="Name of the new instance. Default: the model key, then key:2, key:3...",
        default=None,
    ),
]
ContextLength = Annotated[
    int | None,
    Field(ge=1, le=100_000_000, description="Context length in tokens. Default: LM Studio's.", default=None),
    IntegerText,
]
Ttl = Annotated[
    int | None,
    Field(ge=1, le=100_000_000, description="Seconds idle before LM Studio unloads it. Default: never.", default=None),
    IntegerText,
]
GpuOffload = Annotated[
    Literal["max", "off"] | Annotated[float, Field(ge=0, le=1)] | None,
    Field(description="'max', 'off' or a ratio 0-1, as lms load --gpu. Default: LM Studio's.", default=None),
    NumberText,
]
InstanceIdentifier = Annotated[
    str, Field(min_length=1, max_length=512, description="A loaded instance's key from list_models.")
]
EmbedInput = Annotated[
    str | list[Annotated[str, Field(max_length=MAX_PROMPT_CHARS)]],
    Field(max_length=MAX_PROMPT_CHARS, description=f"A text, or up to {MAX_EMBED_TEXTS} texts."),
]
EmbeddingModelKey = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=512,
        description="An embedding model from list_models. Default: the loaded one.",
        default=None,
    ),
]


def embed_input(texts: str | list[str]) -> list[str]:
    """`embed`'s `input` as a list of texts, checked: 1 to `MAX_EMBED_TEXTS`, valid Unicode, 2 MB in all.

    Raises:
        InvalidInputError: naming the value and what is allowed.
    """
    items = [texts] if isinstance(texts, str) else texts
    if not items or len(items) > MAX_EMBED_TEXTS:
        raise InvalidInputError(
            f"`input` holds {len(items)} texts; give one text, or an array of 1 to {MAX_EMBED_TEXTS}."
        )
    for index, text in enumerate(items):
        check_text(text, "`input`" if isinstance(texts, str) else f"`input` text {index}")
    total = sum(map(len, items))
    if total > MAX_PROMPT_CHARS:
        raise InvalidInputError(
            f"`input` is {total:,} characters in all, over the {MAX_PROMPT_CHARS:,}-character limit. Embed fewer "
            "texts per call."
        )
    return items
