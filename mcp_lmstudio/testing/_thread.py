"""Run the emulator on its own event loop in a background thread, for the synchronous SDK client."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ._emulator import LMStudioEmulator

__all__ = ["EmulatorThread"]

T = TypeVar("T")


class EmulatorThread:
    """`with EmulatorThread() as lms:` serves an `LMStudioEmulator` from a daemon thread.

    `lms.emulator` is the emulator (read its records freely; they are plain lists and counters), and
    `lms.call(lambda emu: emu.stop())` runs one of its coroutines on the emulator's loop.
    """

    def __init__(self, **emulator_options: Any) -> None:
        self._options = emulator_options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="lmstudio-emulator", daemon=True)
        self.emulator: LMStudioEmulator | None = None

    @property
    def api_host(self) -> str:
        """`host:port` of the running emulator."""
        assert self.emulator is not None, "enter the EmulatorThread first"
        return self.emulator.api_host

    def call(self, action: Callable[[LMStudioEmulator], Coroutine[Any, Any, T]], timeout: float = 10.0) -> T:
        """Run `action(emulator)` on the emulator's loop and return its result."""
        assert self.emulator is not None, "enter the EmulatorThread first"
        return asyncio.run_coroutine_threadsafe(action(self.emulator), self._loop).result(timeout)

    def __enter__(self) -> EmulatorThread:
        self._thread.start()

        async def create() -> LMStudioEmulator:
            return LMStudioEmulator(**self._options)

        self.emulator = asyncio.run_coroutine_threadsafe(create(), self._loop).result(10)
        self.call(LMStudioEmulator.start)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.emulator is not None:
            self.call(LMStudioEmulator.stop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
