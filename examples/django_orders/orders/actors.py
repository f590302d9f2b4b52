"""The store of the order actors (one per process) and how an order's actor is loaded."""

from django.conf import settings

from durable_xstate import create_actor
from durable_xstate.examples.order import machine  # your machine here
from durable_xstate.persistence import Locking, PersistableActor
from durable_xstate.stores import open_store

from .models import Order

store = open_store(settings.DURABLE_XSTATE_STORE)


def order_actor(order: Order, locking: Locking = "read-write") -> PersistableActor:
    """The order's actor: ``with order_actor(order) as actor:`` loads it (a new one on the first use),
    and saves it when the block ends without an exception. The lease makes two requests for the same
    order take turns, so neither update is lost."""
    return PersistableActor(
        id=order.actor_id,
        storage=store,
        actor_creator=lambda id, snapshot: create_actor(machine, id=id, snapshot=snapshot),
        locking=locking,
        acquire_lock_timeout=10.0,
    )
