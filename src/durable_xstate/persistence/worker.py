"""``run_worker``: fire due timers and delete expired actors in a loop, sleeping until the next due time.

All of a worker's state is in the store (each record's timers and its index entry), so a worker can
be killed and restarted at any point, and several workers can share one store: ``run_due`` takes each
actor's read-write lease before it reads and fires it, so one timer is fired by one worker; a worker
that finds an actor leased skips it (the holder fires it). See docs/worker.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidArgument, StoreError
from ..machine.machine import StateMachine
from ..stores.base import LockableStorage
from .index import next_due
from .scheduler import MachineResolver, cleanup, run_due

__all__ = ["WorkerStats", "machine_resolver", "run_worker", "seconds_until_next_due"]

_log = logging.getLogger("durable_xstate.worker")


@dataclass
class WorkerStats:
    """What a worker did until it stopped: passes over the store and what they did to actors."""

    passes: int = 0
    fired: int = 0
    busy: int = 0
    skipped: int = 0
    failed: int = 0
    deleted: int = 0
    store_faults: int = 0  # passes cut short by an unreachable store (retried after the poll interval)


def machine_resolver(machines: Sequence[StateMachine]) -> Callable[[str | None, str | None], StateMachine | None]:
    """A resolver for ``run_due`` that matches a record's machine by id and version exactly (as ``tick`` does)."""
    by_name = {(m.id, m.version): m for m in machines}

    def resolve(machine_id: str | None, version: str | None) -> StateMachine | None:
        return by_name.get((machine_id, version)) if machine_id is not None else None

    return resolve


async def seconds_until_next_due(store: LockableStorage, now: float, poll: float, *, prefix: str = "") -> float:
    """How long a worker that ran a pass at ``now`` (epoch ms) may sleep: until the record whose index
    entry is due first after ``now`` is due, never longer than ``poll`` (so a new, earlier timer written by
    another process is noticed within ``poll``), and ``poll`` on a store without an index or with nothing due."""
    found = await next_due(store, prefix, now)
    if found is None:
        return poll
    due = found[1]
    return max(0.0, min(poll, (due - now) / 1000))


async def run_worker(
    store: LockableStorage,
    machines: MachineResolver | Sequence[StateMachine],
    *,
    poll: float = 30.0,
    stop: asyncio.Event | None = None,
    prefix: str = "",
    lease_seconds: float = 30.0,
    acquire_lock_timeout: float = 0.0,
    delete_expired: bool = True,
    clock: Callable[[], float] | None = None,
) -> WorkerStats:
    """Run passes until ``stop`` is set: ``run_due`` (and ``cleanup`` unless ``delete_expired`` is False),
    then sleep until the next due time in the store's index, at most ``poll`` seconds.

    ``machines``: the machines whose actors may be advanced (matched by id and version), or a resolver
    as ``run_due`` takes. Setting ``stop`` ends the sleep at once; during a pass the actor in hand is
    finished, saved and its lease released, and no further actor is begun. ``acquire_lock_timeout``
    (default 0: one try) is how long an actor another process holds is waited for before it is left to
    that holder; ``lease_seconds`` bounds how long a killed worker keeps its actor from the others.
    ``clock`` gives the time of each pass in epoch ms (default: the wall clock).

    Logs one line per fired actor (INFO) and per failure (WARNING) on ``durable_xstate.worker``, with
    ``extra`` fields ``event`` and ``actor`` (and ``machine`` / ``error``) for structured handlers. A store
    that cannot be reached fails the pass, not the worker: it is logged (ERROR) and retried after ``poll``.
    """
    if not (isinstance(poll, int | float) and math.isfinite(poll) and poll > 0):
        raise InvalidArgument(f"poll must be a positive number of seconds, got {poll!r}")
    resolver: MachineResolver = (
        machine_resolver(machines) if isinstance(machines, Sequence) else machines
    )
    stop = stop if stop is not None else asyncio.Event()
    now_ms = clock if clock is not None else (lambda: time.time() * 1000)
    stats = WorkerStats()

    told: set[str] = set()

    def on_outcome(outcome: str, actor_id: str, detail: Any) -> None:
        told.add(actor_id)
        if outcome == "fired":
            stats.fired += 1
            machine = f"{detail.machine_id}@{detail.machine_version}" if detail.machine_version else detail.machine_id
            _log.info("fired %s (machine %s)", actor_id, machine,
                      extra={"event": "fired", "actor": actor_id, "machine": machine})
        elif outcome == "failed":
            stats.failed += 1
            error = f"{type(detail).__name__}: {' '.join(str(detail).split())}"
            _log.warning("failed %s: %s", actor_id, error, extra={"event": "failed", "actor": actor_id, "error": error})
        elif outcome == "busy":
            stats.busy += 1
            _log.debug("busy %s: another process holds it and fires its timers", actor_id,
                       extra={"event": "busy", "actor": actor_id})
        else:
            stats.skipped += 1
            _log.debug("skipped %s: %s", actor_id, detail, extra={"event": "skipped", "actor": actor_id})

    _log.info("worker started (poll %ss, index %s)", poll, "yes" if store.indexes else "no",
              extra={"event": "started"})
    while not stop.is_set():
        now = now_ms()
        stats.passes += 1
        try:
            told.clear()
            result = await run_due(store, resolver, now_ms=now, prefix=prefix, acquire_lock_timeout=acquire_lock_timeout,
                                   lease_seconds=lease_seconds, stop=stop, on_outcome=on_outcome)
            for actor_id, err in result.failed.items():  # records run_due could not even read
                if actor_id not in told:
                    on_outcome("failed", actor_id, err)
            if delete_expired and not stop.is_set():
                for actor_id in await cleanup(store, now_ms=now, prefix=prefix, stop=stop):
                    stats.deleted += 1
                    _log.info("deleted expired %s", actor_id, extra={"event": "deleted", "actor": actor_id})
            wait = await seconds_until_next_due(store, now, poll, prefix=prefix) if not stop.is_set() else 0.0
        except StoreError as err:
            stats.store_faults += 1
            _log.error("pass failed, retrying in %ss: %s: %s", poll, type(err).__name__, " ".join(str(err).split()),
                       extra={"event": "store-fault", "error": str(err)})
            wait = poll
        # the time the pass took counts against the sleep: the next due time is absolute
        wait = max(0.0, wait - max(0.0, now_ms() - now) / 1000) if wait < poll else wait
        if wait > 0 and not stop.is_set():
            with contextlib.suppress(TimeoutError):  # the sleep ran out: time for the next pass
                await asyncio.wait_for(stop.wait(), wait)
    _log.info("worker stopped after %d passes: %d fired, %d failed, %d deleted", stats.passes, stats.fired,
              stats.failed, stats.deleted, extra={"event": "stopped"})
    return stats
