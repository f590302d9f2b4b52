"""A short demo: an order machine runs, its persisted snapshot is printed, and it resumes from it.

Run with ``python -m durable_xstate.demo``. The durable demo is ``durable-xstate demo`` (``scripts/demo``).
"""

from __future__ import annotations

import json
from typing import Any

from . import assign, create_actor, emit, setup

ORDER_MACHINE: dict[str, Any] = {
    "id": "order",
    "initial": "cart",
    "context": {"items": 0, "paid": 0},
    "states": {
        "cart": {
            "on": {
                "ADD": {"actions": "add_item"},
                "CHECKOUT": [{"guard": "has_items", "target": "payment"}, {"actions": "complain"}],
            }
        },
        "payment": {
            "initial": "waiting",
            "states": {
                "waiting": {"on": {"PAY": {"target": "settled", "actions": "record_payment"}}},
                "settled": {"type": "final"},
            },
            "onDone": "shipped",
        },
        "shipped": {"type": "final", "output": {"status": "shipped"}},
    },
    "output": {"done": True},
}


def build_machine() -> Any:
    return setup(
        actions={
            "add_item": assign({"items": lambda args, params: args.context["items"] + 1}),
            "record_payment": assign({"paid": lambda args, params: args.event.get("amount", 0)}),
            "complain": emit({"type": "cart.empty"}),
        },
        guards={"has_items": lambda args, params: args.context["items"] > 0},
    ).create_machine(ORDER_MACHINE)


def main() -> None:
    machine = build_machine()
    actor = create_actor(machine, id="order-42")
    actor.on("cart.empty", lambda e: print("  emitted:", e))
    actor.subscribe(lambda s: print(f"  -> {json.dumps(s.value)}  context={json.dumps(s.context)}"))
    actor.start()
    for event in ({"type": "CHECKOUT"}, {"type": "ADD"}, {"type": "ADD"}, {"type": "CHECKOUT"}):
        print("send", json.dumps(event))
        actor.send(event)
    saved = actor.get_persisted_snapshot()
    print("\npersisted snapshot (the same JSON xstate's getPersistedSnapshot() gives):")
    print(json.dumps(saved, indent=2))
    actor.stop()

    print("\nresume from the stored JSON in a new actor (no entry actions re-run) and pay:")
    resumed = create_actor(machine, id="order-42", snapshot=json.loads(json.dumps(saved))).start()
    resumed.send({"type": "PAY", "amount": 30})
    final = resumed.get_snapshot()
    print(f"  status={final.status} value={json.dumps(final.value)} output={json.dumps(final.output)}")


if __name__ == "__main__":
    main()
