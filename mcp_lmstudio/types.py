"""Input and output types of the model layer: `Chat`, `Image`, `Regex`, `CFG`, `JsonSchema`.

They mirror the outlines types of the same names without depending on outlines (or PIL). They do no
I/O except `Image.from_path`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import json
import re
import sys
import types
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pydantic
import typing_extensions
from typing_extensions import is_typeddict

from . import strict_json
from .errors import InvalidInputError

__all__ = ["CFG", "Chat", "Image", "JsonSchema", "Regex", "MAX_IMAGE_BYTES", "SUPPORTED_IMAGE_TYPES"]

#: Largest decoded image accepted; bigger ones are refused before any upload.
MAX_IMAGE_BYTES = 20 * 1024 * 1024

#: MIME types LM Studio's vision models take, with the file extension used for the upload name.
SUPPORTED_IMAGE_TYPES: dict[str, str] = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}

_MIME_ALIASES = {"image/jpg": "image/jpeg"}


def sniff_image_type(data: bytes) -> str | None:
    """The MIME type LM Studio accepts that `data`'s magic bytes show (PNG, JPEG, WebP), else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _decode_base64(data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        shown = data if len(data) <= 40 else f"{data[:40]}..."
        raise InvalidInputError(
            f"Image data is not valid base64 ({exc}): {shown!r}. Send the raw image bytes base64-encoded, "
            "without a 'data:' prefix or line breaks."
        ) from None


@dataclass(frozen=True, slots=True)
class Image:
    """An image for a vision model: base64 data plus its MIME type.

    The data is checked on construction: it must be valid base64 of a PNG, JPEG or WebP image no larger
    than `MAX_IMAGE_BYTES`, and the declared MIME type must match the bytes.
    """

    data: str
    mime_type: str

    def __post_init__(self) -> None:
        mime_type = _MIME_ALIASES.get(self.mime_type.lower().strip(), self.mime_type.lower().strip())
        if mime_type not in SUPPORTED_IMAGE_TYPES:
            raise InvalidInputError(
                f"Unsupported image MIME type {self.mime_type!r}. LM Studio accepts "
                f"{', '.join(SUPPORTED_IMAGE_TYPES)}; convert the image to one of these."
            )
        object.__setattr__(self, "mime_type", mime_type)
        self._check_bytes(_decode_base64(self.data))

    def _check_bytes(self, raw: bytes) -> None:
        if len(raw) > MAX_IMAGE_BYTES:
            raise InvalidInputError(
                f"Image is {len(raw):,} bytes, over the {MAX_IMAGE_BYTES:,}-byte limit. Downscale or recompress it."
            )
        actual = sniff_image_type(raw)
        if actual is None:
            raise InvalidInputError(
                f"Image data declared as {self.mime_type!r} is not a PNG, JPEG or WebP image "
                f"(it starts with {raw[:8]!r}). Send the bytes of a real image file."
            )
        if actual != self.mime_type:
            raise InvalidInputError(
                f"Image data is {actual!r} but was declared as {self.mime_type!r}. Set mimeType to {actual!r}."
            )

    @classmethod
    def from_bytes(cls, data: bytes, mime_type: str | None = None) -> Image:
        """Build an image from raw bytes, detecting the MIME type when it is not given."""
        detected = mime_type or sniff_image_type(data)
        if detected is None:
            raise InvalidInputError(
                f"Bytes starting with {data[:8]!r} are not a PNG, JPEG or WebP image. Pass a real image file."
            )
        return cls(base64.b64encode(data).decode("ascii"), detected)

    @classmethod
    def from_path(cls, path: str | Path) -> Image:
        """Read an image file."""
        return cls.from_bytes(Path(path).read_bytes())

    @classmethod
    def from_data_uri(cls, uri: str) -> Image:
        """Parse a `data:image/png;base64,...` URI."""
        header, sep, payload = uri.partition(",")
        if not (sep and header.startswith("data:") and header.endswith(";base64")):
            raise InvalidInputError(
                f"Not a base64 data URI: {uri[:40]!r}. Expected the form 'data:image/png;base64,<data>'."
            )
        return cls(payload, header[len("data:") : -len(";base64")])

    def to_bytes(self) -> bytes:
        """The decoded image bytes."""
        return base64.b64decode(self.data)

    @property
    def filename(self) -> str:
        """A file name for the upload, with the extension LM Studio uses to recognise the type."""
        return f"image.{SUPPORTED_IMAGE_TYPES[self.mime_type]}"


@dataclass
class Chat:
    """A conversation: a list of `{"role": ..., "content": ...}` messages.

    `content` is a string, or for user turns a list whose first item is the text and whose other items
    are `Image`s. A system message, if any, comes first.
    """

    messages: list[dict[str, Any]] = field(default_factory=list)

    def append(self, message: dict[str, Any]) -> None:
        """Add a message at the end."""
        self.messages.append(message)

    def extend(self, messages: Iterable[dict[str, Any]]) -> None:
        """Add several messages at the end."""
        self.messages.extend(messages)

    def pop(self) -> dict[str, Any]:
        """Remove and return the last message."""
        return self.messages.pop()

    def add_system_message(self, content: str) -> None:
        """Add a system message."""
        self.messages.append({"role": "system", "content": content})

    def add_user_message(self, content: str | list[str | Image]) -> None:
        """Add a user message (text, or `[text, Image, ...]`)."""
        self.messages.append({"role": "user", "content": content})

    def add_assistant_message(self, content: str) -> None:
        """Add an assistant message."""
        self.messages.append({"role": "assistant", "content": content})


@dataclass(frozen=True, slots=True)
class Regex:
    """A regular-expression output type. LM Studio cannot constrain output with it."""

    pattern: str


@dataclass(frozen=True, slots=True)
class CFG:
    """A context-free-grammar output type. LM Studio cannot constrain output with it."""

    definition: str


def _schema_from_type(schema_type: type[Any]) -> dict[str, Any]:
    if isinstance(schema_type, type) and issubclass(schema_type, pydantic.BaseModel):
        return schema_type.model_json_schema()
    if dataclasses.is_dataclass(schema_type) or is_typeddict(schema_type):
        try:
            schema = pydantic.TypeAdapter(_portable(schema_type)).json_schema()
        except pydantic.PydanticUserError as exc:
            raise InvalidInputError(f"Cannot build a JSON schema from {schema_type.__name__}: {exc.message}") from None
        if _is_generated_dataclass_doc(schema_type, schema.get("description")):
            del schema["description"]  # dataclasses invent a docstring from their signature; it is not a description
        return schema
    name = getattr(schema_type, "__name__", repr(schema_type))
    raise InvalidInputError(
        f"The type `{name}` cannot be turned into a JSON schema. Use a pydantic model, a dataclass, a TypedDict, "
        "a schema dict or a JSON string."
    )


def _portable(annotation: Any) -> Any:
    """`annotation` with every `typing.TypedDict` in it rebuilt as a `typing_extensions.TypedDict`.

    On Python < 3.12 pydantic refuses `typing.TypedDict` ("Please use `typing_extensions.TypedDict`"), although
    outlines documents TypedDict output types and 3.12 accepts them; the rebuilt class has the same name, doc,
    fields (with their `Annotated` metadata) and required keys, so the schema is the one 3.12 produces.
    """
    if sys.version_info >= (3, 12):
        return annotation
    if is_typeddict(annotation) and type(annotation).__module__ == "typing":
        return _rebuilt_typeddict(annotation)
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return _rebuilt_dataclass(annotation)
    arguments = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if not arguments or origin is typing.Literal:
        return annotation
    converted = tuple(_portable(argument) for argument in arguments)
    if converted == arguments:
        return annotation
    if origin is typing.Annotated:
        return typing.Annotated[(converted[0], *annotation.__metadata__)]
    if origin in (typing.Union, types.UnionType):
        return typing.Union[converted]  # noqa: UP007 (built from a tuple)
    if isinstance(annotation, types.GenericAlias):
        return types.GenericAlias(origin, converted)
    return annotation.copy_with(converted)


@cache
def _rebuilt_typeddict(source: Any) -> Any:
    hints = typing.get_type_hints(source, include_extras=True)
    fields = {}
    for name, hint in hints.items():
        # An explicit Required/NotRequired wins: under `from __future__ import annotations` the class's own
        # `__required_keys__` cannot see it on 3.11.
        required = name in source.__required_keys__
        while typing.get_origin(hint) in (typing.Required, typing.NotRequired):
            required = typing.get_origin(hint) is typing.Required
            hint = typing.get_args(hint)[0]
        marker = typing_extensions.Required if required else typing_extensions.NotRequired
        fields[name] = marker[_portable(hint)]
    rebuilt = typing_extensions.TypedDict(source.__name__, fields)  # type: ignore[misc]
    rebuilt.__doc__, rebuilt.__module__, rebuilt.__qualname__ = source.__doc__, source.__module__, source.__qualname__
    return rebuilt


@cache
def _rebuilt_dataclass(source: Any) -> Any:
    hints = typing.get_type_hints(source, include_extras=True)
    fields = [(f.name, _portable(hints[f.name]), f) for f in dataclasses.fields(source)]
    if all(hint is hints[name] for name, hint, _field in fields):
        return source
    rebuilt = dataclasses.make_dataclass(source.__name__, fields, namespace={"__doc__": source.__doc__})
    rebuilt.__module__, rebuilt.__qualname__ = source.__module__, source.__qualname__
    return rebuilt


def _is_generated_dataclass_doc(schema_type: type[Any], description: object) -> bool:
    return (
        dataclasses.is_dataclass(schema_type)
        and isinstance(description, str)
        and description == schema_type.__doc__
        and re.fullmatch(r"\w+\(.*\)", description) is not None
    )


def _schema_from_string(text: str) -> dict[str, Any]:
    try:
        parsed = strict_json.loads(text, max_depth=MAX_SCHEMA_DEPTH)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"The JSON schema string is not valid JSON ({exc.msg} at position {exc.pos}): {text[:80]!r}. "
            'Pass a JSON object such as \'{"type": "object"}\'.'
        ) from None
    except strict_json.TooDeepError:
        raise InvalidInputError(f"The JSON schema nests deeper than {MAX_SCHEMA_DEPTH} levels. Flatten it.") from None
    except strict_json.NonStandardJSONError as exc:
        raise InvalidInputError(f"The JSON schema string is not valid JSON ({exc}): {text[:80]!r}.") from None
    if not isinstance(parsed, dict):
        raise InvalidInputError(f"A JSON schema must be a JSON object, got {type(parsed).__name__}: {text[:80]!r}.")
    return parsed


#: Limits on schemas, so that a pathological one is refused here rather than choking LM Studio's grammar.
MAX_SCHEMA_CHARS = 256 * 1024
MAX_SCHEMA_DEPTH = 48


def _depth(value: Any) -> int:
    deepest, level, frontier = 0, 0, [value]
    while frontier:
        level += 1
        deepest = level
        if level > MAX_SCHEMA_DEPTH:
            return level
        frontier = [
            child
            for node in frontier
            for child in (node.values() if isinstance(node, dict) else node if isinstance(node, list) else ())
            if isinstance(child, dict | list)
        ]
    return deepest


def _refs_in(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs_in(value)


def _check_ref(schema: dict[str, Any], ref: str) -> None:
    """A `$ref` must point inside the schema: nothing else can be fetched, by LM Studio or by us."""
    if not ref.startswith("#"):
        raise InvalidInputError(
            f"The schema refers to {ref!r}, outside itself, which cannot be fetched. Copy that schema under "
            "`$defs` and refer to it as '#/$defs/<name>'."
        )
    if ref.startswith("#/") or ref == "#":
        node: Any = schema
        for token in ref[2:].split("/") if ref != "#" else []:
            key = unquote(token).replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            elif isinstance(node, dict) and key in node:
                node = node[key]
            else:
                raise InvalidInputError(f"The schema's $ref {ref!r} does not resolve: there is nothing at that path.")
    elif not any(isinstance(n, dict) and n.get("$anchor") == ref[1:] for n in _nodes_in(schema)):
        raise InvalidInputError(f"The schema's $ref {ref!r} does not resolve: no `$anchor` has that name.")


def _nodes_in(node: Any) -> Iterator[Any]:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from _nodes_in(child)


def check_schema(schema: dict[str, Any]) -> None:
    """Raise `InvalidInputError` unless `schema` is a valid JSON schema of its declared draft, within limits."""
    if _depth(schema) > MAX_SCHEMA_DEPTH:  # first: what follows recurses
        raise InvalidInputError(f"The JSON schema nests deeper than {MAX_SCHEMA_DEPTH} levels. Flatten it.")
    try:
        size = len(json.dumps(schema, allow_nan=False))
    except ValueError:  # NaN or an infinity: LM Studio would receive a document that is not JSON
        raise InvalidInputError(
            "The JSON schema holds a NaN or infinite number, which JSON cannot express. Use finite numbers."
        ) from None
    if size > MAX_SCHEMA_CHARS:
        raise InvalidInputError(
            f"The JSON schema is {size:,} characters, over the {MAX_SCHEMA_CHARS:,} limit. Simplify it."
        )
    for ref in _refs_in(schema):
        _check_ref(schema, ref)
    from jsonschema import SchemaError  # deferred: keeps server start-up fast
    from jsonschema.validators import validator_for

    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        location = "/".join(str(part) for part in exc.path) or "(root)"
        raise InvalidInputError(
            f"Invalid JSON schema at {location}: {exc.message}. Fix the schema so that it validates against "
            "its JSON Schema draft (2020-12 by default)."
        ) from None
    except RecursionError:
        raise InvalidInputError("The JSON schema is nested too deeply to check. Flatten it.") from None


class JsonSchema:
    """A JSON-schema output type.

    Accepts a schema dict, a JSON string holding one, a pydantic model class, a dataclass or a TypedDict;
    `.schema` is the schema as a dict.
    """

    __slots__ = ("schema",)

    def __init__(self, schema: dict[str, Any] | str | type[Any]) -> None:
        if isinstance(schema, dict):
            if _depth(schema) > MAX_SCHEMA_DEPTH:  # before the copy, which recurses
                raise InvalidInputError(f"The JSON schema nests deeper than {MAX_SCHEMA_DEPTH} levels. Flatten it.")
            converted = copy.deepcopy(schema)
        elif isinstance(schema, str):
            converted = _schema_from_string(schema)
        elif isinstance(schema, type):
            converted = _schema_from_type(schema)
        else:
            raise InvalidInputError(
                f"Cannot build a JSON schema from a {type(schema).__name__}. Pass a dict, a JSON string, "
                "a pydantic model class, a dataclass or a TypedDict."
            )
        check_schema(converted)
        self.schema: dict[str, Any] = converted

    def __repr__(self) -> str:
        return f"JsonSchema({self.schema!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonSchema) and other.schema == self.schema

    __hash__ = None  # type: ignore[assignment]

    @staticmethod
    def is_json_schema(value: object) -> bool:
        """Whether `value` is something `JsonSchema(...)` accepts as a type (not a dict or string)."""
        if isinstance(value, JsonSchema):
            return True
        if isinstance(value, type) and issubclass(value, pydantic.BaseModel):
            return True
        return isinstance(value, type) and (dataclasses.is_dataclass(value) or is_typeddict(value))
