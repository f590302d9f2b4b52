"""Clocks. The runtime never reads time itself: it asks the clock it was given.

``SimulatedClock`` behaves like xstate's: ``increment(ms)`` fires due timers sorted by due time; a
timer scheduled while firing starts at the new ``now``; adding or clearing a timer while firing
restarts the pass.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["AsyncioClock", "Clock", "SimulatedClock"]


class Clock(Protocol):
    def set_timeout(self, fn: Callable[[], None], delay_ms: float) -> Any: ...

    def clear_timeout(self, handle: Any) -> None: ...

    def now(self) -> float: ...


class SimulatedClock:
    """A clock that only moves when told to; used by tests and the conformance runner."""

    def __init__(self, now: float = 0) -> None:
        self._now = now
        self._timeouts: dict[int, tuple[float, float, Callable[[], None]]] = {}
        self._next_id = 0
        self._flushing = False
        self._invalidated = False

    def now(self) -> float:
        return self._now

    def set_timeout(self, fn: Callable[[], None], delay_ms: float) -> int:
        self._invalidated = self._flushing
        handle = self._next_id
        self._next_id += 1
        self._timeouts[handle] = (self._now, delay_ms, fn)
        return handle

    def clear_timeout(self, handle: Any) -> None:
        self._invalidated = self._flushing
        self._timeouts.pop(handle, None)

    def set(self, now: float) -> None:
        if now < self._now:
            raise ValueError("Unable to travel back in time")
        self._now = now
        self._flush()

    def increment(self, ms: float) -> None:
        self._now += ms
        self._flush()

    advance = increment

    def pending(self) -> int:
        return len(self._timeouts)

    def _flush(self) -> None:
        if self._flushing:
            self._invalidated = True
            return
        self._flushing = True
        ordered = sorted(self._timeouts.items(), key=lambda kv: kv[1][0] + kv[1][1])
        for handle, (start, delay, fn) in ordered:
            if self._invalidated:
                self._invalidated = False
                self._flushing = False
                self._flush()
                return
            if self._now - start >= delay and handle in self._timeouts:
                del self._timeouts[handle]
                fn()
        self._flushing = False


class AsyncioClock:
    """Real time on the running asyncio loop; ``now()`` is wall-clock epoch milliseconds.

    Timers are only armed when a delay is scheduled, so machines without delays never need a loop.
    """

    def now(self) -> float:
        return time.time() * 1000

    def set_timeout(self, fn: Callable[[], None], delay_ms: float) -> Any:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "a delayed event needs a running asyncio event loop (or create the actor with "
                "clock=SimulatedClock() and advance it yourself)"
            ) from None
        return loop.call_later(max(delay_ms, 0) / 1000, fn)

    def clear_timeout(self, handle: Any) -> None:
        handle.cancel()
