"""Context pre-flight: refuse a prompt that cannot fit the loaded context before anything is predicted.

LM Studio answers a prompt longer than the loaded context with an opaque "Trying to keep the first N
tokens when context the overflows" error, or (depending on version and engine) an empty answer. Under
`contextOverflowPolicy: "stopAtLimit"` (what the server's default `context_overflow: "error"` sends) this
module counts the prompt with the model's own prompt template and tokenizer first and, when the prompt
plus the requested `maxTokens` cannot fit the instance's context length, raises `ContextOverflowError`
with both numbers and the fixes. The other policies (`truncateMiddle`, `rollingWindow`) are LM Studio's
to apply, so nothing is counted for them.

Cost per call (see benchmarks/local_models.py), per model instance: the context length is cached; a
prompt that fits even with twice the most its template has added so far to as many messages needs no
round trip at all; otherwise one `applyPromptTemplate`, and `countTokens` only when the formatted prompt's
UTF-8 size does not already fit (a token never covers less than one byte). Should a shortcut ever let a
prompt through that does not fit, LM Studio refuses it and `explain` gives the same message: for llama.cpp's
wording ("Trying to keep the first N tokens ... context length of only M tokens") and MLX's ("Context size has
been exceeded.", which carries no size: the instance's context length is taken from the cache or asked for).

The checks are plans (see `plans.py`): generators that yield `ContextLength`, `ApplyTemplate` and
`CountTokens` requests, so that both front ends run them.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

import lmstudio

from ..errors import IMAGE_TOKENS, ContextOverflowError
from ..types import Chat, Image

__all__ = [
    "IMAGE_TOKENS",
    "ApplyTemplate",
    "ContextLength",
    "ContextOverflowError",
    "ContextPreflight",
    "CountTokens",
    "overflow_policy",
]


@dataclass(frozen=True, slots=True)
class ContextLength:
    llm: Any


@dataclass(frozen=True, slots=True)
class ApplyTemplate:
    llm: Any
    history: Any


@dataclass(frozen=True, slots=True)
class CountTokens:
    llm: Any
    text: str


Check = Generator[ContextLength | ApplyTemplate | CountTokens, Any, Any]

#: Tokens a tokenizer may add without any text (BOS/EOS and the like), and bytes a template may vary by,
#: for the bytes-bound shortcuts.
_SLACK = 64

#: The start of llama.cpp's error for a prompt that does not fit (LM Studio 0.3 and 0.4); it names the size.
_LLAMA_CPP_OVERFLOW = "Trying to keep the first"
#: MLX's error for the same (lmstudio-bug-tracker #2339); it names no size.
_MLX_OVERFLOW = "Context size has been exceeded"


def overflow_policy(config: Mapping[str, Any]) -> str | None:
    """The `contextOverflowPolicy` in a prediction config (camelCase or snake_case key), if any."""
    policy = config.get("contextOverflowPolicy", config.get("context_overflow_policy"))
    return None if policy is None else str(policy)


def _reserved_tokens(config: Mapping[str, Any]) -> int:
    # `maxTokens: False` (or absent) means no limit: the prompt must still leave room for one token.
    max_tokens = config.get("maxTokens", config.get("max_tokens"))
    return max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else 1


class ContextPreflight:
    """Checks prompts against one model instance's context before predicting; caches context lengths.

    A context length is fixed for the life of a loaded instance. A reload under the same identifier may
    change it, so a refusal based on a cached length asks LM Studio once more before refusing, and a
    stale length that is too large is caught by `explain`.
    """

    def __init__(self) -> None:
        self._context_lengths: dict[str, int] = {}
        # Per instance and number of messages: the most bytes its prompt template added to the messages'
        # text so far. Templates add fixed role headers (and sometimes a default system prompt), so a
        # prompt far below the limit even with that much added needs no template round trip.
        self._template_overhead: dict[tuple[str, int], int] = {}

    def check(
        self,
        llm: Any,
        history: str | lmstudio.Chat,
        model_input: str | list[str | Image] | Chat,
        config: Mapping[str, Any],
    ) -> Check:
        """Plan: raise `ContextOverflowError` if `history` plus `maxTokens` cannot fit `llm`'s loaded context.

        `llm` is an SDK model handle (`.identifier`); `history` is `model_input` (the model layer's input, for
        its text and images) as sent to LM Studio. Does nothing unless `config` asks for
        `contextOverflowPolicy: "stopAtLimit"`. The requests' failures (the SDK's errors) pass through.
        """
        if overflow_policy(config) != "stopAtLimit":
            return
        context_length = yield from self._context_length(llm)
        if context_length <= 0:
            return  # LM Studio did not say: nothing to check against
        messages, text_bytes, images = _shape(model_input)
        reserved = _reserved_tokens(config) + images * IMAGE_TOKENS
        key = (llm.identifier, messages)
        overhead = self._template_overhead.get(key)
        if overhead is not None and text_bytes + 2 * overhead + _SLACK + reserved <= context_length:
            return  # far from the limit: fits whatever the template adds
        formatted = yield ApplyTemplate(llm, history)
        formatted_bytes = len(formatted.encode("utf-8", "surrogatepass"))
        # Never below 0: a template that drops text (earlier reasoning, say) may keep more of a longer turn.
        self._template_overhead[key] = max(overhead or 0, formatted_bytes - text_bytes, 0)
        if formatted_bytes + _SLACK + reserved <= context_length:
            return  # a token never covers less than a byte
        prompt_tokens = (yield CountTokens(llm, formatted)) + images * IMAGE_TOKENS
        if prompt_tokens + _reserved_tokens(config) > context_length:
            # Refuse, unless a fresh look shows the model was reloaded with more room.
            self._context_lengths.pop(llm.identifier, None)
            context_length = yield from self._context_length(llm)
            if 0 < context_length < prompt_tokens + _reserved_tokens(config):
                raise ContextOverflowError(
                    model=llm.identifier,
                    prompt_tokens=prompt_tokens,
                    context_length=context_length,
                    reserved=_reserved_tokens(config),
                    images=images,
                    turns=messages,
                )

    def _context_length(self, llm: Any) -> Check:
        cached = self._context_lengths.get(llm.identifier)
        if cached is None:
            cached = self._context_lengths[llm.identifier] = int((yield ContextLength(llm)))
        return cached

    def explain(
        self, exc: lmstudio.LMStudioServerError, llm: Any, model_input: Any, config: Mapping[str, Any]
    ) -> Check:
        """Plan: the `ContextOverflowError` for LM Studio's own overflow error (an estimate fell short), or
        None when `exc` is not one (or names no size and none can be had)."""
        text = str(exc)
        if _LLAMA_CPP_OVERFLOW in text:
            self._context_lengths.pop(llm.identifier, None)
            length = _context_length_in(text)
        elif _MLX_OVERFLOW in text:
            # MLX names no size: the one the pre-flight used (the instance's, as loaded), else LM Studio's.
            length = self._context_lengths.get(llm.identifier)
            if length is None:
                length = yield from self._context_length(llm)
        else:
            return None
        if not length:
            return None
        policy = "truncateMiddle" if overflow_policy(config) == "truncateMiddle" else "stopAtLimit"
        return ContextOverflowError(
            model=llm.identifier,
            prompt_tokens=None,
            context_length=length,
            reserved=_reserved_tokens(config),
            turns=_shape(model_input)[0],
            policy=policy,
        )


def _context_length_in(message: str) -> int | None:
    """The context length in LM Studio's overflow error ("... context length of only N tokens ...")."""
    marker = "context length of only "
    start = message.find(marker)
    if start < 0:
        return None
    digits = message[start + len(marker) :].split(" ", 1)[0]
    return int(digits) if digits.isdigit() else None


def _shape(model_input: str | list[str | Image] | Chat) -> tuple[int, int, int]:
    """(messages, UTF-8 bytes of their text, images) of the model layer's input."""
    turns = model_input.messages if isinstance(model_input, Chat) else [{"content": model_input}]
    text_bytes = images = 0
    for turn in turns:
        content = turn.get("content")
        parts = [content] if isinstance(content, str) else content if isinstance(content, list) else []
        for part in parts:
            if isinstance(part, Image):
                images += 1
            elif isinstance(part, str):
                text_bytes += len(part.encode("utf-8", "surrogatepass"))
    return len(turns), text_bytes, images
