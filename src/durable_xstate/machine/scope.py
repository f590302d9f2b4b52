"""The seam between the pure engine and whatever runs it: :class:`ActorScope` (xstate's ``actorScope``).

The engine never imports the runtime. Everything it needs from a running actor - children made,
restored and stopped, events relayed, delayed events scheduled and cancelled, emits, logs, effects
deferred until the new snapshot is committed - it asks of the scope it is handed. The live actor
runtime (``durable_xstate.actors``) implements this protocol; the pure ``transition()`` implements an
inert one that collects actions and runs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .actions import ExecutableAction

__all__ = ["ActorScope", "ChildFactory", "SystemView"]

#: Creates an unstarted child actor: ``factory(logic, id=, src=, sync_snapshot=, system_id=, input=)``.
ChildFactory = Callable[..., Any]


class SystemView(Protocol):
    """What the engine reads of the actor system: whether inspection is on, and the way to report to it.

    The object is also handed to implementations as ``args.system``; the engine calls nothing else on it."""

    @property
    def inspecting(self) -> bool: ...

    def send_inspection_event(self, event: dict[str, Any]) -> None: ...


class ActorScope(Protocol):
    """What the engine needs from the runtime while it computes a step for one actor.

    ``self`` and ``system`` are handed to implementations (``args.self``, ``args.system``) as they are;
    the engine itself only reads inspection from ``system``. The rest are the side effects a step may
    ask for: ``action_executor`` runs (or collects) an executable action, ``defer`` queues an effect until the
    new snapshot is committed, and the others are only called from deferred or executed effects."""

    # Read-only callables rather than methods: the runtime binds them once per actor (the hot path
    # reads them per action; a bound method made on each read would cost an allocation).
    @property
    def action_executor(self) -> Callable[[ExecutableAction], None]: ...

    # Optional (the engine reads it with getattr): ``execute_builtin(action, params, context, event)`` does
    # what ``action_executor(BuiltinExecutable(action, ActionArgs(context, event, self, system), params,
    # scope))`` does, without making the executable when the runtime runs the built-in at once.

    @property
    def defer(self) -> Callable[[Callable[[], None]], None]: ...

    @property
    def emit(self) -> Callable[[Any], None]: ...

    @property
    def logger(self) -> Callable[..., None]: ...

    @property
    def self(self) -> Any:
        """The actor the step is for (None in the pure ``transition()``)."""
        ...

    @property
    def parent(self) -> Any:
        """Its parent actor, or None (``send_parent``, ``#_parent``)."""
        ...

    @property
    def system(self) -> SystemView: ...

    def relay(self, target: Any, event: Mapping[str, Any]) -> None:
        """Deliver ``event`` from this actor to ``target`` now."""
        ...

    def schedule(self, target: Any, event: Mapping[str, Any], delay: float, send_id: str | None) -> None:
        """Deliver ``event`` from this actor to ``target`` after ``delay`` ms, under ``send_id``."""
        ...

    def cancel(self, send_id: str) -> None:
        """Cancel this actor's delayed event ``send_id`` (nothing if there is none)."""
        ...

    def spawn_child(
        self,
        logic: Any,
        *,
        id: str | None,
        src: Any,
        sync_snapshot: bool | None,
        system_id: str | None,
        input: Any,
    ) -> Any:
        """A new, unstarted child actor running ``logic`` (started by a deferred effect)."""
        ...

    def restore_child(self, machine: Any, child_id: str, data: Mapping[str, Any]) -> Any:
        """A persisted child ``{snapshot, src, systemId?, syncSnapshot?}`` recreated, unstarted; None when
        its ``src`` no longer resolves (as xstate)."""
        ...

    def stop_child(self, child: Any) -> None:
        """Stop a child of this actor."""
        ...

    def unregister(self, actor: Any) -> None:
        """Remove ``actor`` from the system's registries (session id and system id)."""
        ...

    def create_spawner(self, snapshot: Any, event: Any, spawned: dict[str, Any]) -> Callable[..., Any]:
        """The ``spawn`` given to ``assign`` implementations; adds each child it makes to ``spawned``."""
        ...
