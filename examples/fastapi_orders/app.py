"""FastAPI: each request loads an order's actor, sends it one event and saves it.

Run it:  DURABLE_XSTATE_STORE=sqlite://./actors.db uvicorn app:app
Try it:  curl -X POST localhost:8000/orders/order-1/events -H 'content-type: application/json' \\
              -d '{"type": "ADD_ITEM", "sku": "book", "price": 25}'
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict

from durable_xstate import create_actor, with_persistable_actor
from durable_xstate.errors import LockTimeout
from durable_xstate.examples.order import machine  # your machine here
from durable_xstate.stores import open_store

store = open_store(os.environ.get("DURABLE_XSTATE_STORE", "sqlite://./actors.db"))


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await store.close()


app = FastAPI(lifespan=lifespan)


class Event(BaseModel):
    """An xstate event: a ``type`` and any other fields."""

    model_config = ConfigDict(extra="allow")
    type: str


@app.post("/orders/{order_id}/events")
async def send_event(order_id: str, event: Event) -> dict[str, Any]:
    def apply(actor: Any) -> dict[str, Any]:
        actor.send(event.model_dump())
        snapshot = actor.get_snapshot()
        return {"id": order_id, "state": snapshot.value, "context": snapshot.context}

    try:
        return await with_persistable_actor(  # type: ignore[no-any-return]
            apply,
            id=order_id,
            storage=store,
            # a new order starts from the machine's initial state; a stored one from its snapshot
            actor_creator=lambda id, snapshot: create_actor(machine, id=id, snapshot=snapshot),
            # requests on one order queue up on its lease and each applies on the state the previous one
            # saved: none is lost or refused (with locking=None two requests that race conflict at save)
            locking="read-write",
            acquire_lock_timeout=10.0,
        )
    except LockTimeout:
        raise HTTPException(503, "the order is busy, try again", headers={"Retry-After": "1"}) from None
