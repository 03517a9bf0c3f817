"""The reader of a prediction stream (`models/prediction.py`): how long it holds text back.

A plain async iterable stands in for the SDK's stream at this seam: the reader only iterates it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from lmstudio import LlmPredictionFragment

from mcp_lmstudio.models.core import QueueItem
from mcp_lmstudio.models.prediction import _read_stream

pytestmark = pytest.mark.anyio


def fragment(content: str) -> LlmPredictionFragment:
    return LlmPredictionFragment(content=content, tokens_count=1, contains_drafted=False, reasoning_type="none")


class BurstThenPause:
    """Three fragments at once, a pause, then one more."""

    def __init__(self, pause: float) -> None:
        self.pause = pause

    async def __aiter__(self) -> AsyncIterator[LlmPredictionFragment]:
        for text in ("a", "b", "c"):
            yield fragment(text)
        await asyncio.sleep(self.pause)
        yield fragment("d")


def contents(queue: asyncio.Queue[QueueItem]) -> list[str | None]:
    items: list[str | None] = []
    while not queue.empty():
        item = queue.get_nowait()
        items.append(item.content if isinstance(item, LlmPredictionFragment) else None)
    return items


async def test_text_held_back_goes_out_when_the_interval_ends_not_with_the_next_fragment() -> None:
    events: asyncio.Queue[QueueItem] = asyncio.Queue()
    reader = asyncio.ensure_future(_read_stream(BurstThenPause(pause=2.0), events, 0.05))  # type: ignore[arg-type]
    await asyncio.sleep(0.5)  # well past the interval, well before the pause ends
    assert contents(events) == ["a", "b", "c"]  # "a" at once, "b" and "c" at the end of the interval
    await reader
    assert contents(events) == ["d", None]


async def test_with_no_interval_each_fragment_goes_out_as_it_comes() -> None:
    events: asyncio.Queue[QueueItem] = asyncio.Queue()
    await _read_stream(BurstThenPause(pause=0.0), events, 0.0)  # type: ignore[arg-type]
    assert contents(events) == ["a", "b", "c", "d", None]
