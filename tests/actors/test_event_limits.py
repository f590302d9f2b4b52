"""An event nested too deep is refused where it enters (actor.send, PersistableActor.send) with InvalidEvent,
before anything changes: the snapshot, the mailbox, inspection, the store."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_xstate import (
    DurableXStateError,
    InvalidEvent,
    PersistableActor,
    assign,
    create_actor,
    setup,
    with_persistable_actor,
)
from durable_xstate.machine.limits import MAX_NESTING
from durable_xstate.stores import LockableStorage, MemoryStore

MACHINE = setup(actions={"keep": assign({"last": lambda a, p: a.event.get("payload")})}).create_machine(
    {
        "id": "keeper",
        "initial": "a",
        "context": {"last": None},
        "states": {"a": {"on": {"GO": {"target": "b", "actions": "keep"}}}, "b": {"on": {"GO": {"actions": "keep"}}}},
    }
)


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def store() -> LockableStorage:
    s = MemoryStore()
    return LockableStorage(s, s)


def test_actor_send_refuses_an_event_nested_100k_deep_and_changes_nothing() -> None:
    inspected: list[Any] = []
    actor = create_actor(MACHINE, inspect=inspected.append).start()
    before = actor.get_snapshot()
    seen = len(inspected)
    with pytest.raises(InvalidEvent) as caught:
        actor.send({"type": "GO", "payload": nested(100_000)})
    err = caught.value
    assert isinstance(err, ValueError) and isinstance(err, DurableXStateError)
    assert err.event_type == "GO" and err.path.startswith("payload[0].k[0]")
    assert f"more than {MAX_NESTING} levels" in err.problem
    assert actor.get_snapshot() is before and before.value == "a" and before.status == "active"
    assert len(inspected) == seen  # not even an inspection event
    actor.send({"type": "GO", "payload": nested(3)})  # the actor goes on
    assert actor.get_snapshot().value == "b"


def test_an_event_at_the_limit_is_taken_and_persists() -> None:
    actor = create_actor(MACHINE).start()
    actor.send({"type": "GO", "payload": nested(MAX_NESTING - 1)})
    persisted = actor.get_persisted_snapshot()
    assert persisted["value"] == "b"
    assert json.loads(json.dumps(persisted))["context"]["last"] == nested(MAX_NESTING - 1)
    with pytest.raises(InvalidEvent):
        actor.send({"type": "GO", "payload": nested(MAX_NESTING)})


def test_an_event_queued_before_start_is_refused_too() -> None:
    actor = create_actor(MACHINE)
    with pytest.raises(InvalidEvent):
        actor.send({"type": "GO", "payload": nested(100_000)})
    actor.start()
    assert actor.get_snapshot().value == "a"


async def test_with_persistable_actor_surfaces_invalid_event_and_stores_nothing() -> None:
    s = store()

    def creator(id: str, snapshot: Any) -> Any:
        return create_actor(MACHINE, id=id, snapshot=snapshot)

    await with_persistable_actor(id="k1", storage=s, actor_creator=creator, callback=lambda a: a.send({"type": "GO"}))
    saved = await s.read("k1.json")
    assert saved is not None
    with pytest.raises(InvalidEvent):
        await with_persistable_actor(
            id="k1", storage=s, actor_creator=creator, locking="read-write",
            callback=lambda a: a.send({"type": "GO", "payload": nested(100_000)}),
        )
    after = await s.read("k1.json")
    assert after is not None and after.version == saved.version and after.data == saved.data


async def test_persistable_actor_send_refuses_before_recording_the_idempotency_key() -> None:
    s = store()

    def creator(id: str, snapshot: Any) -> Any:
        return create_actor(MACHINE, id=id, snapshot=snapshot)

    await with_persistable_actor(id="k2", storage=s, actor_creator=creator, callback=lambda a: None)
    saved = await s.read("k2.json")
    assert saved is not None
    pa = PersistableActor(id="k2", storage=s, actor_creator=creator)
    await pa.init()
    with pytest.raises(InvalidEvent):
        pa.send({"type": "GO", "payload": nested(100_000)}, idempotency_key="evt-1")
    await pa.save()  # nothing changed (no snapshot, no idempotency key), so nothing is written
    await pa.close()
    after = await s.read("k2.json")
    assert after is not None and after.version == saved.version and after.data == saved.data
    pa = PersistableActor(id="k2", storage=s, actor_creator=creator)
    await pa.init()
    assert pa.send({"type": "GO", "payload": 1}, idempotency_key="evt-1")  # the corrected event is applied
    await pa.save()
    await pa.close()
    stored = await s.read("k2.json")
    assert stored is not None and json.loads(stored.data)["snapshot"]["value"] == "b"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3) | st.tuples(c),
    max_leaves=20,
)


@settings(max_examples=100)
@given(payload=_JSON, depth=st.integers(0, 2 * MAX_NESTING), event_type=st.sampled_from(["GO", "OTHER", 5, None]))
def test_random_events_give_success_or_a_typed_error(payload: Any, depth: int, event_type: Any) -> None:
    actor = create_actor(MACHINE).start()
    before = actor.get_snapshot()
    event = {"type": event_type, "payload": [payload] if depth == 0 else nested(depth)}
    try:
        actor.send(event)
    except InvalidEvent:
        assert depth >= MAX_NESTING and actor.get_snapshot() is before
        return
    assert depth < MAX_NESTING
    snapshot = actor.get_snapshot()
    if snapshot.status == "error":  # a type that is not a string: the machine's own error, as in xstate
        assert event_type not in ("GO", "OTHER")
    else:
        assert snapshot.value == ("b" if event_type == "GO" else "a")
        json.dumps(actor.get_persisted_snapshot())


def test_events_with_shared_or_self_containing_values() -> None:
    shared: Any = "leaf"
    for _ in range(60):  # 2**60 paths through 60 lists: the depth-first walk hands over past its budget
        shared = [shared, shared]
    actor = create_actor(create_machine_without_actions()).start()
    actor.send({"type": "GO", "payload": shared})
    assert actor.get_snapshot().value == "b"
    deep_shared: Any = "leaf"
    for _ in range(MAX_NESTING + 5):
        deep_shared = [deep_shared, deep_shared]
    with pytest.raises(InvalidEvent):
        actor.send({"type": "GO", "payload": deep_shared})
    loop: dict[str, Any] = {"type": "GO"}
    loop["self"] = loop
    with pytest.raises(InvalidEvent, match="more than"):
        actor.send(loop)


def create_machine_without_actions() -> Any:
    from durable_xstate import create_machine

    return create_machine({"id": "plain", "initial": "a", "states": {"a": {"on": {"GO": "b"}}, "b": {}}})
