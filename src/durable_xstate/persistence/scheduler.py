"""Firing due timers and cleaning up, across every actor of a store (for cron, EventBridge, the CLI's tick)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..actors.actor import create_actor
from ..errors import LockTimeout, RecordError, WriteConflict
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


async def _records(store: LockableStorage, prefix: str) -> Any:
    async for key in store.list(prefix):
        if not key.endswith(".json"):
            continue
        stored = await store.read(key)
        if stored is None:
            continue
        try:
            yield key, StoredRecord.decode(stored.data, key=key, version=stored.version)
        except RecordError as err:
            _log.warning("skipping %s: %s", key, err)


async def run_due(
    store: LockableStorage,
    machines: MachineResolver,
    *,
    now_ms: float | None = None,
    locking: Locking = "read-write",
    prefix: str = "",
    clock: Any = None,
) -> list[str]:
    """Load every actor with a timer due by ``now_ms`` (default: now), fire its due timers, save it.

    Returns the ids that were advanced. An actor another worker holds or saves meanwhile is left to
    that worker (it fires the same timers on its own ``init``).
    """
    now = time.time() * 1000 if now_ms is None else now_ms
    fired: list[str] = []
    async for key, record in _records(store, prefix):
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
        finally:
            await pa.close()
    return fired


async def cleanup(store: LockableStorage, *, now_ms: float | None = None, prefix: str = "") -> list[str]:
    """Delete the records whose ``expiresAt`` has passed (finished actors kept for ``expire_after``)."""
    now = time.time() * 1000 if now_ms is None else now_ms
    deleted = []
    async for key, record in _records(store, prefix):
        if record.expires_at is not None and record.expires_at <= now:
            try:
                await store.delete(key, record.version)
                deleted.append(key[: -len(".json")])
            except WriteConflict:
                pass
    return deleted
