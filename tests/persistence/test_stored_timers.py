"""Stored timers: kept unparsed between runs, yet every run stores exactly what arming them all would.

The reference is the same sequence of runs with the timers parsed and armed at every load (a
PersistableActor given its own DurableClock does that); both must end with the same timers, the
same context and the same fired events.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable_xstate import RecordError, assign, cancel, create_actor, enqueue_actions, raise_, setup
from durable_xstate.actors import DurableClock
from durable_xstate.persistence import PersistableActor
from durable_xstate.persistence.record import StoredRecord, StoredTimers
from durable_xstate.stores import LockableStorage
from durable_xstate.stores.memory import MemoryStore

MACHINE = setup(
    actions={
        "later": enqueue_actions(
            lambda a, p: a.enqueue(
                raise_({"type": "LATER", "n": a.event["n"]}, id=a.event.get("id"), delay=a.event["delay"])
            )
        ),
        "drop": cancel(lambda a, p: a.event["id"]),
        "fired": assign({"fired": lambda a, p: [*a.context["fired"], a.event["n"]]}),
    }
).create_machine(
    {
        "id": "timers",
        "initial": "on",
        "context": {"fired": []},
        "states": {
            "on": {"on": {"ADD": {"actions": "later"}, "DROP": {"actions": "drop"}, "LATER": {"actions": "fired"}}}
        },
    }
)


def creator(id: str, snapshot: Any) -> Any:
    return create_actor(MACHINE, id=id, snapshot=snapshot)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def run(store: LockableStorage, clock: Clock, events: list[dict[str, Any]], *, eager: bool) -> None:
    """One durable run: load (firing what is due), send, save, close. ``eager`` parses every timer."""
    pa = PersistableActor(id="a", storage=store, actor_creator=creator,
                          clock=DurableClock(clock) if eager else None)
    if not eager:
        pa.clock = DurableClock(clock)  # the same time source, still the actor's own clock
    await pa.init()
    try:
        for e in events:
            pa.actor.send(e)
        await pa.save()
    finally:
        await pa.close()


async def stored(store: LockableStorage) -> dict[str, Any]:
    found = await store.read("a.json")
    assert found is not None
    record = StoredRecord.decode(found.data, key="a.json", version=None)
    # ids given by the machine are a..d/tN; the others are random (as in xstate): compare them as "auto"
    timers = sorted((t.id if len(t.id) <= 3 else "auto", t.due_at, t.event["n"]) for t in record.timers)
    return {"timers": timers, "fired": record.snapshot["context"]["fired"] if record.snapshot else None,
            "next": record.next_due_at}


def new_store() -> LockableStorage:
    m = MemoryStore()
    return LockableStorage(storage=m, lock=m)


ids = st.sampled_from(["a", "b", "c", "d", None])
ops = st.one_of(
    st.builds(lambda n, id, d: {"type": "ADD", "n": n, "id": id, "delay": d},
              st.integers(0, 99), ids, st.integers(0, 50)),
    st.builds(lambda id: {"type": "DROP", "id": id}, st.sampled_from(["a", "b", "c", "d", "zz"])),
)
runs = st.lists(st.tuples(st.integers(0, 30), st.lists(ops, max_size=4)), min_size=1, max_size=6)


@given(runs=runs)
async def test_kept_timers_store_what_armed_timers_store(runs: list[tuple[int, list[dict[str, Any]]]]) -> None:
    lazy, eager = new_store(), new_store()
    lazy_clock, eager_clock = Clock(), Clock()
    for advance, events in runs:
        for store, clock, is_eager in ((lazy, lazy_clock, False), (eager, eager_clock, True)):
            clock.now += advance
            await run(store, clock, events, eager=is_eager)
        assert await stored(lazy) == await stored(eager)


async def test_timers_scheduled_without_an_id_in_later_runs_do_not_replace_earlier_ones() -> None:
    # ids counted from zero in every run collided with the stored timers': three runs kept one timer
    store, clock = new_store(), Clock()
    for n in range(3):
        await run(store, clock, [{"type": "ADD", "n": n, "delay": 10_000}], eager=False)
    assert [n for _, _, n in (await stored(store))["timers"]] == [0, 1, 2]


async def test_a_run_that_touches_no_timer_writes_the_stored_timers_back_unparsed() -> None:
    store, clock = new_store(), Clock()
    await run(store, clock, [{"type": "ADD", "n": n, "id": f"t{n}", "delay": 10_000} for n in range(50)], eager=False)
    before = (await store.read("a.json")).data  # type: ignore[union-attr]
    pa = PersistableActor(id="a", storage=store, actor_creator=creator)
    pa.clock = DurableClock(clock)  # nothing due yet
    await pa.init()
    pa.actor.send({"type": "DROP", "id": "t7"})
    pa.actor.send({"type": "ADD", "n": 99, "id": "t8", "delay": 5})  # replaces the stored t8
    timers = pa.record.timers  # type: ignore[union-attr]
    assert isinstance(timers, StoredTimers) and not timers.is_parsed
    await pa.save()
    await pa.close()
    after = await stored(store)
    assert len(before) > 0
    assert [(id, n) for id, _, n in after["timers"] if id in ("t7", "t8")] == [("t8", 99)]
    assert len(after["timers"]) == 49


async def test_a_corrupt_timer_line_is_a_record_error_when_the_timers_are_needed() -> None:
    store, clock = new_store(), Clock()
    await run(store, clock, [{"type": "ADD", "n": 1, "id": "x", "delay": 10}], eager=False)
    found = await store.read("a.json")
    assert found is not None
    data = found.data.replace(b'"event":{"type":"LATER","n":1}', b'"event":{"type":"LATER","n":1]')
    assert data != found.data
    await store.write("a.json", data, found.version)
    clock.now += 100  # due: the run must parse the timers
    with pytest.raises(RecordError, match="timers"):
        await run(store, clock, [], eager=False)
    assert (await store.read("a.json")).data == data  # type: ignore[union-attr]  # nothing overwritten


async def test_records_written_before_timers_came_first_still_load() -> None:
    store, clock = new_store(), Clock()
    await run(store, clock, [{"type": "ADD", "n": n, "id": f"t{n}", "delay": 10 + n} for n in range(3)], eager=False)
    found = await store.read("a.json")
    assert found is not None
    old_layout = json.dumps(json.loads(found.data)).encode()  # keys in the old order, no timersBytes first
    await store.write("a.json", old_layout, found.version)
    clock.now += 11
    await run(store, clock, [], eager=False)
    assert (await stored(store))["fired"] == [0, 1]
