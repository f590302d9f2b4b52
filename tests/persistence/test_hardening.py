"""Issue 11 (hardening): poison records, run_due's clock and result, failing actions, a release that
fails after a committed save, delete_when_done on a first run, events nested too deeply."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from durable_xstate import (
    PersistableActor,
    SimulatedClock,
    assign,
    create_actor,
    setup,
    with_persistable_actor,
)
from durable_xstate.errors import (
    ActorFailed,
    DurableXStateError,
    RecordError,
    SnapshotError,
    StoreUnavailable,
    UnusableSnapshot,
)
from durable_xstate.persistence import RunDueResult, run_due
from durable_xstate.persistence.record import MAX_DEPTH
from durable_xstate.stores import IndexEntry, Lease, LockableStorage, MemoryStore, open_store


def _boom(args: Any, params: Any) -> None:
    raise ZeroDivisionError("division by zero in boom")


def _bad_guard(args: Any, params: Any) -> bool:
    raise KeyError("no such thing")


COUNTER = setup(
    actions={"inc": assign({"n": lambda a, p: a.context["n"] + 1}), "boom": _boom,
             "keep": assign({"last": lambda a, p: a.event})},
    guards={"bad": _bad_guard},
).create_machine(
    {
        "id": "counter",
        "version": "1",
        "initial": "on",
        "context": {"n": 0, "last": None},
        "states": {
            "on": {
                "on": {
                    "INC": {"actions": "inc"},
                    "BOOM": {"actions": "boom"},
                    "GUARDED": {"guard": "bad", "actions": "inc"},
                    "KEEP": {"actions": "keep"},
                    "WAIT": "waiting",
                    "FINISH": "finished",
                }
            },
            "waiting": {"after": {"3600000": "rang"}},
            "rang": {},
            "finished": {"type": "final"},
        },
    }
)


def creator(id: str, snapshot: Any) -> Any:
    return create_actor(COUNTER, id=id, snapshot=snapshot)


def memory() -> LockableStorage:
    s = MemoryStore()
    return LockableStorage(s, s)


async def send(store: LockableStorage, actor_id: str, *events: str, **options: Any) -> Any:
    async def run(actor: Any) -> None:
        for event in events:
            actor.send({"type": event})

    return await with_persistable_actor(run, id=actor_id, storage=store, actor_creator=creator, **options)


GOOD = {"format": "durable-xstate.record/1", "id": "p", "machine": {"id": "counter", "version": "1"},
        "snapshot": None, "timers": [], "outbox": [], "seen": [], "revision": 1}

POISON: dict[str, bytes] = {
    "huge-int": b'{"format": "durable-xstate.record/1", "revision": ' + b"7" * 5000 + b"}",
    "deep": b'{"format": "durable-xstate.record/1", "snapshot": {"context": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
    "nan": b'{"format": "durable-xstate.record/1", "expiresAt": NaN}',
    "infinity": json.dumps({**GOOD, "timers": [{"id": "t", "event": {"type": "x"}, "delay": 1e400,
                                                "startedAt": 0}]}).encode(),
    "timer-types": json.dumps({**GOOD, "timers": [{"id": 5, "event": "x", "delay": "soon", "startedAt": None}]}).encode(),
    "timer-not-object": json.dumps({**GOOD, "timers": [[1, 2]]}).encode(),
    "outbox-types": json.dumps({**GOOD, "outbox": [{"event": {}}]}).encode(),
    "seen-types": json.dumps({**GOOD, "seen": [{"k": 1}]}).encode(),
    "revision-type": json.dumps({**GOOD, "revision": "7"}).encode(),
    "revision-negative": json.dumps({**GOOD, "revision": -1}).encode(),
    "machine-types": json.dumps({**GOOD, "machine": {"id": ["counter"], "version": 1}}).encode(),
    "expires-type": json.dumps({**GOOD, "expiresAt": "tomorrow"}).encode(),
    "not-json": b"\xff\xfe\x00garbage",
    "long-format": json.dumps({**GOOD, "format": "x" * 100_000}).encode(),
}


@pytest.mark.parametrize("name", sorted(POISON))
async def test_a_poison_record_is_a_short_record_error_and_stays_intact(name: str) -> None:
    s = memory()
    await s.write("p.json", POISON[name])
    with pytest.raises(RecordError) as caught:
        await send(s, "p", "INC", locking="read-write")
    assert isinstance(caught.value, ValueError)
    assert "p.json" in str(caught.value) and len(str(caught.value)) < 400  # names the key, echoes little
    stored = await s.read("p.json")
    assert stored is not None and stored.data == POISON[name]
    assert not await s.is_locked("p.json")


@pytest.mark.parametrize("snapshot", [
    {"status": "active", "value": "nowhere", "context": {"n": 0}, "children": {}, "historyValue": {}},
    {"status": "sleeping", "value": "on", "context": {"n": 0}, "children": {}, "historyValue": {}},
    {"status": "active", "value": "on", "context": {"n": 0}, "children": {"kid": 5}, "historyValue": {}},
    {"value": ["on"]},
])
async def test_a_snapshot_that_does_not_fit_its_machine_is_unusable_snapshot(snapshot: dict[str, Any]) -> None:
    s = memory()
    data = json.dumps({**GOOD, "snapshot": snapshot}).encode()
    await s.write("p.json", data)
    with pytest.raises(UnusableSnapshot) as caught:
        await send(s, "p", "INC")
    assert isinstance(caught.value, RecordError) and isinstance(caught.value, SnapshotError)
    assert "p.json" in str(caught.value)
    assert (await s.read("p.json")).data == data  # type: ignore[union-attr]


async def _waiting(s: LockableStorage, actor_id: str, now: float) -> None:
    pa = PersistableActor(id=actor_id, storage=s, actor_creator=creator, clock=SimulatedClock(now=now))
    await pa.init()
    pa.actor.send({"type": "WAIT"})
    await pa.save()
    await pa.close()


async def _value(s: LockableStorage, actor_id: str) -> Any:
    stored = await s.read(f"{actor_id}.json")
    assert stored is not None
    return json.loads(stored.data)["snapshot"]["value"]


async def test_run_due_skips_poison_records_reports_them_and_advances_the_others() -> None:
    s = memory()
    await _waiting(s, "a", 0)
    await _waiting(s, "z", 0)
    # poison bytes behind an index entry that says "due" (as if the record went bad after a proper write)
    for name, data in POISON.items():
        await s.write(f"poison-{name}.json", data, index=IndexEntry(0.0))
    # a record that reads well but whose snapshot does not fit, with a due timer
    unfit = {**GOOD, "snapshot": {"status": "active", "value": "nowhere", "context": {}, "children": {},
                                  "historyValue": {}},
             "timers": [{"id": "t", "source": [], "target": [], "event": {"type": "x"}, "delay": 1, "startedAt": 0}]}
    await s.write("unfit.json", json.dumps(unfit).encode(), index=IndexEntry(1.0))
    errors: dict[str, BaseException] = {}
    result = await run_due(s, {"counter": COUNTER}, now_ms=10_000_000, errors=errors)
    assert isinstance(result, RunDueResult) and isinstance(result, list)
    assert sorted(result) == ["a", "z"]
    assert await _value(s, "a") == "rang" and await _value(s, "z") == "rang"
    assert set(result.failed) == {f"poison-{n}" for n in POISON} | {"unfit"}
    assert all(isinstance(e, RecordError) for e in result.failed.values())
    assert isinstance(result.failed["unfit"], UnusableSnapshot)
    assert errors == result.failed  # the old errors= argument still gets them


async def test_run_due_fires_with_the_time_it_selects_by() -> None:
    """now_ms ahead of the wall clock: the timers due by now_ms fire (before, the wall clock fired
    nothing and the actor was still reported as advanced)."""
    s = memory()
    wall = time.time() * 1000
    await _waiting(s, "w", wall)  # due in an hour of wall time
    assert await run_due(s, {"counter": COUNTER}, now_ms=wall + 1000) == []
    assert await _value(s, "w") == "waiting"
    result = await run_due(s, {"counter": COUNTER}, now_ms=wall + 2 * 3_600_000)
    assert result == ["w"] and not result.failed and not result.skipped
    assert await _value(s, "w") == "rang"


async def test_run_due_counts_an_actor_as_advanced_only_if_a_timer_fired() -> None:
    s = memory()
    await _waiting(s, "gone", 0)
    stored = await s.read("gone.json")
    assert stored is not None
    record = json.loads(stored.data)
    record["timers"][0]["source"] = ["no-such-child"]  # its actor is gone: the timer is dropped, nothing fires
    await s.write("gone.json", json.dumps(record).encode(), stored.version, index=IndexEntry(record["nextDueAt"]))
    result = await run_due(s, {"counter": COUNTER}, now_ms=10_000_000)
    assert result == [] and "gone" in result.skipped and await _value(s, "gone") == "waiting"


async def test_run_due_refuses_two_different_times_and_reports_busy_and_unknown_machines() -> None:
    s = memory()
    with pytest.raises(ValueError, match="now_ms"):
        await run_due(s, {"counter": COUNTER}, now_ms=5, clock=SimulatedClock(now=6))
    await _waiting(s, "held", 0)
    await _waiting(s, "free", 0)
    lease = await s.acquire("held.json", "someone-else", 600, 1)  # held for the whole test (docs/testing.md, rule 1)
    try:
        # a held lock counts as busy after acquire_lock_timeout (the default 5 s would only slow the test)
        result = await run_due(s, {"counter": COUNTER}, now_ms=10_000_000, clock=SimulatedClock(now=10_000_000),
                               acquire_lock_timeout=0.2)
    finally:
        await s.release(lease)
    assert result == ["free"] and result.busy == ["held"]
    assert await _value(s, "held") == "waiting"
    await _waiting(s, "x", 0)
    result = await run_due(s, {}, now_ms=10_000_000)
    assert result == [] and set(result.skipped) == {"held", "x"}


@pytest.mark.parametrize("event", ["BOOM", "GUARDED"])
async def test_an_action_or_guard_that_raises_is_actor_failed_and_nothing_is_saved(event: str) -> None:
    s = memory()
    await send(s, "c", "INC")
    before = await s.read("c.json")
    with pytest.raises(ActorFailed) as caught:
        await send(s, "c", "INC", event, locking="read-write")
    err = caught.value
    assert err.actor_id == "c" and "'c'" in str(err)
    assert err.__cause__ is err.error
    # an action's error as raised; a guard's wrapped by the engine (xstate's message), the original its cause
    original = err.error if event == "BOOM" else err.error.__cause__
    assert isinstance(original, ZeroDivisionError if event == "BOOM" else KeyError)
    assert await s.read("c.json") == before and not await s.is_locked("c.json")
    await send(s, "c", "INC")  # nothing of the failed run stuck: the actor goes on
    stored = await s.read("c.json")
    assert stored is not None and json.loads(stored.data)["snapshot"]["context"]["n"] == 2

    pa = PersistableActor(id="c", storage=s, actor_creator=creator)
    await pa.init()
    pa.actor.send({"type": event})
    with pytest.raises(ActorFailed):
        await pa.save()
    await pa.close()
    assert await s.read("c.json") == stored


async def test_on_error_save_stores_the_error_state_with_its_message() -> None:
    s = memory()
    with pytest.raises(ValueError, match="on_error"):
        PersistableActor(id="c", storage=s, actor_creator=creator, on_error="ignore")  # type: ignore[arg-type]
    await send(s, "c", "INC", "BOOM", on_error="save")
    stored = await s.read("c.json")
    assert stored is not None
    snapshot = json.loads(stored.data)["snapshot"]
    assert snapshot["status"] == "error"
    assert snapshot["error"] == {"type": "ZeroDivisionError", "message": "division by zero in boom"}
    await send(s, "c", "INC", on_error="save")  # an actor stored failed loads, and (as in xstate) ignores events
    again = await s.read("c.json")
    assert again is not None and json.loads(again.data)["snapshot"]["error"] == snapshot["error"]


class ReleaseFailsAfterSave(LockableStorage):
    """A real SQLite store whose lock release fails, as when the lock server goes away after the save."""

    def __init__(self, inner: LockableStorage) -> None:
        super().__init__(inner.storage, inner.lock)
        self.releases = 0

    async def release(self, lease: Lease) -> None:
        self.releases += 1
        raise StoreUnavailable("sqlite", "release", ConnectionError("the server went away"))


async def test_write_lock_a_committed_save_is_reported_committed_when_the_release_fails(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s = ReleaseFailsAfterSave(open_store(f"sqlite://{tmp_path / 'store.db'}"))
    try:
        with caplog.at_level(logging.WARNING, logger="durable_xstate.persistence"):
            await send(s, "w", "INC", locking="write", lease_seconds=0.2)
        assert s.releases == 1 and "releasing the lease failed" in caplog.text
        await asyncio.sleep(0.3)  # the unreleased lease expires on its own
        await send(s, "w", "INC", locking="write", lease_seconds=0.2)
        stored = await s.read("w.json")
        assert stored is not None
        data = json.loads(stored.data)
        assert data["snapshot"]["context"]["n"] == 2 and data["revision"] == 2  # each event applied once
    finally:
        await s.close()


class CountingWrites(LockableStorage):
    """A real store that remembers the keys written (to prove a record was never written)."""

    def __init__(self, inner: LockableStorage) -> None:
        super().__init__(inner.storage, inner.lock)
        self.written: list[str] = []

    async def write(self, key: str, data: bytes, expected_version: str | None = None, *,
                    lease: Lease | None = None, index: IndexEntry | None = None) -> str:
        self.written.append(key)
        return await super().write(key, data, expected_version, lease=lease, index=index)


@pytest.mark.parametrize("locking", [None, "write", "read-write"])
async def test_delete_when_done_an_actor_finished_in_its_first_run_is_never_written(
    tmp_path: Path, locking: Any
) -> None:
    s = CountingWrites(open_store(f"file://{tmp_path / 'store'}"))
    try:
        await send(s, "d", "INC", "FINISH", delete_when_done=True, locking=locking)
        assert await s.read("d.json") is None and s.written == []
        await send(s, "e", "INC", delete_when_done=True, locking=locking)  # not done: kept
        await send(s, "e", "FINISH", delete_when_done=True, locking=locking)  # done on a later run: deleted
        assert await s.read("e.json") is None
    finally:
        await s.close()


def _deep_event(depth: int) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "KEEP"}
    node = event
    for _ in range(depth):
        node["x"] = {}
        node = node["x"]
    return event


@pytest.mark.parametrize("depth", [100_000, MAX_DEPTH + 10])
async def test_an_event_nested_too_deeply_is_a_typed_error_and_nothing_is_stored(depth: int) -> None:
    s = memory()
    deep = _deep_event(depth)
    with pytest.raises(DurableXStateError) as caught:
        await with_persistable_actor(lambda a: a.send(deep), id="n", storage=s, actor_creator=creator)
    assert isinstance(caught.value, ValueError) and not isinstance(caught.value, RecursionError)
    assert await s.read("n.json") is None
    await send(s, "m", "INC")
    before = await s.read("m.json")
    with pytest.raises(DurableXStateError) as caught:
        await with_persistable_actor(lambda a: a.send(deep), id="m", storage=s, actor_creator=creator,
                                     locking="read-write")
    assert isinstance(caught.value, ValueError)
    assert await s.read("m.json") == before and not await s.is_locked("m.json")
