from __future__ import annotations

import base64
import dataclasses
import json
import typing
from pathlib import Path
from typing import Annotated, Any

import pydantic
import pytest
import typing_extensions
from typing_extensions import TypedDict

from mcp_lmstudio import Image, InvalidInputError, JsonSchema
from mcp_lmstudio.types import MAX_IMAGE_BYTES
from tests.support import JPEG_B64, PNG_B64, PNG_BYTES, USER_SCHEMA


def test_image_from_bytes_detects_the_mime_type() -> None:
    image = Image.from_bytes(PNG_BYTES)
    assert (image.mime_type, image.data, image.to_bytes()) == ("image/png", PNG_B64, PNG_BYTES)


def test_image_from_path_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pixel.png"
    path.write_bytes(PNG_BYTES)
    assert Image.from_path(path) == Image(PNG_B64, "image/png")


def test_image_from_data_uri_parses_type_and_payload() -> None:
    assert Image.from_data_uri(f"data:image/jpeg;base64,{JPEG_B64}") == Image(JPEG_B64, "image/jpeg")


def test_image_normalises_jpg_alias_and_case() -> None:
    assert Image(JPEG_B64, "IMAGE/JPG").mime_type == "image/jpeg"


def test_image_filename_carries_the_extension() -> None:
    assert Image(JPEG_B64, "image/jpeg").filename == "image.jpg"


@pytest.mark.parametrize(
    ("data", "mime_type", "message"),
    [
        ("not base64!!", "image/png", "not valid base64"),
        (PNG_B64, "image/tiff", "Unsupported image MIME type 'image/tiff'"),
        (base64.b64encode(b"hello world").decode(), "image/png", "is not a PNG, JPEG or WebP image"),
        (PNG_B64, "image/jpeg", "is 'image/png' but was declared as 'image/jpeg'"),
        (f"data:image/png;base64,{PNG_B64}", "image/png", "not valid base64"),
    ],
)
def test_image_rejects_malformed_data(data: str, mime_type: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        Image(data, mime_type)


def test_image_rejects_oversize_data() -> None:
    big = PNG_BYTES + b"\x00" * MAX_IMAGE_BYTES
    with pytest.raises(InvalidInputError, match="over the 20,971,520-byte limit"):
        Image.from_bytes(big)


def test_image_from_bytes_rejects_non_images() -> None:
    with pytest.raises(InvalidInputError, match="not a PNG, JPEG or WebP"):
        Image.from_bytes(b"GIF89a....")


def test_image_from_data_uri_rejects_other_uris() -> None:
    with pytest.raises(InvalidInputError, match="Not a base64 data URI"):
        Image.from_data_uri("https://example.com/cat.png")


class UserModel(pydantic.BaseModel):
    user_id: int
    name: str


@dataclasses.dataclass
class UserDataclass:
    user_id: int
    name: str


class UserTypedDict(TypedDict):
    user_id: int
    name: str


UserModel.__name__ = UserDataclass.__name__ = UserTypedDict.__name__ = "User"


@pytest.mark.parametrize(
    "source", [USER_SCHEMA, json.dumps(USER_SCHEMA), UserModel, UserDataclass, UserTypedDict], ids=repr
)
def test_json_schema_turns_each_source_into_the_same_dict(source: object) -> None:
    assert JsonSchema(source).schema == USER_SCHEMA  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object, got list"),
        ({"type": "no-such-type"}, "Invalid JSON schema at type"),
        ({"type": "object", "properties": {"a": {"minimum": "zero"}}}, "Invalid JSON schema at properties/a/minimum"),
        (int, "The type `int` cannot be turned into a JSON schema"),
        (42, "Cannot build a JSON schema from a int"),
    ],
)
def test_json_schema_refuses_invalid_schemas(source: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        JsonSchema(source)  # type: ignore[arg-type]


def test_json_schema_copies_the_given_dict() -> None:
    source = {"type": "object", "properties": {}}
    schema = JsonSchema(source)
    source["type"] = "array"
    assert schema.schema["type"] == "object"


# -- typing.TypedDict on Python 3.11 (pydantic accepts only typing_extensions.TypedDict before 3.12) --------


class StdOwner(typing.TypedDict):
    """Who owns the pet."""

    name: Annotated[str, pydantic.Field(description="The owner's name")]


class StdPet(typing.TypedDict, total=False):
    """A pet."""

    name: typing.Required[str]
    age: int
    owner: StdOwner
    friends: list[StdOwner] | None


class ExtOwner(TypedDict):
    """Who owns the pet."""

    name: Annotated[str, pydantic.Field(description="The owner's name")]


class ExtPet(TypedDict, total=False):
    """A pet."""

    name: typing_extensions.Required[str]
    age: int
    owner: ExtOwner
    friends: list[ExtOwner] | None


@dataclasses.dataclass
class StdPetHolder:
    pet: StdPet


@dataclasses.dataclass
class ExtPetHolder:
    pet: ExtPet


def _renamed(schema: dict[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True).replace("Std", "").replace("Ext", "")


@pytest.mark.parametrize(
    ("std", "ext"), [(StdPet, ExtPet), (StdPetHolder, ExtPetHolder)], ids=["typeddict", "dataclass"]
)
def test_a_typing_typeddict_gives_the_schema_of_its_typing_extensions_twin(std: type, ext: type) -> None:
    schema = JsonSchema(std).schema
    assert _renamed(schema) == _renamed(JsonSchema(ext).schema)
    pet = schema["$defs"]["StdPet"] if std is StdPetHolder else schema
    assert pet["required"] == ["name"]
    assert pet["description"] == "A pet."
    assert schema["$defs"]["StdOwner"]["properties"]["name"]["description"] == "The owner's name"


@pytest.mark.parametrize(
    "source", ['{"type": "number", "maximum": NaN}', '{"type": "number", "maximum": 1e999}', {"maximum": float("inf")}]
)
def test_json_schema_refuses_non_finite_numbers(source: object) -> None:
    with pytest.raises(InvalidInputError, match="NaN"):
        JsonSchema(source)  # type: ignore[arg-type]
