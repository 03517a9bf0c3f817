"""The emulated prompt template and tokenizer, shared by `applyPromptTemplate`, `countTokens`,
`tokenize` and the `promptTokensCount` a prediction reports, so that all four agree.

The template is ChatML-like (`<|im_start|>role\\ncontent<|im_end|>\\n`, then `<|im_start|>assistant\\n`);
image parts become `<image>`, other files `<file:name>`. A `llm.prediction.promptTemplate` in the config
(which `complete()` sends) makes the prompt the messages' text joined, as its raw Jinja template does.
Tokens are the word-sized pieces of `_records.tokenize`; a token's id is a CRC of its text.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from ._records import tokenize

__all__ = ["count_tokens", "format_prompt", "token_ids"]

#: Vocabulary size the emulated token ids fall in.
VOCABULARY = 32000


def _part_text(part: Mapping[str, Any]) -> str:
    if part.get("type") == "text":
        return str(part.get("text", ""))
    if part.get("type") == "file":
        return "<image>" if part.get("fileType") == "image" else f"<file:{part.get('name', '')}>"
    if part.get("type") == "toolCallRequest":
        request = part.get("toolCallRequest") or {}
        return f"<tool_call>{request.get('name', '')}</tool_call>"
    if part.get("type") == "toolCallResult":
        return f"<tool_response>{part.get('content', '')}</tool_response>"
    return ""


def format_prompt(messages: Sequence[Mapping[str, Any]], config: Mapping[str, Any]) -> str:
    """The prompt text the emulated model sees for `messages` (wire `ChatMessageData` dicts)."""
    texts = [(str(m.get("role", "user")), "".join(_part_text(p) for p in m.get("content", []))) for m in messages]
    if config.get("llm.prediction.promptTemplate"):
        return "".join(text for _role, text in texts)
    turns = "".join(f"<|im_start|>{role}\n{text}<|im_end|>\n" for role, text in texts)
    return f"{turns}<|im_start|>assistant\n"


def count_tokens(text: str) -> int:
    """How many tokens the emulated tokenizer makes of `text`."""
    return len(tokenize(text))


def token_ids(text: str) -> list[int]:
    """The emulated token ids of `text` (deterministic; one per `count_tokens`)."""
    return [zlib.crc32(token.encode("utf-8", "surrogatepass")) % VOCABULARY for token in tokenize(text)]
