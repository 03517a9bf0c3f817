"""Which model a call names, and what LM Studio lists: model specifiers as LM Studio resolves them, and the
model listing, both read from LM Studio's raw answers (see `_sdk`), so that an entry the SDK does not know
(a new model type or format) neither breaks the listing nor a call that names another model.

LM Studio resolves a specifier to a loaded instance's identifier (`qwen3-8b`, `qwen3-8b:2`, a custom
identifier), a model key, or a model's path (or a case-insensitive prefix of it, such as
`publisher/model-name`). `resolve_specifier` accepts exactly those, so that a name LM Studio would not resolve
is refused before a just-in-time load could start, and says which model a specifier names, so that loads
are shared per model, not per string (`singleflight`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ModelNotFoundError
from ..text import valid_unicode
from ._sdk import log_once
from .events import ModelDescription

__all__ = ["describe_models", "llms_in", "resolve_specifier"]

#: The model types LM Studio lists; any other (a speculative-decoding drafter, say) is left out, logged once.
KNOWN_TYPES = ("llm", "embedding")


def llms_in(downloaded: Iterable[Any]) -> list[Mapping[str, Any]]:
    """The LLM entries of LM Studio's raw `listDownloadedModels` answer (`ModelInfo` dicts), read leniently.

    An entry of another type, or without a `modelKey`, is left out: none of them can answer a prompt.
    """
    llms = []
    for info in downloaded:
        if not isinstance(info, Mapping) or not isinstance(info.get("modelKey"), str):
            continue
        kind = info.get("type", "llm")
        if kind not in KNOWN_TYPES:
            log_once("a model type", kind)
        if kind == "llm":
            llms.append(info)
    return llms


def _resolves(specifier: str, key: str, path: str) -> bool:
    folded = specifier.casefold()
    return specifier == key or (bool(folded) and path.casefold().startswith(folded))


def resolve_specifier(
    specifier: str, loaded_identifiers: Iterable[str], downloaded: Iterable[Any], *, setting: str | None = None
) -> str:
    """What `specifier` names, as LM Studio resolves it: a loaded instance's identifier, else a model key.

    `downloaded` is LM Studio's raw `listDownloadedModels` answer (`ModelInfo` dicts: `modelKey`, `path`;
    entries that are not LLMs are passed over). Two specifiers that name one model (its key and a path
    prefix, say) resolve alike, so their loads can be shared. `setting` names where `specifier` was
    configured when it is the default (`model_name`, the server's `--model`), for the error; None when the
    call named it.

    Raises:
        ModelNotFoundError: LM Studio would not resolve `specifier`; lists what exists.
    """
    identifiers = list(loaded_identifiers)
    if specifier in identifiers:
        return specifier
    infos = llms_in(downloaded)
    for matches in (
        lambda info: info["modelKey"] == specifier,
        lambda info: _resolves(specifier, "", str(info.get("path", ""))),
    ):
        found = next((info for info in infos if matches(info)), None)
        if found is not None:
            return str(found["modelKey"])
    available = sorted({*identifiers, *(str(info["modelKey"]) for info in infos)})
    raise ModelNotFoundError(specifier, [valid_unicode(name) for name in available], setting=setting)


def describe_models(loaded: Iterable[Mapping[str, Any]], downloaded: Iterable[Any]) -> list[ModelDescription]:
    """Every loaded LLM instance, then every downloaded LLM without an instance (once).

    `loaded` holds LM Studio's `LLMInstanceInfo` objects as `listLoaded` sends them (each instance with its own
    `identifier` and `contextLength`); `downloaded` its raw `listDownloadedModels` answer. Fields are read
    leniently: a missing or odd one gets a neutral value instead of failing the list.
    """
    instances = [info for info in loaded if isinstance(info, Mapping) and info.get("type", "llm") == "llm"]
    models = [_instance_description(info) for info in instances]
    keys_with_an_instance = {str(info.get("modelKey")) for info in instances}
    models.extend(
        _description(info, key=str(info["modelKey"]), loaded=False, length=info.get("maxContextLength"))
        for info in llms_in(downloaded)
        if info["modelKey"] not in keys_with_an_instance
    )
    return models


def _instance_description(info: Mapping[str, Any]) -> ModelDescription:
    identifier = str(info.get("identifier") or info.get("modelKey"))
    return _description(
        info, key=identifier, loaded=True, length=info.get("contextLength") or info.get("maxContextLength")
    )


def _description(info: Mapping[str, Any], *, key: str, loaded: bool, length: Any) -> ModelDescription:
    return ModelDescription(
        key=valid_unicode(key),
        model_key=valid_unicode(str(info.get("modelKey", key))),
        display_name=valid_unicode(str(info.get("displayName", key))),
        loaded=loaded,
        context_length=length if isinstance(length, int) and not isinstance(length, bool) else 0,
        vision=info.get("vision") is True,
    )
