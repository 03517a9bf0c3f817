"""LM Studio error payloads a test can script (`Reply(error=...)`), and the ones LM Studio is known to send.

`ErrorPayload` is LM Studio's `SerializedLMSExtendedError` as it goes over the wire in a `channelError` or
`rpcError`: a `title` (also sent as `rootTitle`), an optional `cause` and `suggestion` (the SDK shows them as
"Reported cause" and "Suggested potential remedy"), and an optional `displayData` `code` with its data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._protocol import error_payload

__all__ = [
    "IMAGES_UNSUPPORTED",
    "MLX_CONTEXT_EXCEEDED",
    "MODEL_CRASHED",
    "SYSTEM_ROLE_UNSUPPORTED",
    "ErrorPayload",
]


@dataclass(frozen=True, slots=True)
class ErrorPayload:
    """An LM Studio error as it goes over the wire.

    Example: `ErrorPayload("Context size has been exceeded.")`, or with LM Studio's extended fields
    `ErrorPayload(title, cause="...", suggestion="...", code="generic.pathNotFound", data={"path": "x"})`.
    """

    title: str
    cause: str | None = None
    suggestion: str | None = None
    code: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def payload(self) -> dict[str, Any]:
        """The wire shape (`title`, `rootTitle`, and `cause`, `suggestion`, `displayData` when given)."""
        error = error_payload(self.title, self.code, **dict(self.data))
        if self.cause is not None:
            error["cause"] = self.cause
        if self.suggestion is not None:
            error["suggestion"] = self.suggestion
        return error


#: A model LM Studio thinks cannot see images (also what a vision model loaded with too small a context says:
#: lmstudio-bug-tracker#278).
IMAGES_UNSUPPORTED = ErrorPayload("Model does not support images. Please use a model that does.")

#: The jinja template of Mistral- and Gemma-style models refusing a system message (lmstudio-bug-tracker#1054,
#: zed-industries/zed#45379): what `EmulatedModel(template_refuses_system=True)` sends.
SYSTEM_ROLE_UNSUPPORTED = ErrorPayload(
    'Error rendering prompt with jinja template: "Only user and assistant roles are supported!".',
    suggestion=(
        "This is usually an issue with the model's prompt template. If you are using a popular model, you can try "
        "to search the model under lmstudio-community, which will have fixed prompt templates. If you cannot find "
        "one, you are welcome to post this issue to our discord or issue tracker on GitHub. Alternatively, if you "
        "know how to write jinja templates, you can override the prompt template in My Models > model settings > "
        "Prompt Template."
    ),
)

#: The MLX engine's context overflow, which names no size (lmstudio-bug-tracker#2339).
MLX_CONTEXT_EXCEEDED = ErrorPayload("Context size has been exceeded.")

#: The engine process dying mid-prediction (lmstudio-bug-tracker#2255, #932, #1347).
MODEL_CRASHED = ErrorPayload("The model has crashed without additional information. (Exit code: null)")
