"""A Lambda entry point for timers: one ``run_due`` (and ``cleanup``) pass per scheduled invocation.

The serverless counterpart of ``durable-xstate worker`` (docs/worker.md): an EventBridge Scheduler
schedule (or a scheduled rule, e.g. ``rate(1 minute)``) invokes the handler; whatever fell due since
the last invocation fires then, each actor under its read-write lease, so overlapping invocations
fire each timer once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..machine.machine import StateMachine
from ..persistence import cleanup, machine_resolver, run_due
from ..persistence.scheduler import MachineResolver
from ..stores import LockableStorage, open_store
from ..stores.sync import background_loop

__all__ = ["make_tick_handler"]

_log = logging.getLogger("durable_xstate.cloud")


def make_tick_handler(
    store: str | LockableStorage | Callable[[], LockableStorage],
    machines: Sequence[StateMachine] | MachineResolver,
    *,
    lock: str | None = None,
    prefix: str = "",
    lease_seconds: float = 30.0,
    acquire_lock_timeout: float = 0.0,
    delete_expired: bool = True,
) -> Callable[[Mapping[str, Any] | None, Any], dict[str, Any]]:
    """``handler(event, context)`` firing every due timer of ``machines``' actors in ``store`` (a URL, a
    store, or a factory), then deleting expired actors; the event's content is ignored.

    Returns ``{"fired": [ids], "busy": [ids], "skipped": {id: reason}, "failed": {id: error}, "deleted": [ids]}``.
    One actor's failure never fails the invocation (it stays due and is retried by the next one); a store
    that cannot be reached raises, so the invocation is reported failed. The store is opened on the first
    invocation and kept for the warm ones."""
    resolver: MachineResolver = machine_resolver(machines) if isinstance(machines, Sequence) else machines
    opened: list[LockableStorage] = []

    def the_store() -> LockableStorage:
        if not opened:
            if isinstance(store, str):
                opened.append(open_store(store, lock=lock))
            elif callable(store) and not hasattr(store, "read"):  # a factory, not a store
                opened.append(store())
            else:
                opened.append(store)  # type: ignore[arg-type]
        return opened[0]

    async def tick() -> dict[str, Any]:
        target = the_store()
        result = await run_due(target, resolver, prefix=prefix, lease_seconds=lease_seconds,
                               acquire_lock_timeout=acquire_lock_timeout)
        for actor_id, err in result.failed.items():
            _log.warning("timer of %s not fired: %s: %s", actor_id, type(err).__name__, err)
        deleted = await cleanup(target, prefix=prefix) if delete_expired else []
        return {
            "fired": list(result),
            "busy": list(result.busy),
            "skipped": dict(result.skipped),
            "failed": {i: f"{type(e).__name__}: {e}" for i, e in result.failed.items()},
            "deleted": deleted,
        }

    def handler(event: Mapping[str, Any] | None = None, context: Any = None) -> dict[str, Any]:
        # one loop per process, kept across warm invocations (store connections stay usable)
        return background_loop().run(tick())

    return handler
