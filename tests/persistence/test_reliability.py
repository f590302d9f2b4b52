"""PersistableActor under concurrency and crashes, on every backend's real server.

- 8 OS processes x 250 events on one actor (x 25 on moto, which serves one request at a time): exactly 2,000 applied in read-write mode and in optimistic
  mode with retries; with no locking and no retries the final count equals the successes reported.
- SIGKILL at random points during saves (300 trials on local files and on SQLite): the record is
  always an old or a new one, never torn, and the next run proceeds.
- A holder paused past its lease cannot save over the next holder's work.
- Corrupt JSON, another machine's record, invalid ids: typed errors, nothing overwritten.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from harness import (
    HELD,
    STALL_SECONDS,
    BackendUnderTest,
    race_size,
    spawn_scripts,
    start_together,
    wait_for_processes,
)

from durable_xstate import PersistableActor, assign, create_actor, setup, with_persistable_actor
from durable_xstate.errors import InvalidKey, LeaseLost, MachineMismatch, RecordError, WriteConflict
from durable_xstate.stores import LockableStorage

WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from durable_xstate import assign, create_actor, setup, with_persistable_actor
    from durable_xstate.errors import WriteConflict
    from durable_xstate.stores import open_store

    COUNTER = setup(actions={"inc": assign({"n": lambda a, p: a.context["n"] + 1})}).create_machine(
        {"id": "counter", "version": "1", "initial": "on", "context": {"n": 0},
         "states": {"on": {"on": {"INC": {"actions": "inc"}}}}})

    def creator(id, snapshot):
        return create_actor(COUNTER, id=id, snapshot=snapshot)

    async def main(url, lock_url, mode, n):
        store = open_store(url, lock=lock_url or None)
        await store.read("shared/counter.json")  # connected and warm: now wait for the others
        print("ready", flush=True)
        sys.stdin.readline()
        ok = 0
        for _ in range(n):
            try:
                await with_persistable_actor(
                    lambda actor: actor.send({"type": "INC"}),
                    id="shared/counter", storage=store, actor_creator=creator,
                    locking="read-write" if mode == "read-write" else None,
                    acquire_lock_timeout=3600, lease_seconds=30,  # no fairness: a worker may wait for all others
                    retries_on_conflict=100000 if mode == "optimistic" else 0,
                )
                ok += 1
            except WriteConflict:
                pass
        await store.close()
        print(ok)

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
    """
)

COUNTER = setup(actions={"inc": lambda a, p: None}).create_machine(
    {"id": "counter", "version": "1", "initial": "on", "context": {"n": 0},
     "states": {"on": {"on": {"INC": {"actions": "inc"}}}}}
)


def _run_workers(backend: BackendUnderTest, tmp_path: Path, mode: str, workers: int, events: int) -> list[int]:
    argv = [backend.url, backend.lock_url or "", mode, str(events)]
    procs = spawn_scripts(tmp_path, "worker.py", WORKER, [argv] * workers, stdin=True)
    start_together(procs)  # however slowly each imports, all race from the same instant
    # No time budget: the wait fails only if the counter stops moving (see harness.wait_for_processes).
    wait_for_processes(procs, lambda: asyncio.run(_read_count(backend)))
    return [int(p.communicate()[0].strip().splitlines()[-1]) for p in procs]


def _run_threads(backend: BackendUnderTest, mode: str, workers: int, events: int) -> list[int]:
    from concurrent.futures import ThreadPoolExecutor

    from durable_xstate.stores.sync import background_loop

    counter = setup(actions={"inc": assign({"n": lambda a, p: a.context["n"] + 1})}).create_machine(COUNTER.config)
    store = backend.open()
    loop = background_loop()

    def worker() -> int:
        ok = 0
        for _ in range(events):
            try:
                loop.run(with_persistable_actor(
                    lambda actor: actor.send({"type": "INC"}), id="shared/counter", storage=store,
                    actor_creator=lambda id, s: create_actor(counter, id=id, snapshot=s),
                    locking="read-write" if mode == "read-write" else None, acquire_lock_timeout=3600,
                    retries_on_conflict=100000 if mode == "optimistic" else 0,
                ))
                ok += 1
            except WriteConflict:
                pass
        return ok

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda _: worker(), range(workers)))


async def _read_count(backend: BackendUnderTest) -> int | None:
    store = backend.open()
    try:
        stored = await store.read("shared/counter.json")
        return None if stored is None else int(json.loads(stored.data)["snapshot"]["context"]["n"])
    finally:
        await store.close()


async def _count(backend: BackendUnderTest) -> int:
    count = await _read_count(backend)
    assert count is not None
    return count


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["read-write", "optimistic", "unprotected"])
async def test_eight_processes_times_250_events(backend: BackendUnderTest, tmp_path: Path, mode: str) -> None:
    """8 workers x 250 events on one actor (x 25 on a server that answers one request at a time: moto)."""
    workers, events = 8, race_size(backend, 250)
    if backend.shared_across_processes:
        counts = await asyncio.to_thread(_run_workers, backend, tmp_path, mode, workers, events)
    else:  # the in-process backend: 8 threads driving the same store through the shared store loop
        counts = await asyncio.to_thread(_run_threads, backend, mode, workers, events)
    final = await _count(backend)
    if mode == "unprotected":
        assert final == sum(counts)  # no silent lost update: every reported success is in the record
        assert final <= workers * events
    else:
        assert counts == [events] * workers
        assert final == workers * events


KILL_TRIALS = textwrap.dedent(
    """
    import asyncio, json, os, random, select, signal, sys, time
    from durable_xstate import assign, create_actor, setup, with_persistable_actor
    from durable_xstate.stores import open_store

    COUNTER = setup(actions={"inc": assign({"n": lambda a, p: a.context["n"] + 1})}).create_machine(
        {"id": "counter", "version": "1", "initial": "on", "context": {"n": 0},
         "states": {"on": {"on": {"INC": {"actions": "inc"}}}}})

    def creator(id, snapshot):
        return create_actor(COUNTER, id=id, snapshot=snapshot)

    async def save_forever(url, started):
        store = open_store(url)
        while True:
            await with_persistable_actor(lambda actor: actor.send({"type": "INC"}), id="k/counter",
                                         storage=store, actor_creator=creator, retries_on_conflict=1000)
            if started is not None:
                os.write(started, b"s")
                os.close(started)
                started = None

    async def read(url):
        store = open_store(url)
        try:
            stored = await store.read("k/counter.json")
            return None if stored is None else stored.data
        finally:
            await store.close()

    def main(url, trials):
        rng = random.Random(20261128)
        last, torn, kills_mid_run = 0, 0, 0
        for _ in range(trials):
            started_r, started_w = os.pipe()
            pid = os.fork()
            if pid == 0:  # the worker: saves as fast as it can until it is killed
                os.close(started_r)
                try:
                    asyncio.run(save_forever(url, started_w))
                finally:
                    os._exit(1)
            os.close(started_w)
            # Kill only once the worker has saved at least once (however slow the machine), then at a
            # random moment of its save loop: the kill lands during saves on any machine.
            ready, _, _ = select.select([started_r], [], [], STALL)
            os.close(started_r)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise SystemExit(f"the worker saved nothing in {STALL} s")
            time.sleep(rng.uniform(0, 0.02))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            data = asyncio.run(read(url))
            if data is None:
                torn += 1  # it had saved: the record cannot be gone
                continue
            try:
                n = json.loads(data)["snapshot"]["context"]["n"]
            except Exception:
                torn += 1
                continue
            if n < last:
                torn += 1
            if n > last:
                kills_mid_run += 1
            last = n
        print(json.dumps({"trials": trials, "torn": torn, "final": last, "progressed": kills_mid_run}))

    STALL = float(sys.argv[3])
    main(sys.argv[1], int(sys.argv[2]))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["file", "sqlite"])
def test_sigkill_during_saves_never_tears_a_record(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    import importlib

    provider = importlib.import_module(f"provider_{name}")
    backend: BackendUnderTest = provider.make_backend(request, "kills", tmp_path)
    script = tmp_path / "kill_trials.py"
    script.write_text(KILL_TRIALS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, str(script), backend.url, "300", str(STALL_SECONDS)], env=env,
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["trials"] == 300 and result["torn"] == 0
    # every kill landed in a worker that had saved and was saving again: the record moved on each trial
    assert result["progressed"] == 300

    counter = setup(actions={"inc": assign({"n": lambda a, p: a.context["n"] + 1})}).create_machine(COUNTER.config)

    async def one_more() -> int:
        s = backend.open()
        try:
            pa = PersistableActor(id="k/counter", storage=s,
                                  actor_creator=lambda id, snap: create_actor(counter, id=id, snapshot=snap))
            actor = await pa.init()
            actor.send({"type": "INC"})
            await pa.save()
            await pa.close()
            return int(actor.get_snapshot().context["n"])
        finally:
            await s.close()

    assert asyncio.run(one_more()) == result["final"] + 1  # the next run proceeds


async def test_holder_paused_past_its_lease_cannot_overwrite(backend: BackendUnderTest) -> None:
    store = backend.open()
    counter = setup(actions={"inc": lambda a, p: None}).create_machine(COUNTER.config)

    def creator(id: str, snapshot: Any) -> Any:
        return create_actor(counter, id=id, snapshot=snapshot)

    try:
        slow = PersistableActor(id="p", storage=store, actor_creator=creator, locking="read-write", lease_seconds=0.4)
        await slow.init()
        slow._stop_renewal()  # the process is paused: nothing renews its lease
        await asyncio.sleep(0.6)
        fast = PersistableActor(id="p", storage=store, actor_creator=creator, locking="read-write",
                                acquire_lock_timeout=HELD)
        await fast.init()
        fast.actor.send({"type": "INC"})
        fast_version = await fast.save()
        await fast.close()
        slow.actor.send({"type": "INC"})
        with pytest.raises((LeaseLost, WriteConflict)):
            await slow.save()
        await slow.close()
        stored = await store.read("p.json")
        assert stored is not None and stored.version == fast_version
    finally:
        await store.close()


async def test_bad_records_and_ids_are_typed_errors_and_nothing_is_overwritten(backend: BackendUnderTest) -> None:
    store: LockableStorage = backend.open()
    counter = setup(actions={"inc": lambda a, p: None}).create_machine(COUNTER.config)
    other = setup(actions={"inc": lambda a, p: None}).create_machine({**COUNTER.config, "id": "other"})

    def creator(id: str, snapshot: Any) -> Any:
        return create_actor(counter, id=id, snapshot=snapshot)

    try:
        await store.write("corrupt.json", b'{"format": "durable-xstate.record/1", "snapshot": ')
        with pytest.raises(RecordError):
            await with_persistable_actor(lambda a: None, id="corrupt", storage=store, actor_creator=creator,
                                         locking="read-write")
        stored = await store.read("corrupt.json")
        assert stored is not None and stored.data.endswith(b'"snapshot": ')
        assert not await store.is_locked("corrupt.json")

        await with_persistable_actor(lambda a: None, id="theirs", storage=store,
                                     actor_creator=lambda id, s: create_actor(other, id=id, snapshot=s))
        before = await store.read("theirs.json")
        with pytest.raises(MachineMismatch):
            await with_persistable_actor(lambda a: a.send({"type": "INC"}), id="theirs", storage=store,
                                         actor_creator=creator)
        assert await store.read("theirs.json") == before

        for bad in ("../x", "", "a" * 600):
            with pytest.raises(InvalidKey):
                await with_persistable_actor(lambda a: None, id=bad, storage=store, actor_creator=creator)
    finally:
        await store.close()
