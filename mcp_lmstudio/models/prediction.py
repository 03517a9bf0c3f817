"""One prediction streamed by the async front end: the SDK stream read by a task of its own, its fragments
sorted into events, the time limit, and the cancel that LM Studio must receive whenever the stream is left.

Why a reader task: the SDK closes a prediction's channel when its iterator is closed, without telling
LM Studio. Reading in a task of its own keeps the stream open when the *caller's* task is cancelled (MCP
cancel, time limit), so that `stream.cancel()` reaches LM Studio before the reader finishes.

Why `text_interval`: each fragment handed from the reader to the caller costs a task switch and a pass
through every generator above; a fast model sends one per token. A caller that only reports now and then
(a progress heartbeat once a second, streamed text 40 times a second) gets the fragments that came within one
interval as one event, and the reader's task is the only one that wakes per token.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

import anyio
import lmstudio

from . import _sdk
from .core import CANCEL_GRACE_S, DEADLINE, Expired, FragmentSorter, QueueItem
from .events import PromptProgress, StreamEvent
from .plans import Predict

__all__ = ["stream_prediction"]


async def stream_prediction(
    step: Predict, deadline: float | None, text_interval: float = 0.0
) -> AsyncGenerator[StreamEvent, None]:
    """Yield the prediction's prompt progress and text, then its `GenerationResult`.

    `deadline` is on the event loop's clock (None: no limit); past it, the prediction is cancelled in
    LM Studio and `Expired` carries the text so far. `text_interval` (seconds) merges the fragments that come
    within one interval into one event: the first goes at once, the rest once a fragment comes after the
    interval has passed, the interval ends, or the stream ends (0: each burst as it comes).
    """
    events: asyncio.Queue[QueueItem] = asyncio.Queue()
    stream = await step.llm.respond_stream(
        step.history,
        **step.sdk_arguments(),
        on_prompt_processing_progress=lambda fraction: events.put_nowait(PromptProgress(fraction)),
    )
    watch = _sdk.watch_prediction(stream)
    # One timer per prediction rather than a cancel scope per fragment: scopes cost more than a fragment.
    loop = asyncio.get_running_loop()
    timer = None if deadline is None else loop.call_at(deadline, events.put_nowait, DEADLINE)
    reader: asyncio.Task[None] | None = None
    sorter = FragmentSorter(str(step.llm.identifier))
    settled = False
    try:
        with anyio.CancelScope(shield=True):
            await stream.start()
        reader = asyncio.ensure_future(_read_stream(stream, events, text_interval))
        while not sorter.ended:
            batch = [await events.get()]
            while not events.empty():
                batch.append(events.get_nowait())
            try:
                ready = sorter.sort(batch)
            except TimeoutError:
                settled = True
                await _cancel_prediction(stream, reader)  # LM Studio's confirmation carries the stats so far
                _sort_what_came(sorter, batch[batch.index(DEADLINE) + 1 :], events)
                raise Expired(sorter.partial(watch.packet)) from None
            for event in ready:
                yield event
        await reader  # raises what ended the stream, if it failed
        settled = True
        yield sorter.result(watch.packet)
    finally:
        if timer is not None:
            timer.cancel()
        if not settled:
            await _cancel_prediction(stream, reader)


async def _read_stream(
    stream: lmstudio.AsyncPredictionStream, events: asyncio.Queue[QueueItem], text_interval: float
) -> None:
    """Put the stream's fragments on `events`, each held back for at most `text_interval`, then None at its end.

    Held fragments go out together when one comes after the interval has passed, or when a timer set for the
    end of the interval fires (a burst followed by a pause is not held for the pause).
    """
    loop = asyncio.get_running_loop()
    held: list[QueueItem] = []
    due = 0.0
    timer: asyncio.TimerHandle | None = None

    def hand_over() -> None:  # one wake-up for the caller however many there are
        nonlocal due, timer
        if timer is not None:
            timer.cancel()
            timer = None
        for item in held:
            events.put_nowait(item)
        held.clear()
        due = loop.time() + text_interval

    try:
        async for fragment in stream:
            held.append(fragment)
            if loop.time() >= due:
                hand_over()
            elif timer is None:
                timer = loop.call_at(due, hand_over)
    finally:
        hand_over()
        events.put_nowait(None)


def _sort_what_came(sorter: FragmentSorter, rest: list[QueueItem], events: asyncio.Queue[QueueItem]) -> None:
    """Add the fragments that came after the time limit's marker, up to LM Studio's confirmation of the
    cancel, to the partial answer (text LM Studio generated is the caller's, and costs nothing more)."""
    while not events.empty():
        rest.append(events.get_nowait())
    for item in rest:
        if isinstance(item, lmstudio.LlmPredictionFragment):
            sorter.add(item)


async def _cancel_prediction(stream: lmstudio.AsyncPredictionStream, reader: asyncio.Task[None] | None) -> None:
    """Ask LM Studio to stop, and wait (bounded) for it to confirm with its final packet."""
    with anyio.CancelScope(shield=True):
        with anyio.move_on_after(CANCEL_GRACE_S):
            with contextlib.suppress(lmstudio.LMStudioError):
                await stream.cancel()
            if reader is not None:
                await asyncio.wait({reader})
        if reader is not None:
            if not reader.done():
                reader.cancel()
                await asyncio.wait({reader})
            if not reader.cancelled():
                reader.exception()  # retrieved, so asyncio does not log it as never retrieved
