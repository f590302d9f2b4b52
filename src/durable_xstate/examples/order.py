"""An order-fulfilment machine: a JSON-able config plus its Python implementations.

``ORDER_CONFIG`` is plain JSON (it could come from Stately Studio or a file); ``implementations`` is
the ``setup(...)`` that supplies the named actions, guards and delays it refers to; ``machine`` is
the two together. From the command line::

    durable-xstate send durable_xstate.examples.order:machine order-1 ADD_ITEM --data '{"sku": "book", "price": 25}'
    durable-xstate diagram durable_xstate.examples.order:machine order-1

or from a config file: ``{"machine": <ORDER_CONFIG>, "implementations": "durable_xstate.examples.order:implementations"}``.

The shape: a cart, a payment step with a timeout, a parallel fulfilment (packing and invoicing) that
can be put on hold and resumed where it was (deep history), then shipping, which ends in delivery
after a delay. Both delays are read from the context, so a config can shorten them (the demo ships
in 1.5 seconds).
"""

from __future__ import annotations

from typing import Any

from ..machine import StateMachine, assign, emit, setup

__all__ = ["ORDER_CONFIG", "implementations", "machine"]

ORDER_CONFIG: dict[str, Any] = {
    "id": "order",
    "version": "1",
    "initial": "cart",
    "context": {
        "items": [],
        "total": 0,
        "paid": 0,
        "paymentTimeoutMs": 15 * 60 * 1000,
        "shippingDelayMs": 1500,
    },
    "states": {
        "cart": {
            "on": {
                "ADD_ITEM": {"actions": "addItem"},
                "CHECKOUT": [
                    {"guard": "hasItems", "target": "awaitingPayment"},
                    {"actions": {"type": "reject", "params": {"reason": "the cart is empty"}}},
                ],
            }
        },
        "awaitingPayment": {
            "after": {
                "paymentTimeout": {
                    "target": "cancelled",
                    "actions": {"type": "notify", "params": {"type": "order.payment_timed_out"}},
                }
            },
            "on": {
                "PAY": [
                    {"guard": "paidInFull", "target": "fulfilment", "actions": "recordPayment"},
                    {"actions": {"type": "reject", "params": {"reason": "the payment does not cover the total"}}},
                ],
                "CANCEL": "cancelled",
            },
        },
        "fulfilment": {
            "type": "parallel",
            "states": {
                "packing": {
                    "initial": "picking",
                    "states": {
                        "picking": {"on": {"PICKED": "packed"}},
                        "packed": {"type": "final"},
                    },
                },
                "invoicing": {
                    "initial": "drafting",
                    "states": {
                        "drafting": {"on": {"INVOICE_SENT": "sent"}},
                        "sent": {"type": "final"},
                    },
                },
                "resume": {"type": "history", "history": "deep"},
            },
            "onDone": "shipping",
            "on": {"HOLD": "onHold"},
        },
        "onHold": {
            "on": {"RESUME": "fulfilment.resume", "CANCEL": "cancelled"},
        },
        "shipping": {
            "entry": {"type": "notify", "params": {"type": "order.shipped"}},
            "after": {"shippingDelay": "delivered"},
        },
        "delivered": {
            "type": "final",
            "entry": {"type": "notify", "params": {"type": "order.delivered"}},
        },
        "cancelled": {
            "type": "final",
            "entry": {"type": "notify", "params": {"type": "order.cancelled"}},
        },
    },
}


def _add_item(context: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    item = {"sku": str(event.get("sku", "item")), "price": event.get("price", 0), "qty": event.get("qty", 1)}
    return {"items": [*context["items"], item], "total": context["total"] + item["price"] * item["qty"]}


implementations = setup(
    actions={
        "addItem": assign(lambda args, params: _add_item(args.context, args.event)),
        "recordPayment": assign({"paid": lambda args, params: args.event.get("amount", 0)}),
        "reject": emit(lambda args, params: {"type": "order.rejected", "reason": params["reason"]}),
        "notify": emit(lambda args, params: {"type": params["type"], "total": args.context["total"]}),
    },
    guards={
        "hasItems": lambda args, params: len(args.context["items"]) > 0,
        "paidInFull": lambda args, params: args.event.get("amount", 0) >= args.context["total"],
    },
    delays={
        "paymentTimeout": lambda args, params: args.context["paymentTimeoutMs"],
        "shippingDelay": lambda args, params: args.context["shippingDelayMs"],
    },
)

machine: StateMachine = implementations.create_machine(ORDER_CONFIG)
