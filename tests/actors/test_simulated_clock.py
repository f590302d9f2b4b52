"""SimulatedClock fires exactly as a plain reference clock: due order, ties in set order, each timer once.

The reference keeps every pending timer in a list and, while anything is due, fires the one with the
smallest (due, set order) — the rule xstate's SimulatedClock follows. Timers set or cleared while
firing (due now, later, or earlier with a negative delay) must come out in the same order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from durable_xstate import SimulatedClock


class ReferenceClock:
    def __init__(self) -> None:
        self._now = 0.0
        self._timers: dict[int, tuple[float, Callable[[], None]]] = {}
        self._next = 0
        self._flushing = False

    def now(self) -> float:
        return self._now

    def set_timeout(self, fn: Callable[[], None], delay_ms: float) -> int:
        handle = self._next
        self._next += 1
        self._timers[handle] = (self._now + delay_ms, fn)
        return handle

    def clear_timeout(self, handle: Any) -> None:
        self._timers.pop(handle, None)

    def pending(self) -> int:
        return len(self._timers)

    def next_due(self) -> float | None:
        return min((due for due, _ in self._timers.values()), default=None)

    def increment(self, ms: float) -> None:
        self._now += ms
        if self._flushing:
            return
        self._flushing = True
        try:
            while True:
                due_now = [(due, h) for h, (due, _) in self._timers.items() if due <= self._now]
                if not due_now:
                    return
                _, handle = min(due_now)
                _, fn = self._timers.pop(handle)
                fn()
        finally:
            self._flushing = False


# what a firing timer does: nothing, set a timer (delay, possibly negative), or clear one (an index
# into the handles handed out so far)
reaction = st.one_of(
    st.just(("none", 0)),
    st.tuples(st.just("set"), st.integers(-30, 60)),
    st.tuples(st.just("clear"), st.integers(0, 200)),
    st.just(("next_due", 0)),
)
step = st.one_of(
    st.tuples(st.just("set"), st.sampled_from([0, 10, 10, 20, 35, 50]), reaction),
    st.tuples(st.just("clear"), st.integers(0, 200), st.just(("none", 0))),
    st.tuples(st.just("tick"), st.sampled_from([0, 5, 10, 25]), st.just(("none", 0))),
)


def run(clock: Any, steps: list[tuple[str, int, tuple[str, int]]]) -> list[Any]:
    log: list[Any] = []
    handles: list[Any] = []

    def make(label: int, then: tuple[str, int], depth: int) -> Callable[[], None]:
        def fn() -> None:
            log.append(("fired", label, clock.now()))
            kind, arg = then
            if kind == "set" and depth < 3:
                handles.append(clock.set_timeout(make(label * 100 + len(handles), then, depth + 1), arg))
            elif kind == "clear" and handles:
                clock.clear_timeout(handles[arg % len(handles)])
            elif kind == "next_due":
                log.append(("next_due", clock.next_due()))

        return fn

    for i, (kind, arg, then) in enumerate(steps):
        if kind == "set":
            handles.append(clock.set_timeout(make(i, then, 0), arg))
        elif kind == "clear" and handles:
            clock.clear_timeout(handles[arg % len(handles)])
        elif kind == "tick":
            clock.increment(arg)
        log.append(("pending", clock.pending(), clock.next_due()))
    clock.increment(10_000)
    log.append(("end", clock.pending(), clock.next_due()))
    return log


@settings(max_examples=300, deadline=None)
@given(st.lists(step, max_size=40))
def test_the_simulated_clock_fires_as_the_reference_does(steps: list[Any]) -> None:
    assert run(SimulatedClock(), steps) == run(ReferenceClock(), steps)


def test_many_timers_sharing_a_few_due_times_fire_in_due_then_set_order() -> None:
    clock = SimulatedClock()
    fired: list[int] = []
    for i in range(1000):
        clock.set_timeout(lambda i=i: fired.append(i), 100 * (1 + i % 10))
    for handle in range(0, 1000, 7):
        clock.clear_timeout(handle)
    for _ in range(10):
        clock.increment(100)
    assert fired == sorted((i for i in range(1000) if i % 7), key=lambda i: (i % 10, i))
    assert clock.pending() == 0 and clock.next_due() is None


def test_a_timer_set_while_firing_that_is_due_earlier_fires_before_the_rest_of_its_time() -> None:
    clock = SimulatedClock()
    fired: list[str] = []

    def first() -> None:
        fired.append("a")
        clock.set_timeout(lambda: fired.append("earlier"), -5)
        clock.set_timeout(lambda: fired.append("same time, set last"), 0)

    clock.set_timeout(first, 10)
    clock.set_timeout(lambda: fired.append("b"), 10)
    clock.set_timeout(lambda: fired.append("later"), 11)
    clock.increment(10)
    assert fired == ["a", "earlier", "b", "same time, set last"]
    assert run(SimulatedClock(), STEPS_WITH_AN_EARLIER_TIMER) == run(ReferenceClock(), STEPS_WITH_AN_EARLIER_TIMER)


STEPS_WITH_AN_EARLIER_TIMER: list[Any] = [
    ("set", 10, ("set", -5)),
    ("set", 10, ("none", 0)),
    ("tick", 10, ("none", 0)),
]
