"""Clocks. The runtime never reads time itself: it asks the clock it was given.

``SimulatedClock`` behaves like xstate's: ``increment(ms)`` fires due timers sorted by due time; a
timer scheduled while firing starts at the new ``now``; adding or clearing a timer while firing
restarts the pass.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import ActorError, InvalidArgument

__all__ = ["AsyncioClock", "Clock", "DurableClock", "SimulatedClock"]


class Clock(Protocol):
    def set_timeout(self, fn: Callable[[], None], delay_ms: float) -> Any: ...

    def clear_timeout(self, handle: Any) -> None: ...

    def now(self) -> float: ...


class SimulatedClock:
    """A clock that only moves when told to; used by tests and the conformance runner.

    Timers fire in due order (ties in the order they were set), each one at most once, exactly as
    xstate's ``SimulatedClock`` fires them; a heap keeps that cheap with many pending timers.
    """

    def __init__(self, now: float = 0) -> None:
        self._now = now
        self._heap: list[tuple[float, int]] = []
        self._timeouts: dict[int, Callable[[], None]] = {}
        self._next_id = 0
        self._flushing = False

    def now(self) -> float:
        return self._now

    def set_timeout(self, fn: Callable[[], None], delay_ms: float) -> int:
        handle = self._next_id
        self._next_id += 1
        self._timeouts[handle] = fn
        heapq.heappush(self._heap, (self._now + delay_ms, handle))
        return handle

    def clear_timeout(self, handle: Any) -> None:
        self._timeouts.pop(handle, None)  # its heap entry is skipped when it surfaces

    def set(self, now: float) -> None:
        if now < self._now:
            raise InvalidArgument("Unable to travel back in time")
        self._now = now
        self._flush()

    def increment(self, ms: float) -> None:
        self._now += ms
        self._flush()

    advance = increment

    def pending(self) -> int:
        return len(self._timeouts)

    def fire_due(self) -> None:
        """Fire every timer due at ``now()`` (in due order)."""
        self._flush()

    def _flush(self) -> None:
        if self._flushing:
            return  # the running flush picks up whatever is due now
        self._flushing = True
        try:
            heap, timeouts = self._heap, self._timeouts
            while heap and heap[0][0] <= self._now:
                _, handle = heapq.heappop(heap)
                fn = timeouts.pop(handle, None)
                if fn is not None:
                    fn()
        finally:
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
            raise ActorError(
                "a delayed event needs a running asyncio event loop (or create the actor with "
                "clock=SimulatedClock() and advance it yourself)"
            ) from None
        return loop.call_later(max(delay_ms, 0) / 1000, fn)

    def clear_timeout(self, handle: Any) -> None:
        handle.cancel()


class DurableClock(SimulatedClock):
    """Wall-clock ``now()`` whose timers are kept, not armed: they fire only when ``fire_due()`` runs.

    PersistableActor installs it on the actors it loads: timers are stored in the record with absolute
    due times and fire on a later ``init`` or ``run_due``, in whichever process comes next.
    """

    def __init__(self, now_ms: Callable[[], float] | None = None) -> None:
        self._now_ms = now_ms or (lambda: time.time() * 1000)
        super().__init__(self._now_ms())
        #: called with the time ``fire_due`` fires at, before it fires: arms timers kept elsewhere
        self.before_fire: Callable[[float], None] | None = None

    def now(self) -> float:
        return self._now_ms()

    def fire_due(self) -> None:
        self._now = self._now_ms()
        if self.before_fire is not None:
            self.before_fire(self._now)
        self._flush()
