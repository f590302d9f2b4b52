"""PersistableActor on the in-memory store (the reliability suite runs the same against every backend)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from durable_xstate import (
    PersistableActor,
    SimulatedClock,
    assign,
    create_actor,
    emit,
    raise_,
    setup,
    with_persistable_actor,
)
from durable_xstate.errors import (
    AcquireLockError,
    InvalidKey,
    LeaseLost,
    MachineMismatch,
    PersistenceError,
    RecordError,
    WriteConflict,
)
from durable_xstate.persistence import cleanup, run_due
from durable_xstate.stores import LockableStorage, MemoryStore, open_store

ORDER = setup(
    actions={
        "count": assign({"n": lambda a, p: a.context["n"] + 1}),
        "shipped": emit(lambda a, p: {"type": "order.shipped", "n": a.context["n"]}),
    }
).create_machine(
    {
        "id": "order",
        "version": "1.0.0",
        "initial": "open",
        "context": {"n": 0},
        "states": {
            "open": {
                "on": {"ADD": {"actions": "count"}, "PAY": "paying"},
            },
            "paying": {"after": {"1000": "shipped"}, "on": {"CANCEL": "open"}},
            "shipped": {"entry": "shipped", "type": "final"},
        },
    }
)


def creator(id: str, snapshot: Any) -> Any:
    return create_actor(ORDER, id=id, snapshot=snapshot)


def store() -> LockableStorage:
    s = MemoryStore()
    return LockableStorage(s, s)


async def test_original_style_flow_and_record_shape() -> None:
    s = store()
    pa = PersistableActor(id="order-42", storage=s, actor_creator=creator, locking="read-write")
    await pa.init()
    pa.actor.start()  # harmless second start, as in xstate
    pa.actor.send({"type": "ADD"})
    await pa.save()
    await pa.close()
    stored = await s.read("order-42.json")
    assert stored is not None
    record = json.loads(stored.data)
    assert record["format"] == "durable-xstate.record/1"
    assert record["machine"] == {"id": "order", "version": "1.0.0"}
    assert record["snapshot"] == {"status": "active", "value": "open", "historyValue": {}, "context": {"n": 1},
                                  "children": {}}
    assert record["revision"] == 1 and record["timers"] == [] and record["outbox"] == []
    assert not await s.is_locked("order-42.json")


async def test_actor_before_init_and_after_close_and_init_twice() -> None:
    pa = PersistableActor(id="o", storage=store(), actor_creator=creator)
    with pytest.raises(PersistenceError, match="No actor available"):
        _ = pa.actor
    await pa.init()
    with pytest.raises(PersistenceError, match="Actor already initiated"):
        await pa.init()
    await pa.close()
    with pytest.raises(PersistenceError):
        _ = pa.actor


async def test_optimistic_mode_never_loses_an_update() -> None:
    s = store()
    a = PersistableActor(id="o", storage=s, actor_creator=creator)
    b = PersistableActor(id="o", storage=s, actor_creator=creator)
    await a.init()
    await b.init()
    a.actor.send({"type": "ADD"})
    b.actor.send({"type": "ADD"})
    await a.save()
    with pytest.raises(WriteConflict):
        await b.save()
    await a.close()
    await b.close()


async def test_with_persistable_actor_retries_on_conflict_and_returns_result() -> None:
    s = store()
    calls = 0

    async def bump(actor: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:  # someone else saves while we work
            await with_persistable_actor(lambda a: a.send({"type": "ADD"}), id="o", storage=s, actor_creator=creator)
        actor.send({"type": "ADD"})
        return int(actor.get_snapshot().context["n"])

    result = await with_persistable_actor(bump, id="o", storage=s, actor_creator=creator, retries_on_conflict=2)
    assert result == 2 and calls == 2


async def test_read_write_lock_is_released_on_every_failure_path() -> None:
    s = store()

    def boom(id: str, snapshot: Any) -> Any:
        raise RuntimeError("creator failed")

    with pytest.raises(RuntimeError, match="creator failed"):
        await with_persistable_actor(lambda a: None, id="o", storage=s, actor_creator=boom, locking="read-write")
    assert not await s.is_locked("o.json")

    class CallbackError(Exception):
        pass

    def fail(actor: Any) -> None:
        actor.send({"type": "ADD"})
        raise CallbackError("callback failed")

    with pytest.raises(CallbackError):
        await with_persistable_actor(fail, id="o", storage=s, actor_creator=creator, locking="read-write")
    assert not await s.is_locked("o.json")
    assert await s.read("o.json") is None  # nothing saved when the callback raised

    await s.write("o.json", b"{not json")
    with pytest.raises(RecordError):
        await with_persistable_actor(lambda a: None, id="o", storage=s, actor_creator=creator, locking="read-write")
    assert not await s.is_locked("o.json")
    stored = await s.read("o.json")
    assert stored is not None and stored.data == b"{not json"  # nothing overwritten

    async def slow(actor: Any) -> None:
        await asyncio.sleep(10)

    await s.delete("o.json")
    task = asyncio.ensure_future(
        with_persistable_actor(slow, id="o", storage=s, actor_creator=creator, locking="read-write")
    )
    await asyncio.sleep(0.01)
    assert await s.is_locked("o.json")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not await s.is_locked("o.json")


async def test_lock_timeout_has_the_original_message() -> None:
    s = store()
    holder = PersistableActor(id="o", storage=s, actor_creator=creator, locking="read-write")
    await holder.init()
    waiter = PersistableActor(id="o", storage=s, actor_creator=creator, locking="read-write",
                              acquire_lock_timeout=0.2)
    with pytest.raises(AcquireLockError, match=r"^Could not acquire lock on path o\.json\.$"):
        await waiter.init()
    await holder.close()


async def test_holder_paused_past_its_lease_cannot_save_over_the_next_holder() -> None:
    s = store()
    slow = PersistableActor(id="o", storage=s, actor_creator=creator, locking="read-write", lease_seconds=0.2)
    await slow.init()
    slow._stop_renewal()  # as if the process were paused: nothing renews its lease
    slow.actor.send({"type": "ADD"})
    await asyncio.sleep(0.3)
    fast = PersistableActor(id="o", storage=s, actor_creator=creator, locking="read-write")
    await fast.init()
    fast.actor.send({"type": "PAY"})
    await fast.save()
    await fast.close()
    with pytest.raises((LeaseLost, WriteConflict)):
        await slow.save()
    await slow.close()
    stored = await s.read("o.json")
    assert stored is not None and json.loads(stored.data)["snapshot"]["value"] == "paying"


async def test_durable_timers_fire_on_a_later_init() -> None:
    s = store()
    clock = SimulatedClock(now=1_000_000)
    pa = PersistableActor(id="o", storage=s, actor_creator=creator, clock=clock)
    await pa.init()
    pa.actor.send({"type": "PAY"})
    await pa.save()
    await pa.close()
    record = json.loads((await s.read("o.json")).data)  # type: ignore[union-attr]
    assert record["timers"][0]["dueAt"] == 1_001_000 and record["nextDueAt"] == 1_001_000
    assert record["timers"][0]["event"] == {"type": "xstate.after.1000.order.paying"}

    early = PersistableActor(id="o", storage=s, actor_creator=creator, clock=SimulatedClock(now=1_000_500))
    await early.init()
    assert early.actor.get_snapshot().value == "paying"
    await early.close()

    late = PersistableActor(id="o", storage=s, actor_creator=creator, clock=SimulatedClock(now=1_002_000))
    actor = await late.init()
    assert actor.get_snapshot().value == "shipped"
    assert [o["event"] for o in late.outbox] == [{"type": "order.shipped", "n": 0}]
    await late.save()
    await late.close()
    record = json.loads((await s.read("o.json")).data)  # type: ignore[union-attr]
    assert record["timers"] == [] and record["outbox"][0]["event"]["type"] == "order.shipped"


async def test_cancelling_state_removes_the_stored_timer() -> None:
    s = store()
    pa = PersistableActor(id="o", storage=s, actor_creator=creator, clock=SimulatedClock(now=0))
    await pa.init()
    pa.actor.send({"type": "PAY"})
    await pa.save()
    await pa.close()
    pa = PersistableActor(id="o", storage=s, actor_creator=creator, clock=SimulatedClock(now=10))
    await pa.init()
    pa.actor.send({"type": "CANCEL"})
    await pa.save()
    await pa.close()
    assert json.loads((await s.read("o.json")).data)["timers"] == []  # type: ignore[union-attr]


async def test_run_due_fires_across_actors() -> None:
    s = store()
    for i in range(3):
        pa = PersistableActor(id=f"o{i}", storage=s, actor_creator=creator, clock=SimulatedClock(now=i * 10_000))
        await pa.init()
        pa.actor.send({"type": "PAY"})
        await pa.save()
        await pa.close()
    fired = await run_due(s, {"order": ORDER}, now_ms=15_000, clock=SimulatedClock(now=15_000))
    assert sorted(fired) == ["o0", "o1"]
    values = {k: json.loads((await s.read(f"{k}.json")).data)["snapshot"]["value"] for k in ("o0", "o1", "o2")}  # type: ignore[union-attr]
    assert values == {"o0": "shipped", "o1": "shipped", "o2": "paying"}


async def test_idempotent_send() -> None:
    s = store()
    async with PersistableActor(id="o", storage=s, actor_creator=creator) as _:
        pass
    pa = PersistableActor(id="o", storage=s, actor_creator=creator)
    await pa.init()
    assert pa.send({"type": "ADD"}, idempotency_key="evt-1") is True
    assert pa.send({"type": "ADD"}, idempotency_key="evt-1") is False
    await pa.save()
    await pa.close()
    pa = PersistableActor(id="o", storage=s, actor_creator=creator)
    await pa.init()
    assert pa.send({"type": "ADD"}, idempotency_key="evt-1") is False
    assert pa.actor.get_snapshot().context["n"] == 1
    await pa.close()


async def test_outbox_confirm() -> None:
    s = store()
    pa = PersistableActor(id="o", storage=s, actor_creator=creator, clock=SimulatedClock(now=0))
    await pa.init()
    pa.actor.send({"type": "PAY"})
    await pa.close()
    pa = PersistableActor(id="o", storage=s, actor_creator=creator, clock=SimulatedClock(now=0))
    await pa.init()
    pa.actor.send({"type": "PAY"})
    pa.clock.increment(1000)
    await pa.save()
    ids = [o["id"] for o in pa.outbox]
    assert len(ids) == 1
    await pa.confirm_outbox(ids)
    assert pa.outbox == []
    await pa.close()
    assert json.loads((await s.read("o.json")).data)["outbox"] == []  # type: ignore[union-attr]


async def test_another_machine_is_refused_unless_migrated() -> None:
    s = store()
    async with PersistableActor(id="o", storage=s, actor_creator=creator):
        pass
    v2_machine = setup(actions=ORDER.implementations.actions).create_machine({**ORDER.config, "version": "2.0.0"})

    def creator2(id: str, snapshot: Any) -> Any:
        return create_actor(v2_machine, id=id, snapshot=snapshot)

    with pytest.raises(MachineMismatch, match=r"version '1\.0\.0'"):
        async with PersistableActor(id="o", storage=s, actor_creator=creator2):
            pass
    migrated: list[int] = []

    def migrate(record: dict[str, Any]) -> dict[str, Any]:
        migrated.append(record["revision"])
        return record

    async with PersistableActor(id="o", storage=s, actor_creator=creator2, migrate=migrate):
        pass
    assert migrated == [1]
    assert json.loads((await s.read("o.json")).data)["machine"]["version"] == "2.0.0"  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", ["../x", "", "x" * 600, "/abs", "a/../../b"])
async def test_invalid_ids_are_refused(bad: str) -> None:
    with pytest.raises(InvalidKey):
        PersistableActor(id=bad, storage=store(), actor_creator=creator)


async def test_foreign_json_is_a_record_error_and_nothing_is_overwritten() -> None:
    s = store()
    await s.write("o.json", json.dumps({"status": "active", "value": "open"}).encode())
    with pytest.raises(RecordError, match="format"):
        async with PersistableActor(id="o", storage=s, actor_creator=creator):
            pass
    assert json.loads((await s.read("o.json")).data) == {"status": "active", "value": "open"}  # type: ignore[union-attr]


async def test_expiry_and_cleanup() -> None:
    s = store()
    clock = SimulatedClock(now=0)
    pa = PersistableActor(id="o", storage=s, actor_creator=creator, clock=clock, expire_after=60)
    await pa.init()
    pa.actor.send({"type": "PAY"})
    clock.increment(1000)
    await pa.save()
    await pa.close()
    assert await cleanup(s, now_ms=30_000) == []
    assert await cleanup(s, now_ms=61_001) == ["o"]
    assert await s.read("o.json") is None


def test_synchronous_context_manager(tmp_path: Any) -> None:
    s = open_store("memory://sync-test")
    with PersistableActor(id="o", storage=s, actor_creator=creator) as actor:
        actor.send({"type": "ADD"})
    with PersistableActor(id="o", storage=s, actor_creator=creator) as actor:
        assert actor.get_snapshot().context["n"] == 1


async def _revision(s: LockableStorage, key: str) -> int:
    stored = await s.read(key)
    assert stored is not None
    return int(json.loads(stored.data)["revision"])


async def test_a_save_with_nothing_changed_writes_nothing() -> None:
    s = store()
    await with_persistable_actor(lambda a: a.send({"type": "ADD"}), id="o", storage=s, actor_creator=creator)
    before = await s.read("o.json")
    assert before is not None
    # an event the machine does not handle, and a load with no event at all: no write, same version
    pa = PersistableActor(id="o", storage=s, actor_creator=creator)
    await pa.init()
    pa.actor.send({"type": "NOT-HANDLED"})
    assert await pa.save() == before.version
    await pa.close()
    await with_persistable_actor(lambda a: None, id="o", storage=s, actor_creator=creator)
    after = await s.read("o.json")
    assert after is not None and after.version == before.version and after.data == before.data
    # a second save of the same run after a real change writes once
    pa = PersistableActor(id="o", storage=s, actor_creator=creator)
    await pa.init()
    pa.actor.send({"type": "ADD"})
    first = await pa.save()
    assert await pa.save() == first
    await pa.close()
    assert await _revision(s, "o.json") == 2


MUTATING = setup(
    actions={"push": lambda a, p: a.context["items"].append(a.event["item"])},  # mutates in place (don't)
).create_machine({"id": "m", "initial": "on", "context": {"items": []},
                  "states": {"on": {"on": {"PUSH": {"actions": "push"}}}}})


async def test_context_mutated_in_place_is_still_saved() -> None:
    """No new snapshot object (xstate keeps the snapshot when no assign ran), but the stored one differs."""
    s = store()

    def make(id: str, snapshot: Any) -> Any:
        return create_actor(MUTATING, id=id, snapshot=snapshot)

    for item in ("a", "b"):
        await with_persistable_actor(lambda a, item=item: a.send({"type": "PUSH", "item": item}), id="m",
                                     storage=s, actor_creator=make)
    stored = await s.read("m.json")
    assert stored is not None
    record = json.loads(stored.data)
    assert record["snapshot"]["context"] == {"items": ["a", "b"]} and record["revision"] == 2


async def test_a_due_timer_whose_event_changes_nothing_is_still_removed() -> None:
    machine = setup(actions={"later": raise_({"type": "TICK"}, delay=100)}).create_machine(
        {"id": "t", "initial": "on", "states": {"on": {"entry": "later"}}})
    s = store()

    def make(id: str, snapshot: Any) -> Any:
        return create_actor(machine, id=id, snapshot=snapshot)

    await with_persistable_actor(lambda a: None, id="t", storage=s, actor_creator=make, clock=SimulatedClock(now=0))
    stored = await s.read("t.json")
    assert stored is not None and len(json.loads(stored.data)["timers"]) == 1
    # later: the timer is due, TICK is not handled, the snapshot stays the same object; the timer must go
    await with_persistable_actor(lambda a: None, id="t", storage=s, actor_creator=make,
                                 clock=SimulatedClock(now=1_000))
    stored = await s.read("t.json")
    assert stored is not None
    record = json.loads(stored.data)
    assert record["timers"] == [] and record["revision"] == 2


async def test_a_long_run_keeps_its_lease_by_renewing_it() -> None:
    """The store's lease clock is the test's: each step waits for the actor to renew at the current lease
    time (in real time, however slowly the machine runs), then moves the lease clock on by two thirds of
    a lease. After five steps, more
    than three lease durations have passed for the store, and the lease is still held."""
    now = [1_000_000.0]
    memory = MemoryStore(clock=lambda: now[0])
    s = LockableStorage(memory, memory)
    renewals = []
    real_renew = s.renew

    async def counting_renew(lease: Any, lease_seconds: float | None = None) -> Any:
        renewed = await real_renew(lease, lease_seconds)
        renewals.append(renewed.expires_at)
        return renewed

    s.renew = counting_renew  # type: ignore[method-assign]
    pa = PersistableActor(id="o", storage=s, actor_creator=creator, locking="read-write", lease_seconds=0.15)
    await pa.init()
    pa.actor.send({"type": "ADD"})
    for _ in range(5):
        seen = len(renewals)
        await _until(lambda seen=seen: len(renewals) > seen)  # type: ignore[misc]  # renewed at this time
        now[0] += 0.1
        assert await s.try_acquire("o.json", "intruder", 1) is None  # still held: renewed
    assert now[0] - 1_000_000.0 > 3 * 0.15
    await pa.save()
    await pa.close()
    assert not await s.is_locked("o.json")
    assert await _revision(s, "o.json") == 1


async def _until(condition: Any, stall_seconds: float = 300.0) -> None:
    """Wait (on the event loop) until ``condition()`` holds; a generous cap only catches a hang."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + stall_seconds
    while not condition():
        assert loop.time() < deadline, "the condition never held"
        await asyncio.sleep(0.005)
