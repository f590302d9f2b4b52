"""Durable actors: the stored record, PersistableActor, with_persistable_actor, running due timers, and the worker that runs them, listing them."""

from .actor import Locking, OnError, PersistableActor, with_persistable_actor
from .adopt import AdoptOutcome, adopt, adopt_all
from .index import reindex
from .journal import JournalEntry, JournalPolicy, ReplayReport, journal, replay
from .listing import ListedActor, list_actors
from .record import RECORD_FORMAT, StoredRecord, Timer
from .scheduler import RunDueResult, cleanup, run_due
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
    "cleanup",
    "journal",
    "list_actors",
    "machine_resolver",
    "reindex",
    "replay",
    "run_due",
    "run_worker",
    "seconds_until_next_due",
    "with_persistable_actor",
]
