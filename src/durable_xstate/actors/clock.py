"""Clocks. The runtime never reads time itself: it asks the clock it was given.

``SimulatedClock`` behaves like xstate's: ``increment(ms)`` fires due timers sorted by due time; a
timer scheduled while firing starts at the new ``now``; adding or clearing a timer while firing
restarts the pass.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import InvalidArgument

__all__ = ["AsyncioClock", "Clock", "DurableClock", "SimulatedClock"]

_log = logging.getLogger("durable_xstate")


class Clock(Protocol):
    def set_timeout(self, fn: Callable[[], None], delay_ms: float) -> Any: ...

    def clear_timeout(self, handle: Any) -> None: ...

    def now(self) -> float: ...


class SimulatedClock:
    """A clock that only moves when told to; used by tests and the conformance runner.

    Timers fire in due order (ties in the order they were set), each one at most once, exactly as
    xstate's ``SimulatedClock`` fires them. Timers due at the same time share one bucket (a list in
    set order) and a heap holds the distinct due times, so firing many timers that share a few delays
    costs a list step each, not a heap pop.
    """

    def __init__(self, now: float = 0) -> None:
        self._now = now
        #: the distinct due times that have a bucket (a heap; each time once)
        self._dues: list[float] = []
        #: due time -> the handles due then, in the order they were set (cleared ones are skipped)
        self._buckets: dict[float, list[int]] = {}
        self._timeouts: dict[int, Callable[[], None]] = {}
        self._next_id = 0
        self._flushing = False

    def now(self) -> float:
        return self._now

    def set_timeout(self, fn: Callable[[], None], delay_ms: float) -> int:
        handle = self._next_id
        self._next_id = handle + 1
        self._timeouts[handle] = fn
        due = self._now + delay_ms
        bucket = self._buckets.get(due)
        if bucket is None:
            self._buckets[due] = [handle]
            heapq.heappush(self._dues, due)
        else:
            bucket.append(handle)
        return handle

    def clear_timeout(self, handle: Any) -> None:
        self._timeouts.pop(handle, None)  # its bucket entry is skipped when it comes up

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

    def next_due(self) -> float | None:
        """When the earliest pending timer falls due (clock ms), or None when none is pending."""
        dues, buckets, timeouts = self._dues, self._buckets, self._timeouts
        if self._flushing:  # leave the buckets alone: the running flush holds one
            for due in sorted(dues):
                if any(h in timeouts for h in buckets[due]):
                    return due
            return None
        while dues:
            due = dues[0]
            if any(h in timeouts for h in buckets[due]):
                return due
            heapq.heappop(dues)  # all cleared: drop it now
            del buckets[due]
        return None

    def fire_due(self) -> None:
        """Fire every timer due at ``now()`` (in due order)."""
        self._flush()

    def _flush(self) -> None:
        if self._flushing:
            return  # the running flush picks up whatever is due now
        self._flushing = True
        try:
            dues, buckets, timeouts = self._dues, self._buckets, self._timeouts
            pop = timeouts.pop
            while dues and dues[0] <= self._now:
                due = dues[0]
                bucket = buckets[due]
                i = 0
                # a timer set while firing, due now, joins this bucket and fires in turn; one due
                # earlier (a negative delay) takes the heap's top: the rest of the bucket waits for it
                while i < len(bucket):
                    fn = pop(bucket[i], None)
                    i += 1
                    if fn is not None:
                        fn()
                        if dues[0] is not due:
                            break
                else:
                    heapq.heappop(dues)
                    del buckets[due]
                    continue
                del bucket[:i]
        finally:
            self._flushing = False


class AsyncioClock:
    """Real time; ``now()`` is wall-clock epoch milliseconds. The default clock of ``create_actor``.

    A delayed event is armed on the running asyncio loop when there is one. Without one (a plain script,
    a WSGI or Django handler) it is armed on a daemon thread shared by the process, and fires there. From
    the first such timer on, the actor system is guarded by :attr:`lock`: the actors' own calls
    (``start``, ``send``, ``stop``) and a firing timer take it, so the system processes one thing at a
    time (observers run on whichever thread delivered the event). Until then nothing is locked, so
    machines that never delay pay nothing. Timers pending when the process exits are lost, as on a loop
    that stops: wait for them with ``wait_for_sync`` / ``to_promise_sync``, or use the durable layer,
    which stores them.
    """

    __slots__ = ("lock",)

    def __init__(self) -> None:
        #: made with the first timer armed on the timer thread (see ``Scheduler.schedule``)
        self.lock: Any = None

    def now(self) -> float:
        return time.time() * 1000

    def set_timeout(self, fn: Callable[[], None], delay_ms: float) -> Any:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if self.lock is None:
                self.lock = threading.RLock()
            # held by the caller until the scheduler has seen the timer (it releases or keeps it): a timer
            # due at once cannot fire in between
            self.lock.acquire()
            return _timer_thread().call_later(max(delay_ms, 0) / 1000, fn, self.lock)
        return loop.call_later(max(delay_ms, 0) / 1000, fn)

    def clear_timeout(self, handle: Any) -> None:
        handle.cancel()


class ThreadTimer:
    """A timer armed on the timer thread; its ``lock`` is held by whoever armed it, until released."""

    __slots__ = ("cancelled", "fn", "lock")

    def __init__(self, fn: Callable[[], None], lock: Any) -> None:
        self.fn, self.lock, self.cancelled = fn, lock, False

    def cancel(self) -> None:
        self.cancelled = True  # its heap entry is skipped when it surfaces


class _TimerThread:
    """Timers for code without an event loop: one daemon thread, one heap, fired in due order."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, ThreadTimer]] = []
        self._seq = 0
        self._wake = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="durable-xstate-timers", daemon=True)
        self.thread.start()

    def call_later(self, delay_s: float, fn: Callable[[], None], lock: Any) -> ThreadTimer:
        timer = ThreadTimer(fn, lock)
        with self._wake:
            self._seq += 1
            heapq.heappush(self._heap, (time.monotonic() + delay_s, self._seq, timer))
            self._wake.notify()
        return timer

    def _run(self) -> None:
        heap = self._heap
        while True:
            with self._wake:
                while not heap or heap[0][0] > time.monotonic():
                    self._wake.wait(heap[0][0] - time.monotonic() if heap else None)
                _, _, timer = heapq.heappop(heap)
            if timer.cancelled:
                continue
            with timer.lock:
                if timer.cancelled:  # cancelled while we waited for the lock
                    continue
                timer.cancelled = True
                try:
                    timer.fn()
                except Exception:  # the actor reports its own errors; never let the thread die
                    _log.exception("a delayed event raised on the timer thread")


_timers: _TimerThread | None = None
_timers_lock = threading.Lock()


def _timer_thread() -> _TimerThread:
    global _timers
    with _timers_lock:
        if _timers is None or not _timers.thread.is_alive():
            _timers = _TimerThread()
        return _timers


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
