"""A file store holding order actors with journals, and the machines the inspector tests use."""

from __future__ import annotations

import asyncio
import copy
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from durable_xstate.cli.step import apply_event
from durable_xstate.examples.order import ORDER_CONFIG, implementations
from durable_xstate.examples.order import machine as ORDER
from durable_xstate.machine.machine import StateMachine
from durable_xstate.stores import open_store

#: actor id -> the events it was sent, in order (each one durable step)
ACTORS: dict[str, list[dict[str, Any]]] = {
    "cart-1": [{"type": "ADD_ITEM", "sku": "a", "price": 5}],
    "cart-2": [{"type": "ADD_ITEM", "sku": "b", "price": 7}],
    "paying-1": [{"type": "ADD_ITEM", "sku": "c", "price": 9}, {"type": "CHECKOUT"}],
    "packing-1": [{"type": "ADD_ITEM", "sku": "d", "price": 4}, {"type": "CHECKOUT"},
                  {"type": "PAY", "amount": 4}],
    "held-1": [{"type": "ADD_ITEM", "sku": "e", "price": 3}, {"type": "CHECKOUT"}, {"type": "PAY", "amount": 3},
               {"type": "PICKED"}, {"type": "HOLD"}],
}


def fill(url: str, actors: dict[str, list[dict[str, Any]]] = ACTORS, machine: StateMachine = ORDER) -> None:
    """Drive each actor through its events, one durable step per event, on the store at ``url``."""

    async def run() -> None:
        store = open_store(url)
        try:
            for actor_id, events in actors.items():
                for event in events:
                    await apply_event(store, machine, actor_id, event)
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as thread:  # its own loop, even beside Playwright's (which runs one here)
        thread.submit(asyncio.run, run()).result()


def changed_order_machine() -> StateMachine:
    """The order machine, same id and version, but PAY now leads to onHold: it no longer reproduces."""
    config = copy.deepcopy(ORDER_CONFIG)
    config["states"]["awaitingPayment"]["on"]["PAY"] = {"target": "onHold"}
    return implementations.create_machine(config)


