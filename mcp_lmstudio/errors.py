"""Errors raised by mcp-lmstudio.

Every error derives from :class:`McpLmStudioError` and, where it fits, from the builtin a caller
would naturally catch::

    McpLmStudioError
    ├── InvalidInputError (ValueError)       bad prompt, message, image, schema or setting
    ├── UnsupportedTypeError (TypeError)     an input or output type the model layer does not take
    ├── ModelNotFoundError (LookupError)     an unknown model key; lists the keys that exist
    ├── NoModelLoadedError (LookupError)     no model given and none loaded
    ├── LMStudioUnavailableError (ConnectionError)   LM Studio not reachable, or the link dropped
    ├── GenerationTimeoutError (TimeoutError)        the per-call time limit expired
    ├── GenerationFailedError (RuntimeError)         LM Studio reported an error for a prediction
    ├── ContextOverflowError (ValueError)            the prompt does not fit the model's loaded context
    └── StructuredOutputError (ValueError)           output that is not valid JSON for the schema

Messages say what went wrong, the offending value, and what to do next: they are read by people and
by the model that called a tool.
"""

from __future__ import annotations


class McpLmStudioError(Exception):
    """Base class of every error raised by mcp-lmstudio."""


class InvalidInputError(McpLmStudioError, ValueError):
    """A prompt, message, image, schema or sampling setting is malformed."""


class UnsupportedTypeError(McpLmStudioError, TypeError):
    """An input or output type the model layer does not take (`Regex`, `CFG`, an int...): a TypeError, as
    outlines' LM Studio integration raises."""


class ModelNotFoundError(McpLmStudioError, LookupError):
    """The requested model key is neither loaded nor downloaded in LM Studio."""

    def __init__(self, model: str, available: list[str], *, setting: str | None = None) -> None:
        """`setting` names where a configured default came from (`--model`, `LMSTUDIO_MODEL`); None: the call."""
        self.model = model
        self.available = available
        self.setting = setting
        listing = ", ".join(repr(key) for key in available) if available else "none (download one in LM Studio)"
        if setting is None:
            super().__init__(
                f"Model {model!r} is not available in LM Studio. Available model keys: {listing}. "
                "Pass one of these as `model`, or omit `model` to use the default."
            )
        else:
            super().__init__(
                f"The default model {model!r} (set by {setting}) is not available in LM Studio. Available model "
                f"keys: {listing}. Set {setting} to one of these (or remove it to use the loaded model), "
                "or pass `model`."
            )


class NoModelLoadedError(McpLmStudioError, LookupError):
    """No model was named and LM Studio has none loaded."""


class LMStudioUnavailableError(McpLmStudioError, ConnectionError):
    """LM Studio cannot be reached, or the connection to it was lost."""


class GenerationTimeoutError(McpLmStudioError, TimeoutError):
    """A generation ran past its time limit and was cancelled in LM Studio."""


class GenerationFailedError(McpLmStudioError, RuntimeError):
    """LM Studio reported an error while generating.

    `reason` is what the error was put down to: "load", "vision", "schema", "evicted", "crashed" or "lmstudio".
    """

    def __init__(self, message: str, *, reason: str = "lmstudio") -> None:
        self.reason = reason
        super().__init__(message)


class ContextOverflowError(McpLmStudioError, ValueError):
    """The prompt (plus the tokens to generate) does not fit the model's loaded context.

    `prompt_tokens` is None when LM Studio refused the prompt rather than this module counting it.
    """

    def __init__(self, message: str, *, model: str, prompt_tokens: int | None, context_length: int) -> None:
        super().__init__(message)
        self.model = model
        self.prompt_tokens = prompt_tokens
        self.context_length = context_length


class StructuredOutputError(McpLmStudioError, ValueError):
    """The model's output is not valid JSON for the requested schema."""

    def __init__(self, message: str, raw_text: str) -> None:
        self.raw_text = raw_text
        super().__init__(message)
