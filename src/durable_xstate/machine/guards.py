"""Guards: named (with params), inline callables, and the higher-order ``and_``/``or_``/``not_``/``state_in``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ImplementationMissing
from .callables import call_impl

if TYPE_CHECKING:
    from .snapshot import MachineSnapshot

__all__ = ["BuiltinGuard", "GuardArgs", "and_", "evaluate_guard", "not_", "or_", "state_in"]


class GuardArgs:
    """What a guard implementation receives as its first argument: ``args.context``, ``args.event``."""

    __slots__ = ("context", "event")

    def __init__(self, context: Any, event: Any) -> None:
        self.context = context
        self.event = event

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


class BuiltinGuard:
    """A higher-order guard. ``type`` is xstate's (``xstate.and`` ...)."""

    __slots__ = ("guards", "kind", "state_value", "type")

    def __init__(self, kind: str, guards: Sequence[Any] = (), state_value: Any = None) -> None:
        self.kind = kind
        self.type = f"xstate.{kind}"
        self.guards = tuple(guards)
        self.state_value = state_value

    def check(self, snapshot: MachineSnapshot, context: Any, event: Any) -> bool:
        kind = self.kind
        if kind == "and":
            return all(evaluate_guard(g, context, event, snapshot) for g in self.guards)
        if kind == "or":
            return any(evaluate_guard(g, context, event, snapshot) for g in self.guards)
        if kind == "not":
            return not evaluate_guard(self.guards[0], context, event, snapshot)
        # stateIn
        sv = self.state_value
        if isinstance(sv, str) and sv.startswith("#"):
            target = snapshot.machine.get_state_node_by_id(sv)
            return target in snapshot._nodes
        return snapshot.matches(sv)

    def __repr__(self) -> str:
        return f"<guard {self.type}>"


def and_(guards: Sequence[Any]) -> BuiltinGuard:
    """Passes when every guard passes (xstate's ``and``)."""
    return BuiltinGuard("and", guards)


def or_(guards: Sequence[Any]) -> BuiltinGuard:
    """Passes when any guard passes (xstate's ``or``)."""
    return BuiltinGuard("or", guards)


def not_(guard: Any) -> BuiltinGuard:
    """Passes when ``guard`` fails (xstate's ``not``)."""
    return BuiltinGuard("not", [guard])


def state_in(state_value: Any) -> BuiltinGuard:
    """Passes when the snapshot is in ``state_value`` (a ``#id`` or a state value)."""
    return BuiltinGuard("stateIn", state_value=state_value)


def guard_type(guard: Any) -> str | None:
    if isinstance(guard, str):
        return guard
    if isinstance(guard, Mapping):
        t = guard.get("type")
        return t if isinstance(t, str) else None
    if isinstance(guard, BuiltinGuard):
        return guard.type
    return None


def evaluate_guard(guard: Any, context: Any, event: Any, snapshot: MachineSnapshot) -> bool:
    """Evaluate ``guard`` against ``context``/``event``; named guards resolve through the machine."""
    if type(guard) is str:  # the usual named guard without params
        resolved = snapshot.machine.implementations.guards.get(guard)
        if resolved is not None and callable(resolved) and not isinstance(resolved, BuiltinGuard):
            return bool(call_impl(resolved, GuardArgs(context, event), None))
    if isinstance(guard, BuiltinGuard):
        return guard.check(snapshot, context, event)
    if callable(guard):
        return bool(call_impl(guard, GuardArgs(context, event), None))
    name = guard if isinstance(guard, str) else guard.get("type") if isinstance(guard, Mapping) else None
    resolved = snapshot.machine.implementations.guards.get(name) if name is not None else None
    if resolved is None:
        raise ImplementationMissing(f"Guard '{name}' is not implemented.'.")
    if isinstance(resolved, BuiltinGuard):
        return resolved.check(snapshot, context, event)
    if not callable(resolved):
        return evaluate_guard(resolved, context, event, snapshot)
    params = None
    if isinstance(guard, Mapping) and "params" in guard:
        params = guard["params"]
        if callable(params):
            params = params(GuardArgs(context, event))
    fn: Callable[..., Any] = resolved
    return bool(call_impl(fn, GuardArgs(context, event), params))
