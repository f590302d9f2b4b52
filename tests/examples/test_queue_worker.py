"""examples/queue_worker: four threads, ten orders, every message applied once (redeliveries included)."""

from __future__ import annotations

import logging
import queue
import random
from pathlib import Path
from typing import Any

import pytest
from examples_support import load_example

from durable_xstate.persistence import journal
from durable_xstate.stores import open_store
from durable_xstate.stores.sync import background_loop

ORDERS, PER_ORDER = 10, 10


@pytest.mark.parametrize("scheme", ["sqlite", "file"])
def test_many_actors_each_message_applied_once(
    scheme: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    worker = load_example("queue_worker/worker.py", f"queue_worker_{scheme}")
    url = f"sqlite://{tmp_path}/actors.db" if scheme == "sqlite" else f"file://{tmp_path}/actors"
    store = open_store(url)
    sent = [{"id": f"m-{n}", "actor_id": f"order-{n % ORDERS}",
             "event": {"type": "ADD_ITEM", "sku": f"sku-{n}", "price": n}} for n in range(ORDERS * PER_ORDER)]
    redelivered = random.Random(15).sample(sent, 20)  # a broker delivering some messages twice
    messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
    for message in sent + redelivered:
        messages.put(message)
    with caplog.at_level(logging.ERROR, logger="orders.worker"):
        worker.run_workers(messages, store, workers=4)
    assert caplog.records == []

    async def check() -> None:
        for order in range(ORDERS):
            entries = await journal(store, f"order-{order}")
            applied = [e["event"]["sku"] for entry in entries for e in entry.events]
            expected = {f"sku-{n}" for n in range(order, ORDERS * PER_ORDER, ORDERS)}
            assert sorted(applied) == sorted(expected)  # each once: the redeliveries changed nothing
            assert entries[-1].state == "cart"
        await store.close()

    background_loop().run(check())  # the loop the synchronous calls used: the store is bound to it


def test_handle_says_whether_a_message_was_new(tmp_path: Path) -> None:
    worker = load_example("queue_worker/worker.py", "queue_worker_handle")
    store = open_store(f"sqlite://{tmp_path}/actors.db")
    message = {"id": "m-1", "actor_id": "order-1", "event": {"type": "ADD_ITEM", "sku": "a", "price": 1}}
    assert worker.handle(store, message) is True
    assert worker.handle(store, message) is False
    background_loop().run(store.close())
