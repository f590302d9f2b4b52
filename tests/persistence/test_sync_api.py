"""The synchronous durable API: every coroutine of durable_xstate.persistence has a ``*_sync`` twin that a
plain WSGI/Django handler calls without ``asyncio.run``, with the same results and errors.

These tests are plain functions: no event loop runs on the test's thread."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from harness import BackendUnderTest, make_backend

import durable_xstate.persistence as persistence
from durable_xstate import WriteConflict, with_persistable_actor_sync
from durable_xstate.actors.actor import Actor, create_actor
from durable_xstate.errors import ActorFailed
from durable_xstate.machine import assign, setup
from durable_xstate.persistence import (
    PersistableActor,
    cleanup_sync,
    journal_sync,
    list_actors_sync,
    reindex_sync,
    run_due_sync,
    run_worker_sync,
    seconds_until_next_due_sync,
)
from durable_xstate.persistence.sync import run_sync
from durable_xstate.stores import LockableStorage, SyncStore

MACHINE = setup(
    actions={
        "inc": assign({"count": lambda args, _p: args.context["count"] + 1}),
        "fail": lambda *_: (_ for _ in ()).throw(ValueError("boom")),
    },
).create_machine(
    {
        "id": "counter", "version": "1", "initial": "idle", "context": {"count": 0},
        "states": {
            "idle": {"on": {"INC": {"actions": "inc"}, "WAIT": "waiting", "FAIL": {"actions": "fail"},
                            "FINISH": "done"}},
            "waiting": {"after": {"50": {"target": "idle", "actions": "inc"}}},
            "done": {"type": "final"},
        },
    }
)


def creator(id: str, snapshot: Any) -> Actor:
    return create_actor(MACHINE, id=id, snapshot=snapshot)


def no_loop_here() -> None:
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


@pytest.fixture
def file_store(tmp_path: Path) -> Any:
    s = SyncStore(make_backend("file", None, tmp_path).open())
    yield s.store
    s.close()


def test_every_public_coroutine_has_a_sync_twin() -> None:
    for name in persistence.__all__:
        value = getattr(persistence, name)
        if inspect.iscoroutinefunction(value):
            twin = getattr(persistence, f"{name}_sync", None)
            assert callable(twin), f"{name} has no {name}_sync"
            assert next(iter(inspect.signature(twin).parameters)) == next(iter(inspect.signature(value).parameters))
    for name, _method in inspect.getmembers(PersistableActor, inspect.iscoroutinefunction):
        if not name.startswith("_"):
            assert callable(getattr(PersistableActor, f"{name}_sync", None)), f"PersistableActor.{name}_sync"


def test_a_handler_on_every_backend(backend: BackendUnderTest) -> None:
    """A WSGI-style handler: load, send, save, per request, on each backend's real server."""
    store = backend.open()
    try:
        no_loop_here()
        for _ in range(3):
            count = with_persistable_actor_sync(
                lambda actor: (actor.send({"type": "INC"}), actor.get_snapshot().context["count"])[1],
                id="order-1", storage=store, actor_creator=creator, locking="read-write",
            )
        assert count == 3
        assert [e.revision for e in journal_sync(store, "order-1")] == [1, 2, 3]
        listed, more = list_actors_sync(store)
        assert [a.id for a in listed] == ["order-1"] and not more
    finally:
        run_sync(store.close())


def test_with_persistable_actor_sync_runs_the_callback_on_this_thread_and_keeps_the_guarantees(
    file_store: LockableStorage,
) -> None:
    me = threading.get_ident()
    seen: list[int] = []

    def callback(actor: Actor) -> str:
        seen.append(threading.get_ident())
        time.sleep(0.01)  # blocking is fine: the loop thread is not this one
        actor.send({"type": "INC"})
        return "ok"

    opts: dict[str, Any] = {"id": "a", "storage": SyncStore(file_store), "actor_creator": creator}
    assert with_persistable_actor_sync(callback, **opts) == "ok"
    assert seen == [me]

    # the callback's own exception propagates unchanged, and nothing is saved
    err = KeyError("mine")

    def raising(actor: Actor) -> None:
        actor.send({"type": "INC"})
        raise err

    with pytest.raises(KeyError) as info:
        with_persistable_actor_sync(raising, **opts)
    assert info.value is err
    # an action that raised: ActorFailed at save, nothing written
    with pytest.raises(ActorFailed):
        with_persistable_actor_sync(lambda actor: actor.send({"type": "FAIL"}), **opts)
    assert with_persistable_actor_sync(lambda actor: actor.get_snapshot().context["count"], **opts) == 1


def test_retries_on_conflict_rerun_the_callback(file_store: LockableStorage) -> None:
    opts: dict[str, Any] = {"id": "c", "storage": file_store, "actor_creator": creator}
    with_persistable_actor_sync(lambda a: a.send({"type": "INC"}), **opts)
    calls = 0

    def racing(actor: Actor) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:  # someone else saves in between, once
            with_persistable_actor_sync(lambda a: a.send({"type": "INC"}), **opts)
        actor.send({"type": "INC"})
        return calls

    with pytest.raises(WriteConflict):
        with_persistable_actor_sync(racing, **opts)
    calls = 0
    assert with_persistable_actor_sync(racing, retries_on_conflict=1, **opts) == 2
    assert with_persistable_actor_sync(lambda a: a.get_snapshot().context["count"], **opts) == 4


def test_persistable_actor_sync_methods_and_with(file_store: LockableStorage) -> None:
    pa = PersistableActor(id="p", storage=file_store, actor_creator=creator, locking="read-write")
    actor = pa.init_sync()
    actor.send({"type": "INC"})
    pa.add_to_outbox({"type": "OUT"}, id="o1")
    version = pa.save_sync()
    assert isinstance(version, str) and [o["id"] for o in pa.outbox] == ["o1"]
    pa.confirm_outbox_sync(["o1"])
    pa.close_sync()
    pa.close_sync()  # safe twice
    with PersistableActor(id="p", storage=file_store, actor_creator=creator) as actor:
        assert actor.get_snapshot().context["count"] == 1
        actor.send({"type": "INC"})
    other = PersistableActor(id="p", storage=file_store, actor_creator=creator)
    other.confirm_outbox_only_sync(["nothing"])
    assert with_persistable_actor_sync(lambda a: a.get_snapshot().context["count"], id="p", storage=file_store,
                                       actor_creator=creator) == 2


def test_timers_cleanup_reindex_and_the_worker_without_a_loop(file_store: LockableStorage) -> None:
    no_loop_here()
    opts: dict[str, Any] = {"id": "t", "storage": file_store, "actor_creator": creator}
    now = time.time() * 1000
    with_persistable_actor_sync(lambda a: a.send({"type": "WAIT"}), **opts)
    assert 0.04 < seconds_until_next_due_sync(file_store, now, 30.0) < 30.0  # due 50 ms after the send
    assert run_due_sync(file_store, {"counter": MACHINE}, now_ms=now) == []  # not due yet
    assert run_due_sync(file_store, {"counter": MACHINE}, now_ms=now + 100) == ["t"]
    assert with_persistable_actor_sync(lambda a: a.get_snapshot().context["count"], **opts) == 1
    assert reindex_sync(file_store) == (1, {})

    # finished, kept for a while, then cleaned up
    with_persistable_actor_sync(lambda a: a.send({"type": "FINISH"}), expire_after=0.001, **opts)
    assert cleanup_sync(file_store, now_ms=time.time() * 1000 + 10_000) == ["t"]

    # the worker, stopped by a threading.Event from another thread
    with_persistable_actor_sync(lambda a: a.send({"type": "WAIT"}), id="w", storage=file_store, actor_creator=creator)
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    stats = run_worker_sync(file_store, [MACHINE], stop=stop, poll=0.05)
    assert stats.fired >= 1
    assert with_persistable_actor_sync(
        lambda a: a.get_snapshot().context["count"], id="w", storage=file_store, actor_creator=creator
    ) == 1
