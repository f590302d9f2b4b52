"""A queue worker: threads take messages from a queue and apply each one's event to its order's actor.

``queue.Queue`` stands in for your broker (SQS, RabbitMQ, a redis list, ...). Brokers deliver at least
once, so each message carries an id, used as the idempotency key: a message delivered twice is applied
once. Run it:  python worker.py   (10 orders, 100 messages, 4 worker threads, a SQLite store)
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from typing import Any

from durable_xstate import create_actor
from durable_xstate.examples.order import machine  # your machine here
from durable_xstate.persistence import PersistableActor
from durable_xstate.stores import LockableStorage, open_store

log = logging.getLogger("orders.worker")


def handle(store: LockableStorage, message: dict[str, Any]) -> bool:
    """Apply one message ``{"id", "actor_id", "event"}``; False if it was applied before (a redelivery)."""
    pa = PersistableActor(
        id=message["actor_id"],
        storage=store,
        actor_creator=lambda id, snapshot: create_actor(machine, id=id, snapshot=snapshot),
        locking="read-write",  # two workers with messages for one order take turns; none is lost
        acquire_lock_timeout=30.0,
    )
    with pa:  # loads (waiting for the order's lease), saves on a clean exit, always releases
        return pa.send(message["event"], idempotency_key=message["id"])


def work(messages: queue.Queue[dict[str, Any] | None], store: LockableStorage) -> None:
    """One worker: handle messages until it takes ``None``."""
    while (message := messages.get()) is not None:
        try:
            handle(store, message)
        except Exception:  # with a real broker: leave the message unacknowledged and it comes back
            log.exception("message %s for %s failed", message["id"], message["actor_id"])
        finally:
            messages.task_done()
    messages.task_done()


def run_workers(messages: queue.Queue[dict[str, Any] | None], store: LockableStorage, workers: int = 4) -> None:
    """Run ``workers`` threads until every message already queued is handled, then stop them."""
    threads = [threading.Thread(target=work, args=(messages, store)) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for _ in threads:
        messages.put(None)
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    store = open_store(os.environ.get("DURABLE_XSTATE_STORE", "sqlite://./actors.db"))
    messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
    for n in range(100):
        event = {"type": "ADD_ITEM", "sku": f"sku-{n}", "price": 1}
        messages.put({"id": f"message-{n}", "actor_id": f"order-{n % 10}", "event": event})
    run_workers(messages, store)
    with PersistableActor(id="order-0", storage=store, actor_creator=lambda id, snapshot: create_actor(
            machine, id=id, snapshot=snapshot)) as actor:
        print("order-0 has", len(actor.get_snapshot().context["items"]), "items")
