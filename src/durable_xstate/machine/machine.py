"""The machine: built once from a config, then shared by every actor that runs it."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, overload

from ..errors import ActorError, MachineConfigError, MachineLookupError, SnapshotError
from .actions import Assign
from .algorithm import (
    Macrostep,
    get_state_nodes,
    initial_microstep,
    macrostep,
    select_transitions,
)
from .cache import CONFIGS_MAX, VALUE_NODES_MAX, BoundedCache
from .callables import call_impl
from .configuration import ConfigInfo, get_all_state_nodes
from .events import init_event
from .guards import BuiltinGuard
from .limits import check_config_depth
from .node import StateNode, Transition, to_state_path
from .snapshot import ACTOR_TYPE_MARK, MachineSnapshot, persist_context
from .types import MachineTypes, TContext, TEvent

if TYPE_CHECKING:
    from .scope import ActorScope

__all__ = ["Implementations", "MachineSetup", "StateMachine", "create_machine", "setup"]


class Implementations:
    """The four implementation maps of a machine: actions, guards, actors, delays."""

    __slots__ = ("actions", "actors", "delays", "guards")

    def __init__(
        self,
        actions: Mapping[str, Any] | None = None,
        guards: Mapping[str, Any] | None = None,
        actors: Mapping[str, Any] | None = None,
        delays: Mapping[str, Any] | None = None,
    ) -> None:
        self.actions: dict[str, Any] = dict(actions or {})
        self.guards: dict[str, Any] = dict(guards or {})
        self.actors: dict[str, Any] = dict(actors or {})
        self.delays: dict[str, Any] = dict(delays or {})


class ContextArgs:
    """What a context factory receives: ``args.input``, ``args.spawn``, ``args.self``."""

    __slots__ = ("input", "self", "spawn")

    def __init__(self, input_: Any, spawn: Any, self_: Any) -> None:
        self.input = input_
        self.spawn = spawn
        self.self = self_

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


class StateMachine(Generic[TContext, TEvent]):
    """Machine logic built from a config (xstate's ``StateMachine``). Immutable once built.

    ``TContext`` and ``TEvent`` are static types only (see :class:`~durable_xstate.machine.types.MachineTypes`)."""

    def __init__(
        self,
        config: Mapping[str, Any],
        implementations: Implementations | None = None,
        *,
        strict: bool = True,
    ) -> None:
        if not isinstance(config, Mapping):
            raise MachineConfigError("", f"a machine config must be an object, got {type(config).__name__}")
        check_config_depth(config)  # before the recursive builder
        self.config = config
        self.id: str = config.get("id") or "(machine)"
        self.version: str | None = config.get("version")
        self.implementations = implementations or Implementations()
        self.strict = strict
        options = config.get("options") or {}
        self.max_iterations: int | None = options.get("maxIterations") if isinstance(options, Mapping) else None
        self.id_map: dict[str, StateNode] = {}
        self.root = StateNode(config, key=self.id, parent=None, machine=self, path_str="")
        self.root.initialize()
        self.states = self.root.states
        self.has_always = any(n.always for n in self.id_map.values())
        self.has_history = any(n.type == "history" for n in self.id_map.values())
        self._config_cache: BoundedCache[tuple[StateNode, ...], ConfigInfo] = BoundedCache("configs", CONFIGS_MAX)
        # restore: a string state value -> its nodes
        self._value_nodes: BoundedCache[str, list[StateNode]] = BoundedCache("value_nodes", VALUE_NODES_MAX)
        self._checked = False

    # ------------------------------------------------------------------ implementations
    def provide(
        self,
        *,
        actions: Mapping[str, Any] | None = None,
        guards: Mapping[str, Any] | None = None,
        actors: Mapping[str, Any] | None = None,
        delays: Mapping[str, Any] | None = None,
    ) -> StateMachine:
        """A new machine with these implementations merged over the current ones."""
        impl = self.implementations
        return StateMachine(
            self.config,
            Implementations(
                {**impl.actions, **(actions or {})},
                {**impl.guards, **(guards or {})},
                {**impl.actors, **(actors or {})},
                {**impl.delays, **(delays or {})},
            ),
            strict=self.strict,
        )

    def check_implementations(self) -> None:
        """Raise MachineConfigError for every action/guard/delay name the machine uses but nobody provided.

        xstate silently skips a missing action; we refuse to start such a machine unless built with
        ``strict=False`` (the conformance runner does that to mirror xstate exactly).
        """
        if self._checked or not self.strict:
            return
        impl = self.implementations
        for path, kind, name in self._referenced_names():
            table = {"action": impl.actions, "guard": impl.guards, "delay": impl.delays, "actor": impl.actors}[kind]
            if name not in table:
                raise MachineConfigError(path, f"unknown {kind} {name!r}: no implementation was provided")
        self._checked = True

    def _referenced_names(self) -> Iterable[tuple[str, str, str]]:
        for node in self.id_map.values():
            base = node.config_path
            pre = f"{base}." if base else ""
            for key, actions in (("entry", node.entry), ("exit", node.exit)):
                yield from _action_names(f"{pre}{key}", actions)
            if node.initial is not None:
                yield from _action_names(f"{pre}initial.actions", node.initial.actions)
            for desc, ts in node.transitions.items():
                for i, t in enumerate(ts):
                    tp = f"{pre}on.{desc}[{i}]"
                    yield from _action_names(f"{tp}.actions", t.actions)
                    yield from _guard_names(f"{tp}.guard", t.guard)
                    if isinstance(t.delay, str):
                        yield (f"{pre}after.{t.delay}", "delay", t.delay)
            for i, inv in enumerate(node.invoke):
                if isinstance(inv.config.get("src"), str):
                    yield (f"{pre}invoke[{i}].src", "actor", inv.src)
            for i, t in enumerate(node.always or ()):
                yield from _action_names(f"{pre}always[{i}].actions", t.actions)
                yield from _guard_names(f"{pre}always[{i}].guard", t.guard)

    # ------------------------------------------------------------------ lookup
    def get_state_node_by_id(self, state_id: str) -> StateNode:
        """``#id`` or ``#id.child.path``; raises LookupError when it does not exist."""
        full = to_state_path(state_id)
        head = full[0][1:] if full[0].startswith("#") else full[0]
        node = self.id_map.get(head)
        if node is None:
            raise MachineLookupError(f"child state node '#{head}' does not exist on machine '{self.id}'")
        from .node import get_state_node_by_path

        return get_state_node_by_path(node, full[1:]) if len(full) > 1 else node

    # ------------------------------------------------------------------ configuration cache
    def _info(self, nodes: list[StateNode]) -> ConfigInfo:
        key = tuple(nodes)
        info = self._config_cache.data.get(key)
        if info is None:
            info = self._config_cache.put(key, ConfigInfo(self.root, nodes))
        return info

    def caches(self) -> list[BoundedCache[Any, Any]]:
        """Every memo table of this machine (bounds in :mod:`~durable_xstate.machine.cache`), to watch sizes.

        The machine's configurations and restored values, each node's candidates, and the selection
        programs and plans of every configuration still cached.
        """
        out: list[BoundedCache[Any, Any]] = [self._config_cache, self._value_nodes]
        out.extend(node._candidates for node in self.id_map.values())
        for info in self._config_cache.data.values():
            out.extend((info.programs, info.plans))
        return out

    # ------------------------------------------------------------------ logic
    def get_transition_data(self, snapshot: MachineSnapshot, event: Mapping[str, Any]) -> list[Transition]:
        return select_transitions(snapshot, event)

    def get_initial_snapshot(self, scope: ActorScope, input_: Any = None) -> MachineSnapshot:
        ev = init_event(input_)
        internal_queue: list[Any] = []
        context = self.config.get("context")
        snapshot = MachineSnapshot(self, [self.root], context if context and not callable(context) else {})
        try:
            snapshot = self._pre_initial_snapshot(scope, ev, internal_queue)
            first = initial_microstep(snapshot, scope, ev, internal_queue)
            return macrostep(first, ev, scope, internal_queue).snapshot
        except Exception as err:  # xstate 5.33: the actor starts in error status
            return snapshot._replace(status="error", error=err)

    def _pre_initial_snapshot(self, scope: ActorScope, ev: Any, internal_queue: list[Any]) -> MachineSnapshot:
        context = self.config.get("context")
        if callable(context):
            pre = MachineSnapshot(self, [self.root], {})
            factory = context

            def assignment(args: Any) -> Any:
                return call_impl(factory, ContextArgs(args.event.get("input"), args.spawn, args.self), None)

            from .algorithm import resolve_actions_and_context

            return resolve_actions_and_context(pre, ev, scope, [Assign(assignment)], internal_queue)
        return MachineSnapshot(self, [self.root], copy.deepcopy(context) if context else {})

    def start(self, snapshot: MachineSnapshot, scope: ActorScope) -> None:
        """Start every child that is still active (restored or created while computing the initial state)."""
        for child in list(snapshot.children.values()):
            if child is not None and child.get_snapshot().status == "active":
                child.start()

    def transition(self, snapshot: MachineSnapshot, event: Mapping[str, Any], scope: ActorScope) -> MachineSnapshot:
        return macrostep(snapshot, event, scope, []).snapshot

    def macrostep(self, snapshot: MachineSnapshot, event: Mapping[str, Any], scope: ActorScope) -> Macrostep:
        """:meth:`transition`, also returning the microsteps taken (transitions, states exited and entered)."""
        return macrostep(snapshot, event, scope, [])

    def resolve_state(self, value: Any, context: Any = None, history_value: Any = None) -> MachineSnapshot:
        """A snapshot for a (partial) state value, filling in initial children (xstate's ``resolveState``)."""
        nodes = list(get_all_state_nodes(get_state_nodes(self.root, value)))
        from .algorithm import is_in_final_state

        status = "done" if is_in_final_state(set(nodes), self.root) else "active"
        return MachineSnapshot(self, nodes, context if context is not None else {}, status,
                               history_value=history_value or {})

    # ------------------------------------------------------------------ persistence
    def get_persisted_snapshot(self, snapshot: MachineSnapshot, *, refs_marked: bool = True) -> dict[str, Any]:
        """The same dict as xstate's ``getPersistedSnapshot()``, key for key and in xstate's key order.

        ``refs_marked=False`` leaves the contexts (this one's and the children's) as they are, actor
        references included, instead of copying the parts that hold one with each reference replaced by
        its ``{"xstate$$type": 1, "id": ...}`` mark: for a JSON encoder that marks them itself
        (:func:`marking_default` as its ``default``), which is what the persistence layer does, so a
        large context is not walked in Python on every save."""
        children: dict[str, Any] = {}
        for cid, child in snapshot.children.items():
            if not isinstance(child.src, str):
                raise ActorError(
                    f"An inline child actor cannot be persisted (child '{cid}'): give its logic a name in "
                    "setup(actors=...) and spawn it by that name"
                )
            entry: dict[str, Any] = {
                "snapshot": child.get_persisted_snapshot() if refs_marked else persisted_unmarked(child),
                "src": child.src,
            }
            if child.system_id is not None:
                entry["systemId"] = child.system_id
            if child.sync_snapshot is not None:
                entry["syncSnapshot"] = child.sync_snapshot
            children[cid] = entry
        out: dict[str, Any] = {"status": snapshot.status}
        if snapshot.output is not None:
            out["output"] = snapshot.output
        if snapshot.error is not None:
            out["error"] = json_error(snapshot.error)
        out["value"] = snapshot.value
        out["historyValue"] = {k: [{"id": n.id} for n in v] for k, v in snapshot.history_value.items()}
        out["context"] = persist_context(snapshot.context, _is_actor_ref) if refs_marked else snapshot.context
        out["children"] = children
        return out

    def restore_snapshot(
        self, persisted: Mapping[str, Any], scope: ActorScope | None, *, adopt: bool = False
    ) -> MachineSnapshot:
        """Rebuild a snapshot from its persisted form without running any action (xstate's ``restoreSnapshot``).

        The persisted dict is left untouched: its context is copied. ``adopt=True`` means the caller hands
        ``persisted`` over (nobody else holds or will change it, and no actor reference marks are in its
        context): the context is then used as is, without a copy. Children are recreated through
        ``scope.restore_child``; with no scope (``None``, e.g. to read a stored state) none are."""
        if type(persisted) is not dict and not isinstance(persisted, Mapping):
            raise SnapshotError("", f"a persisted snapshot must be an object, got {type(persisted).__name__}")
        status = persisted.get("status")
        if status not in ("active", "done", "error", "stopped"):
            raise SnapshotError("status", f"unknown status {status!r}")
        if "value" not in persisted:
            raise SnapshotError("value", "missing state value")
        value = persisted["value"]
        nodes = self._value_nodes.data.get(value) if type(value) is str else None
        if nodes is None:
            try:
                nodes = list(get_all_state_nodes(get_state_nodes(self.root, value)))
            except LookupError as err:
                raise SnapshotError("value", f"{err} (machine '{self.id}')") from None
            if type(value) is str:
                self._value_nodes.put(value, nodes)
        else:
            nodes = nodes.copy()
        history_raw = persisted.get("historyValue")
        if history_raw is None:
            history_raw = {}
        if type(history_raw) is not dict and not isinstance(history_raw, Mapping):
            raise SnapshotError("historyValue", "must be an object")
        history: dict[str, list[StateNode]] = {}
        for key, items in history_raw.items():
            if not isinstance(items, list):
                raise SnapshotError(f"historyValue.{key}", "must be a list of {id} objects")
            for i, item in enumerate(items):
                if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
                    raise SnapshotError(f"historyValue.{key}[{i}]", "must be an object with a string id")
                node = self.id_map.get(item["id"])
                if node is None:
                    continue  # xstate skips unknown ids (with a dev warning)
                history.setdefault(key, []).append(node)
        children_raw = persisted.get("children")
        if children_raw is None:
            children_raw = {}
        if type(children_raw) is not dict and not isinstance(children_raw, Mapping):
            raise SnapshotError("children", "must be an object")
        children: dict[str, Any] = {}
        for cid, data in children_raw.items():
            if not isinstance(data, Mapping) or "snapshot" not in data:
                raise SnapshotError(f"children.{cid}", "must be an object with a snapshot")
            if scope is None:
                continue
            ref = scope.restore_child(self, cid, data)
            if ref is not None:
                children[cid] = ref
        # one pass: copy the JSON-shaped context (the caller's dict stays untouched) and put the
        # restored children where the persisted actor marks are (a missing child becomes None)
        if adopt:
            context = persisted.get("context")  # handed over: nobody else holds it, no marks to revive
        else:
            context = _revive_copy(persisted.get("context"), children)
        return MachineSnapshot(
            self,
            nodes,
            context,
            status,
            persisted.get("output"),
            persisted.get("error"),
            history,
            children,
        )


def json_error(error: Any) -> Any:
    """An exception persists as ``{}``, exactly as a JavaScript ``Error`` does in JSON (unless it has a
    ``to_json()``, e.g. an error standing for a rejection with a plain value)."""
    if isinstance(error, BaseException):
        to_json = getattr(error, "to_json", None)
        return to_json() if callable(to_json) else {}
    return error


def _is_actor_ref(value: Any) -> bool:
    return getattr(value, "__xstate_actor__", False) is True


def persisted_unmarked(actor: Any) -> dict[str, Any]:
    """``actor.get_persisted_snapshot()`` with the actor references in its contexts left in place (a
    machine's ``refs_marked=False``); JSON-encoded with :func:`marking_default`'s ``default`` it gives
    the same text. Other logics persist as usual."""
    logic = actor.logic
    if isinstance(logic, StateMachine):
        return logic.get_persisted_snapshot(actor.get_snapshot(), refs_marked=False)
    persisted: dict[str, Any] = actor.get_persisted_snapshot()
    return persisted


def marking_default(fallback: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A JSON encoder's ``default`` that writes what xstate persists for an actor reference (its mark)
    or a mapping holding one (a marked copy), and leaves every other object JSON has no form for to
    ``fallback`` (which raises, or says what to write instead)."""

    def default(value: Any) -> Any:
        if getattr(value, "__xstate_actor__", False) is True:
            return {"xstate$$type": ACTOR_TYPE_MARK, "id": value.id}
        if isinstance(value, Mapping):
            copy = persist_context(value, _is_actor_ref)
            if copy is not value:
                return copy
        return fallback(value)

    return default


def _revive_copy(value: Any, children: Mapping[str, Any]) -> Any:
    t = type(value)
    if t is dict:
        if value.get("xstate$$type") == 1:
            return children.get(str(value.get("id")))
        return {k: _revive_copy(v, children) for k, v in value.items()}
    if t is list:
        return [_revive_copy(v, children) for v in value]
    if t in (str, int, float, bool) or value is None:
        return value
    if isinstance(value, Mapping):
        if value.get("xstate$$type") == 1:
            return children.get(str(value.get("id")))
        return {k: _revive_copy(v, children) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_revive_copy(v, children) for v in value]
    return copy.deepcopy(value)


def _action_names(path: str, actions: Iterable[Any]) -> Iterable[tuple[str, str, str]]:
    for i, a in enumerate(actions):
        if isinstance(a, str):
            yield (f"{path}[{i}]", "action", a)
        elif isinstance(a, Mapping) and isinstance(a.get("type"), str):
            yield (f"{path}[{i}]", "action", a["type"])


def _guard_names(path: str, guard: Any) -> Iterable[tuple[str, str, str]]:
    if guard is None:
        return
    if isinstance(guard, str):
        yield (path, "guard", guard)
    elif isinstance(guard, Mapping) and isinstance(guard.get("type"), str):
        yield (path, "guard", guard["type"])
    elif isinstance(guard, BuiltinGuard):
        for i, g in enumerate(guard.guards):
            yield from _guard_names(f"{path}.{guard.kind}[{i}]", g)


class MachineSetup(Generic[TContext, TEvent]):
    """What ``setup(...)`` returns: ``create_machine(config)`` with the implementations attached."""

    def __init__(self, implementations: Implementations, strict: bool) -> None:
        self.implementations = implementations
        self.strict = strict

    def create_machine(self, config: Mapping[str, Any]) -> StateMachine[TContext, TEvent]:
        return StateMachine(config, self.implementations, strict=self.strict)


@overload
def setup(
    *,
    types: MachineTypes[TContext, TEvent],
    actions: Mapping[str, Any] | None = None,
    guards: Mapping[str, Any] | None = None,
    actors: Mapping[str, Any] | None = None,
    delays: Mapping[str, Any] | None = None,
    strict: bool = True,
) -> MachineSetup[TContext, TEvent]: ...


@overload
def setup(
    *,
    types: None = None,
    actions: Mapping[str, Any] | None = None,
    guards: Mapping[str, Any] | None = None,
    actors: Mapping[str, Any] | None = None,
    delays: Mapping[str, Any] | None = None,
    strict: bool = True,
) -> MachineSetup[Any, Any]: ...


def setup(
    *,
    types: MachineTypes[Any, Any] | None = None,
    actions: Mapping[str, Any] | None = None,
    guards: Mapping[str, Any] | None = None,
    actors: Mapping[str, Any] | None = None,
    delays: Mapping[str, Any] | None = None,
    strict: bool = True,
) -> MachineSetup[Any, Any]:
    """Declare implementations, then ``.create_machine(config)`` (xstate's ``setup``).

    ``types=MachineTypes[Ctx, Ev]()`` types the machine's context and events for the type checker
    (nothing happens with it at run time)."""
    return MachineSetup(Implementations(actions, guards, actors, delays), strict)


@overload
def create_machine(
    config: Mapping[str, Any],
    *,
    types: MachineTypes[TContext, TEvent],
    actions: Mapping[str, Any] | None = None,
    guards: Mapping[str, Any] | None = None,
    actors: Mapping[str, Any] | None = None,
    delays: Mapping[str, Any] | None = None,
    strict: bool = True,
) -> StateMachine[TContext, TEvent]: ...


@overload
def create_machine(
    config: Mapping[str, Any],
    *,
    types: None = None,
    actions: Mapping[str, Any] | None = None,
    guards: Mapping[str, Any] | None = None,
    actors: Mapping[str, Any] | None = None,
    delays: Mapping[str, Any] | None = None,
    strict: bool = True,
) -> StateMachine[Any, Any]: ...


def create_machine(
    config: Mapping[str, Any],
    *,
    types: MachineTypes[Any, Any] | None = None,
    actions: Mapping[str, Any] | None = None,
    guards: Mapping[str, Any] | None = None,
    actors: Mapping[str, Any] | None = None,
    delays: Mapping[str, Any] | None = None,
    strict: bool = True,
) -> StateMachine[Any, Any]:
    """Build a machine from a config dict (the JSON Stately Studio exports) and optional implementations
    (``types=MachineTypes[Ctx, Ev]()`` types it for the type checker, as in ``setup``)."""
    return StateMachine(config, Implementations(actions, guards, actors, delays), strict=strict)
