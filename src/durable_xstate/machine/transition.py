"""The pure API: ``initial_transition(machine, input)`` and ``transition(machine, snapshot, event)``.

Nothing runs: both return the next snapshot and the list of actions an actor would execute.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ActorError
from .actions import ExecutableAction
from .limits import check_event_depth
from .machine import StateMachine
from .snapshot import MachineSnapshot

__all__ = ["initial_transition", "transition"]


class _InertSystem:
    inspecting = False

    def send_inspection_event(self, event: Any) -> None:  # pragma: no cover - never inspecting
        pass


ActorFactory = Callable[..., Any]
_actor_factory: ActorFactory | None = None


def register_actor_factory(factory: ActorFactory) -> None:
    """Called by the actor runtime so that pure transitions can create (unstarted) child actors."""
    global _actor_factory
    _actor_factory = factory


class _InertScope:
    """Collects executable actions instead of running them (xstate's inert actor scope)."""

    def __init__(self) -> None:
        self.actions: list[ExecutableAction] = []
        self.self = None
        self.id = ""
        self.session_id = ""
        self.system = _InertSystem()
        self.action_executor = self.actions.append

    def defer(self, fn: Any) -> None:
        pass

    def emit(self, event: Any) -> None:
        pass

    def logger(self, *args: Any) -> None:
        pass

    def create_child(self, logic: Any, **options: Any) -> Any:
        if _actor_factory is None:
            raise ActorError("spawning children needs the actor runtime (import durable_xstate)")
        return _actor_factory(logic, **options)

    def stop_child(self, child: Any) -> None:
        pass


def initial_transition(machine: StateMachine, input: Any = None) -> tuple[MachineSnapshot, list[ExecutableAction]]:
    """The initial snapshot and the actions starting an actor would execute."""
    scope = _InertScope()
    snapshot = machine.get_initial_snapshot(scope, input)
    return snapshot, scope.actions


def transition(
    machine: StateMachine, snapshot: MachineSnapshot, event: Mapping[str, Any]
) -> tuple[MachineSnapshot, list[ExecutableAction]]:
    """The snapshot after ``event`` and the actions an actor would execute; nothing is run.

    An event nested deeper than :data:`~durable_xstate.machine.limits.MAX_NESTING` raises InvalidEvent.
    """
    check_event_depth(event)
    scope = _InertScope()
    return machine.transition(snapshot, event, scope), scope.actions
