"""The seam between the pure engine and the runtime: the ActorScope protocol, and the public runtime
methods the persistence and cloud layers use (no reaching into actors, systems or schedulers)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import durable_xstate
from durable_xstate import ActorError, SimulatedClock, create_actor, create_machine, raise_, setup
from durable_xstate.actors import Actor
from durable_xstate.cloud.remote import from_remote_service
from durable_xstate.machine.actions import ExecutableAction
from durable_xstate.machine.scope import ActorScope
from durable_xstate.machine.transition import initial_transition as engine_initial_transition
from durable_xstate.persistence.record import AdoptableSnapshot


class RecordingScope:
    """A scope written against the protocol alone: it records what the engine asks of it."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.deferred: list[Callable[[], None]] = []
        self.executed: list[ExecutableAction] = []
        self.self: Any = "me"
        self.parent: Any = None
        self.system = _System()
        self.action_executor: Callable[[ExecutableAction], None] = self.executed.append
        self.defer: Callable[[Callable[[], None]], None] = self.deferred.append

    def emit(self, event: Any) -> None:
        self.calls.append(("emit", event))

    def logger(self, *args: Any) -> None:
        self.calls.append(("log", *args))

    def relay(self, target: Any, event: Mapping[str, Any]) -> None:
        self.calls.append(("relay", target, dict(event)))

    def schedule(self, target: Any, event: Mapping[str, Any], delay: float, send_id: str | None) -> None:
        self.calls.append(("schedule", target, dict(event), delay, send_id))

    def cancel(self, send_id: str) -> None:
        self.calls.append(("cancel", send_id))

    def spawn_child(self, logic: Any, *, id: str | None, src: Any, sync_snapshot: bool | None,
                    system_id: str | None, input: Any) -> Any:
        self.calls.append(("spawn_child", id, src))
        return None

    def restore_child(self, machine: Any, child_id: str, data: Mapping[str, Any]) -> Any:
        return None

    def stop_child(self, child: Any) -> None:
        self.calls.append(("stop_child", child))

    def unregister(self, actor: Any) -> None:
        self.calls.append(("unregister", actor))

    def create_spawner(self, snapshot: Any, event: Any, spawned: dict[str, Any]) -> Callable[..., Any]:
        raise AssertionError("not used here")

    def run(self) -> None:
        for action in self.executed:
            if action.exec is not None and action.builtin:
                action.exec()
        while self.deferred:
            self.deferred.pop(0)()


class _System:
    inspecting = False

    def send_inspection_event(self, event: dict[str, Any]) -> None:
        raise AssertionError("not inspecting")


def test_the_engine_reaches_the_runtime_only_through_the_scope_protocol() -> None:
    machine = create_machine({
        "id": "m", "initial": "a",
        "states": {"a": {"entry": [raise_({"type": "LATER"}, id="t", delay=250),
                                   durable_xstate.cancel("old"), durable_xstate.emit({"type": "hi"}),
                                   durable_xstate.send_to("#_internal", {"type": "NOW"})]}},
    })
    scope = RecordingScope()
    typed: ActorScope = scope  # mypy checks the recording scope against the protocol
    snapshot = machine.get_initial_snapshot(typed, None)
    assert snapshot.status == "active"
    scope.run()
    assert scope.calls == [
        ("schedule", "me", {"type": "LATER"}, 250, "t"),
        ("cancel", "old"),
        ("emit", {"type": "hi"}),
        ("relay", "me", {"type": "NOW"}),
    ]


INVOKER = setup(actors={"child": create_machine({"id": "c", "initial": "x", "states": {"x": {}}})}).create_machine(
    {"id": "p", "initial": "a", "states": {"a": {"invoke": {"src": "child", "id": "kid"}}}}
)


def test_the_engine_alone_cannot_make_children_and_says_so() -> None:
    snapshot, _ = engine_initial_transition(INVOKER)
    assert snapshot.status == "error"
    assert isinstance(snapshot.error, ActorError)
    assert "durable_xstate.transition" in str(snapshot.error)


def test_the_runtime_pure_transition_makes_unstarted_detached_children() -> None:
    snapshot, actions = durable_xstate.initial_transition(INVOKER)
    kid = snapshot.children["kid"]
    assert isinstance(kid, Actor) and not kid.is_running and kid.parent is None
    assert [a.type for a in actions] == ["xstate.spawnChild"]


def test_use_clock_moves_a_root_actor_to_another_clock_before_it_starts() -> None:
    machine = create_machine({"id": "t", "initial": "a", "states": {"a": {"after": {100: "b"}}, "b": {}}})
    clock = SimulatedClock()
    actor = create_actor(machine)
    actor.use_clock(clock)
    assert actor.clock is clock and actor.system.clock is clock
    actor.start()
    clock.increment(100)
    assert actor.get_snapshot().value == "b"
    with pytest.raises(ActorError, match="before it starts"):
        actor.use_clock(SimulatedClock())


def test_use_clock_refuses_a_child() -> None:
    actor = create_actor(INVOKER, clock=SimulatedClock()).start()
    with pytest.raises(ActorError, match="root"):
        actor.get_snapshot().children["kid"].use_clock(SimulatedClock())


def test_the_scheduler_lists_and_defers_through_its_public_api() -> None:
    machine = create_machine({"id": "t", "initial": "a", "states": {"a": {"after": {100: "b"}}, "b": {}}})
    actor = create_actor(machine, clock=SimulatedClock()).start()
    scheduler = actor.system.scheduler
    assert scheduler.has_pending()
    [event] = list(scheduler.pending())
    assert event["source"] is actor and event["delay"] == 100

    class Kept:
        armed = 0

        def remove(self, source: Any, send_id: str) -> bool:
            return False

        def arm(self, into: Any) -> None:
            Kept.armed += 1

    changes = actor.system.changes
    scheduler.keep_deferred(Kept())
    assert scheduler.deferred is not None
    scheduler.arm_deferred()
    assert Kept.armed == 1 and scheduler.deferred is None and actor.system.changes == changes
    scheduler.keep_deferred(Kept())
    scheduler.forget_deferred()
    scheduler.arm_deferred()
    assert Kept.armed == 1  # forgotten, never armed
    with pytest.raises(AttributeError):
        actor.system.changes = 0


CONTEXTS = st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4)
COUNTER = create_machine({"id": "n", "initial": "a", "context": {}, "states": {"a": {}}})


@settings(max_examples=40)
@given(CONTEXTS)
def test_a_handed_over_snapshot_is_adopted_once_a_plain_one_always_copied(context: dict[str, Any]) -> None:
    persisted = {"status": "active", "value": "a", "context": context, "children": {}}
    plain = create_actor(COUNTER, snapshot=persisted)
    assert plain.get_snapshot().context == context and plain.get_snapshot().context is not context
    handed = AdoptableSnapshot(json.loads(json.dumps(persisted)), has_refs=False)
    first = create_actor(COUNTER, snapshot=handed).get_snapshot().context
    second = create_actor(COUNTER, snapshot=handed).get_snapshot().context
    assert first is handed["context"] and second is not handed["context"] and second == first == context
    with_refs = AdoptableSnapshot(json.loads(json.dumps(persisted)), has_refs=True)
    assert create_actor(COUNTER, snapshot=with_refs).get_snapshot().context is not with_refs["context"]


def test_the_engine_copies_unless_told_it_may_adopt() -> None:
    persisted = {"status": "active", "value": "a", "context": {"n": 1}}
    assert COUNTER.restore_snapshot(persisted, None).context is not persisted["context"]
    assert COUNTER.restore_snapshot(persisted, None, adopt=True).context is persisted["context"]


def test_a_remote_service_outside_an_orchestration_fails_with_a_clear_error() -> None:
    machine = setup(actors={"svc": from_remote_service("svc.run", done="svc.done")}).create_machine({
        "id": "r", "initial": "a",
        "states": {"a": {"invoke": {"src": "svc", "id": "call", "onError": {"target": "failed",
                                                                              "actions": "keep"}}},
                   "failed": {}},
    }).provide(actions={"keep": lambda args, _p: errors.append(args.event["error"])})
    errors: list[Any] = []
    actor = create_actor(machine, clock=SimulatedClock()).start()
    assert actor.get_snapshot().value == "failed"
    [error] = errors
    assert isinstance(error, ActorError) and "'call'" in str(error)
