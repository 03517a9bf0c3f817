"""`LMStudioTypeAdapter`: turns the model layer's input and output types into what the lmstudio SDK takes.

Pure conversions: no network I/O. Images are uploaded through the `upload_image` function the caller
passes in, so the adapter never needs a global, already-entered client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lmstudio

from ..errors import InvalidInputError, UnsupportedTypeError
from ..types import CFG, Chat, Image, JsonSchema, Regex

__all__ = ["ImageUploader", "LMStudioTypeAdapter", "to_lmstudio_schema"]

#: Uploads one image to LM Studio and returns the handle a chat message refers to.
ImageUploader = Callable[[Image], lmstudio.FileHandle]

_JSON_TYPE_OF_PYTHON = {str: "string", bool: "boolean", int: "integer", float: "number", dict: "object", list: "array"}


class LMStudioTypeAdapter:
    """Formats model inputs and output types for the lmstudio SDK."""

    def format_input(self, model_input: object, *, upload_image: ImageUploader | None = None) -> str | lmstudio.Chat:
        """Format `model_input` for `respond()`.

        Args:
            model_input: a prompt `str`; a list `[prompt, Image, ...]`; or a `Chat`.
            upload_image: uploads an image and returns its file handle; needed only when the input has images.

        Returns:
            The prompt unchanged, or an `lmstudio.Chat` with the system prompt first and the images uploaded.

        Raises:
            TypeError: the input is of an unsupported type.
            ValueError: a list holds non-`Image` assets, or a chat has an invalid role, content or order.
        """
        if isinstance(model_input, str):
            return model_input
        if isinstance(model_input, list):
            return self._format_prompt_with_images(model_input, upload_image)
        if isinstance(model_input, Chat):
            return self._format_chat(model_input, upload_image)
        raise UnsupportedTypeError(
            f"The input type {type(model_input)} is not available with LMStudio. "
            "The only available types are `str`, `list` ([prompt, Image, ...]) and `Chat`."
        )

    def format_output_type(self, output_type: object = None) -> dict[str, Any] | None:
        """Turn `output_type` into the JSON schema LM Studio constrains generation with.

        Args:
            output_type: `None`; a `JsonSchema`, schema dict, JSON string, pydantic model class, dataclass or
                TypedDict; `Regex` and `CFG` are refused.

        Returns:
            `None` for free text, else a JSON-schema dict that LM Studio accepts.

        Raises:
            TypeError: regex, grammar or other unsupported output types.
            ValueError: the schema is invalid, or cannot be given the top-level `type` LM Studio requires.
        """
        if output_type is None:
            return None
        if isinstance(output_type, Regex):
            raise UnsupportedTypeError(
                "Regex-based structured outputs are not supported by LMStudio: LM Studio constrains output only "
                "with JSON schemas. Describe the format as a JSON schema (e.g. a string property with a `pattern` "
                "you check yourself) instead."
            )
        if isinstance(output_type, CFG):
            raise UnsupportedTypeError(
                "CFG-based structured outputs are not supported by LMStudio: LM Studio constrains output only "
                "with JSON schemas. Describe the output as a JSON schema instead."
            )
        if isinstance(output_type, JsonSchema):
            return to_lmstudio_schema(output_type.schema)
        if isinstance(output_type, dict | str) or JsonSchema.is_json_schema(output_type):
            return to_lmstudio_schema(JsonSchema(output_type).schema)  # type: ignore[arg-type]
        type_name = getattr(output_type, "__name__", output_type)
        raise UnsupportedTypeError(
            f"The type `{type_name}` is not supported by LMStudio. Use a JSON schema (a dict, a JSON string, "
            "a pydantic model, a dataclass or a TypedDict), or None for free text."
        )

    def _format_prompt_with_images(self, items: list[object], upload_image: ImageUploader | None) -> lmstudio.Chat:
        prompt, images = _split_text_and_images(items, where="The input list")
        chat = lmstudio.Chat()
        chat.add_user_message(prompt, images=_upload_all(images, upload_image))
        return chat

    def _format_chat(self, model_input: Chat, upload_image: ImageUploader | None) -> lmstudio.Chat:
        messages = model_input.messages
        if not messages:
            raise InvalidInputError("The chat has no messages. Add at least one user message.")
        system_prompt: str | None = None
        if _role_of(messages[0], 0) == "system":
            system_prompt = _text_content(messages[0], 0)
            messages = messages[1:]
        chat = lmstudio.Chat(system_prompt)
        previous_role = None
        for offset, message in enumerate(messages, start=1 if system_prompt is not None else 0):
            role = _role_of(message, offset)
            if role == previous_role == "assistant":
                raise InvalidInputError(
                    f"Messages {offset - 1} and {offset} are both assistant turns, which LM Studio does not accept. "
                    "Merge them into one assistant message."
                )
            self._add_message(chat, message, offset, upload_image)
            previous_role = role
        return chat

    def _add_message(
        self, chat: lmstudio.Chat, message: dict[str, Any], index: int, upload_image: ImageUploader | None
    ) -> None:
        role = _role_of(message, index)
        if role == "system":
            raise InvalidInputError(
                f"Message {index} has role 'system', but a system message may only come first. "
                "Move it to the start of the conversation or merge it into the first one."
            )
        if role == "assistant":
            chat.add_assistant_response(_text_content(message, index))
            return
        content = message.get("content")
        if isinstance(content, list):
            prompt, images = _split_text_and_images(content, where=f"Message {index}")
            chat.add_user_message(prompt, images=_upload_all(images, upload_image))
        else:
            chat.add_user_message(_text_content(message, index))


def _role_of(message: object, index: int) -> str:
    if not isinstance(message, dict) or "role" not in message:
        raise InvalidInputError(f"Message {index} must be a dict with 'role' and 'content', got {message!r}.")
    role = message["role"]
    if role not in ("system", "user", "assistant"):
        raise InvalidInputError(
            f"Unsupported role {role!r} in message {index}. Use 'system' (first only), 'user' or 'assistant'."
        )
    return str(role)


def _text_content(message: dict[str, Any], index: int) -> str:
    content = message.get("content")
    if not isinstance(content, str):
        raise InvalidInputError(
            f"Invalid content type {type(content).__name__} in message {index} (role {message['role']!r}): "
            "this role takes a string; only user messages may hold [text, Image, ...]."
        )
    return content


def _split_text_and_images(items: list[object], *, where: str) -> tuple[str, list[Image]]:
    if not items or not isinstance(items[0], str):
        raise InvalidInputError(
            f"{where} must start with the prompt text, followed by Image objects; got {items!r:.120}."
        )
    assets = items[1:]
    if not all(isinstance(asset, Image) for asset in assets):
        kinds = sorted({type(asset).__name__ for asset in assets if not isinstance(asset, Image)})
        raise InvalidInputError(f"All assets provided must be of type Image; {where} also holds {', '.join(kinds)}.")
    return items[0], [asset for asset in assets if isinstance(asset, Image)]


def _upload_all(images: list[Image], upload_image: ImageUploader | None) -> list[lmstudio.FileHandle]:
    if images and upload_image is None:
        raise InvalidInputError(
            "This input has images, which must be uploaded to LM Studio: call it through LMStudio/AsyncLMStudio, "
            "or pass `upload_image=` to format_input."
        )
    assert upload_image is not None or not images
    return [upload_image(image) for image in images] if upload_image else []


def to_lmstudio_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Return `schema` in a form LM Studio accepts: a resolved top level with an explicit `type`.

    The SDK refuses schemas without a top-level `type` ("Failed to parse response format"), which pydantic
    produces for some models (a top-level `$ref`). Those are fixed up here, or refused with a clear message.
    """
    fixed = _resolve_top_level_ref(schema)
    if "type" in fixed:
        return fixed
    inferred = _infer_type(fixed)
    if inferred is None:
        raise InvalidInputError(
            f'LM Studio needs a JSON schema with a top-level "type", and none can be inferred from keys '
            f'{sorted(fixed)}. Add one, e.g. wrap alternatives as {{"type": "object", "properties": '
            '{"value": <your schema>}, "required": ["value"]}.'
        )
    return {"type": inferred, **fixed}


def _resolve_top_level_ref(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema
    for prefix, defs_key in (("#/$defs/", "$defs"), ("#/definitions/", "definitions")):
        if ref.startswith(prefix):
            target = schema.get(defs_key, {}).get(ref[len(prefix) :])
            if isinstance(target, dict):
                rest = {key: value for key, value in schema.items() if key != "$ref"}
                return {**target, **rest}
    raise InvalidInputError(
        f"The schema's top-level $ref {ref!r} does not point into its own $defs. Inline the referenced schema."
    )


def _infer_type(schema: dict[str, Any]) -> str | None:
    if {"properties", "required", "additionalProperties", "patternProperties"} & schema.keys():
        return "object"
    if {"items", "prefixItems", "minItems", "maxItems"} & schema.keys():
        return "array"
    values = schema.get("enum", [schema["const"]] if "const" in schema else None)
    if isinstance(values, list) and values:
        kinds = {_JSON_TYPE_OF_PYTHON.get(type(value)) for value in values}
        return kinds.pop() if len(kinds) == 1 and None not in kinds else None
    branches = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(branches, list) and branches:
        kinds = {branch.get("type") if isinstance(branch, dict) else None for branch in branches}
        return kinds.pop() if len(kinds) == 1 and isinstance(next(iter(kinds)), str) else None
    return None
