"""Short human names for what a record holds, shared by the CLI and the web inspector.

``state_text({"fulfilment": {"packing": "picking"}})`` is ``fulfilment.packing.picking``;
``timer_name(timer, "order")`` is ``after paymentTimeout (awaitingPayment)`` for an ``after`` timer;
``duration_text(172_800_000)`` is ``48h``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .persistence.record import Timer

__all__ = ["duration_text", "state_text", "timer_name"]

_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000))


def duration_text(ms: float) -> str:
    """A delay in milliseconds as a person writes it: ``250ms``, ``1.5s``, ``15m``, ``1h30m``, ``48h``,
    ``14d``. Hours up to a week (``48h``, not ``2d``); seconds keep up to three decimals."""
    if ms != ms or ms in (float("inf"), float("-inf")):  # NaN, infinity: a record may hold anything
        return f"{ms}ms"
    if ms < 0:
        return "-" + duration_text(-ms)
    if ms < 1000:
        return f"{round(ms, 3):g}ms"
    total = round(ms)
    parts: list[str] = []
    for unit, size in _UNITS:
        if unit == "d" and total < 7 * 86_400_000:
            continue
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    if total:
        parts.append(f"{total / 1000:.3f}".rstrip("0").rstrip(".") + "s")
    return "".join(parts)


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
                shown = duration_text(float(delay)) if delay.replace(".", "", 1).isdigit() else delay
                return f"after {shown} ({state or machine_id})"
    return event_type
