"""The live actor: lifecycle, errors kept in the snapshot, emit, subscribe, inspection, pure transition."""

from __future__ import annotations

from typing import Any

import pytest

from durable_xstate import (
    ActorError,
    assign,
    create_actor,
    create_machine,
    emit,
    enqueue_actions,
    initial_transition,
    raise_,
    setup,
    transition,
)

TOGGLE = {"id": "t", "initial": "a", "states": {"a": {"on": {"T": "b"}}, "b": {"on": {"T": "a"}}}}


def test_events_before_start_are_queued_not_dropped() -> None:
    actor = create_actor(create_machine(TOGGLE))
    actor.send({"type": "T"})
    assert actor.get_snapshot().value == "a"
    actor.start()
    assert actor.get_snapshot().value == "b"


def test_stop_runs_no_exit_actions_and_ignores_later_events() -> None:
    exits: list[str] = []
    machine = setup(actions={"bye": lambda a, p: exits.append("bye")}).create_machine(
        {"initial": "a", "states": {"a": {"exit": "bye", "on": {"T": "b"}}, "b": {}}}
    )
    actor = create_actor(machine).start()
    actor.stop()
    actor.send({"type": "T"})
    assert actor.get_snapshot().status == "stopped"
    assert actor.get_snapshot().value == "a"
    assert exits == []
    assert actor.get_persisted_snapshot()["status"] == "stopped"


def test_throwing_guard_puts_actor_in_error_with_exception_kept() -> None:
    def boom(args: Any, params: Any) -> bool:
        raise ValueError("kaput")

    machine = setup(guards={"boom": boom}).create_machine(
        {"initial": "a", "states": {"a": {"on": {"E": {"guard": "boom", "target": "b"}}}, "b": {}}}
    )
    errors: list[Any] = []
    actor = create_actor(machine)
    actor.subscribe(error=errors.append)
    actor.start()
    actor.send({"type": "E"})
    snap = actor.get_snapshot()
    assert snap.status == "error"
    assert snap.value == "a"
    assert str(snap.error) == "Unable to evaluate guard 'boom' in transition for event 'E' in state node '(machine).a':\nkaput"
    assert isinstance(snap.error.__cause__, ValueError)
    assert errors == [snap.error]
    actor.send({"type": "E"})  # an errored actor ignores events
    assert actor.get_snapshot() is snap


def test_throwing_action_puts_actor_in_error() -> None:
    def explode(args: Any, params: Any) -> None:
        raise RuntimeError("nope")

    machine = setup(actions={"explode": explode}).create_machine(
        {"initial": "a", "context": {"n": 0}, "states": {"a": {"on": {"E": {"target": "b", "actions": "explode"}}}, "b": {}}}
    )
    actor = create_actor(machine)
    actor.subscribe(error=lambda e: None)
    actor.start()
    actor.send({"type": "E"})
    assert actor.get_snapshot().status == "error"
    assert isinstance(actor.get_snapshot().error, RuntimeError)
    assert actor.get_persisted_snapshot()["value"] == "a"


def test_emit_reaches_on_handlers_and_wildcard_after_commit() -> None:
    machine = create_machine(
        {"initial": "a", "context": {"n": 1},
         "states": {"a": {"on": {"E": {"actions": [emit(lambda a, p: {"type": "n", "n": a.context["n"]}),
                                                  assign({"n": lambda a, p: a.context["n"] + 1})]}}}}}
    )
    actor = create_actor(machine).start()
    got: list[Any] = []
    seen_snapshots: list[int] = []
    actor.on("n", lambda e: (got.append(e), seen_snapshots.append(actor.get_snapshot().context["n"])))
    actor.on("*", lambda e: got.append(("*", e["type"])))
    actor.send({"type": "E"})
    assert got == [{"type": "n", "n": 1}, ("*", "n")]
    assert seen_snapshots == [2]  # emitted after the new snapshot is committed


def test_subscribe_and_unsubscribe() -> None:
    actor = create_actor(create_machine(TOGGLE))
    values: list[Any] = []
    sub = actor.subscribe(lambda s: values.append(s.value))
    actor.start()
    actor.send({"type": "T"})
    sub.unsubscribe()
    actor.send({"type": "T"})
    assert values == ["a", "b"]


def test_non_root_stop_is_refused() -> None:
    parent = create_actor(create_machine(TOGGLE))
    from durable_xstate import Actor

    child = Actor(create_machine(TOGGLE), parent=parent)
    with pytest.raises(ActorError):
        child.stop()


def test_inspection_records() -> None:
    records: list[dict[str, Any]] = []
    machine = setup(actions={"track": lambda a, p: None}).create_machine(
        {"initial": "a", "states": {"a": {"entry": "track", "on": {"T": "b"}}, "b": {"entry": raise_({"type": "R"})}}}
    )
    actor = create_actor(machine, inspect=records.append).start()
    actor.send({"type": "T"})
    types = [r["type"] for r in records]
    assert types[0] == "@xstate.actor"
    assert "@xstate.event" in types and "@xstate.snapshot" in types and "@xstate.microstep" in types
    actions = [r["action"]["type"] for r in records if r["type"] == "@xstate.action"]
    assert actions == ["track", "xstate.raise"]
    micro = [r["event"]["type"] for r in records if r["type"] == "@xstate.microstep"]
    assert micro == ["T", "R"]
    assert all(r["rootId"] == actor.session_id for r in records)


def test_pure_transition_returns_actions_without_running_them() -> None:
    ran: list[str] = []
    machine = setup(actions={"go": lambda a, p: ran.append("go")}).create_machine(
        {"initial": "a", "context": {"n": 0},
         "states": {"a": {"on": {"T": {"target": "b", "actions": ["go", assign({"n": 5})]}}}, "b": {}}}
    )
    snap, actions = initial_transition(machine)
    assert snap.value == "a" and actions == []
    nxt, actions = transition(machine, snap, {"type": "T"})
    assert nxt.value == "b" and nxt.context == {"n": 5}
    assert [a.type for a in actions] == ["go"]
    assert ran == []
    assert snap.value == "a"  # the input snapshot is unchanged


def test_enqueue_actions_with_check() -> None:
    def collect(args: Any, params: Any) -> None:
        if args.check("big"):
            args.enqueue.assign({"size": "big"})
        else:
            args.enqueue.assign({"size": "small"})
        args.enqueue("noted")

    noted: list[Any] = []
    machine = setup(
        guards={"big": lambda a, p: a.context["n"] > 3},
        actions={"noted": lambda a, p: noted.append(a.context["size"])},
    ).create_machine({"initial": "a", "context": {"n": 5}, "states": {"a": {"on": {"E": {"actions": enqueue_actions(collect)}}}}})
    actor = create_actor(machine).start()
    actor.send({"type": "E"})
    assert actor.get_snapshot().context["size"] == "big"
    assert noted == ["big"]


def test_context_factory_receives_input() -> None:
    machine = create_machine({"initial": "a", "context": lambda args: {"n": args.input["start"]}, "states": {"a": {}}})
    assert create_actor(machine, input={"start": 7}).start().get_snapshot().context == {"n": 7}


def test_done_status_and_output() -> None:
    machine = create_machine(
        {"id": "m", "initial": "a", "states": {"a": {"on": {"F": "done"}}, "done": {"type": "final", "output": {"x": 1}}},
         "output": lambda args: {"via": args.event["type"], "inner": args.event.get("output")}}
    )
    completed: list[bool] = []
    actor = create_actor(machine)
    actor.subscribe(complete=lambda: completed.append(True))
    actor.start()
    actor.send({"type": "F"})
    snap = actor.get_snapshot()
    assert snap.status == "done"
    assert snap.output == {"via": "xstate.done.state.m.done", "inner": {"x": 1}}
    assert completed == [True]


def _freed_without_the_cycle_collector(make: Any) -> bool:
    import gc
    import weakref

    gc.collect()
    gc.disable()
    try:
        actor = make()
        refs = [weakref.ref(actor), weakref.ref(actor.system), weakref.ref(actor.system.scheduler)]
        del actor
        return all(ref() is None for ref in refs)
    finally:
        gc.enable()


def test_a_stopped_root_actor_is_freed_by_reference_counting() -> None:
    from durable_xstate import SimulatedClock

    machine = create_machine(
        {"initial": "a", "context": {"n": 0}, "states": {"a": {"after": {1000: "b"}, "on": {"T": "b"}}, "b": {}}}
    )

    def run_and_stop() -> Any:
        actor = create_actor(machine, clock=SimulatedClock()).start()
        actor.send({"type": "T"})
        return actor.stop()

    assert _freed_without_the_cycle_collector(run_and_stop)
    assert _freed_without_the_cycle_collector(lambda: create_actor(machine, clock=SimulatedClock()).start().stop())  # a timer pending
    assert _freed_without_the_cycle_collector(lambda: create_actor(create_machine(TOGGLE), clock=SimulatedClock()).stop())  # never started


def test_a_stopped_root_actor_still_answers_and_restarts() -> None:
    inspected: list[Any] = []
    actor = create_actor(create_machine(TOGGLE), inspect=inspected.append).start()
    actor.send({"type": "T"})
    actor.stop()
    assert actor.system.root is actor
    assert actor.get_snapshot().value == "b"
    assert actor.is_stopped and actor.parent is None
    assert actor.get_persisted_snapshot()["value"] == "b"
    actor.start()  # a new scope for the restarted actor
    assert actor.is_running
    assert inspected[-1]["rootId"] == actor.session_id
