"""Firing due timers and cleaning up, across every actor of a store (for cron, EventBridge, the CLI's tick)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..actors.actor import create_actor
from ..actors.clock import DurableClock
from ..errors import InvalidArgument, LockTimeout, RecordError, StoreError, WriteConflict
from ..machine.machine import StateMachine
from ..stores.base import LockableStorage
from .actor import Locking, PersistableActor
from .index import due_keys
from .record import StoredRecord

__all__ = ["RunDueResult", "cleanup", "run_due"]

_log = logging.getLogger("durable_xstate.persistence")

MachineResolver = Mapping[str, StateMachine] | Callable[[str | None, str | None], StateMachine | None]
#: Told each due actor's outcome as soon as it is known: ``(outcome, actor_id, detail)`` with outcome
#: ``"fired"`` (detail: the record before), ``"busy"``, ``"skipped"`` (the reason) or ``"failed"`` (the error).
OnOutcome = Callable[[str, str, Any], None]


def _resolve(machines: MachineResolver, machine_id: str | None, version: str | None) -> StateMachine | None:
    if callable(machines):
        return machines(machine_id, version)
    if machine_id is None:
        return None
    return machines.get(f"{machine_id}@{version}") or machines.get(machine_id)


class RunDueResult(list[str]):
    """What ``run_due`` did. Still the list of ids advanced (a timer fired and the actor was saved),
    as before; besides:

    - ``failed``: id -> error, for actors that could not be loaded or advanced (a poison record, a
      snapshot that does not fit its machine, a failing action, a store fault);
    - ``busy``: ids another holder had locked or saved meanwhile (that holder fires their timers);
    - ``skipped``: id -> reason, for due actors left alone (no machine given for them, or nothing
      fired after all).
    """

    def __init__(self) -> None:
        super().__init__()
        self.failed: dict[str, BaseException] = {}
        self.busy: list[str] = []
        self.skipped: dict[str, str] = {}


async def _records(
    store: LockableStorage, prefix: str, errors: dict[str, BaseException] | None, now: float
) -> Any:
    """The records that may be due at ``now``: from the store's index (what is due), else all of them."""
    async for key in due_keys(store, prefix, now):
        try:
            stored = await store.read(key)
            if stored is None:
                continue
            record = StoredRecord.decode(stored.data, key=key, version=stored.version)
        except (RecordError, StoreError) as err:
            # one unreadable record must not stop the others; an unreachable store fails the listing itself
            _log.warning("skipping %s: %s", key, err)
            if errors is not None:
                errors[key[: -len(".json")]] = err
            continue
        yield key, record


def _the_clock(now_ms: float | None, clock: Any) -> tuple[float, Any]:
    """One time decides which actors are due and which of their timers fire."""
    if clock is None:
        if now_ms is None:
            return time.time() * 1000, DurableClock()
        return now_ms, DurableClock(lambda: now_ms)
    now = clock.now()
    if now_ms is not None and now_ms != now:
        raise InvalidArgument(f"run_due: now_ms={now_ms} but the clock says {now}; give one of them (or the same time)")
    return now, clock


async def run_due(
    store: LockableStorage,
    machines: MachineResolver,
    *,
    now_ms: float | None = None,
    locking: Locking = "read-write",
    prefix: str = "",
    clock: Any = None,
    errors: dict[str, BaseException] | None = None,
    acquire_lock_timeout: float = 5.0,
    lease_seconds: float = 30.0,
    stop: asyncio.Event | None = None,
    on_outcome: OnOutcome | None = None,
) -> RunDueResult:
    """Load every actor with a timer due by ``now_ms`` (default: now), fire its due timers, save it.

    One time decides both which actors are due and which timers fire: ``now_ms`` (the actors' clock
    then stands still at it), or ``clock.now()`` when a clock is given (ValueError if both are given
    and differ), or the wall clock.

    Returns a :class:`RunDueResult`: the list of ids advanced (a timer actually fired and the actor
    was saved), with ``.failed``, ``.busy`` and ``.skipped``. One actor's failure never stops the
    others: an unreadable (poison) record, a snapshot that does not fit, an action that raises, a
    store fault on one key are logged and put in ``.failed`` (and in ``errors`` when given). An actor
    another worker holds or saves meanwhile is in ``.busy``; that worker fires the same timers on its
    own ``init``; ``acquire_lock_timeout`` is how long each actor's lock is waited for before it counts as busy,
    ``lease_seconds`` how long a crashed holder keeps an actor from others.

    ``stop``: once set, no further actor is begun (the one in hand is finished, saved and released).
    ``on_outcome`` is told each actor's outcome as it happens (the worker logs from it).
    """
    now, clock = _the_clock(now_ms, clock)
    result = RunDueResult()
    failed = result.failed

    def tell(outcome: str, actor_id: str, detail: Any) -> None:
        if on_outcome is not None:
            on_outcome(outcome, actor_id, detail)

    async for key, record in _records(store, prefix, failed, now):
        if stop is not None and stop.is_set():
            break
        due = record.next_due_at
        if due is None or due > now:
            continue
        actor_id = key[: -len(".json")]
        try:
            machine = _resolve(machines, record.machine_id, record.machine_version)
        except Exception as err:  # a resolver is user code: its failure is this actor's, not the run's
            _log.warning("could not resolve the machine of %s: %s", key, err)
            failed[actor_id] = err
            tell("failed", actor_id, err)
            continue
        if machine is None:
            _log.warning("no machine %r (version %r) for %s", record.machine_id, record.machine_version, key)
            result.skipped[actor_id] = f"no machine {record.machine_id!r} version {record.machine_version!r} was given"
            tell("skipped", actor_id, result.skipped[actor_id])
            continue

        def creator(id: str, snapshot: Any, machine: StateMachine = machine) -> Any:
            return create_actor(machine, id=id, snapshot=snapshot)

        pa = PersistableActor(id=actor_id, storage=store, actor_creator=creator, locking=locking, clock=clock,
                              acquire_lock_timeout=acquire_lock_timeout, lease_seconds=lease_seconds)
        outcome: tuple[str, Any] | None = None
        try:
            await pa.init()
            await pa.save()
            if pa.fired_on_init:
                result.append(actor_id)
                outcome = ("fired", record)
            else:
                result.skipped[actor_id] = "no timer fired (its timers' actors are gone, or they fired elsewhere)"
                outcome = ("skipped", result.skipped[actor_id])
        except (WriteConflict, LockTimeout) as err:
            _log.info("%s is busy elsewhere: %s", actor_id, err)
            result.busy.append(actor_id)
            outcome = ("busy", err)
        except Exception as err:  # one actor's failure (typed or not) must not stop the others
            _log.warning("could not advance %s: %s", actor_id, err)
            failed[actor_id] = err
            outcome = ("failed", err)
        finally:
            await pa.close()
        assert outcome is not None
        tell(outcome[0], actor_id, outcome[1])
    if errors is not None:
        errors.update(failed)
    return result


async def cleanup(
    store: LockableStorage, *, now_ms: float | None = None, prefix: str = "", stop: asyncio.Event | None = None
) -> list[str]:
    """Delete the records whose ``expiresAt`` has passed (finished actors kept for ``expire_after``);
    once ``stop`` is set, no further record is deleted."""
    now = time.time() * 1000 if now_ms is None else now_ms
    deleted = []
    async for key, record in _records(store, prefix, None, now):
        if stop is not None and stop.is_set():
            break
        if record.expires_at is not None and record.expires_at <= now:
            try:
                await store.delete(key, record.version)
                deleted.append(key[: -len(".json")])
            except WriteConflict:
                pass
    return deleted
