"""The durable API for code without an event loop (WSGI, Django, scripts, plain queue workers).

Every public coroutine of :mod:`durable_xstate.persistence` has a ``*_sync`` twin here, and
:class:`~durable_xstate.persistence.PersistableActor` has ``init_sync``, ``save_sync``, ``close_sync``,
``confirm_outbox_sync`` and ``confirm_outbox_only_sync`` (and ``with PersistableActor(...) as actor``).
They take the same arguments and return and raise the same things: each runs its coroutine on the one
background loop thread of the process (:func:`durable_xstate.stores.sync.background_loop`), so no
backend is written twice and no ``asyncio.run`` is needed. The store is the same async store object
(a :class:`~durable_xstate.stores.SyncStore` is accepted too); as with SyncStore, do not use one store
object both from async code and from these functions. ``stop`` is a :class:`threading.Event` here.

A ``with_persistable_actor_sync`` callback runs on the calling thread, never on the loop thread, so it
may block (a database query, an HTTP call) without stalling the store or the lease renewal.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from ..actors.actor import Actor
from ..machine.machine import StateMachine
from ..stores.base import LockableStorage
from ..stores.sync import SyncStore, background_loop
from .actor import with_persistable_actor
from .adopt import AdoptOutcome, adopt, adopt_all
from .index import reindex
from .journal import JournalEntry, journal
from .listing import ListedActor, list_actors
from .scheduler import MachineResolver, OnOutcome, RunDueResult, cleanup, run_due
from .worker import WorkerStats, run_worker, seconds_until_next_due

__all__ = [
    "adopt_all_sync",
    "adopt_sync",
    "cleanup_sync",
    "journal_sync",
    "list_actors_sync",
    "reindex_sync",
    "run_due_sync",
    "run_worker_sync",
    "seconds_until_next_due_sync",
    "with_persistable_actor_sync",
]

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the background loop thread and block for its result (its exception, as is)."""
    return background_loop().run(coro)


def _store(store: LockableStorage | SyncStore) -> LockableStorage:
    return store.store if isinstance(store, SyncStore) else store


async def _with_stop(stop: threading.Event | None, run: Callable[[asyncio.Event | None], Awaitable[T]]) -> T:
    """Run ``run(asyncio_stop)`` with an asyncio.Event that follows the threading.Event ``stop``."""
    if stop is None:
        return await run(None)
    astop = asyncio.Event()

    async def follow() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.05)
        astop.set()

    follower = asyncio.ensure_future(follow())
    try:
        return await run(astop)
    finally:
        follower.cancel()


def with_persistable_actor_sync(
    callback: Callable[[Actor], Any],
    *,
    retries_on_conflict: int = 0,
    **options: Any,
) -> Any:
    """:func:`~durable_xstate.persistence.with_persistable_actor` for synchronous code: init, run
    ``callback(actor)`` on this thread, save only if it returned, close always; return its result.

    Same options and guarantees (locking, ``on_error``, ``retries_on_conflict`` re-running the callback
    on a fresh load, telemetry spans); the callback's exception propagates unchanged."""
    if "storage" in options:
        options["storage"] = _store(options["storage"])
    runner = background_loop()
    handoff: queue.SimpleQueue[tuple[Actor, asyncio.Future[Any]] | None] = queue.SimpleQueue()

    async def on_loop(actor: Actor) -> Any:
        # the loop thread hands the actor to the calling thread and waits for the callback's result
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        handoff.put((actor, answer))
        return await answer

    whole = asyncio.run_coroutine_threadsafe(
        with_persistable_actor(on_loop, retries_on_conflict=retries_on_conflict, **options), runner.loop
    )
    whole.add_done_callback(lambda _f: handoff.put(None))
    while True:
        item = handoff.get()
        if item is None:
            return whole.result()
        actor, answer = item
        try:
            result = callback(actor)
        except Exception as err:
            runner.loop.call_soon_threadsafe(answer.set_exception, err)
        except BaseException:  # KeyboardInterrupt, SystemExit: abandon the run (nothing saved), re-raise here
            runner.loop.call_soon_threadsafe(answer.cancel)
            concurrent.futures.wait([whole])  # close() releases what was taken; the interrupt is the news
            raise
        else:
            runner.loop.call_soon_threadsafe(answer.set_result, result)


def run_due_sync(
    store: LockableStorage | SyncStore,
    machines: MachineResolver,
    *,
    stop: threading.Event | None = None,
    on_outcome: OnOutcome | None = None,
    **options: Any,
) -> RunDueResult:
    """:func:`~durable_xstate.persistence.run_due` for synchronous code (``stop`` a threading.Event)."""
    s = _store(store)
    return run_sync(_with_stop(stop, lambda astop: run_due(s, machines, stop=astop, on_outcome=on_outcome, **options)))


def cleanup_sync(
    store: LockableStorage | SyncStore,
    *,
    now_ms: float | None = None,
    prefix: str = "",
    stop: threading.Event | None = None,
) -> list[str]:
    """:func:`~durable_xstate.persistence.cleanup` for synchronous code (``stop`` a threading.Event)."""
    s = _store(store)
    return run_sync(_with_stop(stop, lambda astop: cleanup(s, now_ms=now_ms, prefix=prefix, stop=astop)))


def run_worker_sync(
    store: LockableStorage | SyncStore,
    machines: MachineResolver | Sequence[StateMachine],
    *,
    stop: threading.Event | None = None,
    **options: Any,
) -> WorkerStats:
    """:func:`~durable_xstate.persistence.run_worker` for synchronous code: blocks until ``stop`` (a
    threading.Event, e.g. set from a signal handler or another thread) is set."""
    s = _store(store)
    return run_sync(_with_stop(stop, lambda astop: run_worker(s, machines, stop=astop, **options)))


def journal_sync(
    store: LockableStorage | SyncStore, id: str, *, since: int | None = None, limit: int | None = None
) -> list[JournalEntry]:
    """:func:`~durable_xstate.persistence.journal` for synchronous code."""
    return run_sync(journal(_store(store), id, since=since, limit=limit))


def list_actors_sync(
    store: LockableStorage | SyncStore,
    labels: Mapping[str, str] | None = None,
    *,
    prefix: str = "",
    after: str | None = None,
    limit: int = 1000,
) -> tuple[list[ListedActor], bool]:
    """:func:`~durable_xstate.persistence.list_actors` for synchronous code."""
    return run_sync(list_actors(_store(store), labels, prefix=prefix, after=after, limit=limit))


def reindex_sync(store: LockableStorage | SyncStore, prefix: str = "") -> tuple[int, dict[str, BaseException]]:
    """:func:`~durable_xstate.persistence.reindex` for synchronous code."""
    return run_sync(reindex(_store(store), prefix))


def seconds_until_next_due_sync(
    store: LockableStorage | SyncStore, now: float, poll: float, *, prefix: str = ""
) -> float:
    """:func:`~durable_xstate.persistence.seconds_until_next_due` for synchronous code."""
    return run_sync(seconds_until_next_due(_store(store), now, poll, prefix=prefix))


def adopt_sync(
    store: LockableStorage | SyncStore, id: str, *, machine: Any = None, dry_run: bool = False
) -> AdoptOutcome:
    """:func:`~durable_xstate.persistence.adopt` for synchronous code."""
    return run_sync(adopt(_store(store), id, machine=machine, dry_run=dry_run))


def adopt_all_sync(
    store: LockableStorage | SyncStore,
    prefix: str = "",
    *,
    machine: Any = None,
    dry_run: bool = False,
    on_outcome: Callable[[AdoptOutcome], None] | None = None,
) -> list[AdoptOutcome]:
    """:func:`~durable_xstate.persistence.adopt_all` for synchronous code."""
    return run_sync(adopt_all(_store(store), prefix, machine=machine, dry_run=dry_run, on_outcome=on_outcome))
