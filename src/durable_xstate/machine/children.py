"""Child-actor actions (``spawn_child``, ``stop_child``) and the invoke seam.

The machine never creates actors itself: it asks its scope (``scope.spawn_child``, see
:class:`~durable_xstate.machine.scope.ActorScope`), which the actor runtime provides, so this package
stays free of the runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import DuplicateId, InvalidArgumentType, MachineLookupError
from .actions import ActionArgs, BuiltinAction, Resolution, ResolveExtra, resolve_delay
from .callables import call_impl

if TYPE_CHECKING:
    from .scope import ActorScope
    from .snapshot import MachineSnapshot

__all__ = [
    "forward_to",
    "resolve_referenced_actor",
    "send_parent",
    "send_to",
    "spawn_child",
    "spawn_invoke",
    "stop_child",
]


class StopChild(BuiltinAction):
    type = "xstate.stopChild"
    has_execute = True

    def __init__(self, actor_ref: Any) -> None:
        self.actor_ref = actor_ref

    def resolve(
        self, scope: ActorScope, snapshot: MachineSnapshot, args: ActionArgs, params: Any, extra: ResolveExtra
    ) -> Resolution:
        ref = self.actor_ref
        if callable(ref) and not getattr(ref, "__xstate_actor__", False):
            ref = call_impl(ref, args, params)
        child = snapshot.children.get(ref) if isinstance(ref, str) else ref
        children = snapshot.children
        if child is not None:
            children = children.copy()  # dict.copy keeps CPython's fast path (dict(...) does not)
            children.pop(child.id, None)
        return snapshot._replace(children=children), child, None

    def execute(self, scope: ActorScope, child: Any) -> None:
        if child is None:
            return
        _unregister_recursively(scope, child)
        if not child.is_running:
            scope.stop_child(child)
            return
        scope.defer(lambda: scope.stop_child(child))


def _unregister_recursively(scope: ActorScope, actor: Any) -> None:
    # any logic's snapshot may be a child's: only machine (and built-in) snapshots have children
    for grandchild in list(getattr(actor.get_snapshot(), "children", {}).values()):
        if grandchild is not None:
            _unregister_recursively(scope, grandchild)
    scope.unregister(actor)


def resolve_referenced_actor(machine: Any, src: str) -> Any:
    """An actor logic by name, or an inline invoke's logic from its ``xstate.invoke.<i>.<stateId>`` name."""
    if src.startswith("xstate.invoke."):
        rest = src[len("xstate.invoke.") :]
        index_str, _, node_id = rest.partition(".")
        if index_str.isdigit():
            try:
                node = machine.get_state_node_by_id(f"#{node_id}")
            except LookupError:
                return None
            invokes = node.config.get("invoke")
            entry = invokes[int(index_str)] if isinstance(invokes, list) and int(index_str) < len(invokes) else invokes
            return entry.get("src") if isinstance(entry, dict) else None
    return machine.implementations.actors.get(src)


class SpawnChild(BuiltinAction):
    """Create a child actor (started after the snapshot is committed), as xstate's ``spawnChild``."""

    type = "xstate.spawnChild"
    has_execute = True

    def __init__(
        self,
        src: Any,
        *,
        id: Any = None,
        system_id: str | None = None,
        input: Any = None,
        sync_snapshot: bool = False,
    ) -> None:
        self.src = src
        self.id = id
        self.system_id = system_id
        self.input = input
        self.sync_snapshot = sync_snapshot

    def resolve(
        self, scope: ActorScope, snapshot: MachineSnapshot, args: ActionArgs, params: Any, extra: ResolveExtra
    ) -> Resolution:
        src = self.src
        logic = resolve_referenced_actor(snapshot.machine, src) if isinstance(src, str) else src
        child_id = call_impl(self.id, args, None) if callable(self.id) else self.id
        actor_ref = None
        resolved_input = None
        if logic is not None:
            inp = self.input
            resolved_input = (
                call_impl(inp, _MapperArgs(snapshot.context, args.event, scope.self), None) if callable(inp) else inp
            )
            actor_ref = scope.spawn_child(
                logic, id=child_id, src=src, sync_snapshot=self.sync_snapshot, system_id=self.system_id,
                input=resolved_input,
            )
        elif snapshot.machine.strict:
            raise MachineLookupError(f"Actor logic '{src}' not implemented in machine '{snapshot.machine.id}'")
        key = "undefined" if child_id is None else child_id
        if snapshot.machine.strict:
            existing = snapshot.children.get(key)
            if existing is not None and not existing.is_stopped:
                raise DuplicateId(
                    key, f"Child id '{key}' is already used by a running child of machine '{snapshot.machine.id}'"
                )
        children = {**snapshot.children, key: actor_ref}
        exec_params = {"id": child_id, "systemId": self.system_id, "actorRef": actor_ref, "src": src,
                       "input": resolved_input}
        return snapshot._replace(children=children), exec_params, None

    def execute(self, scope: ActorScope, params: Any) -> None:
        actor_ref = params["actorRef"]
        if actor_ref is None:
            return

        def start() -> None:
            if actor_ref.is_stopped:
                return
            actor_ref.start()

        scope.defer(start)


class _MapperArgs:
    __slots__ = ("context", "event", "self")

    def __init__(self, context: Any, event: Any, self_: Any) -> None:
        self.context = context
        self.event = event
        self.self = self_

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


def spawn_child(
    src: Any, *, id: Any = None, system_id: str | None = None, input: Any = None, sync_snapshot: bool = False
) -> BuiltinAction:
    """Spawn a child actor from ``src`` (a name in ``setup(actors=...)`` or a logic object)."""
    return SpawnChild(src, id=id, system_id=system_id, input=input, sync_snapshot=sync_snapshot)


def stop_child(actor_ref: Any) -> BuiltinAction:
    """Stop a child actor (by id or ref) and remove it from ``children``."""
    return StopChild(actor_ref)


def spawn_invoke(invoke_def: Any) -> BuiltinAction:
    """The implicit ``spawnChild`` that starts an invoke when its state is entered."""
    return SpawnChild(
        invoke_def.src,
        id=invoke_def.id,
        system_id=invoke_def.system_id,
        input=invoke_def.input,
        sync_snapshot=invoke_def.on_snapshot is not None,
    )


class SendTo(BuiltinAction):
    type = "xstate.sendTo"
    has_execute = True

    def __init__(self, to: Any, event: Any, id: str | None = None, delay: Any = None) -> None:
        if isinstance(event, str):
            raise InvalidArgumentType(
                f'Only event objects may be used with sendTo; use send_to(..., {{"type": "{event}"}}) instead'
            )
        self.to = to
        self.event = event
        self.id = id
        self.delay = delay

    def resolve(
        self, scope: ActorScope, snapshot: MachineSnapshot, args: ActionArgs, params: Any, extra: ResolveExtra
    ) -> Resolution:
        event = self.event
        if callable(event):
            event = call_impl(event, args, params)
        delay = self.delay
        if delay is not None:
            delay = resolve_delay(delay, snapshot, args, params)
        to = self.to
        if type(to) is not str and callable(to) and not getattr(to, "__xstate_actor__", False):
            to = call_impl(to, args, params)
        target: Any
        if isinstance(to, str):
            if to == "#_parent":
                target = scope.parent
            elif to == "#_internal":
                target = scope.self
            elif to.startswith("#_"):
                target = snapshot.children.get(to[2:])
            else:
                deferred = extra.deferred_actor_ids
                target = to if deferred and to in deferred else snapshot.children.get(to)
            if not target:
                raise MachineLookupError(f"Unable to send event to actor '{to}' from machine '{snapshot.machine.id}'.")
        elif to is None and snapshot.machine.strict:
            raise MachineLookupError(
                f"send_to target resolved to nothing in machine '{snapshot.machine.id}' "
                "(xstate would send the event to the sender itself)"
            )
        else:
            target = to or scope.self
        exec_params = {
            "to": target,
            "targetId": to if isinstance(to, str) else None,
            "event": event,
            "id": self.id,
            "delay": delay if delay is not None and isinstance(delay, int | float) and not isinstance(delay, bool)
            else None,
        }
        return snapshot, exec_params, None

    def retry_resolve(self, scope: ActorScope, snapshot: Any, params: Any) -> None:
        if isinstance(params["to"], str):
            params["to"] = snapshot.children.get(params["to"])

    def execute(self, scope: ActorScope, params: Any) -> None:
        def run() -> None:
            to, event, delay, send_id = params["to"], params["event"], params["delay"], params["id"]
            if delay is not None:
                scope.schedule(to, event, delay, send_id)
                return
            if event.get("type") == "xstate.error":
                event = {"type": f"xstate.error.actor.{scope.self.id}", "error": event.get("data"), "actorId": scope.self.id}
            scope.relay(to, event)

        scope.defer(run)


def send_to(to: Any, event: Any, *, id: str | None = None, delay: Any = None) -> BuiltinAction:
    """Send ``event`` to an actor: a child id, ``#_parent``, ``#_internal`` (self), a ref, or a function."""
    return SendTo(to, event, id=id, delay=delay)


def send_parent(event: Any, *, id: str | None = None, delay: Any = None) -> BuiltinAction:
    """Send ``event`` to the parent actor."""
    return SendTo("#_parent", event, id=id, delay=delay)


def forward_to(to: Any, *, id: str | None = None, delay: Any = None) -> BuiltinAction:
    """Forward the current event to ``to``."""
    return SendTo(to, lambda args: args.event, id=id, delay=delay)
