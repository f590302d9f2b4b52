"""Orchestration under redelivery, crashes and concurrency, on every backend's real server."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from harness import HANG_SECONDS, BackendUnderTest, wait_for_processes

from durable_xstate.cloud import (
    confirm_published,
    create_cloud_event,
    orchestrate_cloud_events,
)
from durable_xstate.cloud.orchestrate import pending_commands
from durable_xstate.examples.summary import ORCHESTRATION, STATEMACHINE
from durable_xstate.stores import SyncStore

COLLECTOR_MODULE = textwrap.dedent(
    """
    from durable_xstate import assign, setup
    from durable_xstate.cloud import create_cloud_event

    machine = setup(actions={
        "add": assign({"items": lambda a, p: [*a.context["items"], a.event["n"]]}),
    }).create_machine({
        "id": "collector", "version": "1.0.0", "initial": "collecting", "context": {"items": []},
        "states": {"collecting": {"on": {"item.added": {"actions": "add"}}}},
    })
    STATEMACHINE = {"version": "1.0.0", "logic": machine}

    def item(n):
        return create_cloud_event(subject="basket", source="/shop", type="item.added", data={"n": n}, id=f"item-{n}")
    """
)


def _env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "collector_machine.py").write_text(COLLECTOR_MODULE)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}


WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from collector_machine import STATEMACHINE, item
    from durable_xstate.cloud import orchestrate_cloud_events
    from durable_xstate.stores import open_store

    async def main(url, lock_url):
        store = open_store(url, lock=lock_url or None)
        for start in range(0, 40, 4):  # ten batches, in order, racing the other workers
            result = await orchestrate_cloud_events(statemachine=STATEMACHINE, storage=store,
                                                    events=[item(n) for n in range(start, start + 4)],
                                                    locking="read-write", acquire_lock_timeout=3600)
            assert not result.errors, result.errors
        await store.close()

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


@pytest.mark.slow
async def test_eight_workers_on_one_subject_apply_each_event_once_in_order(
    backend: BackendUnderTest, tmp_path: Path
) -> None:
    env = _env(tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        from collector_machine import STATEMACHINE as COLLECTOR  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
    store = backend.open()
    try:
        init = await orchestrate_cloud_events(statemachine=COLLECTOR, storage=store, inits=[{"subject": "basket"}])
        assert not init.errors
        if backend.shared_across_processes:
            script = tmp_path / "worker.py"
            script.write_text(WORKER)

            def run_workers() -> None:
                procs = [subprocess.Popen([sys.executable, str(script), backend.url, backend.lock_url or ""], env=env)
                         for _ in range(8)]
                check = SyncStore(backend.open())
                try:  # no time budget: the wait fails only when the basket stops changing
                    wait_for_processes(procs, lambda: getattr(check.read("basket.json"), "version", None))
                finally:
                    check.close()

            await asyncio.to_thread(run_workers)
        else:
            sys.path.insert(0, str(tmp_path))
            from collector_machine import item  # type: ignore[import-not-found]

            async def worker() -> None:
                for start in range(0, 40, 4):
                    r = await orchestrate_cloud_events(statemachine=COLLECTOR, storage=store,
                                                       events=[item(n) for n in range(start, start + 4)])
                    assert not r.errors

            await asyncio.gather(*(worker() for _ in range(8)))
            sys.path.remove(str(tmp_path))
        stored = await store.read("basket.json")
        assert stored is not None
        assert json.loads(stored.data)["snapshot"]["context"]["items"] == list(range(40))
    finally:
        await store.close()


def reply(subject: str, type_: str, n: int, data: dict[str, Any] | None = None) -> Any:
    return create_cloud_event(subject=subject, source="/replies", type=type_, data=data or {}, id=f"{subject}-{n}")


SCRIPT = [
    ("books.evt.fetch.success", {"text": "t"}),
    ("gpt.evt.summary.success", {"summary": "s"}),
    ("regulations.evt.summaryGrounded.success", {}),
    ("regulations.evt.summaryCompliance.success", {}),
]


async def _final_state(store: Any, subjects: list[str]) -> dict[str, Any]:
    out = {}
    for s in subjects:
        stored = await store.read(f"{s}.json")
        assert stored is not None
        record = json.loads(stored.data)
        out[s] = (record["snapshot"]["value"], record["snapshot"]["context"], record["snapshot"]["status"])
    return out


async def test_redelivered_shuffled_batches_end_the_same_and_emit_nothing_new(backend: BackendUnderTest) -> None:
    subjects = [f"book-{i}" for i in range(4)]
    events = [reply(s, t, n, d) for s in subjects for n, (t, d) in enumerate(SCRIPT)]
    store = backend.open()
    try:
        common = {"statemachine": STATEMACHINE, "storage": store, "on_orchestration_state": ORCHESTRATION}
        await orchestrate_cloud_events(**common, inits=[{"subject": s, "context": {"bookId": s}} for s in subjects])
        # a clean delivery, one event per subject in order
        emitted_once: list[str] = []
        for n in range(len(SCRIPT)):
            r = await orchestrate_cloud_events(**common, events=[e for e in events if e.get_id().endswith(f"-{n}")])
            assert not r.errors
            for subject, outcome in r.subjects.items():
                emitted_once += [e.get_id() for e in outcome.events_to_emit]
                await confirm_published(store, subject, [e.get_id() for e in outcome.events_to_emit])
        clean = await _final_state(store, subjects)

        # the same events delivered twice each, shuffled across subjects (order within a subject kept),
        # to fresh subjects
        again = [f"copy-{i}" for i in range(4)]
        await orchestrate_cloud_events(**common, inits=[{"subject": s, "context": {"bookId": s.replace("copy", "book")}}
                                                        for s in again])
        stream = []
        for s in again:
            for n, (t, d) in enumerate(SCRIPT):
                ev = reply(s, t, n, d)
                stream += [ev, ev]
        rng = random.Random(7)
        per_subject = {s: [e for e in stream if e.get_subject() == s] for s in again}
        shuffled = []
        while any(per_subject.values()):
            s = rng.choice([k for k, v in per_subject.items() if v])
            shuffled.append(per_subject[s].pop(0))
        emitted: list[str] = []
        for i in range(0, len(shuffled), 5):
            r = await orchestrate_cloud_events(**common, events=shuffled[i:i + 5])
            assert not r.errors
            for subject, outcome in r.subjects.items():
                new = [e.get_id() for e in outcome.events_to_emit]
                emitted += new
                await confirm_published(store, subject, new)
        final = await _final_state(store, again)
        assert [final[s] for s in again] == [
            (v, {**c, "bookId": c["bookId"]}, st) for v, c, st in (clean[s.replace("copy", "book")] for s in again)
        ]
        assert len(emitted) == len(emitted_once) and len(set(emitted)) == len(emitted)  # nothing emitted twice
        # and one more full redelivery changes and emits nothing
        r = await orchestrate_cloud_events(**common, events=stream)
        assert all(o.applied == 0 for o in r.subjects.values()) and r.events_to_emit == []
        assert await _final_state(store, again) == final
    finally:
        await store.close()


CRASHER = textwrap.dedent(
    """
    import asyncio, sys, time
    from durable_xstate.cloud import create_cloud_event, orchestrate_cloud_events
    from durable_xstate.examples.summary import ORCHESTRATION, STATEMACHINE
    from durable_xstate.stores import open_store

    async def main(url, lock_url):
        store = open_store(url, lock=lock_url or None)
        r = await orchestrate_cloud_events(statemachine=STATEMACHINE, storage=store,
                                           on_orchestration_state=ORCHESTRATION, events=[create_cloud_event(
            subject="crashy", source="/replies", type="gpt.evt.summary.success", data={}, id="x-1")])
        assert not r.errors, r.errors
        print(",".join(sorted(e.get_id() for e in r.events_to_emit)), flush=True)
        time.sleep(600)  # killed here: after the save, before publishing

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


@pytest.mark.slow
async def test_a_process_killed_after_save_before_publish_loses_no_command(
    backend: BackendUnderTest, tmp_path: Path
) -> None:
    store = backend.open()
    try:
        common = {"statemachine": STATEMACHINE, "storage": store, "on_orchestration_state": ORCHESTRATION}
        await orchestrate_cloud_events(**common, inits=[{"subject": "crashy"}])
        r = await orchestrate_cloud_events(**common, events=[reply("crashy", "books.evt.fetch.success", 0)])
        await confirm_published(store, "crashy", [e.get_id() for e in r.events_to_emit])
        if backend.shared_across_processes:
            script = tmp_path / "crasher.py"
            script.write_text(CRASHER)
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
            proc = subprocess.Popen([sys.executable, str(script), backend.url, backend.lock_url or ""], env=env,
                                    stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None
            line = await asyncio.to_thread(proc.stdout.readline)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=HANG_SECONDS)  # a cap for a hang only
            ids = sorted(line.strip().split(","))
        else:
            r = await orchestrate_cloud_events(**common, events=[create_cloud_event(
                subject="crashy", source="/replies", type="gpt.evt.summary.success", data={}, id="x-1")])
            ids = sorted(e.get_id() for e in r.events_to_emit)  # and this process "dies" before publishing
        assert len(ids) == 2
        assert sorted(e.get_id() for e in await pending_commands(store, "crashy")) == ids
        # the redelivered event is a duplicate, yet the next run hands the same commands out again
        r = await orchestrate_cloud_events(**common, events=[create_cloud_event(
            subject="crashy", source="/replies", type="gpt.evt.summary.success", data={}, id="x-1")])
        assert r.subjects["crashy"].duplicates == 1
        assert sorted(e.get_id() for e in r.events_to_emit) == ids
    finally:
        await store.close()
