"""`FrontEnd`: what `LMStudio` and `AsyncLMStudio` hold and check before any I/O, written once."""

from __future__ import annotations

import math
from typing import Any, Generic, TypeVar

from . import _sdk
from .adapter import LMStudioTypeAdapter
from .core import CallOptions, PreparedCall, describe_host, prepare_call
from .manage import ModelPlans
from .plans import CallPlans

ClientT = TypeVar("ClientT")


class FrontEnd(Generic[ClientT]):
    """The state one model layer keeps over one lmstudio client: its defaults, the plans (model handles
    resolved once per specifier, the context pre-flight's cache) and whether it opened the client.

    Closing (`close()` in both front ends) forgets the cached model handles, and closes the client if, and
    only if, this object opened it: a client handed over with open connections (an entered `AsyncClient`, a
    `Client` already used) stays open for its owner; one without (an `AsyncClient` not yet entered, which the
    first call enters; a fresh `Client`, which connects on first use) is closed. Do not use the object
    after `close()`.
    """

    def __init__(
        self,
        client: ClientT,
        model_name: str | None = None,
        *,
        timeout: float | None = None,
        model_setting: str = "model_name",
    ) -> None:
        """Wrap `client`; `model_name` is the default model key (else the loaded one); `timeout` in seconds.

        `model_setting` names where the default came from, for messages (the server passes `--model` or
        `LMSTUDIO_MODEL`).
        """
        self.client = client
        self.timeout = timeout
        self.plans = CallPlans(model_name, model_setting)
        self.manage = ModelPlans(self.plans)
        # The SDK has no public "is open" flag; a client that arrives with open sessions is its owner's.
        self._owns_client = not _sdk.has_open_sessions(client)  # type: ignore[arg-type]
        self._init_io()

    def _init_io(self) -> None:
        """Set up what the front end needs to perform requests (its single-flight loads, say)."""

    @property
    def model_name(self) -> str | None:
        """The default model: what a call without `model` resolves (None: the first loaded model)."""
        return self.plans.model_name

    @property
    def model_setting(self) -> str:
        return self.plans.model_setting

    @property
    def type_adapter(self) -> LMStudioTypeAdapter:
        return self.plans.adapter

    @property
    def host(self) -> str:
        """Where LM Studio is, for messages."""
        return describe_host(self.client)  # type: ignore[arg-type]

    def _limit(self, timeout: float | None) -> float | None:
        """The time limit of a call given `timeout` (None: the front end's), in seconds; None: no limit."""
        limit = self.timeout if timeout is None else timeout
        return limit if limit is None or math.isfinite(limit) else None

    def _prepare(self, model_input: object, output_type: object, options: CallOptions) -> PreparedCall:
        return prepare_call(
            self.plans.adapter,
            model_input,
            output_type,
            options.get("config"),
            options.get("model"),
            options.get("timeout"),
            model_name=self.plans.model_name,
            model_setting=self.plans.model_setting,
            default_timeout=self.timeout,
        )

    def generate_batch(self, model_input: object, output_type: object = None, **kwargs: Any) -> Any:
        """Not available: LM Studio has no batch inference.

        Raises:
            NotImplementedError: always.
        """
        raise NotImplementedError("The `lmstudio` library does not support batch inference.")
