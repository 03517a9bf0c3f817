"""Both front ends of the model layer behind one awaitable interface, so that one set of cases tests both.

In the spirit of lmstudio-python's tests/async2sync.py: `front` is parametrised over "async"
(`AsyncLMStudio` over an entered `lmstudio.AsyncClient`) and "sync" (`LMStudio` over a `lmstudio.Client`,
each call run in a worker thread with `anyio.to_thread.run_sync`, so the emulator keeps serving on the
test's event loop). A case calls `await front.call("generate_result", ...)` or `await front.events(...)`
and gets the same values and the same exceptions from either.

Emulator controls this branch needs and the public API does not have yet (another branch adds
`Reply(stop_reason=...)` and friends) are the documented fixtures at the end: each patches one private
emulator method for one test, through `monkeypatch`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import lmstudio
import pytest

from mcp_lmstudio.models import AsyncLMStudio, LMStudio, StreamEvent
from mcp_lmstudio.testing import LMStudioEmulator


class Front:
    """One model layer, async or sync, called the same way."""

    def __init__(self, kind: str, layer: AsyncLMStudio | LMStudio) -> None:
        self.kind = kind
        self.layer = layer

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """`layer.method(*args, **kwargs)`: awaited (async) or run in a worker thread (sync)."""
        bound = getattr(self.layer, method)
        if self.kind == "sync":
            return await anyio.to_thread.run_sync(functools.partial(bound, *args, **kwargs))
        result = bound(*args, **kwargs)
        return await result if inspect.isawaitable(result) else result

    async def events(self, *args: Any, **kwargs: Any) -> list[StreamEvent]:
        """Every event of `stream_events(*args, **kwargs)`."""
        if isinstance(self.layer, LMStudio):
            sync_layer = self.layer
            return await anyio.to_thread.run_sync(lambda: list(sync_layer.stream_events(*args, **kwargs)))
        assert isinstance(self.layer, AsyncLMStudio)
        return [event async for event in self.layer.stream_events(*args, **kwargs)]

    async def load_events(self, *args: Any, **kwargs: Any) -> list[Any]:
        """Every event of `load_model_events(*args, **kwargs)`."""
        if isinstance(self.layer, LMStudio):
            sync_layer = self.layer
            return await anyio.to_thread.run_sync(lambda: list(sync_layer.load_model_events(*args, **kwargs)))
        assert isinstance(self.layer, AsyncLMStudio)
        return [event async for event in self.layer.load_model_events(*args, **kwargs)]


FrontFactory = Callable[..., Front]


@pytest.fixture(params=["async", "sync"])
async def make_front(request: pytest.FixtureRequest, emulator: LMStudioEmulator) -> AsyncIterator[FrontFactory]:
    """Makes a `Front` of the parametrised kind over a client of the emulator: `make_front(model_name, timeout=)`."""
    kind = str(request.param)
    if kind == "async":
        async with lmstudio.AsyncClient(emulator.api_host) as async_client:
            yield lambda *args, **kwargs: Front(kind, AsyncLMStudio(async_client, *args, **kwargs))
        return
    sync_client = lmstudio.Client(emulator.api_host)
    try:
        yield lambda *args, **kwargs: Front(kind, LMStudio(sync_client, *args, **kwargs))
    finally:
        await anyio.to_thread.run_sync(sync_client.close)


@pytest.fixture
def front(make_front: FrontFactory) -> Front:
    """A `Front` with the default model (the first loaded) and no time limit."""
    return make_front()


# -- emulator controls not public yet (documented patches of one private method each) -----------------------


@pytest.fixture
def stop_reason(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """`stop_reason("modelCrashed")`: the final `success` packet carries that stop reason (a value newer than
    the installed SDK knows). Patches `testing._prediction.Prediction.success_packet`."""
    from mcp_lmstudio.testing import _prediction

    original = _prediction.Prediction.success_packet
    chosen: dict[str, str] = {}

    def success_packet(self: Any, reason: str) -> dict[str, Any]:
        packet = original(self, reason)
        packet["stats"]["stopReason"] = chosen.get("value", reason)
        return packet

    monkeypatch.setattr(_prediction.Prediction, "success_packet", success_packet)
    yield lambda value: chosen.__setitem__("value", value)


@pytest.fixture
def answer_fragment_kind(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """`answer_fragment_kind("finalAnswer")`: answer fragments carry that `reasoningType` (newer than the SDK's
    list). Patches `testing._prediction.Prediction._send_fragment`."""
    from mcp_lmstudio.testing import _prediction

    original = _prediction.Prediction._send_fragment
    chosen: dict[str, str] = {}

    async def send_fragment(self: Any, content: str, reasoning_type: str, tokens: int) -> None:
        if reasoning_type == "none":
            reasoning_type = chosen.get("value", reasoning_type)
        await original(self, content, reasoning_type, tokens)

    monkeypatch.setattr(_prediction.Prediction, "_send_fragment", send_fragment)
    yield lambda value: chosen.__setitem__("value", value)


def lm_studio_error(title: str, suggestion: str | None = None) -> Exception:
    """What a reply script raises to make LM Studio answer a prediction with the error `title`."""
    from mcp_lmstudio.testing._protocol import EndpointError, error_payload

    error = error_payload(title)
    if suggestion is not None:
        error["suggestion"] = suggestion
    return EndpointError(error)
