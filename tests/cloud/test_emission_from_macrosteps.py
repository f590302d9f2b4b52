"""The emission policy reads entered states from the engine's microsteps, not from inspection."""

from __future__ import annotations

from typing import Any

from durable_xstate import create_machine, raise_
from durable_xstate.cloud import CloudOrchestrationActor, create_cloud_event


def cmd(name: str) -> Any:
    return lambda id, key, snap: {"type": f"cmd.{name}", "source": "/t", "data": {}}


MACHINE = {
    "id": "flow",
    "initial": "A",
    "states": {
        "A": {"on": {"NEXT": "B", "AGAIN": {"target": "A", "reenter": True}}},
        # B raises HOP at once: B is left within the macrostep (transient, no command), C is entered
        "B": {"entry": raise_({"type": "HOP"}), "on": {"HOP": "C"}},
        "C": {"always": {"target": "A", "guard": lambda a, p: a.event["type"] == "BACK"}, "on": {"BACK": "C"}},
    },
}


def make(inspect: Any = None) -> CloudOrchestrationActor:
    return CloudOrchestrationActor(
        create_machine(MACHINE), id="p1", version="1.0.0", inspect=inspect,
        middleware={"orchestration": {"A": cmd("a"), "B": cmd("b"), "C": cmd("c")}},
    )


def send(actor: CloudOrchestrationActor, type_: str) -> None:
    actor.cloudevent(create_cloud_event(subject="p1", source="/test", type=type_, data={}))


def test_commands_follow_the_states_the_macrosteps_entered() -> None:
    actor = make()
    actor.start()
    send(actor, "NEXT")  # A -> B -> (raised HOP) -> C: only C is still active
    send(actor, "BACK")  # C -> C (not reentering: nothing entered)... then the eventless C -> A
    send(actor, "AGAIN")  # A reentered: emitted again
    assert [e.get_type() for e in actor.events_to_emit] == ["cmd.a", "cmd.c", "cmd.a", "cmd.a"]


def test_a_user_inspector_sees_exactly_xstates_records_and_emission_still_works() -> None:
    records: list[dict[str, Any]] = []
    actor = make(records.append)
    actor.start()
    send(actor, "NEXT")
    assert [e.get_type() for e in actor.events_to_emit] == ["cmd.a", "cmd.c"]
    micro = [r for r in records if r["type"] == "@xstate.microstep"]
    assert [r["event"]["type"] for r in micro] == ["NEXT", "HOP"]
    assert all(set(r) == {"type", "actorRef", "event", "snapshot", "_transitions", "rootId"} for r in micro)


def test_an_actor_without_inspection_turns_none_on() -> None:
    actor = make()
    assert not actor.system.inspecting
    actor.start()
    send(actor, "AGAIN")
    assert [e.get_type() for e in actor.events_to_emit] == ["cmd.a", "cmd.a"]
