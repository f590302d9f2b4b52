"""Firing due timers and cleaning up, across every actor of a store (for cron, EventBridge, the CLI's tick)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..actors.actor import create_actor
from ..errors import LockTimeout, RecordError, SnapshotError, StoreError, WriteConflict
from ..machine.machine import StateMachine
from ..stores.base import LockableStorage
from .actor import Locking, PersistableActor
from .record import StoredRecord

__all__ = ["cleanup", "run_due"]

_log = logging.getLogger("durable_xstate.persistence")

MachineResolver = Mapping[str, StateMachine] | Callable[[str | None, str | None], StateMachine | None]


def _resolve(machines: MachineResolver, machine_id: str | None, version: str | None) -> StateMachine | None:
    if callable(machines):
        return machines(machine_id, version)
    if machine_id is None:
        return None
    return machines.get(f"{machine_id}@{version}") or machines.get(machine_id)


async def _records(
    store: LockableStorage, prefix: str, errors: dict[str, BaseException] | None
) -> Any:
    async for key in store.list(prefix):
        if not key.endswith(".json"):
            continue
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


async def run_due(
    store: LockableStorage,
    machines: MachineResolver,
    *,
    now_ms: float | None = None,
    locking: Locking = "read-write",
    prefix: str = "",
    clock: Any = None,
    errors: dict[str, BaseException] | None = None,
) -> list[str]:
    """Load every actor with a timer due by ``now_ms`` (default: now), fire its due timers, save it.

    Returns the ids that were advanced. An actor another worker holds or saves meanwhile is left to
    that worker (it fires the same timers on its own ``init``). An actor that cannot be loaded (corrupt
    record, unknown or mismatching machine) is skipped and logged, and put in ``errors`` when given.
    """
    now = time.time() * 1000 if now_ms is None else now_ms
    fired: list[str] = []
    async for key, record in _records(store, prefix, errors):
        due = record.next_due_at
        if due is None or due > now:
            continue
        machine = _resolve(machines, record.machine_id, record.machine_version)
        if machine is None:
            _log.warning("no machine %r (version %r) for %s", record.machine_id, record.machine_version, key)
            continue
        actor_id = key[: -len(".json")]

        def creator(id: str, snapshot: Any, machine: StateMachine = machine) -> Any:
            return create_actor(machine, id=id, snapshot=snapshot)

        pa = PersistableActor(id=actor_id, storage=store, actor_creator=creator, locking=locking, clock=clock)
        try:
            await pa.init()
            await pa.save()
            fired.append(actor_id)
        except (WriteConflict, LockTimeout) as err:
            _log.info("%s is busy elsewhere: %s", actor_id, err)
        except (RecordError, SnapshotError, StoreError) as err:
            _log.warning("could not advance %s: %s", actor_id, err)
            if errors is not None:
                errors[actor_id] = err
        finally:
            await pa.close()
    return fired


async def cleanup(store: LockableStorage, *, now_ms: float | None = None, prefix: str = "") -> list[str]:
    """Delete the records whose ``expiresAt`` has passed (finished actors kept for ``expire_after``)."""
    now = time.time() * 1000 if now_ms is None else now_ms
    deleted = []
    async for key, record in _records(store, prefix, None):
        if record.expires_at is not None and record.expires_at <= now:
            try:
                await store.delete(key, record.version)
                deleted.append(key[: -len(".json")])
            except WriteConflict:
                pass
    return deleted
