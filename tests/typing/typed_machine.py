"""A typed machine: must type-check under ``mypy --strict`` (tests/typing/test_typed_machines.py runs it).

Context and events declared once, in ``setup(types=MachineTypes[Ctx, Ev]())``; they flow to
``actor.get_snapshot().context``, ``actor.send(...)``, ``wait_for`` and the pure ``transition``.
"""

from __future__ import annotations

from typing import Literal, TypedDict

from durable_xstate import (
    Actor,
    MachineSnapshot,
    MachineTypes,
    StateMachine,
    assign,
    create_actor,
    create_machine,
    setup,
    wait_for_sync,
)


class Counter(TypedDict):
    count: int
    label: str


class Inc(TypedDict):
    type: Literal["INC"]
    by: int


class Reset(TypedDict):
    type: Literal["RESET"]


CounterEvent = Inc | Reset

machine: StateMachine[Counter, CounterEvent] = setup(
    types=MachineTypes[Counter, CounterEvent](),
    actions={"inc": assign({"count": lambda args, _p: args.context["count"] + args.event["by"]})},
).create_machine(
    {
        "id": "counter",
        "context": {"count": 0, "label": "clicks"},
        "on": {"INC": {"actions": "inc"}, "RESET": {"actions": assign({"count": 0})}},
    }
)

actor: Actor[Counter, CounterEvent] = create_actor(machine).start()
actor.send({"type": "INC", "by": 2})
actor.send({"type": "RESET"})
context: Counter = actor.get_snapshot().context
count: int = context["count"]
label: str = actor.get_snapshot().context["label"]
reached: MachineSnapshot[Counter] = wait_for_sync(actor, lambda s: s.context["count"] == 0)

# create_machine takes the same types
other = create_machine({"context": {"count": 1, "label": "x"}}, types=MachineTypes[Counter, CounterEvent]())
other_actor = create_actor(other).start()
other_actor.send({"type": "INC", "by": 1})
assert other_actor.get_snapshot().context["count"] == 1

# untyped machines are unchanged: any event object, Any context
untyped = create_actor(create_machine({"context": {"n": 1}})).start()
untyped.send({"type": "ANYTHING", "extra": [1, 2]})
n: int = untyped.get_snapshot().context["n"]

assert count == 0 and label == "clicks" and reached.context["count"] == 0 and n == 1
