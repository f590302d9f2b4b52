"""The microsteps a macrostep took (``Actor.last_macrostep``) and xstate's exact inspection records."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from durable_xstate import create_actor, create_machine, raise_

# parallel regions, shallow and deep history, a reentering self-transition, eventless and raised steps
MACHINE = {
    "id": "m",
    "initial": "idle",
    "states": {
        "idle": {"on": {"GO": "work", "JUMP": "#m.work.b.y", "SELF": {"target": "idle", "reenter": True}}},
        "work": {
            "type": "parallel",
            "on": {"STOP": "idle", "BACK": "#m.hist", "DEEP": "#m.deep"},
            "states": {
                "a": {"initial": "p", "states": {
                    "p": {"on": {"A": "q"}},
                    "q": {"on": {"A": "p", "RAISE": {"actions": raise_({"type": "A"})}}},
                }},
                "b": {"initial": "x", "states": {
                    "x": {"on": {"B": "y"}},
                    "y": {"on": {"B": "z"}},
                    "z": {"always": "x"},
                }},
            },
        },
        "hist": {"type": "history", "target": "idle"},
        "deep": {"type": "history", "history": "deep", "target": "work"},
    },
}
EVENTS = ["GO", "JUMP", "SELF", "STOP", "BACK", "DEEP", "A", "B", "RAISE", "NOPE"]


def ids(nodes: Any) -> list[str]:
    return [n.id for n in nodes]


def test_a_macrostep_reports_each_microstep_with_its_transitions_exits_and_entries() -> None:
    actor = create_actor(create_machine(MACHINE)).start()
    assert actor.last_macrostep == ()  # nothing processed yet
    actor.send({"type": "GO"})
    (step,) = actor.last_macrostep
    assert step.event == {"type": "GO"}
    assert step.snapshot is actor.get_snapshot()
    assert [(t.source.id, ids(t.target or ())) for t in step.transitions] == [("m.idle", ["m.work"])]
    assert ids(step.exited) == ["m.idle"]
    assert ids(step.entered) == ["m.work", "m.work.a", "m.work.a.p", "m.work.b", "m.work.b.x"]

    actor.send({"type": "B"})
    actor.send({"type": "B"})  # y -> z, then the eventless z -> x
    first, second = actor.last_macrostep
    assert (ids(first.exited), ids(first.entered)) == (["m.work.b.y"], ["m.work.b.z"])
    assert second.event == {"type": "B"}  # eventless steps report the event being processed
    assert (ids(second.exited), ids(second.entered)) == (["m.work.b.z"], ["m.work.b.x"])

    actor.send({"type": "A"})
    actor.send({"type": "RAISE"})  # a targetless step, then the raised A
    targetless, raised = actor.last_macrostep
    assert (targetless.exited, targetless.entered) == ((), ())
    assert raised.event == {"type": "A"} and ids(raised.entered) == ["m.work.a.p"]

    actor.send({"type": "NOPE"})  # no transition: one empty microstep, as xstate records it
    (nothing,) = actor.last_macrostep
    assert (nothing.transitions, nothing.exited, nothing.entered) == ((), (), ())


def test_a_reentering_self_transition_exits_and_enters_its_state_again() -> None:
    actor = create_actor(create_machine(MACHINE)).start()
    actor.send({"type": "SELF"})
    (step,) = actor.last_macrostep
    assert ids(step.exited) == ["m.idle"] and ids(step.entered) == ["m.idle"]


def test_microstep_inspection_records_are_exactly_xstates() -> None:
    records: list[dict[str, Any]] = []
    actor = create_actor(create_machine(MACHINE), inspect=records.append).start()
    for ev in ["GO", "B", "B", "RAISE", "A", "RAISE", "STOP"]:
        actor.send({"type": ev})
    micro = [r for r in records if r["type"] == "@xstate.microstep"]
    assert micro
    for r in micro:
        assert set(r) == {"type", "actorRef", "event", "snapshot", "_transitions", "rootId"}


@settings(max_examples=60)
@given(st.lists(st.sampled_from(EVENTS), max_size=25))
def test_every_microstep_takes_the_configuration_from_before_to_after(events: list[str]) -> None:
    actor = create_actor(create_machine(MACHINE)).start()
    for ev in events:
        before = set(actor.get_snapshot().nodes)
        actor.send({"type": ev})
        for step in actor.last_macrostep:
            after = set(step.snapshot.nodes)
            assert after == (before - set(step.exited)) | set(step.entered)
            assert [n.order for n in step.exited] == sorted((n.order for n in step.exited), reverse=True)
            assert [n.order for n in step.entered] == sorted(n.order for n in step.entered)
            before = after
        assert before == set(actor.get_snapshot().nodes)
