"""The one long-lived LM Studio session a server process holds.

One `lmstudio.AsyncClient`, entered once on first use (never at start-up, so the server answers at once
whether or not LM Studio runs), checked before each call, and re-opened when its websockets have dropped
(LM Studio quit or restarted, the machine slept).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio

from ..errors import LMStudioUnavailableError
from ..settings import Settings

if TYPE_CHECKING:
    from ..settings import Settings
    from .async_model import AsyncLMStudio

__all__ = ["DEFAULT_HOST", "LMStudioSession"]

logger = logging.getLogger(__name__)

#: Where LM Studio's optional HTTP server listens by default, tried when discovery finds nothing.
DEFAULT_HOST = "localhost:1234"
_CONNECT_TIMEOUT_S = 10.0
_CLOSE_TIMEOUT_S = 1.5


def _is_connected(client: Any) -> bool:
    """Whether every namespace the server uses (llm, system, files) still has its websocket (see `_sdk`)."""
    from ._sdk import websockets_alive  # the SDK is imported on first use

    return websockets_alive(client)


class LMStudioSession:
    """Hands out the `AsyncLMStudio` model layer over one shared, self-healing `AsyncClient`."""

    def __init__(
        self,
        *,
        host: str | None = None,
        model: str | None = None,
        timeout: float | None = None,
        model_setting: str = "--model",
        api_token: str | None = None,
    ) -> None:
        """`host` is `HOST:PORT` (else discovered); `model` the default key; `timeout` per call, in seconds;
        `api_token` LM Studio's `sk-lm-...` token when it requires authentication (see `api_token.py`).

        `model_setting` names where `model` was configured (`--model` or `LMSTUDIO_MODEL`), for messages.
        """
        self.configured_host = host
        self.default_model = model
        self.model_setting = model_setting
        self.timeout = timeout
        self.api_token = api_token
        self.connects = 0
        self._model: AsyncLMStudio | None = None
        self._lock = anyio.Lock()
        self._closed = False
        self._broken = False
        self._closed_event = anyio.Event()

    @classmethod
    def from_settings(cls, settings: Settings, *, timeout: float | None = None) -> LMStudioSession:
        """A session as `settings` configure it (`timeout` overrides theirs)."""
        return cls(
            host=settings.host,
            model=settings.model,
            timeout=settings.timeout if timeout is None else timeout,
            model_setting=settings.model_setting,
            api_token=settings.api_token,
        )

    @property
    def api_host(self) -> str:
        """Where LM Studio is (or is looked for), for messages."""
        if self._model is not None:
            return self._model.client.api_host
        return self.configured_host or f"any local LM Studio port or {DEFAULT_HOST}"

    async def model(self) -> AsyncLMStudio:
        """The model layer over a connected client, connecting or reconnecting first if needed.

        Raises:
            LMStudioUnavailableError: LM Studio is not reachable; the message names the address and the fix.
        """
        current = self._model
        if current is not None and not self._broken and _is_connected(current.client):
            return current
        async with self._lock:
            if self._model is not None and not self._broken and _is_connected(self._model.client):
                return self._model
            if self._closed:
                raise LMStudioUnavailableError("The LM Studio session is closed: the server is shutting down.")
            await self._discard()
            self._model = await self._connect()
            self._broken = False
            return self._model

    def connection_lost(self, model_layer: AsyncLMStudio) -> None:
        """A call through `model_layer` lost its connection: the next call reconnects."""
        if model_layer is self._model:
            self._broken = True

    async def close(self) -> None:
        """Close the client (bounded, and shielded so shutdown cannot skip it)."""
        self._closed = True
        await self._discard()
        self._closed_event.set()

    async def wait_closed(self) -> None:
        """Wait until `close()` has finished."""
        await self._closed_event.wait()

    async def _discard(self) -> None:
        stale, self._model = self._model, None
        if stale is None:
            return
        from .sdk_errors import CONNECT_ERRORS

        with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_TIMEOUT_S):
            try:
                await stale.client.aclose()
            except CONNECT_ERRORS:
                logger.debug("Closing a dropped LM Studio client failed", exc_info=True)

    async def _connect(self) -> AsyncLMStudio:
        # The SDK is imported on first use, so that the server answers `initialize` without paying for it.
        from lmstudio import AsyncClient

        from ._sdk import enter_async_client
        from .api_token import check_api_token, redact
        from .async_model import AsyncLMStudio
        from .sdk_errors import CONNECT_ERRORS, unreachable_error

        if self.api_token is not None:
            check_api_token(self.api_token)
        host = self.configured_host or DEFAULT_HOST
        client: AsyncClient | None = None
        # Shielded: a cancelled tool call must not leave a half-entered client behind.
        with anyio.CancelScope(shield=True):
            try:
                with anyio.fail_after(_CONNECT_TIMEOUT_S):
                    if self.configured_host is None:
                        host = await AsyncClient.find_default_local_api_host() or DEFAULT_HOST
                    # Only SDK 1.6+ takes a token (`check_api_token` made sure of it when one is set).
                    client = AsyncClient(host, self.api_token) if self.api_token else AsyncClient(host)  # type: ignore[call-arg, unused-ignore]
                    await enter_async_client(client)
            except (*CONNECT_ERRORS, TimeoutError) as exc:
                if client is not None:
                    with anyio.move_on_after(_CLOSE_TIMEOUT_S):
                        await client.aclose()
                error = unreachable_error(
                    host, exc, searched=self.configured_host is None, token_given=self.api_token is not None
                )
                raise LMStudioUnavailableError(redact(str(error), self.api_token)) from None
        assert client is not None
        self.connects += 1
        logger.info("Connected to LM Studio at %s", host)
        return AsyncLMStudio(client, self.default_model, timeout=self.timeout, model_setting=self.model_setting)
