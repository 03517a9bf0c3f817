"""The adapter's behaviours, table-driven (the meaning of outlines' LM Studio adapter tests)."""

from __future__ import annotations

import dataclasses
from typing import Any

import lmstudio
import pydantic
import pytest

from mcp_lmstudio import CFG, Chat, Image, InvalidInputError, JsonSchema, LMStudioTypeAdapter, Regex
from mcp_lmstudio.models.adapter import to_lmstudio_schema
from tests.support import PNG_B64, USER_SCHEMA

IMAGE = Image(PNG_B64, "image/png")


def fake_upload(image: Image) -> lmstudio.FileHandle:
    return lmstudio.FileHandle(name=image.filename, identifier="uploaded-1", size_bytes=69, file_type="image")


def wire(chat: str | lmstudio.Chat) -> list[dict[str, Any]]:
    assert isinstance(chat, lmstudio.Chat)
    return [dict(message.to_dict()) for message in chat._messages]


def text(value: str) -> dict[str, str]:
    return {"type": "text", "text": value}


FILE_PART = {"type": "file", "name": "image.png", "identifier": "uploaded-1", "sizeBytes": 69, "fileType": "image"}


def test_format_input_passes_a_string_through() -> None:
    assert LMStudioTypeAdapter().format_input("prompt") == "prompt"


@pytest.mark.parametrize(
    ("model_input", "expected"),
    [
        (["What is this?", IMAGE], [{"role": "user", "content": [text("What is this?"), FILE_PART]}]),
        (
            Chat([{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]),
            [{"role": "system", "content": [text("Be terse.")]}, {"role": "user", "content": [text("Hi")]}],
        ),
        (
            Chat(
                [
                    {"role": "user", "content": "Hello"},
                    {"role": "assistant", "content": "Hi!"},
                    {"role": "user", "content": ["And this?", IMAGE]},
                ]
            ),
            [
                {"role": "user", "content": [text("Hello")]},
                {"role": "assistant", "content": [text("Hi!")]},
                {"role": "user", "content": [text("And this?"), FILE_PART]},
            ],
        ),
    ],
    ids=["prompt-with-image", "system-first", "turns-with-image"],
)
def test_format_input_builds_the_lmstudio_chat(model_input: object, expected: list[dict[str, Any]]) -> None:
    assert wire(LMStudioTypeAdapter().format_input(model_input, upload_image=fake_upload)) == expected


@pytest.mark.parametrize(
    ("model_input", "error", "message"),
    [
        ({"foo": "bar"}, TypeError, "The input type <class 'dict'> is not available with LMStudio"),
        (42, TypeError, "The input type <class 'int'>"),
        (["What is this?", "not an image"], ValueError, "All assets provided must be of type Image"),
        ([IMAGE], ValueError, "must start with the prompt text"),
        ([], ValueError, "must start with the prompt text"),
        (Chat([{"role": "user", "content": {"foo": "bar"}}]), ValueError, "Invalid content type dict"),
        (Chat([{"role": "unknown", "content": "hello"}]), ValueError, "Unsupported role 'unknown'"),
        (Chat([{"role": "tool", "content": "hello"}]), ValueError, "Unsupported role 'tool'"),
        (
            Chat([{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]),
            ValueError,
            "Message 1 has role 'system', but a system message may only come first",
        ),
        (Chat([{"role": "assistant", "content": ["x", IMAGE]}]), ValueError, "Invalid content type list"),
        (Chat([{"role": "user", "content": ["x", "y"]}]), ValueError, "All assets provided must be of type Image"),
        (Chat([]), ValueError, "The chat has no messages"),
        (
            Chat([{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]),
            ValueError,
            "Messages 0 and 1 are both assistant turns",
        ),
        (Chat(["not a dict"]), ValueError, "Message 0 must be a dict"),  # type: ignore[list-item]
    ],
)
def test_format_input_rejects_malformed_input(model_input: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        LMStudioTypeAdapter().format_input(model_input, upload_image=fake_upload)


def test_format_input_with_images_needs_an_uploader() -> None:
    with pytest.raises(ValueError, match="pass `upload_image=`"):
        LMStudioTypeAdapter().format_input(["look", IMAGE])


class User(pydantic.BaseModel):
    user_id: int
    name: str


@dataclasses.dataclass
class UserDC:
    user_id: int
    name: str


UserDC.__name__ = "User"


@pytest.mark.parametrize("output_type", [JsonSchema(USER_SCHEMA), USER_SCHEMA, User, UserDC], ids=repr)
def test_format_output_type_returns_the_schema_dict(output_type: object) -> None:
    assert LMStudioTypeAdapter().format_output_type(output_type) == USER_SCHEMA


def test_format_output_type_none_means_free_text() -> None:
    assert LMStudioTypeAdapter().format_output_type(None) is None


@pytest.mark.parametrize(
    ("output_type", "message"),
    [
        (Regex("[0-9]"), "Regex-based structured outputs are not supported by LMStudio"),
        (CFG("start: 'a'"), "CFG-based structured outputs are not supported by LMStudio"),
        (str, "The type `str` is not supported"),
        (int, "The type `int` is not supported"),
        (3.5, "The type `3.5` is not supported"),
    ],
)
def test_format_output_type_refuses_what_lm_studio_cannot_constrain(output_type: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        LMStudioTypeAdapter().format_output_type(output_type)


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"properties": {"a": {"type": "string"}}}, {"type": "object", "properties": {"a": {"type": "string"}}}),
        ({"items": {"type": "integer"}}, {"type": "array", "items": {"type": "integer"}}),
        ({"enum": ["a", "b"]}, {"type": "string", "enum": ["a", "b"]}),
        (
            {"anyOf": [{"type": "object"}, {"type": "object", "required": []}]},
            {"type": "object", "anyOf": [{"type": "object"}, {"type": "object", "required": []}]},
        ),
        (
            {"$ref": "#/$defs/Pet", "$defs": {"Pet": {"type": "object", "properties": {}}}},
            {"type": "object", "properties": {}, "$defs": {"Pet": {"type": "object", "properties": {}}}},
        ),
        ({"type": "string"}, {"type": "string"}),
    ],
)
def test_schemas_without_a_top_level_type_are_fixed_up(schema: dict[str, Any], expected: dict[str, Any]) -> None:
    assert to_lmstudio_schema(schema) == expected


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, 'needs a JSON schema with a top-level "type"'),
        ({"$ref": "https://example.com/schema.json"}, "outside itself, which cannot be fetched"),
        ({"$ref": "#/properties/a", "properties": {"a": {"type": "string"}}}, "does not point into its own \\$defs"),
        ({}, 'top-level "type"'),
    ],
)
def test_schemas_that_cannot_be_fixed_are_refused_clearly(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        LMStudioTypeAdapter().format_output_type(schema)
