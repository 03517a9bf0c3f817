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

__all__ = [
    "default_key",
    "describe_models",
    "downloaded_model",
    "identifiers_in",
    "llms_in",
    "models_in",
    "names_a_model",
    "resolve_specifier",
]

#: The model types LM Studio lists; any other (a speculative-decoding drafter, say) is left out, logged once.
KNOWN_TYPES = ("llm", "embedding")


def models_in(downloaded: Iterable[Any], kind: str) -> list[Mapping[str, Any]]:
    """The entries of type `kind` ("llm", "embedding") of LM Studio's raw `listDownloadedModels` answer
    (`ModelInfo` dicts), read leniently: an entry without a `modelKey` is left out, and an unknown type is
    logged once."""
    found = []
    for info in downloaded:
        if not isinstance(info, Mapping) or not isinstance(info.get("modelKey"), str):
            continue
        model_type = info.get("type", "llm")
        if model_type not in KNOWN_TYPES:
            log_once("a model type", model_type)
        if model_type == kind:
            found.append(info)
    return found


def llms_in(downloaded: Iterable[Any]) -> list[Mapping[str, Any]]:
    """The LLM entries of LM Studio's raw `listDownloadedModels` answer: the models that can answer a prompt."""
    return models_in(downloaded, "llm")


def identifiers_in(loaded: Iterable[Any]) -> list[str]:
    """The instance identifiers in LM Studio's raw `listLoaded` answer, in its order."""
    return [str(info["identifier"]) for info in loaded if isinstance(info, Mapping) and "identifier" in info]


def _resolves(specifier: str, key: str, path: str) -> bool:
    folded = specifier.casefold()
    return specifier == key or (bool(folded) and path.casefold().startswith(folded))


def resolve_specifier(
    specifier: str,
    loaded_identifiers: Iterable[str],
    downloaded: Iterable[Any],
    *,
    setting: str | None = None,
    kind: str = "llm",
) -> str:
    """What `specifier` names, as LM Studio resolves it: a loaded instance's identifier, else a model key.

    `downloaded` is LM Studio's raw `listDownloadedModels` answer (`ModelInfo` dicts: `modelKey`, `path`;
    entries of another type than `kind` are passed over; `loaded_identifiers` are the instances of `kind`).
    Two specifiers that name one model (its key and a path prefix, say) resolve alike, so their loads can be
    shared. `setting` names where `specifier` was configured when it is the default (`model_name`, the
    server's `--model`), for the error; None when the call named it.

    Raises:
        ModelNotFoundError: LM Studio would not resolve `specifier`; lists what exists.
    """
    identifiers = list(loaded_identifiers)
    if specifier in identifiers:
        return specifier
    infos = models_in(downloaded, kind)
    for matches in (
        lambda info: info["modelKey"] == specifier,
        lambda info: _resolves(specifier, "", str(info.get("path", ""))),
    ):
        found = next((info for info in infos if matches(info)), None)
        if found is not None:
            return str(found["modelKey"])
    available = sorted({*identifiers, *(str(info["modelKey"]) for info in infos)})
    raise ModelNotFoundError(specifier, [valid_unicode(name) for name in available], setting=setting)


def names_a_model(specifier: str, loaded_identifiers: Iterable[str], downloaded: Iterable[Any], kind: str) -> bool:
    """Whether LM Studio would resolve `specifier` to a model of type `kind` (see `resolve_specifier`)."""
    try:
        resolve_specifier(specifier, loaded_identifiers, downloaded, kind=kind)
    except ModelNotFoundError:
        return False
    return True


def downloaded_model(specifier: str, downloaded: Iterable[Any]) -> Mapping[str, Any] | None:
    """The downloaded LLM or embedding model that `specifier` (a model key, or a path or path prefix) names."""
    infos = [*models_in(downloaded, "llm"), *models_in(downloaded, "embedding")]
    for info in infos:
        if info["modelKey"] == specifier:
            return info
    return next((info for info in infos if _resolves(specifier, "", str(info.get("path", "")))), None)


def describe_models(
    loaded: Iterable[Mapping[str, Any]], loaded_embeddings: Iterable[Mapping[str, Any]], downloaded: Iterable[Any]
) -> list[ModelDescription]:
    """Every loaded instance, then every downloaded model without one (once); LLMs before embedding models.

    `loaded` and `loaded_embeddings` hold LM Studio's instance infos as `listLoaded` sends them in each
    namespace (each instance with its own `identifier` and `contextLength`); `downloaded` its raw
    `listDownloadedModels` answer. Fields are read leniently: a missing or odd one gets a neutral value
    instead of failing the list. Models of a type the server does not know (a drafter) are left out.
    """
    instances = [
        (info, kind)
        for infos, kind in ((loaded, "llm"), (loaded_embeddings, "embedding"))
        for info in infos
        if isinstance(info, Mapping) and info.get("type", kind) == kind
    ]
    models = [_instance_description(info, kind) for info, kind in instances]
    keys_with_an_instance = {str(info.get("modelKey")) for info, _kind in instances}
    downloaded = list(downloaded)
    models.extend(
        _description(info, key=str(info["modelKey"]), loaded=False, length=info.get("maxContextLength"))
        for kind in KNOWN_TYPES
        for info in models_in(downloaded, kind)
        if info["modelKey"] not in keys_with_an_instance
    )
    return models


def default_key(
    model_name: str | None, llm_identifiers: list[str], downloaded: list[Any], models: Iterable[ModelDescription]
) -> str | None:
    """The `key` of the entry a generation call without `model` would use, among `models` (None: none).

    The configured default when LM Studio resolves it to an LLM (a loaded instance; else a loaded instance of
    that model, which LM Studio's get-or-load would use; else the downloaded model), else the first loaded
    LLM. A configured default that does not resolve marks nothing: such a call fails, naming it.
    """
    if model_name is None:
        return llm_identifiers[0] if llm_identifiers else None
    try:
        target = resolve_specifier(model_name, llm_identifiers, downloaded)
    except ModelNotFoundError:
        return None
    if target in llm_identifiers:
        return target
    llms = [model for model in models if model.type == "llm"]
    instance = next((model.key for model in llms if model.loaded and model.model_key == target), None)
    return instance or next((model.key for model in llms if model.key == target), None)


def _instance_description(info: Mapping[str, Any], kind: str) -> ModelDescription:
    identifier = str(info.get("identifier") or info.get("modelKey"))
    length = info.get("contextLength") or info.get("maxContextLength")
    return _description({**info, "type": kind}, key=identifier, loaded=True, length=length)


def _description(info: Mapping[str, Any], *, key: str, loaded: bool, length: Any) -> ModelDescription:
    return ModelDescription(
        key=valid_unicode(key),
        model_key=valid_unicode(str(info.get("modelKey", key))),
        display_name=valid_unicode(str(info.get("displayName", key))),
        loaded=loaded,
        context_length=length if isinstance(length, int) and not isinstance(length, bool) else 0,
        vision=info.get("vision") is True,
        type="embedding" if info.get("type") == "embedding" else "llm",
    )
