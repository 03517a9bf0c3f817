"""Which model a call names, and loading it once: model specifiers as LM Studio resolves them, the
model listing, and single-flight loads.

LM Studio resolves a specifier to a loaded instance's identifier (`qwen3-8b`, `qwen3-8b:2`, a custom
identifier), a model key, or a model's path (or a case-insensitive prefix of it, such as
`publisher/model-name`); `check_specifier` accepts exactly those, so that a name LM Studio would not resolve
is refused before a just-in-time load could start, and one it would resolve is never refused.
`resolve_specifier` says which model a specifier names, so that loads are shared per model, not per string.

LM Studio's JIT loader does not merge concurrent `getOrLoad`s of one model: each loads another copy. So
concurrent resolutions of one model (by any specifier) share one load (`SingleFlight` for asyncio,
`SyncSingleFlight` for threads): every waiter gets the load's progress and its outcome, and a failed load is
forgotten so that the next call tries again.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any, TypeVar

from ..errors import ModelNotFoundError
from ..text import valid_unicode
from .events import ModelDescription

__all__ = ["describe_models", "resolve_specifier"]

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def _resolves(specifier: str, key: str, path: str) -> bool:
    folded = specifier.casefold()
    return specifier == key or (bool(folded) and path.casefold().startswith(folded))


def resolve_specifier(
    specifier: str, loaded_identifiers: Iterable[str], downloaded: Iterable[Any], *, setting: str | None = None
) -> str:
    """What `specifier` names, as LM Studio resolves it: a loaded instance's identifier, else a model key.

    `downloaded` holds the SDK's downloaded-model objects (`.info.model_key`, `.info.path`). Two specifiers
    that name one model (its key and a path prefix, say) resolve alike, so their loads can be shared.
    `setting` names where `specifier` was configured when it is the default (`--model`, `LMSTUDIO_MODEL`),
    for the error; None when the call named it.

    Raises:
        ModelNotFoundError: LM Studio would not resolve `specifier`; lists what exists.
    """
    identifiers = list(loaded_identifiers)
    if specifier in identifiers:
        return specifier
    infos = [model.info for model in downloaded]
    for matches in (lambda info: info.model_key == specifier, lambda info: _resolves(specifier, "", info.path)):
        found = next((info for info in infos if matches(info)), None)
        if found is not None:
            return str(found.model_key)
    available = sorted({*identifiers, *(info.model_key for info in infos)})
    raise ModelNotFoundError(specifier, [valid_unicode(name) for name in available], setting=setting)


def describe_models(loaded: Iterable[Mapping[str, Any]], downloaded: Iterable[Any]) -> list[ModelDescription]:
    """Every loaded LLM instance, then every downloaded LLM without an instance (once).

    `loaded` holds LM Studio's `LLMInstanceInfo` objects as `listLoaded` sends them (each instance with its own
    `identifier` and `contextLength`); `downloaded` the SDK's downloaded-model objects.
    """
    instances = [info for info in loaded if info.get("type", "llm") == "llm"]
    models = [_instance_description(info) for info in instances]
    keys_with_an_instance = {str(info.get("modelKey")) for info in instances}
    models.extend(
        ModelDescription(
            key=valid_unicode(model.info.model_key),
            model_key=valid_unicode(model.info.model_key),
            display_name=valid_unicode(model.info.display_name),
            loaded=False,
            context_length=int(model.info.max_context_length),
            vision=bool(model.info.vision),
        )
        for model in downloaded
        if model.info.model_key not in keys_with_an_instance
    )
    return models


def _instance_description(info: Mapping[str, Any]) -> ModelDescription:
    identifier = str(info.get("identifier") or info.get("modelKey"))
    return ModelDescription(
        key=valid_unicode(identifier),
        model_key=valid_unicode(str(info.get("modelKey", identifier))),
        display_name=valid_unicode(str(info.get("displayName", identifier))),
        loaded=True,
        context_length=int(info.get("contextLength") or info.get("maxContextLength") or 0),
        vision=bool(info.get("vision", False)),
    )
