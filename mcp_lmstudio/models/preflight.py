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
prompt through that does not fit, LM Studio refuses it and `explain_overflow` gives the same message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import lmstudio

from ..errors import ContextOverflowError
from ..types import Chat, Image

__all__ = ["IMAGE_TOKENS", "ContextOverflowError", "ContextPreflight", "overflow_policy"]

#: Tokens counted per image. LM Studio's prompt template renders an image as a short placeholder, while
#: vision models spend from a few dozen to over a thousand tokens on it (Gemma 3: 256, LLaVA 1.5: 576,
#: Qwen2.5-VL: by size); 256 is a middle estimate, and an underestimate is still caught by LM Studio's
#: own refusal, which `explain_overflow` rewrites into the same message.
IMAGE_TOKENS = 256

#: Tokens a tokenizer may add without any text (BOS/EOS and the like), and bytes a template may vary by,
#: for the bytes-bound shortcuts.
_SLACK = 64

#: The start of LM Studio's own error for a prompt that does not fit (llama.cpp engine, 0.3 and 0.4).
_LM_STUDIO_OVERFLOW = "Trying to keep the first"


_LONGER_CONTEXT = (
    "load the model with a longer context (LM Studio's model settings, or `lms load <model> --context-length N`); "
    "pick a model with a longer context (list_models shows each one's)"
)


def _too_long(
    model: str, prompt_tokens: int | None, reserved: int, context_length: int, images: int = 0
) -> ContextOverflowError:
    counted = "LM Studio refused it as too long" if prompt_tokens is None else f"it is {prompt_tokens:,} tokens"
    if images and prompt_tokens is not None:
        counted += f" (counting each of its {images} image{'s' if images != 1 else ''} as {IMAGE_TOKENS})"
    room = f", and max_tokens asks for {reserved:,} more" if reserved > 1 else ""
    message = (
        f"The prompt does not fit model {model!r}: {counted}{room}, but the model is loaded with a "
        f"{context_length:,}-token context. Nothing was generated. Shorten the prompt"
        f"{' or lower max_tokens' if reserved > 1 else ''}; {_LONGER_CONTEXT}; or pass context_overflow "
        "'truncate_middle' or 'rolling_window' to let LM Studio drop part of the conversation."
    )
    return ContextOverflowError(message, model=model, prompt_tokens=prompt_tokens, context_length=context_length)


def _head_too_long(model: str, context_length: int) -> ContextOverflowError:
    """LM Studio's refusal under `truncateMiddle`, which never cuts the system prompt or the first message."""
    message = (
        f"The prompt does not fit model {model!r} even with context_overflow 'truncate_middle': LM Studio keeps "
        f"the system prompt and the first message whole, and they alone exceed the model's {context_length:,}-token "
        f"context. Nothing was generated. Shorten the first message or the system prompt; {_LONGER_CONTEXT}; or "
        "pass context_overflow 'rolling_window', which may drop them too."
    )
    return ContextOverflowError(message, model=model, prompt_tokens=None, context_length=context_length)


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
    stale length that is too large is caught by `explain_overflow`.
    """

    def __init__(self) -> None:
        self._context_lengths: dict[str, int] = {}
        # Per instance and number of messages: the most bytes its prompt template added to the messages'
        # text so far. Templates add fixed role headers (and sometimes a default system prompt), so a
        # prompt far below the limit even with that much added needs no template round trip.
        self._template_overhead: dict[tuple[str, int], int] = {}

    async def check(
        self,
        llm: lmstudio.AsyncLLM,
        history: str | lmstudio.Chat,
        model_input: str | list[str | Image] | Chat,
        config: Mapping[str, Any],
    ) -> None:
        """Raise `ContextOverflowError` if `history` plus `maxTokens` cannot fit `llm`'s loaded context.

        `history` is `model_input` (the model layer's input, for its text and images) as sent to LM Studio.
        Does nothing unless `config` asks for `contextOverflowPolicy: "stopAtLimit"`. Raises the lmstudio
        SDK's errors for failed RPCs.
        """
        if overflow_policy(config) != "stopAtLimit":
            return
        context_length = await self._context_length(llm)
        if context_length <= 0:
            return  # LM Studio did not say: nothing to check against
        messages, text_bytes, images = _shape(model_input)
        reserved = _reserved_tokens(config) + images * IMAGE_TOKENS
        key = (llm.identifier, messages)
        overhead = self._template_overhead.get(key)
        if overhead is not None and text_bytes + 2 * overhead + _SLACK + reserved <= context_length:
            return  # far from the limit: fits whatever the template adds
        formatted = await llm.apply_prompt_template(history)
        formatted_bytes = len(formatted.encode("utf-8", "surrogatepass"))
        # Never below 0: a template that drops text (earlier reasoning, say) may keep more of a longer turn.
        self._template_overhead[key] = max(overhead or 0, formatted_bytes - text_bytes, 0)
        if formatted_bytes + _SLACK + reserved <= context_length:
            return  # a token never covers less than a byte
        prompt_tokens = await llm.count_tokens(formatted) + images * IMAGE_TOKENS
        if prompt_tokens + _reserved_tokens(config) > context_length:
            await self._refuse(llm, prompt_tokens, _reserved_tokens(config), images)

    async def _refuse(self, llm: lmstudio.AsyncLLM, prompt_tokens: int, reserved: int, images: int) -> None:
        """Raise `ContextOverflowError`, unless a fresh look shows the model was reloaded with more room."""
        self._context_lengths.pop(llm.identifier, None)
        context_length = await self._context_length(llm)
        if 0 < context_length < prompt_tokens + reserved:
            raise _too_long(llm.identifier, prompt_tokens, reserved, context_length, images)

    async def _context_length(self, llm: lmstudio.AsyncLLM) -> int:
        cached = self._context_lengths.get(llm.identifier)
        if cached is None:
            cached = self._context_lengths[llm.identifier] = await llm.get_context_length()
        return cached

    @contextlib.contextmanager
    def explain_overflow(self, llm: lmstudio.AsyncLLM, config: Mapping[str, Any]) -> Iterator[None]:
        """Turn LM Studio's own overflow error into `ContextOverflowError` (an estimate fell short)."""
        try:
            yield
        except lmstudio.LMStudioServerError as exc:
            if _LM_STUDIO_OVERFLOW not in str(exc):
                raise
            self._context_lengths.pop(llm.identifier, None)
            length = _context_length_in(str(exc))
            if length is None:
                raise
            if overflow_policy(config) == "truncateMiddle":
                raise _head_too_long(llm.identifier, length) from exc
            raise _too_long(llm.identifier, None, _reserved_tokens(config), length) from exc


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
