"""Short human names for what a record holds, shared by the CLI and the web inspector.

``state_text({"fulfilment": {"packing": "picking"}})`` is ``fulfilment.packing.picking``;
``timer_name(timer, "order")`` is ``after paymentTimeout (awaitingPayment)`` for an ``after`` timer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .persistence.record import Timer

__all__ = ["state_text", "timer_name"]


def state_text(value: Any) -> str:
    """A state value in one line: ``cart``, ``fulfilment.packing.picking, fulfilment.invoicing.drafting``."""
    if isinstance(value, Mapping):
        leaves: list[str] = []
        for key, sub in value.items():
            inner = state_text(sub)
            leaves += [f"{key}.{leaf}" for leaf in inner.split(", ")] if inner else [str(key)]
        return ", ".join(leaves)
    return "" if value is None else str(value)


def timer_name(timer: Timer, machine_id: str | None = None) -> str:
    """``after paymentTimeout (awaitingPayment)`` for an ``after`` timer, else the event type."""
    event_type = str(timer.event.get("type", "?"))
    prefix = "xstate.after."
    if machine_id and event_type.startswith(prefix):
        rest = event_type[len(prefix):]
        for marker in (f".{machine_id}.", f".{machine_id}"):
            delay, found, state = rest.partition(marker)
            if found and (marker.endswith(".") or not state):
                unit = "ms" if delay.replace(".", "", 1).isdigit() else ""
                return f"after {delay}{unit} ({state or machine_id})"
    return event_type
