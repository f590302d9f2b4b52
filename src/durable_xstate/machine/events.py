"""Event descriptors (``*``, ``foo.*``) and the events xstate creates itself."""

from __future__ import annotations

from typing import Any

__all__ = [
    "XSTATE_INIT",
    "XSTATE_STOP",
    "done_state_event",
    "init_event",
    "matches_event_descriptor",
    "validate_descriptor",
]

XSTATE_INIT = "xstate.init"
XSTATE_STOP = "xstate.stop"
WILDCARD = "*"


def matches_event_descriptor(event_type: str, descriptor: str) -> bool:
    """True if ``descriptor`` selects ``event_type``: exact, ``*``, or ``prefix.*`` (which matches ``prefix`` too)."""
    if descriptor in (event_type, WILDCARD):
        return True
    if not descriptor.endswith(".*"):
        return False
    partial = descriptor.split(".")
    tokens = event_type.split(".")
    last = len(partial) - 1
    for i, token in enumerate(partial):
        if token == "*":
            return i == last
        if i >= len(tokens) or token != tokens[i]:
            return False
    return True


def validate_descriptor(descriptor: str) -> str | None:
    """Return a problem description for a malformed descriptor, or None when it is valid."""
    if descriptor == WILDCARD or "*" not in descriptor:
        return None
    tokens = descriptor.split(".")
    for i, token in enumerate(tokens):
        if "*" in token and (token != "*" or i != len(tokens) - 1):
            return (
                f'bad event descriptor "{descriptor}": a wildcard may only be the whole last token '
                '(e.g. "event.*") or the entire descriptor ("*")'
            )
    return None


def init_event(input_: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"type": XSTATE_INIT}
    if input_ is not None:
        event["input"] = input_
    return event


def done_state_event(node_id: str, output: Any = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": f"xstate.done.state.{node_id}"}
    if output is not None:
        event["output"] = output
    return event
