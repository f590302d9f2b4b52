"""The pure API: ``initial_transition(machine, input)`` and ``transition(machine, snapshot, event)``.

Nothing runs: both return the next snapshot and the list of actions an actor would execute. A step
that spawns or invokes a child needs an (unstarted) actor for it, which only the runtime can make:
``durable_xstate.initial_transition`` / ``durable_xstate.transition`` pass the runtime's
``child_factory``; called from here without one, such a step raises ActorError.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ActorError
from .actions import ExecutableAction, _no_spawn
from .limits import check_event_depth
from .machine import StateMachine
from .scope import ChildFactory
from .snapshot import MachineSnapshot

__all__ = ["initial_transition", "transition"]


class _InertSystem:
    inspecting = False

    def send_inspection_event(self, event: dict[str, Any]) -> None:  # pragma: no cover - never inspecting
        pass


class _InertScope:
    """Collects executable actions instead of running them (xstate's inert actor scope).

    Implements :class:`~durable_xstate.machine.scope.ActorScope`: effects are deferred and never run,
    so relaying, scheduling and stopping do nothing."""

    def __init__(self, child_factory: ChildFactory | None) -> None:
        self.actions: list[ExecutableAction] = []
        self.self: Any = None
        self.parent: Any = None
        self.system = _InertSystem()
        self.action_executor: Callable[[ExecutableAction], None] = self.actions.append
        self._child_factory = child_factory

    def defer(self, fn: Callable[[], None]) -> None:
        pass

    def emit(self, event: Any) -> None:
        pass

    def logger(self, *args: Any) -> None:
        pass

    def relay(self, target: Any, event: Mapping[str, Any]) -> None:
        pass

    def schedule(self, target: Any, event: Mapping[str, Any], delay: float, send_id: str | None) -> None:
        pass

    def cancel(self, send_id: str) -> None:
        pass

    def spawn_child(
        self, logic: Any, *, id: str | None, src: Any, sync_snapshot: bool | None, system_id: str | None, input: Any
    ) -> Any:
        if self._child_factory is None:
            raise ActorError(
                "a pure transition that spawns or invokes a child needs the actor runtime: use "
                "durable_xstate.transition / durable_xstate.initial_transition (or pass child_factory=)"
            )
        return self._child_factory(
            logic, id=id, src=src, sync_snapshot=sync_snapshot, system_id=system_id, input=input
        )

    def restore_child(self, machine: Any, child_id: str, data: Mapping[str, Any]) -> Any:
        return None

    def stop_child(self, child: Any) -> None:
        pass

    def unregister(self, actor: Any) -> None:
        pass

    def create_spawner(self, snapshot: Any, event: Any, spawned: dict[str, Any]) -> Callable[..., Any]:
        return _no_spawn


def initial_transition(
    machine: StateMachine, input: Any = None, *, child_factory: ChildFactory | None = None
) -> tuple[MachineSnapshot, list[ExecutableAction]]:
    """The initial snapshot and the actions starting an actor would execute.

    ``child_factory(logic, id=, src=, sync_snapshot=, system_id=, input=)`` makes the unstarted
    children the step spawns or invokes."""
    scope = _InertScope(child_factory)
    snapshot = machine.get_initial_snapshot(scope, input)
    return snapshot, scope.actions


def transition(
    machine: StateMachine,
    snapshot: MachineSnapshot,
    event: Mapping[str, Any],
    *,
    child_factory: ChildFactory | None = None,
) -> tuple[MachineSnapshot, list[ExecutableAction]]:
    """The snapshot after ``event`` and the actions an actor would execute; nothing is run.

    An event nested deeper than :data:`~durable_xstate.machine.limits.MAX_NESTING` raises InvalidEvent.
    ``child_factory`` as for :func:`initial_transition`.
    """
    check_event_depth(event)
    scope = _InertScope(child_factory)
    return machine.transition(snapshot, event, scope), scope.actions
