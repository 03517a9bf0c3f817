"""`from_lmstudio`: the model for an lmstudio client, as outlines' LM Studio integration has it."""

from __future__ import annotations

from lmstudio import AsyncClient, Client

from .async_model import AsyncLMStudio
from .sync_model import LMStudio

__all__ = ["from_lmstudio"]


def from_lmstudio(client: Client | AsyncClient, model_name: str | None = None) -> LMStudio | AsyncLMStudio:
    """Create an `LMStudio` or `AsyncLMStudio` model from a `lmstudio.Client` or `lmstudio.AsyncClient`.

    Raises:
        ValueError: `client` is neither.
    """
    if isinstance(client, Client):
        return LMStudio(client, model_name)
    if isinstance(client, AsyncClient):
        return AsyncLMStudio(client, model_name)
    raise ValueError(
        "Invalid client type, the client must be an instance of `lmstudio.Client` or `lmstudio.AsyncClient`."
    )
