"""Child-actor actions (``spawn_child``, ``stop_child``) and the invoke seam.

The actor model (invoked and spawned children, ``send_to``) is built on top of this module; until
it lands, entering a state with ``invoke`` fails the actor with a clear ``NotImplementedError``
rather than silently doing nothing.
"""

from __future__ import annotations

from typing import Any

from .actions import BuiltinAction

__all__ = ["spawn_invoke", "stop_child"]


class StopChild(BuiltinAction):
    type = "xstate.stopChild"
    has_execute = True

    def __init__(self, actor_ref: Any) -> None:
        self.actor_ref = actor_ref

    def resolve(self, scope, snapshot, args, params, internal_queue):  # type: ignore[no-untyped-def]
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

    def resolve(self, scope, snapshot, args, params, internal_queue):  # type: ignore[no-untyped-def]
        raise NotImplementedError(
            f"invoke (src {self.invoke_def.src!r}, id {self.invoke_def.id!r}) needs the child-actor "
            "runtime, which this version does not provide yet"
        )


def stop_child(actor_ref: Any) -> BuiltinAction:
    """Stop a child actor (by id or ref) and remove it from ``children``."""
    return StopChild(actor_ref)


def spawn_invoke(invoke_def: Any) -> BuiltinAction:
    return SpawnInvoke(invoke_def)
