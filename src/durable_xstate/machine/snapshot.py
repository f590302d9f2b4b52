"""The machine snapshot: state value, context, status, and the queries xstate offers on it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic

from .node import StateNode, to_state_path
from .types import TContext

if TYPE_CHECKING:
    from .configuration import ConfigInfo
    from .machine import StateMachine

__all__ = ["MachineSnapshot", "matches_state", "to_state_value"]

ACTOR_TYPE_MARK = 1  # xstate's $$ACTOR_TYPE


class MachineSnapshot(Generic[TContext]):
    """An immutable snapshot of a machine actor, as xstate's ``MachineSnapshot``.

    ``value``, ``tags`` and the persisted form are derived from the active nodes on demand and cached
    per configuration on the machine, so building a snapshot on the hot path costs one object.
    """

    __slots__ = (
        "_cfg",
        "_nodes",
        "children",
        "context",
        "error",
        "history_value",
        "machine",
        "output",
        "status",
    )

    context: TContext  # the machine's context type (MachineTypes), Any when untyped

    def __init__(
        self,
        machine: StateMachine,
        nodes: list[StateNode],
        context: Any,
        status: str = "active",
        output: Any = None,
        error: Any = None,
        history_value: dict[str, list[StateNode]] | None = None,
        children: dict[str, Any] | None = None,
    ) -> None:
        self.machine = machine
        self._nodes = nodes
        self.context = context
        self.status = status
        self.output = output
        self.error = error
        self.history_value = history_value if history_value is not None else {}
        self.children = children if children is not None else {}
        self._cfg: ConfigInfo | None = None

    def _replace(self, **changes: Any) -> MachineSnapshot:
        clone = MachineSnapshot.__new__(MachineSnapshot)
        clone.machine = self.machine
        clone._nodes = changes.get("nodes", self._nodes)
        clone.context = changes.get("context", self.context)
        clone.status = changes.get("status", self.status)
        clone.output = changes.get("output", self.output)
        clone.error = changes.get("error", self.error)
        clone.history_value = changes.get("history_value", self.history_value)
        clone.children = changes.get("children", self.children)
        clone._cfg = None if "nodes" in changes else self._cfg
        return clone

    def _with_context(self, context: Any) -> MachineSnapshot:
        clone = MachineSnapshot.__new__(MachineSnapshot)
        clone.machine = self.machine
        clone._nodes = self._nodes
        clone.context = context
        clone.status = self.status
        clone.output = self.output
        clone.error = self.error
        clone.history_value = self.history_value
        clone.children = self.children
        clone._cfg = self._cfg
        return clone

    def _with_config(
        self, nodes: list[StateNode], cfg: ConfigInfo | None, history_value: dict[str, list[StateNode]]
    ) -> MachineSnapshot:
        clone = MachineSnapshot.__new__(MachineSnapshot)
        clone.machine = self.machine
        clone._nodes = nodes
        clone.context = self.context
        clone.status = self.status
        clone.output = self.output
        clone.error = self.error
        clone.history_value = history_value
        clone.children = self.children
        clone._cfg = cfg
        return clone

    @property
    def cfg(self) -> ConfigInfo:
        """What is derived from the active configuration (cached on the machine)."""
        c = self._cfg
        if c is None:
            c = self._cfg = self.machine._info(self._nodes)
        return c

    # ------------------------------------------------------------------ derived
    @property
    def value(self) -> Any:
        """The state value: a string for an atomic child of the root, otherwise a nested dict."""
        return self.cfg.value

    @property
    def tags(self) -> frozenset[str]:
        """The union of the tags of the active state nodes."""
        return self.cfg.tags

    @property
    def nodes(self) -> list[StateNode]:
        """The active state nodes (xstate's ``_nodes``), in the order xstate keeps them."""
        return self._nodes

    def matches(self, parent_value: Any) -> bool:
        """True if ``parent_value`` (a dotted string or nested dict) is a sub-tree of ``value``."""
        return matches_state(parent_value, self.value)

    def has_tag(self, tag: str) -> bool:
        return tag in self.cfg.tags

    def can(self, event: Mapping[str, Any]) -> bool:
        """Whether ``event`` would select a transition with a target or actions (guards evaluated)."""
        transitions = self.machine.get_transition_data(self, event)
        return any(t.target is not None or t.actions for t in transitions)

    def get_meta(self) -> dict[str, Any]:
        return {n.id: n.meta for n in self._nodes if n.meta is not None}

    def to_json(self) -> dict[str, Any]:
        """xstate's ``snapshot.toJSON()`` shape (not the persistence format)."""
        out: dict[str, Any] = {"status": self.status}
        if self.output is not None:
            out["output"] = self.output
        if self.error is not None:
            out["error"] = self.error
        out["context"] = self.context
        out["value"] = self.value
        out["children"] = dict(self.children)
        out["historyValue"] = {k: [{"id": n.id} for n in v] for k, v in self.history_value.items()}
        out["tags"] = list(self.cfg.tag_order)
        return out

    def __repr__(self) -> str:
        return f"<MachineSnapshot {self.status} {self.value!r}>"


def to_state_value(value: Any) -> Any:
    """A dotted string becomes a nested dict (``'a.b.c'`` -> ``{'a': {'b': 'c'}}``)."""
    if isinstance(value, str):
        path = to_state_path(value)
        if len(path) == 1:
            return path[0]
        out: Any = path[-1]
        for key in reversed(path[:-1]):
            out = {key: out}
        return out
    return value


def matches_state(parent_value: Any, child_value: Any) -> bool:
    """xstate's ``matchesState``: is ``parent_value`` a sub-tree of ``child_value``?"""
    parent = to_state_value(parent_value)
    child = to_state_value(child_value)
    if isinstance(child, str):
        return isinstance(parent, str) and parent == child
    if isinstance(parent, str):
        return parent in child
    if not isinstance(parent, Mapping):
        return False
    for key, sub in parent.items():
        if key not in child:
            return False
        if not matches_state(sub, child[key]):
            return False
    return True


def persist_context(context: Any, is_actor: Any) -> Any:
    """Copy ``context`` replacing every actor ref with ``{"xstate$$type": 1, "id": ...}``.

    Parts without actor refs are returned as they are (no copy): the common case costs one walk.
    """
    t = type(context)
    if t is str or t is int or t is float or t is bool or context is None:
        return context
    if t is dict or (t is not list and isinstance(context, Mapping)):
        copy: Any = None
        for k, v in context.items():
            tv = type(v)
            if tv is str or tv is int or tv is float or tv is bool or v is None:
                continue
            if is_actor(v):
                if copy is None:
                    copy = dict(context)
                copy[k] = {"xstate$$type": ACTOR_TYPE_MARK, "id": v.id}
            else:
                r = persist_context(v, is_actor)
                if r is not v:
                    if copy is None:
                        copy = dict(context)
                    copy[k] = r
        return context if copy is None else copy
    if t is list:
        lcopy: list[Any] | None = None
        for i, v in enumerate(context):
            tv = type(v)
            if tv is str or tv is int or tv is float or tv is bool or v is None:
                continue
            if is_actor(v):
                if lcopy is None:
                    lcopy = list(context)
                lcopy[i] = {"xstate$$type": ACTOR_TYPE_MARK, "id": v.id}
            else:
                r = persist_context(v, is_actor)
                if r is not v:
                    if lcopy is None:
                        lcopy = list(context)
                    lcopy[i] = r
        return context if lcopy is None else lcopy
    return context
