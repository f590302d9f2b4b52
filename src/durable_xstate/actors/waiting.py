"""Waiting on an actor: ``wait_for`` and ``to_promise`` (xstate's ``waitFor`` and ``toPromise``).

Each comes twice: a coroutine for async code and a ``*_sync`` function for code without an event loop.
The async ones behave as xstate's promises:

- ``wait_for`` checks the current snapshot first, then each new one, and returns the first that satisfies
  the predicate; it raises the actor's own error if the actor fails, ``ActorError("Actor terminated
  without satisfying predicate")`` if it finishes or stops first, and :class:`WaitTimeout` when
  ``timeout`` (seconds here, milliseconds in xstate) passes.
- ``to_promise`` returns the actor's ``output`` once it is done (None when it was stopped) and raises its
  error if it fails.

One deviation, on purpose: xstate's promise never settles for an actor that was already stopped (not
done, not failed) when you start waiting; ours raise ActorError at once, since a synchronous wait
would otherwise block forever.

The sync ones wait with the actor's clock: a :class:`SimulatedClock` is advanced from one pending timer to
the next (``timeout`` then counts simulated time), any other clock is real time and the calling thread
blocks while delayed events fire on the timer thread (see :class:`AsyncioClock`).
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ActorError, WaitTimeout
from ..machine.snapshot import MachineSnapshot
from ..machine.types import TContext
from .clock import DurableClock, SimulatedClock

if TYPE_CHECKING:
    from .actor import Actor

__all__ = ["to_promise", "to_promise_sync", "wait_for", "wait_for_sync"]

TERMINATED = "Actor terminated without satisfying predicate"
STOPPED_ALREADY = "Actor {id} is stopped: nothing it does can satisfy the wait"

class _Outcome:
    """Where the actor's observer puts the first result: a value or an error (from any thread)."""

    __slots__ = ("error", "has_value", "notify", "value")

    def __init__(self, notify: Callable[[], None]) -> None:
        self.has_value = False
        self.value: Any = None
        self.error: BaseException | None = None
        self.notify = notify

    @property
    def settled(self) -> bool:
        return self.has_value or self.error is not None

    def resolve(self, value: Any) -> None:
        if not self.settled:
            self.has_value, self.value = True, value
            self.notify()

    def reject(self, error: Any) -> None:
        if not self.settled:
            self.error = error if isinstance(error, BaseException) else ActorError(repr(error))
            self.notify()


def _watch(actor: Any, outcome: _Outcome, predicate: Callable[[Any], bool] | None) -> Any:
    """Subscribe ``outcome`` to ``actor``: wait_for when ``predicate`` is given, to_promise otherwise.
    Returns the subscription, or None when the outcome settled without one."""
    if predicate is not None:
        # xstate: "See if the current snapshot already matches the predicate" (and do not subscribe)
        current = actor.get_snapshot()
        if predicate(current):
            outcome.resolve(current)
            return None

        def next_(snapshot: Any) -> None:
            if not outcome.settled and predicate(snapshot):
                outcome.resolve(snapshot)

        def complete() -> None:
            outcome.reject(ActorError(TERMINATED))
    else:
        next_ = None  # type: ignore[assignment]

        def complete() -> None:
            outcome.resolve(actor.get_snapshot().output)

    if actor.is_stopped and actor.get_snapshot().status not in ("done", "error"):
        outcome.reject(ActorError(STOPPED_ALREADY.format(id=actor.id)))  # xstate would wait forever
        return None
    # a done or failed actor answers the subscription at once (complete / error), as in xstate
    return actor.subscribe(next_, outcome.reject, complete)


def _result(outcome: _Outcome) -> Any:
    if outcome.error is not None:
        raise outcome.error
    return outcome.value


def _timeout_error(timeout: float) -> WaitTimeout:
    return WaitTimeout(f"Timeout of {timeout} s exceeded")


def _check_timeout(timeout: float | None) -> float:
    if timeout is None or timeout == math.inf:
        return math.inf
    # xstate only warns about a negative timeout and then rejects at once; so do we (no warning)
    return max(float(timeout), 0.0)


async def _wait(actor: Any, predicate: Callable[[Any], bool] | None, timeout: float | None) -> Any:
    limit = _check_timeout(timeout)
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop_thread = threading.get_ident()

    def wake() -> None:
        if not done.done():
            done.set_result(None)

    def notify() -> None:
        # observers run on the thread that delivered the event: the loop's, or the timer thread's
        if threading.get_ident() == loop_thread:
            wake()
        else:
            loop.call_soon_threadsafe(wake)

    outcome = _Outcome(notify)
    sub = _watch(actor, outcome, predicate)
    try:
        if not outcome.settled:
            if limit == math.inf:
                await done
            else:
                try:
                    await asyncio.wait_for(asyncio.shield(done), limit)
                except TimeoutError:
                    if not outcome.settled:
                        raise _timeout_error(limit) from None
    finally:
        if sub is not None:
            sub.unsubscribe()
    return _result(outcome)


async def wait_for(
    actor: Actor[TContext, Any],
    predicate: Callable[[MachineSnapshot[TContext]], bool],
    *,
    timeout: float | None = None,
) -> MachineSnapshot[TContext]:
    """The first snapshot of ``actor`` (its current one included) for which ``predicate`` is true.

    Raises the actor's error if it fails first, ActorError if it finishes or stops first, and
    :class:`WaitTimeout` after ``timeout`` seconds (None: wait as long as it takes)."""
    snapshot: MachineSnapshot[TContext] = await _wait(actor, predicate, timeout)
    return snapshot


async def to_promise(actor: Actor[Any, Any], *, timeout: float | None = None) -> Any:
    """The actor's ``output`` once it is done (None if it was stopped); raises its error if it fails.

    ``timeout`` (seconds; xstate's ``toPromise`` has none) raises :class:`WaitTimeout`."""
    return await _wait(actor, None, timeout)


def _wait_sync(actor: Any, predicate: Callable[[Any], bool] | None, timeout: float | None) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        # blocking here would also block the loop the actor's timers fire on
        raise ActorError("wait_for_sync/to_promise_sync block the running event loop; await wait_for/to_promise")
    limit = _check_timeout(timeout)
    woken = threading.Event()
    outcome = _Outcome(woken.set)
    sub = _watch(actor, outcome, predicate)
    try:
        clock = actor.clock
        if isinstance(clock, SimulatedClock) and not isinstance(clock, DurableClock):
            _drive(clock, actor, outcome, limit)
        elif not outcome.settled and not woken.wait(None if limit == math.inf else limit):
            raise _timeout_error(limit)
    finally:
        if sub is not None:
            sub.unsubscribe()
    return _result(outcome)


def _drive(clock: SimulatedClock, actor: Any, outcome: _Outcome, limit: float) -> None:
    """Advance a simulated clock timer by timer until ``outcome`` settles or ``limit`` s pass on it."""
    deadline = clock.now() + limit * 1000
    lock = actor.system.lock
    while not outcome.settled:
        due = clock.next_due()
        if due is None or due > deadline:
            if limit == math.inf:
                raise WaitTimeout(
                    f"Actor {actor.id} has no delayed event pending on its SimulatedClock: nothing can "
                    "satisfy the wait (send the events it needs before waiting)"
                )
            clock.set(max(deadline, clock.now()))
            raise _timeout_error(limit)
        if lock is None:
            clock.set(due)
        else:
            with lock:
                clock.set(due)


def wait_for_sync(
    actor: Actor[TContext, Any],
    predicate: Callable[[MachineSnapshot[TContext]], bool],
    *,
    timeout: float | None = None,
) -> MachineSnapshot[TContext]:
    """:func:`wait_for` for code without an event loop: blocks (real clock) or advances the actor's
    :class:`SimulatedClock` timer by timer. Raises as ``wait_for``; also WaitTimeout when a simulated
    clock has nothing pending and no timeout, and ActorError when called inside a running event loop."""
    snapshot: MachineSnapshot[TContext] = _wait_sync(actor, predicate, timeout)
    return snapshot


def to_promise_sync(actor: Actor[Any, Any], *, timeout: float | None = None) -> Any:
    """:func:`to_promise` for code without an event loop (waits as :func:`wait_for_sync` does)."""
    return _wait_sync(actor, None, timeout)
