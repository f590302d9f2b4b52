"""State nodes and transition definitions, built once from a machine config.

Everything the algorithm needs per node (ancestors, document order, candidate transitions per event
type, history children) is computed here at build time so the hot path only reads attributes.
A malformed config raises :class:`MachineConfigError` naming the config path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import MachineConfigError, MachineLookupError
from .actions import cancel, raise_
from .cache import CANDIDATES_MAX, BoundedCache
from .events import matches_event_descriptor, validate_descriptor
from .js import js_items, js_to_number

if TYPE_CHECKING:
    from .machine import StateMachine

__all__ = ["InvokeDefinition", "StateNode", "Transition"]

STATE_TYPES = ("atomic", "compound", "parallel", "final", "history")
STATE_KEYS = frozenset(
    {
        "id", "type", "initial", "states", "on", "always", "after", "entry", "exit", "invoke",
        "onDone", "tags", "meta", "description", "output", "history", "target", "context",
        "version", "route", "types", "schemas", "options", "predictableActionArguments",
    }
)  # fmt: skip


def _is_map(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)


def to_list(value: Any) -> list[Any]:
    """xstate's ``toArray``: None becomes [], a list stays, anything else is wrapped."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def js_number_str(value: Any) -> str:
    """Format a delay the way JavaScript prints a number inside a template string."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def to_state_path(state_id: str) -> list[str]:
    """Split a dotted state path; a backslash escapes the next character (xstate's ``toStatePath``)."""
    if "\\" not in state_id:  # nothing escaped (every usual path): a plain split gives the same list
        return state_id.split(".")
    result: list[str] = []
    segment = ""
    i = 0
    n = len(state_id)
    while i < n:
        ch = state_id[i]
        if ch == "\\":
            if i + 1 < n:
                segment += state_id[i + 1]
            i += 2
            continue
        if ch == ".":
            result.append(segment)
            segment = ""
            i += 1
            continue
        segment += ch
        i += 1
    result.append(segment)
    return result


class Transition:
    """A transition definition: source node, resolved targets, guard, actions, reenter flag."""

    __slots__ = (
        "actions",
        "config",
        "delay",
        "description",
        "event_type",
        "guard",
        "guard_call",
        "meta",
        "reenter",
        "source",
        "target",
        "target_config",
    )

    def __init__(
        self,
        source: StateNode,
        event_type: str | None,
        config: Mapping[str, Any],
        *,
        delay: Any = None,
    ) -> None:
        self.source = source
        self.event_type = event_type
        self.config = config
        self.actions: tuple[Any, ...] = tuple(to_list(config.get("actions")))
        self.guard = config.get("guard")
        #: the named guard's implementation and arity, resolved on first use (False: evaluate_guard's way)
        self.guard_call: tuple[Any, int] | bool | None = None
        self.reenter: bool = bool(config.get("reenter", False))
        self.meta = config.get("meta")
        self.description = config.get("description")
        raw_target = config.get("target")
        if raw_target is None or raw_target == "":
            self.target_config: tuple[Any, ...] | None = None
        else:
            self.target_config = tuple(to_list(raw_target))
        self.target: tuple[StateNode, ...] | None = None
        self.delay = delay

    @classmethod
    def shorthand(cls, source: StateNode, event_type: str | None, target: str) -> Transition:
        """``Transition(source, event_type, {"target": target})`` for the ``EVENT: "target"`` shorthand,
        without reading the fields a bare target string cannot have (same object, fewer steps)."""
        t = cls.__new__(cls)
        t.source = source
        t.event_type = event_type
        t.config = {"target": target}
        t.actions = ()
        t.guard = None
        t.guard_call = None
        t.reenter = False
        t.meta = None
        t.description = None
        t.target_config = (target,) if target else None
        t.target = None
        t.delay = None
        return t

    def __repr__(self) -> str:
        targets = [f"#{t.id}" for t in self.target] if self.target else None
        return f"<Transition {self.event_type!r} #{self.source.id} -> {targets}>"


class InvokeDefinition:
    """An ``invoke`` entry, normalised as xstate does (id defaults to ``<index>.<stateId>``)."""

    __slots__ = ("config", "id", "input", "on_done", "on_error", "on_snapshot", "src", "system_id")

    def __init__(self, node: StateNode, index: int, config: Mapping[str, Any]) -> None:
        default_id = f"{index}.{node.id}"
        src = config.get("src")
        self.config = config
        custom = config.get("id")
        self.id: str = custom if isinstance(custom, str) else default_id
        self.src: Any = src if isinstance(src, str) else f"xstate.invoke.{default_id}"
        self.system_id: str | None = config.get("systemId")
        self.input = config.get("input")
        self.on_done = config.get("onDone")
        self.on_error = config.get("onError")
        self.on_snapshot = config.get("onSnapshot")


class StateNode:
    """One node of the statechart. Built by :class:`StateMachine`; treat as read-only."""

    # Slots: a node has more attributes than an instance keeps inline, so without them every node
    # would carry its own attribute dict (one more object per node to allocate and for the garbage
    # collector to walk).
    __slots__ = (
        "_candidates", "after", "always", "ancestor_set", "ancestors", "children", "config",
        "config_path", "description", "entry", "exit", "has_output", "has_transitions", "history",
        "history_children", "history_target", "id", "initial", "invoke", "is_atomic", "key",
        "machine", "meta", "order", "output", "parent", "path", "states", "tags", "transitions",
        "type",
    )  # fmt: skip

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        key: str,
        parent: StateNode | None,
        machine: StateMachine,
        path_str: str,
        lineage: tuple[tuple[StateNode, ...], frozenset[StateNode]] | None = None,
    ) -> None:
        """``lineage`` is the ``(ancestors, ancestor_set)`` of the parent's children, made once by the
        parent and shared by all of them (immutable); computed here when not given."""
        # The checks raise in a fixed order: the first problem found is the one reported.
        if type(config) is not dict and not isinstance(config, Mapping):
            raise MachineConfigError(path_str, f"a state config must be an object, got {type(config).__name__}")
        get = config.get
        self.config = config
        self.key = key
        self.parent = parent
        self.machine = machine
        self.config_path = path_str
        self.path: tuple[str, ...] = (*parent.path, key) if parent is not None else ()
        custom_id = get("id")
        if custom_id is not None and not isinstance(custom_id, str):
            raise MachineConfigError(_join(path_str, "id"), "an id must be a string")
        self.id: str = custom_id or ".".join((machine.id, *self.path))
        states_cfg = get("states")
        if states_cfg is not None and type(states_cfg) is not dict and not isinstance(states_cfg, Mapping):
            raise MachineConfigError(_join(path_str, "states"), "'states' must be an object")
        declared_type = get("type")
        if declared_type is not None and declared_type not in STATE_TYPES:
            raise MachineConfigError(
                _join(path_str, "type"),
                f"unknown state type {declared_type!r}; expected one of {', '.join(STATE_TYPES)}",
            )
        history = get("history")
        if declared_type:
            self.type: str = declared_type
        elif states_cfg:
            self.type = "compound"
        elif history:
            self.type = "history"
        else:
            self.type = "atomic"
        node_type = self.type
        if states_cfg and node_type in ("history", "final", "atomic"):
            raise MachineConfigError(
                _join(path_str, "states"), f"a {node_type} state cannot have child states"
            )
        self.description = get("description")
        id_map = machine.id_map
        if self.id in id_map and machine.strict:
            other = id_map[self.id]
            raise MachineConfigError(
                _join(path_str, "id") if custom_id else path_str,
                f"duplicate state id {self.id!r} (also used by {other.config_path or '<root>'})",
            )
        self.order: int = len(id_map)
        id_map[self.id] = self
        # proper ancestors, parent first
        if lineage is None:
            ancestors = (parent, *parent.ancestors) if parent is not None else ()
            lineage = (ancestors, frozenset(ancestors))
        self.ancestors: tuple[StateNode, ...] = lineage[0]
        self.ancestor_set: frozenset[StateNode] = lineage[1]
        self.states: dict[str, StateNode] = {}
        if states_cfg:
            states = self.states
            child_prefix = f"{path_str}.states." if path_str else "states."
            children_ancestors = (self, *self.ancestors)
            children_lineage = (children_ancestors, frozenset(children_ancestors))
            for child_key, child_cfg in js_items(states_cfg):
                if not isinstance(child_key, str) or child_key == "":
                    raise MachineConfigError(_join(path_str, "states"), f"invalid state key {child_key!r}")
                states[child_key] = StateNode(
                    child_cfg,
                    key=child_key,
                    parent=self,
                    machine=machine,
                    path_str=child_prefix + child_key,
                    lineage=children_lineage,
                )
            children = [s for s in states.values() if s.type != "history"]
            self.children: tuple[StateNode, ...] = tuple(children)
            self.history_children: tuple[StateNode, ...] = (
                () if len(children) == len(states) else tuple(s for s in states.values() if s.type == "history")
            )
        else:
            self.children = self.history_children = ()
        if node_type == "compound" and not get("initial"):
            first = next(iter(self.states), "...")
            raise MachineConfigError(
                _join(path_str, "initial"),
                f'no initial state specified for compound state node "#{self.id}"; '
                f'try adding {{ initial: "{first}" }}',
            )
        self.history: str | None = "shallow" if history is True else (history or None)
        if node_type == "history" and self.history not in ("shallow", "deep"):
            if history is None:
                self.history = "shallow"
            else:
                raise MachineConfigError(
                    _join(path_str, "history"), f"history must be 'shallow' or 'deep', got {history!r}"
                )
        # Read-only sequences are tuples: an empty one is the shared ``()``, so a node without entry
        # actions, invokes or delays allocates nothing for them (less for the garbage collector to walk).
        entry = get("entry")
        self.entry: tuple[Any, ...] = () if entry is None else tuple(to_list(entry))
        exit_ = get("exit")
        self.exit: tuple[Any, ...] = () if exit_ is None else tuple(to_list(exit_))
        self.meta = get("meta")
        if node_type == "final" or parent is None:
            self.output = get("output")
            self.has_output = "output" in config
        else:
            self.output = None
            self.has_output = False
        tags = get("tags")
        self.tags: tuple[str, ...] = () if tags is None else tuple(to_list(tags))
        self.is_atomic: bool = node_type in ("atomic", "final")
        self.transitions: dict[str, list[Transition]] = {}
        self.always: list[Transition] | None = None
        self.invoke: tuple[InvokeDefinition, ...] = ()
        self.after: tuple[Transition, ...] = ()
        self.initial: Transition | None = None
        self.history_target: tuple[StateNode, ...] | None = None
        self._candidates: BoundedCache[str, list[Transition]] = BoundedCache("candidates", CANDIDATES_MAX)
        self.has_transitions = False

    # ------------------------------------------------------------------ build, second pass
    def initialize(self) -> None:
        """Second pass: format transitions and resolve targets (all nodes exist by now)."""
        path = self.config_path
        cfg = self.config
        get = cfg.get
        initial_cfg = get("initial")
        if initial_cfg is not None:
            self.initial = self._format_initial(initial_cfg)
        invoke_cfg = get("invoke")
        if invoke_cfg is not None:
            invokes = []
            for i, inv in enumerate(to_list(invoke_cfg)):
                if not _is_map(inv) or "src" not in inv:
                    raise MachineConfigError(
                        _join(path, f"invoke[{i}]"), "an invoke config must be an object with 'src'"
                    )
                invokes.append(InvokeDefinition(self, i, inv))
            self.invoke = tuple(invokes)
        transitions: dict[str, list[Transition]] = {}
        on_cfg = get("on")
        if on_cfg is not None:
            if not _is_map(on_cfg):
                raise MachineConfigError(_join(path, "on"), "'on' must be an object")
            on_prefix = f"{path}.on." if path else "on."
            for descriptor, tcfg in js_items(on_cfg):
                if not isinstance(descriptor, str):  # a YAML key like `1:` or `null:`; JSON keys are strings
                    raise MachineConfigError(
                        _join(path, f"on.{descriptor}"),
                        f"an event descriptor must be a string, got {type(descriptor).__name__} {descriptor!r}",
                    )
                tpath = on_prefix + descriptor
                if descriptor == "":
                    raise MachineConfigError(
                        tpath, 'null events ("") cannot be a transition key; use "always" instead'
                    )
                if "*" in descriptor:
                    problem = validate_descriptor(descriptor)
                    if problem and self.machine.strict:
                        raise MachineConfigError(tpath, problem)
                if type(tcfg) is str:  # the usual `EVENT: "target"`
                    transitions[descriptor] = [self._format_shorthand(descriptor, tcfg, tpath)]
                else:
                    transitions[descriptor] = self._format_all(descriptor, tcfg, tpath)
        if get("onDone") is not None:
            descriptor = f"xstate.done.state.{self.id}"
            transitions[descriptor] = self._format_all(descriptor, cfg["onDone"], _join(path, "onDone"))
        for i, inv in enumerate(self.invoke):
            for key, prefix in (
                ("onDone", "xstate.done.actor."),
                ("onError", "xstate.error.actor."),
                ("onSnapshot", "xstate.snapshot."),
            ):
                if inv.config.get(key) is not None:
                    descriptor = prefix + inv.id
                    transitions[descriptor] = self._format_all(
                        descriptor, inv.config[key], _join(path, f"invoke[{i}].{key}")
                    )
        after_cfg = get("after")
        if after_cfg is not None:
            if not _is_map(after_cfg):
                raise MachineConfigError(_join(path, "after"), "'after' must be an object")
            entry, exit_, after = list(self.entry), list(self.exit), []
            for delay_key, tcfg in js_items(after_cfg):
                delay = _parse_delay_key(delay_key)
                event_type = f"xstate.after.{js_number_str(delay)}.{self.id}"
                entry.append(raise_({"type": event_type}, id=event_type, delay=delay))
                exit_.append(cancel(event_type))
                tpath = _join(path, f"after.{delay_key}")
                if isinstance(tcfg, list | tuple):
                    # xstate spreads each element of an ``after`` array into a transition object
                    # ({...t}): a bare string there spreads into character keys, not a target, so the
                    # transition is targetless (getDelayedTransitions). Kept on purpose: decision 0006.
                    tcfg = [{} if t is None or isinstance(t, str) else t for t in tcfg]
                delayed = self._format_all(event_type, tcfg, tpath, delay=delay)
                after.extend(delayed)
                transitions.setdefault(event_type, []).extend(delayed)
            self.entry, self.exit, self.after = tuple(entry), tuple(exit_), tuple(after)
        self.transitions = transitions
        always_cfg = get("always")
        if always_cfg is not None:
            self.always = self._format_all(None, always_cfg, _join(path, "always"))
        self.has_transitions = bool(transitions)
        if self.type == "history" and get("target") not in (None, ""):
            assert self.parent is not None
            hpath = _join(path, "target")
            targets = to_list(cfg["target"])
            resolved = []
            for i, tgt in enumerate(targets):
                tpath = f"{hpath}[{i}]" if len(targets) > 1 else hpath
                try:
                    resolved.append(
                        tgt if isinstance(tgt, StateNode) else get_state_node_by_path(self.parent, tgt)
                    )
                except LookupError as err:
                    raise MachineConfigError(tpath, str(err)) from None
            self.history_target = tuple(resolved)
        for child in self.states.values():
            child.initialize()

    def _format_all(
        self, descriptor: str | None, tcfg: Any, path: str, *, delay: Any = None
    ) -> list[Transition]:
        if type(tcfg) is str and delay is None:  # the usual `EVENT: "target"`
            return [self._format_shorthand(descriptor, tcfg, path)]
        items = tcfg if isinstance(tcfg, list | tuple) else [tcfg]
        many = isinstance(tcfg, list | tuple)
        out = []
        for i, item in enumerate(items):
            ipath = f"{path}[{i}]" if many else path
            if item is None or isinstance(item, str):
                item = {"target": item}
            elif not _is_map(item):
                raise MachineConfigError(
                    ipath, f"a transition must be a target string or an object, got {type(item).__name__}"
                )
            if "cond" in item:
                raise MachineConfigError(_join(ipath, "cond"), "'cond' was renamed to 'guard' in xstate v5")
            t = Transition(self, descriptor, item, delay=delay)
            if t.target_config is not None:
                t.target = self._resolve_targets(t.target_config, ipath)
            out.append(t)
        return out

    def _format_shorthand(self, descriptor: str | None, target: str, path: str) -> Transition:
        """What :meth:`_format_all` makes of a bare target string, a sibling key resolved on the spot."""
        t = Transition.shorthand(self, descriptor, target)
        if target:
            parent = self.parent
            sibling = (
                parent.states.get(target)
                if parent is not None and "." not in target and "\\" not in target and target[0] != "#"
                else None
            )
            t.target = (sibling,) if sibling is not None else self._resolve_targets(t.target_config, path)
        return t

    def _format_initial(self, initial_cfg: Any) -> Transition | None:
        if initial_cfg is None:
            return None
        ipath = _join(self.config_path, "initial")
        if self.type != "compound":
            if not self.machine.strict:
                return None  # xstate ignores it
            if self.type == "parallel":
                raise MachineConfigError(ipath, "a parallel state cannot have an initial state")
            raise MachineConfigError(ipath, f"a {self.type} state has no child states to start in")
        if isinstance(initial_cfg, str):
            target_key, actions = initial_cfg, []
        elif _is_map(initial_cfg) and isinstance(initial_cfg.get("target"), str):
            target_key, actions = initial_cfg["target"], to_list(initial_cfg.get("actions"))
        else:
            raise MachineConfigError(ipath, "initial must be a child key or {target, actions}")
        target = self.states.get(target_key)
        if target is None:
            raise MachineConfigError(
                ipath,
                f'initial state "{target_key}" not found on state node #{self.id} '
                f"(children: {', '.join(self.states) or 'none'})",
            )
        t = Transition(self, None, {"actions": actions})
        t.target = (target,)
        return t

    def _resolve_targets(self, targets: tuple[Any, ...] | None, transition_path: str) -> tuple[StateNode, ...] | None:
        if targets is None:
            return None
        resolved = []
        for i, target in enumerate(targets):
            if type(target) is str and (sibling := self._sibling(target)) is not None:
                resolved.append(sibling)
                continue
            path = _join(transition_path, "target")
            tpath = f"{path}[{i}]" if len(targets) > 1 else path
            if isinstance(target, StateNode):
                resolved.append(target)
                continue
            if not isinstance(target, str):
                raise MachineConfigError(tpath, f"a target must be a string, got {type(target).__name__}")
            try:
                resolved.append(self.resolve_target(target))
            except LookupError as err:
                raise MachineConfigError(tpath, str(err)) from None
        return tuple(resolved)

    def _sibling(self, target: str) -> StateNode | None:
        parent = self.parent
        if parent is None or "." in target or "\\" in target or target.startswith("#"):
            return None
        return parent.states.get(target)

    def resolve_target(self, target: str) -> StateNode:
        """Resolve ``#id``, ``.child`` or ``sibling`` the way xstate's ``resolveTarget`` does."""
        parent = self.parent
        if parent is not None and "." not in target and "\\" not in target and not target.startswith("#"):
            sibling = parent.states.get(target)  # the common case: a sibling key
            if sibling is not None:
                return sibling
        if target.startswith("#"):
            return self.machine.get_state_node_by_id(target)
        internal = target.startswith(".")
        if internal and self.parent is None:
            return get_state_node_by_path(self, target[1:])
        if self.parent is None:
            raise MachineLookupError(
                f'invalid target "{target}": not a valid target from the root node; did you mean ".{target}"?'
            )
        resolved = self.key + target if internal else target
        return get_state_node_by_path(self.parent, resolved)

    # ------------------------------------------------------------------ selection
    def candidates(self, event_type: str) -> list[Transition]:
        """Transitions for an event type: the exact match first, then wildcards, longest first."""
        cached = self._candidates.data.get(event_type)
        if cached is not None:
            return cached
        transitions = self.transitions
        exact = transitions.get(event_type)
        wild = sorted(
            (d for d in transitions if d != event_type and matches_event_descriptor(event_type, d)),
            key=len,
            reverse=True,
        )
        result: list[Transition] = list(exact) if exact else []
        for d in wild:
            result.extend(transitions[d])
        return self._candidates.put(event_type, result)

    def __repr__(self) -> str:
        return f"<StateNode #{self.id}>"


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def _parse_delay_key(key: Any) -> Any:
    """xstate's ``Number.isNaN(+delay) ? delay : +delay`` for an ``after`` key."""
    if isinstance(key, int | float):
        return key
    if not isinstance(key, str):
        return key
    if key.isdigit() and key.isascii():  # the usual "1000": no parsing needed
        return int(key)
    num = js_to_number(key)
    if num != num:  # NaN: a named delay
        return key
    return int(num) if num.is_integer() else num


def get_state_node_by_path(node: StateNode, state_path: str | list[str]) -> StateNode:
    """Walk a dotted path (or ``#id``) down from ``node``; raises LookupError with xstate's wording."""
    if isinstance(state_path, str) and state_path.startswith("#"):
        try:
            return node.machine.get_state_node_by_id(state_path)
        except LookupError:
            pass
    parts = to_state_path(state_path) if isinstance(state_path, str) else list(state_path)
    current = node
    for key in parts:
        if not key:
            break
        current = get_child_node(current, key)
    return current


def get_child_node(node: StateNode, key: str) -> StateNode:
    if key.startswith("#"):
        return node.machine.get_state_node_by_id(key)
    if not node.states:
        raise MachineLookupError(
            f"unable to retrieve child state '{key}' from '{node.id}'; no child states exist"
        )
    child = node.states.get(key)
    if child is None:
        raise MachineLookupError(f"child state '{key}' does not exist on '{node.id}'")
    return child


ImplementationMap = Mapping[str, Callable[..., Any] | Any]
