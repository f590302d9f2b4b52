"""Child-actor actions (``spawn_child``, ``stop_child``) and the invoke seam.

The actor model (invoked and spawned children, ``send_to``) is built on top of this module; until
it lands, entering a state with ``invoke`` fails the actor with a clear ``NotImplementedError``
rather than silently doing nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .actions import ActionArgs, BuiltinAction, Resolution

if TYPE_CHECKING:
    from .snapshot import MachineSnapshot

__all__ = ["forward_to", "send_parent", "send_to", "spawn_invoke", "stop_child"]


class StopChild(BuiltinAction):
    type = "xstate.stopChild"
    has_execute = True

    def __init__(self, actor_ref: Any) -> None:
        self.actor_ref = actor_ref

    def resolve(
        self, scope: Any, snapshot: MachineSnapshot, args: ActionArgs, params: Any, internal_queue: list[Any]
    ) -> Resolution:
        ref = self.actor_ref
        if callable(ref) and not getattr(ref, "__xstate_actor__", False):
            ref = ref(args, params)
        child = snapshot.children.get(ref) if isinstance(ref, str) else ref
        if child is None:
            return snapshot, None, None
        children = {k: v for k, v in snapshot.children.items() if v is not child}
        return snapshot._replace(children=children), child, None

    def execute(self, scope: Any, child: Any) -> None:
        if child is None:
            return
        scope.defer(lambda: child._stop())


class SpawnInvoke(BuiltinAction):
    type = "xstate.spawnChild"
    has_execute = True

    def __init__(self, invoke_def: Any) -> None:
        self.invoke_def = invoke_def

    def resolve(
        self, scope: Any, snapshot: MachineSnapshot, args: ActionArgs, params: Any, internal_queue: list[Any]
    ) -> Resolution:
        raise NotImplementedError(
            f"invoke (src {self.invoke_def.src!r}, id {self.invoke_def.id!r}) needs the child-actor "
            "runtime, which this version does not provide yet"
        )


def stop_child(actor_ref: Any) -> BuiltinAction:
    """Stop a child actor (by id or ref) and remove it from ``children``."""
    return StopChild(actor_ref)


def spawn_invoke(invoke_def: Any) -> BuiltinAction:
    return SpawnInvoke(invoke_def)


class SendTo(BuiltinAction):
    type = "xstate.sendTo"
    has_execute = True

    def __init__(self, to: Any, event: Any, id: str | None = None, delay: Any = None) -> None:
        if isinstance(event, str):
            raise TypeError(
                f'Only event objects may be used with sendTo; use send_to(..., {{"type": "{event}"}}) instead'
            )
        self.to = to
        self.event = event
        self.id = id
        self.delay = delay

    def resolve(
        self, scope: Any, snapshot: MachineSnapshot, args: ActionArgs, params: Any, internal_queue: list[Any]
    ) -> Resolution:
        from .callables import call_impl

        event = call_impl(self.event, args, params) if callable(self.event) else self.event
        delay = self.delay
        if isinstance(delay, str):
            configured = snapshot.machine.implementations.delays.get(delay)
            delay = call_impl(configured, args, params) if callable(configured) else configured
        elif callable(delay):
            delay = call_impl(delay, args, params)
        to = self.to
        if callable(to) and not getattr(to, "__xstate_actor__", False):
            to = call_impl(to, args, params)
        target: Any
        if isinstance(to, str):
            if to == "#_parent":
                target = getattr(scope.self, "parent", None)
            elif to == "#_internal":
                target = scope.self
            elif to.startswith("#_"):
                target = snapshot.children.get(to[2:])
            else:
                deferred = getattr(scope, "deferred_actor_ids", None)
                target = to if deferred and to in deferred else snapshot.children.get(to)
            if not target:
                raise LookupError(f"Unable to send event to actor '{to}' from machine '{snapshot.machine.id}'.")
        else:
            target = to or scope.self
        exec_params = {
            "to": target,
            "targetId": to if isinstance(to, str) else None,
            "event": event,
            "id": self.id,
            "delay": delay if isinstance(delay, int | float) and not isinstance(delay, bool) else None,
        }
        return snapshot, exec_params, None

    def retry_resolve(self, scope: Any, snapshot: Any, params: Any) -> None:
        if isinstance(params["to"], str):
            params["to"] = snapshot.children.get(params["to"])

    def execute(self, scope: Any, params: Any) -> None:
        def run() -> None:
            to, event, delay, send_id = params["to"], params["event"], params["delay"], params["id"]
            if delay is not None:
                scope.system.scheduler.schedule(scope.self, to, event, delay, send_id)
                return
            if event.get("type") == "xstate.error":
                event = {"type": f"xstate.error.actor.{scope.self.id}", "error": event.get("data"), "actorId": scope.self.id}
            scope.system.relay(scope.self, to, event)

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
