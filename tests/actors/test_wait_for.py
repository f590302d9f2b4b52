"""wait_for / to_promise (xstate's waitFor / toPromise, from packages/core/test/waitFor.test.ts and
toPromise.test.ts), async and sync, and delayed events in code without an event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from harness import HANG_SECONDS
from hypothesis import given
from hypothesis import strategies as st

from durable_xstate import (
    ActorError,
    SimulatedClock,
    WaitTimeout,
    assign,
    create_actor,
    create_machine,
    from_promise,
    to_promise,
    to_promise_sync,
    wait_for,
    wait_for_sync,
)

ABC = {"initial": "a", "states": {"a": {"on": {"NEXT": "b"}}, "b": {"on": {"NEXT": "c"}}, "c": {}}}
A_TO_FINAL_B = {"initial": "a", "states": {"a": {"on": {"NEXT": "b"}}, "b": {"type": "final"}}}
TERMINATED = "Actor terminated without satisfying predicate"


def later(actor: Any, event: dict[str, Any], seconds: float = 0.01) -> None:
    asyncio.get_running_loop().call_later(seconds, actor.send, event)


# ------------------------------------------------------------------ async, as xstate's tests


async def test_waits_for_a_condition_and_returns_the_snapshot() -> None:
    actor = create_actor(create_machine(ABC)).start()
    later(actor, {"type": "NEXT"})
    snapshot = await wait_for(actor, lambda s: s.matches("b"))
    assert snapshot.value == "b"


async def test_times_out_with_wait_timeout() -> None:
    actor = create_actor(create_machine(ABC)).start()
    with pytest.raises(WaitTimeout, match=r"Timeout of 0\.01 s exceeded") as info:
        await wait_for(actor, lambda s: s.matches("c"), timeout=0.01)
    assert isinstance(info.value, TimeoutError) and isinstance(info.value, ActorError)


async def test_no_timeout_waits() -> None:
    actor = create_actor(create_machine(ABC)).start()
    waiting = asyncio.ensure_future(wait_for(actor, lambda s: s.matches("c")))
    await asyncio.sleep(0.02)
    assert not waiting.done()
    actor.send({"type": "NEXT"})
    actor.send({"type": "NEXT"})
    assert (await waiting).value == "c"


async def test_reaching_a_final_state_that_does_not_match_rejects() -> None:
    actor = create_actor(create_machine(A_TO_FINAL_B)).start()
    later(actor, {"type": "NEXT"})
    with pytest.raises(ActorError, match=TERMINATED):
        await wait_for(actor, lambda s: s.matches("never"))


async def test_current_snapshot_matches_at_once_without_subscribing() -> None:
    actor = create_actor(create_machine(ABC)).start()
    calls = 0

    def predicate(s: Any) -> bool:
        nonlocal calls
        calls += 1
        return bool(s.matches("a"))

    assert (await wait_for(actor, predicate)).value == "a"
    actor.send({"type": "NEXT"})
    assert calls == 1  # not subscribed: the next snapshot was not checked
    assert not actor._observers


async def test_a_done_actor_resolves_or_rejects_at_once() -> None:
    actor = create_actor(create_machine(A_TO_FINAL_B)).start()
    actor.send({"type": "NEXT"})
    assert (await wait_for(actor, lambda s: s.matches("b"))).value == "b"
    with pytest.raises(ActorError, match=TERMINATED):
        await wait_for(actor, lambda s: s.matches("a"))


async def test_stopping_while_waiting_rejects_and_a_stopped_actor_rejects_at_once() -> None:
    actor = create_actor(create_machine(ABC)).start()
    asyncio.get_running_loop().call_later(0.01, actor.stop)
    with pytest.raises(ActorError, match=TERMINATED):
        await wait_for(actor, lambda s: s.matches("c"))
    # xstate would wait forever here; we say why at once
    with pytest.raises(ActorError, match="is stopped"):
        await wait_for(actor, lambda s: s.matches("c"))


async def test_an_actor_error_is_raised_as_is() -> None:
    boom = ValueError("oh noes")

    def fail(*_: Any) -> None:
        raise boom

    machine = create_machine({"initial": "a", "states": {"a": {"on": {"FAIL": {"actions": "fail"}}}}}, actions={"fail": fail})
    actor = create_actor(machine).start()
    later(actor, {"type": "FAIL"})
    with pytest.raises(ValueError) as info:
        await wait_for(actor, lambda s: s.matches("b"))
    assert info.value is boom


async def test_to_promise_awaits_output() -> None:
    machine = create_machine(
        {"initial": "pending", "states": {"pending": {"on": {"RESOLVE": "done"}}, "done": {"type": "final"}},
         "output": {"count": 42}}
    )
    actor = create_actor(machine).start()
    later(actor, {"type": "RESOLVE"})
    assert await to_promise(actor) == {"count": 42}
    assert await to_promise(actor) == {"count": 42}  # already done: at once


async def test_to_promise_of_a_promise_actor() -> None:
    async def answer(_: Any) -> int:
        return 42

    actor = create_actor(from_promise(answer)).start()
    assert await to_promise(actor) == 42


async def test_to_promise_rejects_with_the_error_even_when_already_failed() -> None:
    boom = RuntimeError("oh noes")

    def fail(*_: Any) -> None:
        raise boom

    actor = create_actor(create_machine({"entry": "fail"}, actions={"fail": fail}))
    actor.subscribe(error=lambda _e: None)
    actor.start()
    assert actor.get_snapshot().status == "error"
    with pytest.raises(RuntimeError) as info:
        await to_promise(actor)
    assert info.value is boom


async def test_to_promise_of_an_actor_stopped_while_waiting_is_none() -> None:
    actor = create_actor(create_machine(ABC)).start()
    asyncio.get_running_loop().call_later(0.01, actor.stop)
    assert await to_promise(actor) is None


async def test_async_wait_for_on_real_delays_and_timeout_on_to_promise() -> None:
    machine = create_machine({"initial": "a", "states": {"a": {"after": {"10": "b"}}, "b": {"type": "final"}}, "output": 1})
    actor = create_actor(machine).start()
    assert await to_promise(actor, timeout=HANG_SECONDS) == 1
    with pytest.raises(WaitTimeout):
        await to_promise(create_actor(create_machine(ABC)).start(), timeout=0.01)


# ------------------------------------------------------------------ sync


def test_sync_drives_a_simulated_clock_timer_by_timer() -> None:
    machine = create_machine(
        {"initial": "a", "states": {"a": {"after": {"1000": "b"}}, "b": {"after": {"60000": "c"}}, "c": {"type": "final"}},
         "output": "fin"}
    )
    clock = SimulatedClock()
    actor = create_actor(machine, clock=clock).start()
    assert wait_for_sync(actor, lambda s: s.matches("b")).value == "b"
    assert clock.now() == 1000  # just as far as needed
    assert to_promise_sync(actor) == "fin"
    assert clock.now() == 61000


def test_sync_simulated_timeout_counts_clock_time() -> None:
    machine = create_machine({"initial": "a", "states": {"a": {"after": {"5000": "b"}}, "b": {}}})
    clock = SimulatedClock()
    actor = create_actor(machine, clock=clock).start()
    with pytest.raises(WaitTimeout, match=r"Timeout of 2\.0 s"):
        wait_for_sync(actor, lambda s: s.matches("b"), timeout=2)
    assert clock.now() == 2000 and actor.get_snapshot().value == "a"
    assert wait_for_sync(actor, lambda s: s.matches("b"), timeout=3).value == "b"


def test_sync_simulated_with_nothing_pending_says_so() -> None:
    actor = create_actor(create_machine(ABC), clock=SimulatedClock()).start()
    with pytest.raises(WaitTimeout, match="no delayed event pending"):
        wait_for_sync(actor, lambda s: s.matches("c"))


def test_sync_on_the_real_clock_without_a_loop() -> None:
    machine = create_machine(
        {"initial": "a", "states": {"a": {"on": {"GO": "b"}}, "b": {"after": {"30": "c"}}, "c": {"type": "final"}},
         "output": {"ok": True}}
    )
    actor = create_actor(machine).start()
    actor.send({"type": "GO"})
    assert actor.get_snapshot().status == "active"
    assert to_promise_sync(actor, timeout=HANG_SECONDS) == {"ok": True}
    with pytest.raises(WaitTimeout, match=r"Timeout of 0\.02 s"):
        wait_for_sync(create_actor(create_machine(ABC)).start(), lambda s: s.matches("c"), timeout=0.02)


def test_sync_errors_and_terminations_as_async() -> None:
    actor = create_actor(create_machine(A_TO_FINAL_B)).start()
    actor.send({"type": "NEXT"})
    with pytest.raises(ActorError, match=TERMINATED):
        wait_for_sync(actor, lambda s: s.matches("a"))
    stopped = create_actor(create_machine(ABC)).start().stop()
    with pytest.raises(ActorError, match="is stopped"):
        to_promise_sync(stopped)


async def test_sync_refuses_inside_a_running_loop() -> None:
    actor = create_actor(create_machine(ABC)).start()
    with pytest.raises(ActorError, match="await wait_for"):
        wait_for_sync(actor, lambda s: s.matches("c"))


@given(st.lists(st.sampled_from(["INC", "NOOP"]), max_size=30), st.integers(min_value=0, max_value=10))
def test_the_first_satisfying_snapshot_is_returned(events: list[str], k: int) -> None:
    """Whatever the events, wait_for returns the first snapshot reaching k (never a later one)."""
    machine = create_machine(
        {"context": {"n": 0}, "on": {"INC": {"actions": "inc"}, "NOOP": {}}},
        actions={"inc": assign({"n": lambda args, _p: args.context["n"] + 1})},
    )
    clock = SimulatedClock()
    actor = create_actor(machine, clock=clock).start()
    seen: list[Any] = []
    # the events arrive from timers, so wait_for_sync drives them in while waiting
    for i, ev in enumerate(events):
        clock.set_timeout(lambda ev=ev: actor.send({"type": ev}), i + 1)
    reachable = events.count("INC") >= k
    if reachable:
        snap = wait_for_sync(actor, lambda s: seen.append(s) or s.context["n"] >= k)
        assert snap.context["n"] == k
        assert all(s.context["n"] < k for s in seen[:-1])
    else:
        with pytest.raises(WaitTimeout):
            wait_for_sync(actor, lambda s: s.context["n"] >= k)


# ------------------------------------------------------------------ delays without an event loop


def test_a_plain_script_with_after_works() -> None:
    """create_actor(...).start(); send(...) with no loop anywhere: the delayed event fires on time."""
    machine = create_machine(
        {"initial": "idle", "states": {"idle": {"on": {"GO": "wait"}}, "wait": {"after": {"20": "late"}}, "late": {}}}
    )
    actor = create_actor(machine).start()
    actor.send({"type": "GO"})
    assert actor.get_snapshot().status == "active" and actor.get_snapshot().value == "wait"
    deadline = time.monotonic() + HANG_SECONDS  # a cap for a hang only: the loop ends when it fired
    while actor.get_snapshot().value != "late" and time.monotonic() < deadline:
        time.sleep(0.005)
    assert actor.get_snapshot().value == "late" and actor.get_snapshot().status == "active"


def test_cancelled_timers_do_not_fire_and_sends_are_serialised_with_timers() -> None:
    """Many timers firing on the timer thread while this thread sends: every event is counted once."""
    machine = create_machine(
        {
            "context": {"n": 0},
            "initial": "on",
            "states": {"on": {"after": {"1": {"target": "on", "reenter": True, "actions": "inc"}}, "on": {"LEAVE": "off"}},
                       "off": {"after": {"10": "on"}}},
            "on": {"INC": {"actions": "inc"}},
        },
        actions={"inc": assign({"n": lambda args, _p: args.context["n"] + 1})},
    )
    actor = create_actor(machine).start()
    fired_before = actor.get_snapshot().context["n"]
    for _ in range(500):
        actor.send({"type": "INC"})
    wait_for_sync(actor, lambda s: s.context["n"] >= fired_before + 510, timeout=HANG_SECONDS)
    actor.send({"type": "LEAVE"})
    n = actor.get_snapshot().context["n"]
    actor.stop()  # cancels the pending timer of "off"
    time.sleep(0.05)
    assert actor.get_snapshot().context["n"] == n and actor.get_snapshot().status == "stopped"
    assert threading.active_count() >= 2  # the timer thread lives on, idle, for the next actor


def test_a_delay_armed_inside_a_nested_send_is_locked_from_the_outermost_call() -> None:
    """The first timer-thread timer of a system, armed in a send made from inside another send: the
    arming hold lasts until the outer call ends, so a 0 ms timer never runs beside it."""
    inner = create_machine({"initial": "a", "states": {"a": {"on": {"GO": "b"}}, "b": {"after": {"0": "c"}}, "c": {}}})
    actor = create_actor(inner).start()
    order: list[str] = []

    def observer(s: Any) -> None:
        if s.value == "b" and "sent" not in order:
            order.append("sent")
            actor.send({"type": "NOTHING"})  # a nested send, after the timer was armed
            time.sleep(0.05)  # a 0 ms timer would fire now if nothing held it back
            order.append(f"outer done in {actor.get_snapshot().value}")

    actor.subscribe(observer)
    actor.send({"type": "GO"})
    assert wait_for_sync(actor, lambda s: s.value == "c", timeout=HANG_SECONDS).value == "c"
    assert order == ["sent", "outer done in b"]
