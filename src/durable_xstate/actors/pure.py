"""The pure API with the runtime at hand: ``initial_transition`` and ``transition`` (xstate's).

The engine's own (``durable_xstate.machine.transition``) cannot make the actors of children a step
spawns or invokes; these give it the runtime's factory: each child is a detached, unstarted actor,
as xstate's pure ``transition`` creates them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..machine.actions import ExecutableAction
from ..machine.machine import StateMachine
from ..machine.snapshot import MachineSnapshot
from ..machine.transition import initial_transition as _initial_transition
from ..machine.transition import transition as _transition
from .actor import Actor

__all__ = ["initial_transition", "transition"]


def detached_child(
    logic: Any, *, id: str | None, src: Any, sync_snapshot: bool | None, system_id: str | None, input: Any
) -> Actor:
    """An unstarted actor for a child of a pure step: no parent, a system of its own."""
    return Actor(logic, id=id, src=src, sync_snapshot=sync_snapshot, system_id=system_id, input=input)


def initial_transition(machine: StateMachine, input: Any = None) -> tuple[MachineSnapshot, list[ExecutableAction]]:
    """The initial snapshot and the actions starting an actor would execute; nothing is run."""
    return _initial_transition(machine, input, child_factory=detached_child)


def transition(
    machine: StateMachine, snapshot: MachineSnapshot, event: Mapping[str, Any]
) -> tuple[MachineSnapshot, list[ExecutableAction]]:
    """The snapshot after ``event`` and the actions an actor would execute; nothing is run.

    An event nested deeper than :data:`~durable_xstate.machine.limits.MAX_NESTING` raises InvalidEvent.
    """
    return _transition(machine, snapshot, event, child_factory=detached_child)
