"""Durable actors: the stored record, PersistableActor, with_persistable_actor, running due timers, and the worker that runs them, listing them; each coroutine with a ``*_sync`` twin for code without an event loop."""

from .actor import Locking, OnError, PersistableActor, with_persistable_actor
from .adopt import AdoptOutcome, adopt, adopt_all
from .index import reindex
from .journal import JournalEntry, JournalPolicy, ReplayReport, journal, replay
from .listing import ListedActor, list_actors
from .record import RECORD_FORMAT, StoredRecord, Timer
from .scheduler import RunDueResult, cleanup, run_due
from .sync import (
    adopt_all_sync,
    adopt_sync,
    cleanup_sync,
    journal_sync,
    list_actors_sync,
    reindex_sync,
    run_due_sync,
    run_worker_sync,
    seconds_until_next_due_sync,
    with_persistable_actor_sync,
)
from .worker import WorkerStats, machine_resolver, run_worker, seconds_until_next_due

__all__ = [
    "RECORD_FORMAT",
    "AdoptOutcome",
    "JournalEntry",
    "JournalPolicy",
    "ListedActor",
    "Locking",
    "OnError",
    "PersistableActor",
    "ReplayReport",
    "RunDueResult",
    "StoredRecord",
    "Timer",
    "WorkerStats",
    "adopt",
    "adopt_all",
    "adopt_all_sync",
    "adopt_sync",
    "cleanup",
    "cleanup_sync",
    "journal",
    "journal_sync",
    "list_actors",
    "list_actors_sync",
    "machine_resolver",
    "reindex",
    "reindex_sync",
    "replay",
    "run_due",
    "run_due_sync",
    "run_worker",
    "run_worker_sync",
    "seconds_until_next_due",
    "seconds_until_next_due_sync",
    "with_persistable_actor",
    "with_persistable_actor_sync",
]
