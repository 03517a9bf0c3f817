"""The generation tools' arguments: their JSON schemas (what a model reads) and the checks that turn them
into model-layer input (`LMStudioTypeAdapter` types) and LM Studio prediction config keys.

The advertised schemas are kept small (every tools/list costs the host model tokens) and strict, so that
clients that demand strict schemas (openai-agents) can use every tool: every object closes with
`additionalProperties: false`, nothing is an open object (`json_schema` is advertised as JSON text, though
an object is accepted too), `$ref`s are inlined, and length limits are checked rather than advertised.
Optional fields stay nullable (`anyOf` with null), which strict clients need when they mark every field
required.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema

from ..errors import InvalidInputError
from ..types import Chat, Image

MAX_PROMPT_CHARS = 2_000_000
MAX_IMAGES = 16
#: Entries of `files` per call (each may be a directory or a glob; the files they expand to are limited apart).
MAX_FILE_ENTRIES = 64


# -- numbers and booleans sent as strings -------------------------------------------------------------------
#
# Some hosts send every argument as a string (Claude Code at times, the Inspector CLI's `--tool-arg
# max_tokens=20`). A string that is exactly a JSON number or boolean is read as one; anything else (" 20",
# "20abc", "0x10", "NaN", "1e999", "20.0" for a whole number) is left as it is, for the strict check to refuse
# with its usual message. The advertised schemas do not change.

_INTEGER_TEXT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
_NUMBER_TEXT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
#: Longest number text read (a double has 17 significant digits; this leaves room for a sign and an exponent).
_MAX_NUMBER_TEXT = 40


def integer_from_text(value: Any) -> Any:
    """`value`, or the whole number a string holds exactly ("20" -> 20)."""
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        return int(value)
    return value


def number_from_text(value: Any) -> Any:
    """`value`, or the finite number a string holds exactly ("0.5" -> 0.5, "20" -> 20)."""
    if isinstance(value, str) and len(value) <= _MAX_NUMBER_TEXT and _NUMBER_TEXT.fullmatch(value):
        if _INTEGER_TEXT.fullmatch(value):
            return int(value)
        number = float(value)
        return number if math.isfinite(number) else value
    return value


def boolean_from_text(value: Any) -> Any:
    """`value`, or the boolean a string holds exactly ("true" -> True, "false" -> False)."""
    return {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value


#: Put in an argument's `Annotated[...]` to read that kind of value from a string too.
IntegerText = BeforeValidator(integer_from_text)
NumberText = BeforeValidator(number_from_text)
BooleanText = BeforeValidator(boolean_from_text)


# -- tool arguments ----------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageInput(_Strict):
    """An image: base64 bytes and MIME type."""

    data: Annotated[str, Field(description="Base64 image bytes, no 'data:' prefix.")]
    mimeType: Annotated[str, Field(description="image/png, image/jpeg or image/webp.")]


class _ContentBlock(_Strict):
    # MCP's own content blocks may carry these: accepted, ignored, and not advertised (the model needs neither).
    annotations: SkipJsonSchema[dict[str, Any] | None] = None
    meta: SkipJsonSchema[Annotated[dict[str, Any] | None, Field(alias="_meta")]] = None


class TextPart(_ContentBlock):
    """A text part (MCP text content)."""

    type: Literal["text"]
    text: str


class ImagePart(_ContentBlock):
    """An image part, user turns only (MCP image content)."""

    type: Literal["image"]
    data: Annotated[str, Field(description="Base64 image bytes.")]
    mimeType: Annotated[str, Field(description="image/png, image/jpeg or image/webp.")]


class Message(_Strict):
    """One conversation turn."""

    role: Annotated[Literal["system", "user", "assistant"], Field(description="'system' only first.")]
    content: Annotated[
        str | list[Annotated[TextPart | ImagePart, Field(discriminator="type")]],
        Field(description="Text, or for user turns a list of text and image parts."),
    ]


# `prompt` is advertised as required (and nullable) so that schema-driven callers send one; a call that
# gives `messages` instead may pass null or leave it out.
Prompt = Annotated[
    str | None,
    Field(default=None),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "description": "The user's message. null when you give `messages` instead.",
        }
    ),
]
Images = Annotated[
    list[ImageInput] | None, Field(description="Images for `prompt` (vision models only).", default=None)
]
Messages = Annotated[
    list[Message] | None,
    Field(description="A conversation instead of `prompt`: optional system turn first, then user/assistant turns.",
          default=None),
]  # fmt: skip
ModelKey = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=512,
        description="Model key or loaded instance from list_models. Default: the configured or loaded model.",
        default=None,
    ),
]
Temperature = Annotated[
    float | None,
    Field(ge=0, le=5, description="0 = greedy. Default: the model's setting in LM Studio.", default=None),
    NumberText,
]
MaxTokens = Annotated[
    int | None,
    Field(
        ge=1,
        le=1_000_000,
        description="Cap on generated tokens, reasoning included. Default: the model's setting (usually none).",
        default=None,
    ),
    IntegerText,
]
TopP = Annotated[float | None, Field(ge=0, le=1, description="Nucleus sampling mass.", default=None), NumberText]
TopK = Annotated[
    int | None, Field(ge=0, le=100_000, description="Sample from the k likeliest tokens.", default=None), IntegerText
]
MinP = Annotated[
    float | None, Field(ge=0, le=1, description="Minimum token probability (relative).", default=None), NumberText
]
RepeatPenalty = Annotated[float | None, Field(gt=0, le=10, description="1 = no penalty.", default=None), NumberText]
Stop = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=1000)]] | None,
    Field(max_length=32, description="Strings that end the answer.", default=None),
]
#: An example schema, for the model reading the tool and for schema-driven callers that fill in examples.
EXAMPLE_SCHEMA = '{"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}'
JsonSchemaArg = Annotated[
    dict[str, Any] | str | None,
    Field(default=None),
    WithJsonSchema(
        {
            "type": "string",
            "description": "The JSON schema the answer must satisfy, as JSON.",
            "examples": [EXAMPLE_SCHEMA],
        }
    ),
]
ContextOverflow = Annotated[
    Literal["error", "truncate_middle", "rolling_window"],
    Field(
        description=(
            "If the prompt does not fit the loaded context: 'error' refuses before generating, with both token "
            "counts; 'truncate_middle' and 'rolling_window' let LM Studio drop part of the conversation."
        ),
        default="error",
    ),
]
#: `context_overflow` values and the `contextOverflowPolicy` each hands LM Studio. `error` asks LM Studio to
#: stop at the limit (rather than its default of silently truncating) and turns on the pre-flight count.
OVERFLOW_POLICIES = {"error": "stopAtLimit", "truncate_middle": "truncateMiddle", "rolling_window": "rollingWindow"}
ThinkFirst = Annotated[
    bool,
    Field(
        description=(
            "Reason first, then write the JSON: the model thinks (or plans) without the schema, then answers "
            "under it with that reasoning in view; the reasoning is returned as a second text content. "
            "Costs a second prediction; max_tokens caps each step."
        ),
        default=False,
    ),
    BooleanText,
]
System = Annotated[
    str | None,
    Field(max_length=MAX_PROMPT_CHARS, description="System prompt for `prompt`.", default=None),
]  # fmt: skip
Files = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=4096)]] | None,
    Field(
        max_length=MAX_FILE_ENTRIES,
        description="Files, dirs or globs (src/**/*.py) for the model to read: pass paths, not content.",
        default=None,
    ),
]
OutputFile = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=4096,
        description="Write the answer to this file and return a receipt.",
        default=None,
    ),
]
Overwrite = Annotated[bool, Field(description="Let output_file replace a file.", default=False), BooleanText]
PreviousResponseId = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=128,
        description="A response_id to continue from; send only the new prompt.",
        default=None,
    ),
]
RegexArg = Annotated[str | None, Field(description="Unsupported by LM Studio: refused.", default=None)]
CfgArg = Annotated[str | None, Field(description="Unsupported by LM Studio: refused.", default=None)]


# -- advertised schemas ---------------------------------------------------------------------------------------


def advertised_schema(model: type[BaseModel], *, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """`model`'s JSON schema as tools/list shows it: compact, `$ref`s inlined, no length limits (which strict
    clients refuse and a model does not need), `required` marked."""
    raw = model.model_json_schema(by_alias=True)
    schema: dict[str, Any] = _without_lengths(_inline_refs(compact_schema(raw), raw.get("$defs", {})))
    if required:
        schema["required"] = list(required)
    return schema


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """`node` with every `#/$defs/...` reference replaced by its target (the arguments have no recursion)."""
    if isinstance(node, list):
        return [_inline_refs(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = compact_schema(defs[node["$ref"].rsplit("/", 1)[-1]])
        return _inline_refs({**target, **{k: v for k, v in node.items() if k != "$ref"}}, defs)
    return {key: _inline_refs(value, defs) for key, value in node.items() if key != "$defs"}


def _without_lengths(node: Any) -> Any:
    if isinstance(node, list):
        return [_without_lengths(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: value if key in ("examples", "const", "enum") else _without_lengths(value)
        for key, value in node.items()
        if key not in ("minLength", "maxLength")
    }


def compact_schema(node: Any) -> Any:
    """Drop what a model does not need: titles, `default: null`, and discriminator mappings (`oneOf` becomes
    `anyOf`, which every client accepts and which the parts' `type` constants already tell apart)."""
    if isinstance(node, list):
        return [compact_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    compact: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "discriminator") or (key == "default" and value is None):
            continue
        if key in ("properties", "$defs"):
            compact[key] = {name: compact_schema(sub) for name, sub in value.items()}
        elif key in ("examples", "const", "enum", "default"):
            compact[key] = value
        else:
            compact["anyOf" if key == "oneOf" else key] = compact_schema(value)
    return compact


# -- request building -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    model_input: str | list[str | Image] | Chat
    config: dict[str, Any]
    model: str | None


def _content(message: Message, index: int) -> str | list[str | Image]:
    if isinstance(message.content, str):
        return check_text(message.content, f"Message {index}")
    if message.role != "user" and any(isinstance(part, ImagePart) for part in message.content):
        raise InvalidInputError(f"Message {index} ({message.role}) has an image part; only user messages may.")
    text = "\n".join(check_text(p.text, f"Message {index}") for p in message.content if isinstance(p, TextPart))
    images: list[str | Image] = [Image(p.data, p.mimeType) for p in message.content if isinstance(p, ImagePart)]
    return [text, *images] if images else text


def _model_input(
    prompt: str | None, images: list[ImageInput] | None, messages: list[Message] | None
) -> str | list[str | Image] | Chat:
    if (prompt is None) == (messages is None):
        given = "both were given" if prompt is not None else "neither was given"
        raise InvalidInputError(
            f"Give exactly one of `prompt` (a single user turn) and `messages` (a conversation); {given}."
        )
    if len(images or []) > MAX_IMAGES:
        raise InvalidInputError(f"{len(images or [])} images given; at most {MAX_IMAGES} are accepted per call.")
    if messages is not None:
        if images:
            raise InvalidInputError("`images` goes with `prompt`; in `messages`, put image parts in a user turn.")
        if not any(message.role == "user" for message in messages):
            raise InvalidInputError("`messages` has no user message. Give at least one turn with role 'user'.")
        _check_conversation_size(messages)
        return Chat([{"role": m.role, "content": _content(m, i)} for i, m in enumerate(messages)])
    assert prompt is not None
    if not prompt.strip():
        raise InvalidInputError("`prompt` is empty. Pass the text you want the model to answer.")
    check_text(prompt, "`prompt`")
    _check_size(len(prompt))
    return [prompt, *(Image(image.data, image.mimeType) for image in images)] if images else prompt


def check_text(text: str, where: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{where} contains an unpaired UTF-16 surrogate {text[exc.start]!r} at position {exc.start}, which is "
            "not valid Unicode. Send well-formed text."
        ) from None
    return text


def _check_conversation_size(messages: list[Message]) -> None:
    parts = [part for message in messages if isinstance(message.content, list) for part in message.content]
    image_count = sum(isinstance(part, ImagePart) for part in parts)
    if image_count > MAX_IMAGES:
        raise InvalidInputError(f"{image_count} images given; at most {MAX_IMAGES} are accepted per call.")
    texts = [message.content for message in messages if isinstance(message.content, str)]
    _check_size(sum(map(len, texts)) + sum(len(part.text) for part in parts if isinstance(part, TextPart)))


def _check_size(chars: int) -> None:
    if chars > MAX_PROMPT_CHARS:
        raise InvalidInputError(
            f"The prompt is {chars:,} characters, over the {MAX_PROMPT_CHARS:,}-character limit. Shorten it."
        )


def _sampling_config(
    temperature: float | None,
    max_tokens: int | None,
    top_p: float | None,
    top_k: int | None,
    min_p: float | None,
    repeat_penalty: float | None,
    stop: list[str] | None,
) -> dict[str, Any]:
    settings = {
        "temperature": temperature,
        "maxTokens": max_tokens,
        "topPSampling": top_p,
        "topKSampling": top_k,
        "minPSampling": min_p,
        "repeatPenalty": repeat_penalty,
        "stopStrings": stop,
    }
    for stop_string in stop or []:
        check_text(stop_string, "A stop string")
    return {key: value for key, value in settings.items() if value is not None}


def build_request(
    prompt: str | None,
    images: list[ImageInput] | None,
    messages: list[Message] | None,
    model: str | None,
    sampling: tuple[float | None, int | None, float | None, int | None, float | None, float | None, list[str] | None],
    context_overflow: str = "error",
) -> GenerationRequest:
    config = _sampling_config(*sampling) | {"contextOverflowPolicy": OVERFLOW_POLICIES[context_overflow]}
    return GenerationRequest(_model_input(prompt, images, messages), config, model)
