"""LM Studio 0.4 API tokens: checking one, handing it to the SDK, explaining refusals, keeping it secret.

With "Require authentication" on, LM Studio 0.4 accepts a websocket only when its auth packet carries a
permission token's two halves (`sk-lm-<8 letters/digits>:<20 letters/digits>`: the part before ':' as
`clientIdentifier`, the part after as `clientPasskey`). lmstudio-python sends one from 1.6.0b1
(`AsyncClient(api_host, api_token)`, else `LMSTUDIO_API_TOKEN`); 1.5 always sends random identifiers and
cannot authenticate, so a token with 1.5 installed is an error that says what to upgrade.

The token never reaches a log line or an error message: `redact` scrubs both halves from any text built
from an SDK error, and `RedactingFilter` does the same for log records (the SDK puts a failed message,
auth packet included, into some of its error texts).
"""

from __future__ import annotations

import inspect
import logging
import re
from importlib.metadata import version

import lmstudio

from ..errors import LMStudioUnavailableError

__all__ = [
    "ENV_API_TOKEN",
    "UPGRADE_COMMAND",
    "RedactingFilter",
    "auth_refused_error",
    "check_api_token",
    "is_auth_refusal",
    "protect_api_token",
    "redact",
    "sdk_supports_api_tokens",
]

#: The SDK's own variable (lmstudio-python 1.6 and lmstudio-js read it too).
ENV_API_TOKEN = "LMSTUDIO_API_TOKEN"
UPGRADE_COMMAND = 'pip install --upgrade --pre "lmstudio>=1.6.0b1"'

_TOKEN = re.compile(r"sk-lm-[A-Za-z0-9]{8}:[A-Za-z0-9]{20}")
_WHERE = f"--api-token / {ENV_API_TOKEN}"


def sdk_supports_api_tokens() -> bool:
    """Whether the installed lmstudio SDK can send an API token (1.6.0b1 and later)."""
    return "api_token" in inspect.signature(lmstudio.AsyncClient.__init__).parameters


def check_api_token(token: str) -> None:
    """Raise `LMStudioUnavailableError` if `token` is malformed or the SDK cannot send it.

    The message never contains the token.
    """
    if not _TOKEN.fullmatch(token.strip()):
        raise LMStudioUnavailableError(
            f"The LM Studio API token given by {_WHERE} is not in LM Studio's format "
            "sk-lm-XXXXXXXX:YYYYYYYYYYYYYYYYYYYY (8 and then 20 letters or digits). Copy it again from LM Studio "
            "(Developer tab, server settings, API tokens)."
        )
    if not sdk_supports_api_tokens():
        raise LMStudioUnavailableError(
            f"An LM Studio API token is set ({_WHERE}), but the installed lmstudio SDK {version('lmstudio')} "
            f"cannot send one; tokens need lmstudio 1.6.0b1 or later. Upgrade it: {UPGRADE_COMMAND} "
            "(or unset the token if your LM Studio does not require authentication)."
        )


def is_auth_refusal(exc: BaseException) -> bool:
    """Whether entering an `AsyncClient` failed because LM Studio refused its auth packet.

    SDK 1.6 raises `LMStudioServerError("Authentication failed ...")`; 1.5 trips over the refusal and
    raises a bare `ValueError` (it calls `dict()` on the error string).
    """
    if isinstance(exc, lmstudio.LMStudioServerError):
        return str(exc).startswith("Authentication failed")
    return type(exc) is ValueError


def auth_refused_error(api_host: str, token_given: bool | None) -> LMStudioUnavailableError:
    """The error for a refused connection: which setting to fix, and how (`None`: not known whether a token
    was given, as for a client the caller built)."""
    if token_given is None:
        return LMStudioUnavailableError(
            f"LM Studio at {api_host} refused the connection's authentication: it requires an API token, and "
            f"none or a wrong one was given. Set {ENV_API_TOKEN} (or pass api_token to the lmstudio client; "
            f"lmstudio 1.6.0b1 or later: {UPGRADE_COMMAND})."
        )
    if token_given:
        return LMStudioUnavailableError(
            f"LM Studio at {api_host} refused the API token given by {_WHERE}: it is wrong, revoked, or lacks "
            "permission. Check it in LM Studio (Developer tab, server settings, API tokens) and set the right one."
        )
    upgrade = "" if sdk_supports_api_tokens() else f" (this needs the lmstudio SDK 1.6.0b1 or later: {UPGRADE_COMMAND})"
    return LMStudioUnavailableError(
        f"LM Studio at {api_host} refused the connection: it requires an API token. Create one in LM Studio "
        f"(Developer tab, server settings) and pass it with --api-token or the {ENV_API_TOKEN} environment "
        f"variable{upgrade}, or turn off 'Require authentication' there."
    )


def redact(text: str, token: str | None) -> str:
    """`text` with `token`, and each of its halves, replaced by a placeholder."""
    if not token:
        return text
    identifier, _, passkey = token.strip().partition(":")
    for secret in (token.strip(), passkey, identifier):
        if len(secret) >= 8:
            text = text.replace(secret, "[api token]")
    return text


class RedactingFilter(logging.Filter):
    """Scrubs an API token from every log record that passes through a handler."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self.token)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            if redact(text, self.token) != text:
                record.exc_info, record.exc_text = None, redact(text, self.token)
        return True


def protect_api_token(token: str) -> None:
    """Scrub `token` from every log record the root logger's handlers write, and warn early about a
    token the installed SDK cannot send (every tool call will then fail with the fix)."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter(token))
    try:
        check_api_token(token)
    except LMStudioUnavailableError as exc:
        logging.getLogger(__name__).warning("%s", exc)
