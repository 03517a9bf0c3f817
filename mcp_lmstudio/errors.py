"""Errors raised by mcp-lmstudio.

Every error derives from :class:`McpLmStudioError` and, where it fits, from the builtin a caller
would naturally catch::

    McpLmStudioError
    ├── InvalidInputError (ValueError)       bad prompt, message, image, schema or setting
    │   ├── ContextOverflowError             the prompt does not fit the model's loaded context
    │   └── LoadConfigError                  a load configuration the model cannot take (value and limit)
    ├── UnsupportedTypeError (TypeError)     an input or output type the model layer does not take
    ├── ModelNotFoundError (LookupError)     an unknown model key; lists the keys that exist
    ├── WrongModelTypeError (LookupError)    an embedding model named to generate, or an LLM to embed
    ├── InstanceNotFoundError (LookupError)  no loaded instance has that identifier; lists the loaded ones
    ├── NoModelLoadedError (LookupError)     no model given and none (of the kind needed) loaded
    ├── LMStudioUnavailableError (ConnectionError)   LM Studio not reachable, or the link dropped
    ├── GenerationTimeoutError (TimeoutError)        the per-call time limit expired (keeps the text so far)
    ├── GenerationFailedError (RuntimeError)         LM Studio reported an error for a prediction
    │   └── SDKMismatchError                         LM Studio sent data the installed lmstudio cannot read
    └── StructuredOutputError (ValueError)           output that is not valid JSON for the schema

The errors a caller can act on carry their facts as fields (the limit, the phase, the model, the numbers),
and their message (`str(exc)`) speaks Python: the `timeout=` argument, `config={"maxTokens": ...}`,
`model=`. A front end with its own vocabulary (the MCP server's tool arguments and flags) words them from
the fields instead (`mcp_lmstudio.server.wording`). Messages say what went wrong, the offending value, and
what to do next.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: Tokens counted per image by the context pre-flight (see `models.preflight`).
IMAGE_TOKENS = 256

#: Where a call was when its time limit passed, by `GenerationTimeoutError.phase`.
TIMEOUT_PHASES = {
    "connecting": "it was still connecting to LM Studio",
    "resolving": "it was still asking LM Studio which models it has",
    "uploading": "it was still uploading images",
    "loading": "LM Studio was still loading the model",
    "checking": "it was still counting the prompt's tokens for the context check",
    "starting": (
        "LM Studio had not started answering, perhaps waiting for a free prediction slot (LM Studio 0.4 runs a "
        "few at once and queues the rest); the prediction was cancelled, so it will not start later"
    ),
    "prompt": "LM Studio was still processing the prompt; the prediction was cancelled",
    "generating": "the prediction was cancelled in LM Studio",
    # The two steps of think-first structured output (`models.think_first`), which share one limit.
    "thinking": "the model was still thinking",
    "writing_json": "the model was writing the JSON after thinking",
    # Managing models (`load_model`, `unload_model`, `embed`): no tokens to cap, so no `maxTokens` advice.
    "loading_new": (
        "LM Studio was still loading the model; it finishes the load anyway (nothing can stop a load from here), "
        "so the new instance shows up in list_models once loaded, and unload_model removes it"
    ),
    "unloading": "LM Studio was still unloading the model",
    "embedding": "LM Studio was still computing the embeddings",
}

#: The phases of calls that manage models rather than generate (see `TIMEOUT_PHASES`).
MANAGING_PHASES = frozenset({"loading_new", "unloading", "embedding"})


class McpLmStudioError(Exception):
    """Base class of every error raised by mcp-lmstudio."""


class InvalidInputError(McpLmStudioError, ValueError):
    """A prompt, message, image, schema or sampling setting is malformed."""


class UnsupportedTypeError(McpLmStudioError, TypeError):
    """An input or output type the model layer does not take (`Regex`, `CFG`, an int...): a TypeError, as
    outlines' LM Studio integration raises."""


def _keys(available: Sequence[str]) -> str:
    return ", ".join(repr(key) for key in available) if available else "none (download one in LM Studio)"


class ModelNotFoundError(McpLmStudioError, LookupError):
    """The requested model key is neither loaded nor downloaded in LM Studio.

    Fields: `model` (what was asked for), `available` (the keys and identifiers that exist), `setting` (where a
    configured default came from, e.g. "model_name", or the server's "--model"; None: the call named it),
    `loading` (the model was named to load a new instance: `available` lists the downloaded models).
    """

    def __init__(self, model: str, available: list[str], *, setting: str | None = None, loading: bool = False) -> None:
        self.model = model
        self.available = available
        self.setting = setting
        self.loading = loading
        if loading:
            message = (
                f"Model {model!r} is not downloaded in LM Studio. Downloaded model keys: {_keys(available)}. "
                "Pass one of these (or its path) as `model`."
            )
        elif setting is None:
            message = (
                f"Model {model!r} is not available in LM Studio. Available model keys: {_keys(available)}. "
                "Pass one of these as `model=`, or leave `model` out to use the default."
            )
        else:
            message = (
                f"The default model {model!r} (set by {setting}) is not available in LM Studio. Available model "
                f"keys: {_keys(available)}. Set {setting} to one of these (or to None to use the loaded model), "
                "or pass `model=`."
            )
        super().__init__(message)


class NoModelLoadedError(McpLmStudioError, LookupError):
    """No model was named and none of the kind needed is loaded. Fields: `api_host` (where LM Studio was
    asked), `kind` ("llm" to generate, "embedding" to embed)."""

    def __init__(self, api_host: str, *, kind: str = "llm") -> None:
        self.api_host, self.kind = api_host, kind
        what, fix = ("embedding model", " (type 'embedding')") if kind == "embedding" else ("model", "")
        super().__init__(
            f"No {what} is loaded in LM Studio at {api_host}, and none was named. "
            f"Load one (`load_model()`, LM Studio, or `lms load <model-key>`), or pass `model=` with one from "
            f"`list_models()`{fix}."
        )


#: How the model layer names the methods and arguments that errors about models point to.
MODEL_PYTHON_WORDS = {
    "model": "`model=`",
    "list": "`list_models()`",
    "embed": "`embed()`",
    "generate": "`generate()`",
    "default": "Set {setting} to an LLM (or to None to use the loaded one)",
}


class WrongModelTypeError(McpLmStudioError, LookupError):
    """A model of the wrong type was named: an embedding model to generate, or an LLM to embed.

    Fields: `model` (what was named), `model_type` (what it is: "embedding" or "llm"), `setting` (where a
    configured default came from; None: the call named it).
    """

    def __init__(self, model: str, model_type: str, *, setting: str | None = None) -> None:
        self.model, self.model_type, self.setting = model, model_type, setting
        super().__init__(wrong_type_message(self, MODEL_PYTHON_WORDS))


def wrong_type_message(exc: WrongModelTypeError, words: dict[str, str]) -> str:
    """The message of `exc` in `words`' vocabulary (see `MODEL_PYTHON_WORDS` for the keys)."""
    if exc.model_type == "llm":
        return (
            f"Model {exc.model!r} is an LLM, not an embedding model: it generates text ({words['generate']}). To "
            f"embed, pass {words['model']} with an embedding model ({words['list']} shows type 'embedding'), or "
            "leave it out to use the loaded one."
        )
    what = f"The default model {exc.model!r} (set by {exc.setting})" if exc.setting else f"Model {exc.model!r}"
    fix = (
        words["default"].format(setting=exc.setting) + f", or pass {words['model']} with one"
        if exc.setting
        else f"Pass {words['model']} with an LLM ({words['list']} shows type 'llm')"
    )
    return (
        f"{what} is an embedding model: it turns text into vectors and cannot generate text. Use "
        f"{words['embed']} for embeddings. {fix}."
    )


class InstanceNotFoundError(McpLmStudioError, LookupError):
    """No loaded model instance has the identifier given. Fields: `identifier`; `loaded`, the loaded ones."""

    def __init__(self, identifier: str, loaded: list[str]) -> None:
        self.identifier, self.loaded = identifier, loaded
        listing = ", ".join(repr(name) for name in loaded) if loaded else "none"
        super().__init__(
            f"No loaded model instance has the identifier {identifier!r}. Loaded instances: {listing}. Pass one "
            "of these exactly (`list_models()` shows them with `loaded=True`)."
        )


class LoadConfigError(InvalidInputError):
    """A load configuration the model cannot take, refused before loading or by LM Studio.

    Fields: `model` (its key), `setting` (the parameter, e.g. "context_length"), `value`, `limit` (the most
    the model takes; None when not known) and `said` (LM Studio's words when it refused; None when the check
    before loading did).
    """

    def __init__(self, model: str, setting: str, value: object, limit: int | None, said: str | None = None) -> None:
        self.model, self.setting, self.value, self.limit, self.said = model, setting, value, limit, said
        reported = f" LM Studio said: {said}" if said else ""
        if limit is None:
            message = f"LM Studio refused to load {model!r} with {setting} {value}.{reported} Pass a smaller value."
        else:
            message = (
                f"Cannot load {model!r} with {setting} {value:,}: the model supports at most {limit:,} tokens."
                f"{reported} Pass a {setting} of at most {limit:,}, or leave it out for LM Studio's default."
            )
        super().__init__(message)


class LMStudioUnavailableError(McpLmStudioError, ConnectionError):
    """LM Studio cannot be reached, or the connection to it was lost."""


class GenerationTimeoutError(McpLmStudioError, TimeoutError):
    """A generation ran past its time limit and was cancelled in LM Studio.

    Fields: `limit_s` (the limit, seconds); `phase` (a key of `TIMEOUT_PHASES`: where the call was);
    `partial` (a `models.GenerationResult` holding the text generated so far, with `stop_reason="timeout"`,
    or None when nothing was generated); `think_first` (the limit covered both think-first steps).
    """

    def __init__(self, limit_s: float | None, phase: str, partial: Any = None, *, think_first: bool = False) -> None:
        self.limit_s = limit_s
        self.phase = phase
        self.partial = partial
        self.think_first = think_first
        raise_limit = "the `timeout=` argument, or the model's `timeout`"
        super().__init__(timeout_message(self, raise_limit=raise_limit, max_tokens="`maxTokens`", kept_in="`partial`"))


def timeout_message(exc: GenerationTimeoutError, *, raise_limit: str, max_tokens: str, kept_in: str = "") -> str:
    """The message of `exc`, naming the limit's setting as `raise_limit` and the token cap as `max_tokens`.

    `kept_in` names where the text generated so far is kept (the error's `partial`), if anywhere.
    """
    limit = "its" if exc.limit_s is None else f"the {exc.limit_s:g} s"
    phase = TIMEOUT_PHASES.get(exc.phase, exc.phase)
    if exc.phase in MANAGING_PHASES:
        return f"The call did not finish within {limit} time limit ({phase}). Raise the limit ({raise_limit})."
    if exc.think_first:
        return (
            f"The call did not finish within {limit} time limit, which covers both think_first steps ({phase}; the "
            f"prediction was cancelled in LM Studio). Raise the limit ({raise_limit}), lower {max_tokens}, or call "
            "without think_first."
        )
    kept = f" The text generated so far is in the error's {kept_in}." if kept_in and exc.partial is not None else ""
    return (
        f"The call did not finish within {limit} time limit ({phase}). Raise the limit ({raise_limit}), lower "
        f"{max_tokens}, or use a faster model.{kept}"
    )


class GenerationFailedError(McpLmStudioError, RuntimeError):
    """LM Studio reported an error while generating.

    Fields: `reason`, what the error was put down to ("load", "vision", "vision_context", "system_role",
    "schema", "evicted", "crashed", "sdk" or "lmstudio"); `said`, LM Studio's own words on one line;
    `model`, the model named or used (None when not known); `vision_models`, the loaded models with vision
    (for "vision"); `context_length`, the model's loaded context in tokens (for "vision_context").
    """

    def __init__(
        self,
        said: str,
        *,
        reason: str = "lmstudio",
        model: str | None = None,
        vision_models: Sequence[str] = (),
        context_length: int | None = None,
    ) -> None:
        self.said = said
        self.reason = reason
        self.model = model
        self.vision_models = list(vision_models)
        self.context_length = context_length
        super().__init__(failure_message(self, PYTHON_WORDS))


#: How the model layer names what a caller can change, for `failure_message` and the other messages.
PYTHON_WORDS = {
    "model": "`model=`",
    "list": "`list_models()`",
    "schema": "the JSON schema (`output_type`)",
    "check": "check that LM Studio answers (`list_models()`)",
    "vision_list": "`list_models()` shows `vision`",
    "reload": "LM Studio's model settings, or `lms load {model} --context-length 4096`",
}


def failure_message(exc: GenerationFailedError, words: dict[str, str]) -> str:
    """The message of `exc`: LM Studio's words once, then the advice for its `reason`, in `words`' vocabulary."""
    said = f"LM Studio said: {exc.said}" if exc.said else "LM Studio reported an error."
    which = repr(exc.model) if exc.model else "the model"
    advice = {
        "evicted": (
            "The model was unloaded in LM Studio while the call ran (evicted to make room for another, or unloaded "
            "by hand). Try again: the next call loads it again."
        ),
        "load": (
            f"{which[0].upper()}{which[1:]} could not be loaded. Pick a smaller model or one already loaded "
            f"({words['list']} shows which), or free memory by unloading other models in LM Studio."
        ),
        "crashed": (
            f"LM Studio's engine stopped while running {which}. Try again; if it keeps failing, use a smaller model "
            "or a shorter prompt."
        ),
        "schema": (
            f"LM Studio's engine could not use the JSON schema. Simplify {words['schema']}: plain `type`, "
            "`properties`, `required`, `items` and `enum` work everywhere; remove the keywords the message names."
        ),
        "system_role": (
            f"The prompt template of {which} does not accept a system message, so this call fails the same way every "
            "time. Leave the system message out, or fold its text into the first user message; or fix the model's "
            "prompt template in LM Studio (My Models, model settings, Prompt Template)."
        ),
        "sdk": (
            "LM Studio is newer than the installed lmstudio SDK. Upgrade it (pip install --upgrade lmstudio), or "
            "use a model of a kind it knows."
        ),
        "lmstudio": f"Check the arguments, or try again; {words['check']}.",
    }
    if exc.reason == "sdk":
        return f"The lmstudio SDK could not decode what LM Studio sent: {exc.said} {advice['sdk']}"
    if exc.reason == "vision":
        if exc.vision_models:
            keys = ", ".join(repr(key) for key in exc.vision_models)
            fix = f"Loaded models with vision: {keys}; pass one as {words['model']}"
        else:
            fix = f"No loaded model has vision; pass {words['model']} with one that has ({words['vision_list']})"
        return f"{said} {which[0].upper()}{which[1:]} does not accept images. {fix}, or leave the images out."
    if exc.reason == "vision_context":
        size = f"a {exc.context_length:,}-token context" if exc.context_length else "a short context"
        return (
            f"{said} {which} has vision, so this is most likely its context: it is loaded with {size}, and LM "
            "Studio refuses images below about 1,500 tokens. Reload it with a longer context "
            f"({words['reload'].format(model=exc.model or '<model>')}), or leave the images out."
        )
    return f"{said} {advice.get(exc.reason, advice['lmstudio'])}"


class SDKMismatchError(GenerationFailedError):
    """LM Studio sent data that the installed lmstudio SDK cannot decode (LM Studio is newer than the SDK).

    Raised only where the data was needed; LM Studio is reachable, so this never means "reconnect".
    """

    def __init__(self, said: str, *, model: str | None = None) -> None:
        super().__init__(said, reason="sdk", model=model)


class ContextOverflowError(InvalidInputError):
    """The prompt (plus the tokens to generate) does not fit the model's loaded context.

    Fields: `model`; `prompt_tokens` (None when LM Studio refused the prompt rather than the pre-flight
    counting it); `reserved`, the tokens asked for by `maxTokens` (1 when there is no cap); `context_length`,
    the instance's loaded context in tokens; `images`, how many images were counted (at `IMAGE_TOKENS` each);
    `turns`, the messages in the prompt; `policy`, the `contextOverflowPolicy` in force ("truncateMiddle":
    LM Studio could not keep even the system prompt and first message).
    """

    def __init__(
        self,
        *,
        model: str,
        prompt_tokens: int | None,
        context_length: int,
        reserved: int = 1,
        images: int = 0,
        turns: int = 1,
        policy: str = "stopAtLimit",
    ) -> None:
        self.model = model
        self.prompt_tokens = prompt_tokens
        self.context_length = context_length
        self.reserved = reserved
        self.images = images
        self.turns = turns
        self.policy = policy
        super().__init__(overflow_message(self, OVERFLOW_PYTHON_WORDS))


OVERFLOW_PYTHON_WORDS = {
    "max_tokens": "`maxTokens`",
    "list": "`list_models()`",
    "truncate": "config={'contextOverflowPolicy': 'truncateMiddle'}",
    "rolling": "config={'contextOverflowPolicy': 'rollingWindow'}",
    "both": "config={'contextOverflowPolicy': 'truncateMiddle'} or 'rollingWindow'",
    "longer": "LM Studio's model settings, or `lms load <model> --context-length N`",
}


def overflow_message(exc: ContextOverflowError, words: dict[str, str]) -> str:
    """The message of `exc` in `words`' vocabulary (see `OVERFLOW_PYTHON_WORDS` for the keys)."""
    longer = (
        f"load the model with a longer context ({words['longer']}); "
        f"pick a model with a longer context ({words['list']} shows each one's)"
    )
    if exc.policy == "truncateMiddle":
        return (
            f"The prompt does not fit model {exc.model!r} even with {words['truncate']}: LM Studio keeps the system "
            f"prompt and the first message whole, and they alone exceed the model's {exc.context_length:,}-token "
            f"context. Nothing was generated. Shorten the first message or the system prompt; {longer}; or pass "
            f"{words['rolling']}, which may drop them too."
        )
    if exc.prompt_tokens is None:
        counted = "LM Studio refused it as too long"
    else:
        counted = f"it is {exc.prompt_tokens:,} tokens"
        if exc.images:
            counted += f" (counting each of its {exc.images} image{'s' if exc.images != 1 else ''} as {IMAGE_TOKENS})"
    room = f", and {words['max_tokens']} asks for {exc.reserved:,} more" if exc.reserved > 1 else ""
    return (
        f"The prompt does not fit model {exc.model!r}: {counted}{room}, but the model is loaded with a "
        f"{exc.context_length:,}-token context. Nothing was generated. Shorten the prompt"
        f"{' or lower ' + words['max_tokens'] if exc.reserved > 1 else ''}; {longer}; or pass {words['both']} "
        "to let LM Studio drop part of the conversation."
    )


class StructuredOutputError(McpLmStudioError, ValueError):
    """The model's output is not valid JSON for the requested schema."""

    def __init__(self, message: str, raw_text: str) -> None:
        self.raw_text = raw_text
        super().__init__(message)
