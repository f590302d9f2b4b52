"""Durable actors: the stored record, PersistableActor, with_persistable_actor, and running due timers."""

from .actor import Locking, PersistableActor, with_persistable_actor
from .record import RECORD_FORMAT, StoredRecord, Timer
from .scheduler import cleanup, run_due

__all__ = [
    "RECORD_FORMAT",
    "Locking",
    "PersistableActor",
    "StoredRecord",
    "Timer",
    "cleanup",
    "run_due",
    "with_persistable_actor",
]
