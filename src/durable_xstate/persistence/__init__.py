"""Durable actors: the stored record, PersistableActor, with_persistable_actor, and running due timers."""

from .actor import Locking, OnError, PersistableActor, with_persistable_actor
from .index import reindex
from .record import RECORD_FORMAT, StoredRecord, Timer
from .scheduler import RunDueResult, cleanup, run_due

__all__ = [
    "RECORD_FORMAT",
    "Locking",
    "OnError",
    "PersistableActor",
    "RunDueResult",
    "StoredRecord",
    "Timer",
    "cleanup",
    "reindex",
    "run_due",
    "with_persistable_actor",
]
