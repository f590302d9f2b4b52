"""The worker (persistence.run_worker, ``durable-xstate worker``): it fires each due timer exactly once,
sleeps until the next due time, survives SIGKILL, shares a store with other workers and stops on SIGTERM.

Each test actor starts idle, is sent START with a delay, and fires one timer that adds 1 to
``context.count`` (so a timer fired twice shows as 2, or as a third revision). Process tests run the
real command on the file store and on redis (real server, tests/stores/provider_redis.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from harness import BackendUnderTest, make_backend

from durable_xstate.actors.actor import create_actor
from durable_xstate.errors import InvalidArgument
from durable_xstate.persistence import (
    PersistableActor,
    StoredRecord,
    run_worker,
    seconds_until_next_due,
)
from durable_xstate.stores import IndexEntry, LockableStorage, MemoryStore, open_store

MACHINE_SOURCE = '''
import pathlib, time
from durable_xstate.machine import assign, setup


def _count(args, params):
    marker = args.context.get("marker")
    if marker:  # tells the test this actor is in hand
        pathlib.Path(marker).write_text("in hand")
    time.sleep(args.context.get("holdS", 0))  # keeps it in hand a while
    return {"count": args.context["count"] + 1}


machine = setup(
    actions={
        "start": assign(lambda args, params: {k: v for k, v in args.event.items() if k != "type"}),
        "count": assign(lambda args, params: _count(args, params)),
    },
    delays={"wait": lambda args, params: args.context["waitMs"]},
).create_machine({
    "id": "ticker", "version": "1", "initial": "idle", "context": {"count": 0, "waitMs": 0},
    "states": {
        "idle": {"on": {"START": {"target": "waiting", "actions": "start"}}},
        "waiting": {"after": {"wait": {"target": "fired", "actions": "count"}}},
        "fired": {},
    },
})
'''

_namespace: dict[str, Any] = {}
exec(compile(MACHINE_SOURCE, "tickmachine.py", "exec"), _namespace)
MACHINE = _namespace["machine"]
BOUND = 30.0  # generous caps: they catch a hang, they do not time anything


def _creator(id: str, snapshot: Any) -> Any:
    return create_actor(MACHINE, id=id, snapshot=snapshot)


async def _seed(store: LockableStorage, ids: list[str], wait_ms: float, **context: Any) -> None:
    for actor_id in ids:
        pa = PersistableActor(id=actor_id, storage=store, actor_creator=_creator, locking="read-write")
        await pa.init()
        pa.actor.send({"type": "START", "waitMs": wait_ms, **context})
        await pa.save()
        await pa.close()


async def _record(store: LockableStorage, actor_id: str) -> StoredRecord:
    stored = await store.read(f"{actor_id}.json")
    assert stored is not None
    return StoredRecord.decode(stored.data, key=f"{actor_id}.json", version=stored.version)


async def _counts(store: LockableStorage, ids: list[str]) -> dict[str, int]:
    return {i: (await _record(store, i)).snapshot["context"]["count"] for i in ids}


async def _wait_for(check: Any, what: str, bound: float = BOUND, watch: Any = ()) -> None:
    deadline = time.monotonic() + bound
    while not await check():
        for task in watch:  # a worker that died says why at once
            if task.done():
                task.result()
                raise AssertionError(f"a worker stopped before: {what}")
        assert time.monotonic() < deadline, f"not within {bound}s: {what}"
        await asyncio.sleep(0.05)


async def _all_fired(store: LockableStorage, ids: list[str]) -> bool:
    return all(c >= 1 for c in (await _counts(store, ids)).values())


async def _assert_each_fired_once(store: LockableStorage, ids: list[str]) -> None:
    for actor_id in ids:
        record = await _record(store, actor_id)
        assert record.snapshot["value"] == "fired", actor_id
        assert record.snapshot["context"]["count"] == 1, actor_id
        assert record.revision == 2, f"{actor_id}: seeded at revision 1, fired once at 2, got {record.revision}"


# ------------------------------------------------------------------------------------ in-process
@pytest.fixture(params=["memory", "file", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> BackendUnderTest:
    return make_backend(request.param, request, tmp_path)


async def test_two_workers_fire_each_timer_exactly_once(backend: BackendUnderTest) -> None:
    stores = [backend.open() for _ in range(3)]
    ids = [f"t{i:02d}" for i in range(30)]
    try:
        await _seed(stores[0], ids, 0)
        stop = asyncio.Event()
        workers = [asyncio.create_task(run_worker(s, [MACHINE], poll=0.2, stop=stop)) for s in stores[1:]]
        await _wait_for(lambda: _all_fired(stores[0], ids), "every timer fired", watch=workers)
        stop.set()
        stats = await asyncio.gather(*workers)
        await _assert_each_fired_once(stores[0], ids)
        assert sum(s.fired for s in stats) == len(ids)
        assert sum(s.failed for s in stats) == 0
    finally:
        for s in stores:
            await s.close()


async def test_a_worker_sleeps_until_the_next_due_time_not_the_poll_interval() -> None:
    store = open_store("memory://worker-sleeps")  # keeps an index: the worker knows the next due time
    try:
        await _seed(store, ["soon"], 300)
        await _seed(store, ["later"], 1200)
        stop = asyncio.Event()
        started = time.monotonic()
        task = asyncio.create_task(run_worker(store, [MACHINE], poll=60, stop=stop))
        await _wait_for(lambda: _all_fired(store, ["soon", "later"]), "both timers fired, long before the poll",
                        watch=[task])
        took = time.monotonic() - started
        stop.set()
        stats = await task
        assert took < 30  # far below poll=60: it slept until each due time
        assert stats.fired == 2 and stats.passes <= 6  # a pass per due time (and one at start), no spinning
        await _assert_each_fired_once(store, ["soon", "later"])
    finally:
        await store.close()


async def test_a_new_earlier_timer_is_noticed_within_the_poll_interval() -> None:
    store = open_store("memory://worker-new-timer")
    try:
        await _seed(store, ["far"], 3_600_000)
        stop = asyncio.Event()
        task = asyncio.create_task(run_worker(store, [MACHINE], poll=0.3, stop=stop))
        await asyncio.sleep(0.2)  # the worker now sleeps towards "far", at most 0.3 s
        await _seed(store, ["near"], 0)  # written by someone else, due at once
        await _wait_for(lambda: _all_fired(store, ["near"]), "the new timer fired", bound=10, watch=[task])
        stop.set()
        await task
        assert (await _counts(store, ["far"])) == {"far": 0}
    finally:
        await store.close()


async def test_seconds_until_next_due_reads_the_index_and_caps_at_poll(tmp_path: Path) -> None:
    store = open_store("memory://worker-next-due")
    try:
        now = time.time() * 1000
        assert await seconds_until_next_due(store, now, 30) == 30  # nothing stored
        await _seed(store, ["a"], 5000)
        due = (await _record(store, "a")).next_due_at
        assert due is not None
        assert await seconds_until_next_due(store, now, 30) == pytest.approx((due - now) / 1000)
        assert await seconds_until_next_due(store, now, 2) == 2  # capped
        assert await seconds_until_next_due(store, due, 30) == 30  # nothing due after it
    finally:
        await store.close()
    unindexed = LockableStorage(_NoIndex(), None)
    try:
        assert not unindexed.indexes  # a store without an index: poll it is
        assert await seconds_until_next_due(unindexed, time.time() * 1000, 7) == 7
    finally:
        await unindexed.close()


async def test_bad_poll_is_a_typed_error_and_one_failing_actor_does_not_stop_the_others(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}")
    try:
        with pytest.raises(InvalidArgument) as info:
            await run_worker(store, [MACHINE], poll=0)
        assert isinstance(info.value, ValueError) and "poll" in str(info.value)
        await _seed(store, ["good"], 0)
        await _seed(store, ["poison"], 0)
        stored = await store.read("poison.json")
        assert stored is not None
        # the bytes went bad after a proper write: the index still says the record is due
        await store.write("poison.json", b"{not json", stored.version, index=IndexEntry(0.0))
        stop = asyncio.Event()
        task = asyncio.create_task(run_worker(store, [MACHINE], poll=0.1, stop=stop))
        await _wait_for(lambda: _all_fired(store, ["good"]), "the good actor fired", watch=[task])
        await asyncio.sleep(0.3)  # a few more passes: the poison record fails each, nothing spins or stops
        stop.set()
        stats = await task
        assert stats.fired == 1 and stats.failed >= 1
        assert (await store.read("poison.json")).data == b"{not json"  # type: ignore[union-attr]
    finally:
        await store.close()


# ------------------------------------------------------------------------------------ real processes
@pytest.fixture(params=["file", "redis"])
def shared_backend(request: pytest.FixtureRequest, tmp_path: Path) -> BackendUnderTest:
    return make_backend(request.param, request, tmp_path)


def _start_worker(backend: BackendUnderTest, tmp_path: Path, name: str, *extra: str) -> tuple[subprocess.Popen[bytes], Path]:
    (tmp_path / "tickmachine.py").write_text(MACHINE_SOURCE)
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(tmp_path)])}
    log = tmp_path / f"{name}.log"
    args = [sys.executable, "-m", "durable_xstate", "worker", "--store", backend.url, "-m", "tickmachine:machine",
            "--json", *extra]
    if backend.lock_url:
        args += ["--lock", backend.lock_url]
    proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=log.open("wb"))
    return proc, log


def _fired_lines(log: Path) -> list[str]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line["actor"] for line in lines if line.get("event") == "fired"]


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=BOUND)


@pytest.mark.slow
async def test_a_worker_killed_mid_run_leaves_the_rest_to_the_next_and_nothing_fires_twice(
    shared_backend: BackendUnderTest, tmp_path: Path
) -> None:
    store = shared_backend.open()
    ids = [f"k{i:02d}" for i in range(60)]
    try:
        await _seed(store, ids, 0, holdS=0.05)  # a pass takes 3 s: the kill lands mid-run, likely mid-actor
        first, first_log = _start_worker(shared_backend, tmp_path, "first", "--poll", "0.2", "--lease", "1")
        try:
            await _wait_for(lambda: _async(len(_fired_lines(first_log)) >= 5), "the first worker fired some")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=BOUND)
        finally:
            if first.poll() is None:
                first.kill()
        done_before = sum(c for c in (await _counts(store, ids)).values())
        assert done_before < len(ids), "killed too late to test a restart: seed more actors"
        second, second_log = _start_worker(shared_backend, tmp_path, "second", "--poll", "0.2", "--lease", "1")
        try:
            await _wait_for(lambda: _all_fired(store, ids), "the restarted worker fired the rest")
        finally:
            assert _stop(second) == 0
        await _assert_each_fired_once(store, ids)
        told = Counter(_fired_lines(first_log) + _fired_lines(second_log))
        assert max(told.values()) == 1, f"fired twice: {[i for i, n in told.items() if n > 1]}"
        # the killed worker may have saved its last actor without living to log it, never more
        assert len(ids) - len(told) <= 1
        assert not await store.is_locked(f"{ids[0]}.json")
    finally:
        await store.close()


@pytest.mark.slow
async def test_two_worker_processes_fire_each_timer_exactly_once(shared_backend: BackendUnderTest, tmp_path: Path) -> None:
    store = shared_backend.open()
    ids = [f"p{i:02d}" for i in range(40)]
    try:
        await _seed(store, ids, 1500)  # due once both workers are up
        workers = [_start_worker(shared_backend, tmp_path, f"w{n}", "--poll", "0.2") for n in range(2)]
        try:
            await _wait_for(lambda: _all_fired(store, ids), "every timer fired")
        finally:
            codes = [_stop(proc) for proc, _ in workers]
        assert codes == [0, 0]
        await _assert_each_fired_once(store, ids)
        told = Counter(actor for _, log in workers for actor in _fired_lines(log))
        assert told == Counter(ids)  # each actor logged as fired exactly once, by one of the two
    finally:
        await store.close()


@pytest.mark.slow
async def test_sigterm_finishes_the_actor_in_hand_releases_its_lease_and_exits_0(
    shared_backend: BackendUnderTest, tmp_path: Path
) -> None:
    store = shared_backend.open()
    marker = tmp_path / "in-hand"
    try:
        await _seed(store, ["a-slow"], 0, marker=str(marker), holdS=1.5)
        await _seed(store, ["b-next"], 0)  # due too, but after the slow one: never begun once stopped
        proc, log = _start_worker(shared_backend, tmp_path, "term", "--poll", "0.2")
        try:
            await _wait_for(lambda: _async(marker.exists()), "the worker took the slow actor")
            proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            code = proc.wait(timeout=BOUND)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert code == 0, log.read_text()
        assert time.monotonic() - started < BOUND
        assert await _counts(store, ["a-slow", "b-next"]) == {"a-slow": 1, "b-next": 0}
        assert _fired_lines(log) == ["a-slow"]
        # the lease went back: another holder takes the actor at once (one try, no waiting)
        lease = await store.acquire("a-slow.json", "someone-else", 5, timeout=0)
        await store.release(lease)
    finally:
        await store.close()


async def _async(value: bool) -> bool:
    return value


async def test_an_unreachable_store_fails_the_pass_not_the_worker(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    dead = make_backend("file", request, tmp_path).dead_url
    assert dead is not None
    store = open_store(dead)
    try:
        stop = asyncio.Event()
        task = asyncio.create_task(run_worker(store, [MACHINE], poll=0.05, stop=stop))
        await asyncio.sleep(0.5)
        assert not task.done(), "the worker died with its store"
        stop.set()
        stats = await task
        assert stats.store_faults >= 2 and stats.store_faults == stats.passes  # each pass failed, each retried
    finally:
        await store.close()


class _NoIndex(MemoryStore):
    """A real store that keeps no index (as a backend without one would)."""

    indexes = False
