"""The statechart algorithm: transition selection, exit/entry sets, microstep and macrostep.

A port of the structure of xstate's ``stateUtils.ts`` (itself a variant of the W3C SCXML algorithm).
Pure: no I/O, no clock. Side effects reach the outside world only through ``scope.action_executor``
and ``scope.defer``, which the actor runtime (or the pure ``transition()``) provides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import GuardError, InfiniteLoop, InvalidArgumentType, MachineLookupError
from .actions import ActionArgs, BuiltinAction, ExecutableAction, ResolveExtra
from .callables import call_impl
from .configuration import (
    ConfigInfo,
    SelectProgram,
    get_all_state_nodes,
    get_initial_state_nodes,
    get_proper_ancestors,
)
from .events import XSTATE_INIT, XSTATE_STOP, done_state_event
from .guards import evaluate_guard, guard_type
from .node import StateNode, Transition

if TYPE_CHECKING:
    from .snapshot import MachineSnapshot

__all__ = [
    "get_all_state_nodes",
    "get_initial_state_nodes",
    "initial_microstep",
    "macrostep",
    "resolve_actions_and_context",
]

HistoryValue = dict[str, list[StateNode]]


class OutputArgs:
    """What ``output`` mappers and ``invoke.input`` mappers receive: ``context``, ``event``, ``self``."""

    __slots__ = ("context", "event", "self")

    def __init__(self, context: Any, event: Any, self_: Any) -> None:
        self.context = context
        self.event = event
        self.self = self_

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


# --------------------------------------------------------------------------- tree helpers


def is_descendant(child: StateNode, parent: StateNode | None) -> bool:
    if parent is None:
        return True  # xstate: every node descends from an undefined domain
    return parent in child.ancestor_set


def get_state_nodes(node: StateNode, value: Any) -> list[StateNode]:
    """Nodes named by a state value under ``node`` (xstate's ``getStateNodes``); LookupError if unknown."""
    if isinstance(value, str):
        child = node.states.get(value)
        if child is None:
            raise MachineLookupError(f"State '{value}' does not exist on '{node.id}'")
        return [node, child]
    if not isinstance(value, Mapping):
        raise MachineLookupError(f"invalid state value {value!r} at '{node.id}'")
    out = [node.machine.root, node]
    subs = []
    for key in value:
        child = _child_or_id(node, key)
        out.append(child)
        subs.append((child, value[key]))
    for child, sub in subs:
        out.extend(get_state_nodes(child, sub))
    return out


def _child_or_id(node: StateNode, key: str) -> StateNode:
    if key.startswith("#"):
        return node.machine.get_state_node_by_id(key)
    if not node.states:
        raise MachineLookupError(f"Unable to retrieve child state '{key}' from '{node.id}'; no child states exist.")
    child = node.states.get(key)
    if child is None:
        raise MachineLookupError(f"Child state '{key}' does not exist on '{node.id}'")
    return child


def is_in_final_state(node_set: Mapping[StateNode, Any] | set[StateNode], node: StateNode) -> bool:
    if node.type == "compound":
        return any(s.type == "final" and s in node_set for s in node.children)
    if node.type == "parallel":
        return all(is_in_final_state(node_set, c) for c in node.children)
    return node.type == "final"


# --------------------------------------------------------------------------- selection


def node_next(node: StateNode, snapshot: MachineSnapshot, event: Mapping[str, Any]) -> Transition | None:
    """The first enabled candidate of ``node`` for ``event`` (guards evaluated), or None."""
    if not node.has_transitions:
        return None
    event_type = event["type"]
    candidates = node._candidates.get(event_type)
    if candidates is None:
        candidates = node.candidates(event_type)
    for t in candidates:
        guard = t.guard
        if guard is None:
            return t
        try:
            passed = evaluate_guard(guard, snapshot.context, event, snapshot)
        except Exception as err:
            gt = guard_type(guard)
            named = f"'{gt}' " if gt else ""
            raise GuardError(
                f"Unable to evaluate guard {named}in transition for event "
                f"'{event_type}' in state node '{node.id}':\n{err}"
            ) from err
        if passed:
            return t
    return None


def select_transitions(snapshot: MachineSnapshot, event: Mapping[str, Any]) -> list[Transition]:
    """Enabled transitions for ``event`` (xstate's ``transitionNode`` over the active configuration)."""
    machine = snapshot.machine
    prog = snapshot.cfg.program(machine.root, event["type"])
    if prog is None:
        return []
    return _run_program(prog, snapshot, event) or []


def _run_program(prog: SelectProgram, snapshot: MachineSnapshot, event: Mapping[str, Any]) -> list[Transition] | None:
    node, own, kids = prog
    if kids:
        if len(kids) == 1:
            inner = _run_program(kids[0], snapshot, event)
            if inner:
                return inner
        else:
            collected: list[Transition] = []
            for k in kids:
                r = _run_program(k, snapshot, event)
                if r:
                    collected.extend(r)
            if collected:
                return collected
    if own:
        t = node_next(node, snapshot, event)
        if t is not None:
            return [t]
    return None


def select_eventless_transitions(snapshot: MachineSnapshot, event: Mapping[str, Any]) -> list[Transition]:
    machine = snapshot.machine
    if not machine.has_always:
        return []
    enabled: dict[Transition, None] = {}
    for atomic in snapshot._nodes:
        if not atomic.is_atomic:
            continue
        found = False
        for s in (atomic, *atomic.ancestors):
            if not s.always:
                continue
            for t in s.always:
                if t.guard is None or evaluate_guard(t.guard, snapshot.context, event, snapshot):
                    enabled[t] = None
                    found = True
                    break
            if found:
                break
    if not enabled:
        return []
    return remove_conflicting_transitions(list(enabled), snapshot._nodes, snapshot.history_value)


# --------------------------------------------------------------------------- exit / entry sets


def get_effective_target_states(
    target: tuple[StateNode, ...] | list[StateNode] | None, history_value: HistoryValue
) -> list[StateNode]:
    if not target:
        return []
    out: dict[StateNode, None] = {}
    for node in target:
        if node.type == "history":
            recorded = history_value.get(node.id)
            if recorded:
                for n in recorded:
                    out[n] = None
            else:
                default_target, _ = history_default(node)
                for n in get_effective_target_states(default_target, history_value):
                    out[n] = None
        else:
            out[node] = None
    return list(out)


def history_default(node: StateNode) -> tuple[tuple[StateNode, ...], bool]:
    """A history node's default targets, and whether they are its parent's initial transition."""
    parent = node.parent
    assert parent is not None
    if node.history_target is not None:
        return node.history_target, False
    if parent.type == "parallel":
        return (parent,), False
    assert parent.initial is not None and parent.initial.target is not None
    return parent.initial.target, True


def get_transition_domain(t: Transition, history_value: HistoryValue) -> StateNode | None:
    targets = get_effective_target_states(t.target, history_value)
    source = t.source
    if not t.reenter and all(x is source or source in x.ancestor_set for x in targets):
        return source
    lca = find_lca([*targets, source])
    if lca is not None:
        return lca
    if t.reenter:
        return None
    return source.machine.root


def find_lca(nodes: list[StateNode]) -> StateNode | None:
    head, tail = nodes[0], nodes[1:]
    for anc in head.ancestors:
        if all(anc in n.ancestor_set for n in tail):
            return anc
    return None


def compute_exit_set(
    transitions: list[Transition], node_set: Any, history_value: HistoryValue
) -> dict[StateNode, None]:
    to_exit: dict[StateNode, None] = {}
    for t in transitions:
        if t.target:
            domain = get_transition_domain(t, history_value)
            if t.reenter and t.source is domain:
                assert domain is not None
                to_exit[domain] = None
            if domain is None:
                for s in node_set:
                    to_exit[s] = None
            else:
                for s in node_set:
                    if domain in s.ancestor_set:
                        to_exit[s] = None
    return to_exit


def remove_conflicting_transitions(
    enabled: list[Transition], node_set: Any, history_value: HistoryValue
) -> list[Transition]:
    if len(enabled) < 2:
        return enabled
    filtered: dict[Transition, None] = {}
    exit_sets: dict[Transition, dict[StateNode, None]] = {}

    def exit_set(t: Transition) -> dict[StateNode, None]:
        r = exit_sets.get(t)
        if r is None:
            r = exit_sets[t] = compute_exit_set([t], node_set, history_value)
        return r

    for t1 in enabled:
        preempted = False
        to_remove = []
        for t2 in filtered:
            e1, e2 = exit_set(t1), exit_set(t2)
            if any(n in e2 for n in e1):
                if t2.source in t1.source.ancestor_set:
                    to_remove.append(t2)
                else:
                    preempted = True
                    break
        if not preempted:
            for t3 in to_remove:
                del filtered[t3]
            filtered[t1] = None
    return list(filtered)


def compute_entry_set(
    transitions: list[Transition],
    history_value: HistoryValue,
    default_entry: dict[StateNode, None],
    to_enter: dict[StateNode, None],
) -> None:
    for t in transitions:
        domain = get_transition_domain(t, history_value)
        for s in t.target or ():
            if s.type != "history" and (t.source is not s or t.source is not domain or t.reenter):
                to_enter[s] = None
                default_entry[s] = None
            add_descendant_states_to_enter(s, history_value, default_entry, to_enter)
        for s in get_effective_target_states(t.target, history_value):
            ancestors = get_proper_ancestors(s, domain)
            if domain is not None and domain.type == "parallel":
                ancestors.append(domain)
            add_ancestor_states_to_enter(
                to_enter,
                history_value,
                default_entry,
                ancestors,
                None if (t.source.parent is None and t.reenter) else domain,
            )


def add_descendant_states_to_enter(
    node: StateNode,
    history_value: HistoryValue,
    default_entry: dict[StateNode, None],
    to_enter: dict[StateNode, None],
) -> None:
    if node.type == "history":
        recorded = history_value.get(node.id)
        if recorded:
            for s in recorded:
                to_enter[s] = None
                add_descendant_states_to_enter(s, history_value, default_entry, to_enter)
            for s in recorded:
                add_ancestor_states_to_enter(
                    to_enter, history_value, default_entry, get_proper_ancestors(s, node.parent)
                )
        else:
            targets, is_initial = history_default(node)
            for s in targets:
                to_enter[s] = None
                if is_initial:
                    assert node.parent is not None
                    default_entry[node.parent] = None
                add_descendant_states_to_enter(s, history_value, default_entry, to_enter)
            for s in targets:
                add_ancestor_states_to_enter(
                    to_enter, history_value, default_entry, get_proper_ancestors(s, node.parent)
                )
    elif node.type == "compound":
        assert node.initial is not None and node.initial.target
        initial = node.initial.target[0]
        if initial.type != "history":
            to_enter[initial] = None
            default_entry[initial] = None
        add_descendant_states_to_enter(initial, history_value, default_entry, to_enter)
        add_ancestor_states_to_enter(
            to_enter, history_value, default_entry, get_proper_ancestors(initial, node)
        )
    elif node.type == "parallel":
        for child in node.children:
            if not any(child in s.ancestor_set for s in to_enter):
                to_enter[child] = None
                default_entry[child] = None
                add_descendant_states_to_enter(child, history_value, default_entry, to_enter)


def add_ancestor_states_to_enter(
    to_enter: dict[StateNode, None],
    history_value: HistoryValue,
    default_entry: dict[StateNode, None],
    ancestors: list[StateNode],
    reentrancy_domain: StateNode | None = None,
) -> None:
    for anc in ancestors:
        if reentrancy_domain is None or reentrancy_domain in anc.ancestor_set:
            to_enter[anc] = None
        if anc.type == "parallel":
            for child in anc.children:
                if not any(child in s.ancestor_set for s in to_enter):
                    to_enter[child] = None
                    add_descendant_states_to_enter(child, history_value, default_entry, to_enter)


# --------------------------------------------------------------------------- actions


def resolve_actions_and_context(
    snapshot: MachineSnapshot,
    event: Any,
    scope: Any,
    actions: list[Any] | tuple[Any, ...],
    internal_queue: list[Any],
    deferred_actor_ids: list[str] | None = None,
) -> MachineSnapshot:
    if not actions:
        return snapshot
    retries: list[tuple[Any, Any]] | None = [] if deferred_actor_ids is not None else None
    extra = ResolveExtra(internal_queue, deferred_actor_ids)
    result = _resolve_and_execute(snapshot, event, scope, actions, extra, retries)
    if retries:
        for builtin, params in retries:
            builtin.retry_resolve(scope, result, params)
    return result


def _resolve_and_execute(
    snapshot: MachineSnapshot,
    event: Any,
    scope: Any,
    actions: list[Any] | tuple[Any, ...],
    extra: ResolveExtra,
    retries: list[tuple[Any, Any]] | None,
) -> MachineSnapshot:
    machine = snapshot.machine
    impls = machine.implementations.actions
    executor = scope.action_executor
    current = snapshot
    for action in actions:
        params = None
        if isinstance(action, BuiltinAction):
            resolved: Any = action
            type_ = action.type
        elif isinstance(action, str):
            type_ = action
            resolved = impls.get(action)
        elif isinstance(action, Mapping):
            type_ = str(action.get("type"))
            resolved = impls.get(type_)
            if "params" in action:
                params = action["params"]
                if callable(params):
                    params = call_impl(params, ActionArgs(current.context, event, scope.self, scope.system), None)
        elif callable(action):
            resolved = action
            type_ = getattr(action, "__name__", None) or "(anonymous)"
            if type_ == "<lambda>":
                type_ = "(anonymous)"
        else:
            raise InvalidArgumentType(f"invalid action {action!r}")
        args = ActionArgs(current.context, event, scope.self, scope.system)
        if not isinstance(resolved, BuiltinAction):
            executor(ExecutableAction(type_, args, params, resolved))
            continue
        current, exec_params, more = resolved.resolve(scope, current, args, params, extra)
        if retries is not None and hasattr(resolved, "retry_resolve"):
            retries.append((resolved, exec_params))
        if resolved.has_execute:
            executor(
                ExecutableAction(resolved.type, args, exec_params, _bind_execute(resolved, scope, exec_params), True)
            )
        if more:
            current = _resolve_and_execute(current, event, scope, more, extra, retries)
    return current


def _bind_execute(builtin: BuiltinAction, scope: Any, params: Any) -> Any:
    def run(_info: Any = None, _params: Any = None) -> None:
        builtin.execute(scope, params)

    run.__name__ = builtin.type
    return run


def resolve_output(mapper: Any, context: Any, event: Any, self_: Any) -> Any:
    if callable(mapper):
        return call_impl(mapper, OutputArgs(context, event, self_), None)
    return mapper


# --------------------------------------------------------------------------- microstep


def _stop_child_action(child_id: str) -> Any:
    from .children import stop_child

    return stop_child(child_id)


def _spawn_invoke_action(node: StateNode, invoke_def: Any) -> Any:
    from .children import spawn_invoke

    return spawn_invoke(invoke_def)


class StepPlan:
    """Everything about a microstep that depends only on the configuration, not on context.

    Computed once per (transitions, active nodes, history) and cached on the machine, so a repeated
    step only runs actions: the exit set, entry set, history records and next configuration are reused.
    """

    __slots__ = ("enters", "exits", "filtered", "history", "next_cfg", "next_nodes", "same_nodes", "t_actions")

    def __init__(
        self, transitions: list[Transition], nodes: list[StateNode], history_value: HistoryValue, is_initial: bool
    ) -> None:
        node_set: dict[StateNode, None] = dict.fromkeys(nodes)
        filtered = remove_conflicting_transitions(transitions, node_set, history_value)
        self.filtered = filtered
        self.exits: list[tuple[StateNode, tuple[Any, ...]]] = []
        updates: HistoryValue | None = None
        if not is_initial:
            to_exit = sorted(compute_exit_set(filtered, node_set, history_value), key=_order, reverse=True)
            for exiting in to_exit:
                for h in exiting.history_children:
                    if updates is None:
                        updates = {}
                    if h.history == "deep":
                        updates[h.id] = [s for s in node_set if s.is_atomic and exiting in s.ancestor_set]
                    else:
                        updates[h.id] = [s for s in node_set if s.parent is exiting]
            for s in to_exit:
                acts = (*s.exit, *(_stop_child_action(d.id) for d in s.invoke)) if s.invoke else tuple(s.exit)
                self.exits.append((s, acts))
                del node_set[s]
        self.history = updates
        hv = {**history_value, **updates} if updates else history_value
        if len(filtered) == 1:
            self.t_actions: tuple[Any, ...] = tuple(filtered[0].actions)
        else:
            self.t_actions = tuple(a for t in filtered for a in t.actions)
        to_enter: dict[StateNode, None] = {}
        default_entry: dict[StateNode, None] = {}
        compute_entry_set(filtered, hv, default_entry, to_enter)
        if is_initial:
            default_entry[nodes[0].machine.root] = None
        completed: set[StateNode] = set()
        self.enters: list[tuple[StateNode, tuple[Any, ...], list[str] | None, Any]] = []
        for node in sorted(to_enter, key=_order):
            node_set[node] = None
            acts_list: list[Any] = list(node.entry)
            ids = None
            if node.invoke:
                acts_list.extend(_spawn_invoke_action(node, d) for d in node.invoke)
                ids = [d.id for d in node.invoke]
            if node in default_entry and node.initial is not None:
                acts_list.extend(node.initial.actions)
            final_info = None
            if node.type == "final":
                parent = node.parent
                marker = parent if (parent is not None and parent.type == "parallel") else (
                    parent.parent if parent is not None else None
                )
                completion = marker or node
                parent_done = parent.id if parent is not None and parent.type == "compound" else None
                completed_ids = []
                while (
                    marker is not None
                    and marker.type == "parallel"
                    and marker not in completed
                    and is_in_final_state(node_set, marker)
                ):
                    completed.add(marker)
                    completed_ids.append(marker.id)
                    completion = marker
                    marker = marker.parent
                final_info = (parent_done, completed_ids, completion if marker is None else None)
            self.enters.append((node, tuple(acts_list), ids, final_info))
        self.next_nodes = list(node_set)
        self.same_nodes = _same_nodes(nodes, node_set)
        self.next_cfg: ConfigInfo | None = None


def microstep(
    transitions: list[Transition],
    snapshot: MachineSnapshot,
    scope: Any,
    event: Any,
    is_initial: bool,
    internal_queue: list[Any],
    entered: list[StateNode] | None = None,
) -> MachineSnapshot:
    if not transitions:
        return snapshot
    machine = snapshot.machine
    history_value = snapshot.history_value
    if is_initial:
        plan = StepPlan(transitions, snapshot._nodes, history_value, True)
    else:
        key: Any = transitions[0] if len(transitions) == 1 else tuple(transitions)
        if machine.has_history and history_value:
            key = (key, tuple((k, tuple(v)) for k, v in history_value.items()))
        cache: dict[Any, StepPlan] = snapshot.cfg.plans
        cached = cache.get(key)
        if cached is not None:
            plan = cached
        else:
            if len(cache) > 1024:
                cache.clear()
            plan = cache[key] = StepPlan(transitions, snapshot._nodes, history_value, False)
            plan.next_cfg = machine._info(plan.next_nodes)
    if entered is not None:
        entered.extend(e[0] for e in plan.enters)
    current = snapshot
    for _node, acts in plan.exits:
        if acts:
            current = resolve_actions_and_context(current, event, scope, acts, internal_queue)
    if plan.history:
        history_value = {**history_value, **plan.history}
    if plan.t_actions:
        current = resolve_actions_and_context(current, event, scope, plan.t_actions, internal_queue)
    for node, acts, ids, final_info in plan.enters:
        if acts:
            current = resolve_actions_and_context(current, event, scope, acts, internal_queue, ids)
        if final_info is not None:
            parent_done, completed_ids, completion = final_info
            if parent_done is not None:
                output = (
                    resolve_output(node.output, current.context, event, scope.self)
                    if node.output is not None
                    else None
                )
                internal_queue.append(done_state_event(parent_done, output))
            for pid in completed_ids:
                internal_queue.append(done_state_event(pid))
            if completion is not None:
                current = current._replace(
                    status="done",
                    output=get_machine_output(current, event, scope, machine.root, completion),
                )
    if current.status == "done":
        next_nodes = sorted(plan.next_nodes, key=_order, reverse=True)
        exits = [a for n in next_nodes for a in n.exit]
        current = resolve_actions_and_context(current, event, scope, exits, internal_queue)
        if plan.history is None and plan.same_nodes:
            return current
        return current._replace(nodes=next_nodes, history_value=history_value)
    if plan.history is None and plan.same_nodes:
        return current
    return current._with_config(plan.next_nodes, plan.next_cfg, history_value)


def _same_nodes(prev: list[StateNode], nxt: dict[StateNode, None]) -> bool:
    if len(prev) != len(nxt):
        return False
    return all(n in nxt for n in prev)


def _order(n: StateNode) -> int:
    return n.order


def get_machine_output(
    snapshot: MachineSnapshot, event: Any, scope: Any, root: StateNode, completion: StateNode
) -> Any:
    if root.output is None:
        return None
    inner = None
    if completion.output is not None and completion.parent is not None:
        inner = resolve_output(completion.output, snapshot.context, event, scope.self)
    done_event = done_state_event(completion.id, inner)
    return resolve_output(root.output, snapshot.context, done_event, scope.self)


def initial_microstep(
    snapshot: MachineSnapshot, scope: Any, init_event: Any, internal_queue: list[Any]
) -> MachineSnapshot:
    root = snapshot.machine.root
    t = Transition(root, None, {"reenter": True})
    t.target = tuple(get_initial_state_nodes(root))
    return microstep([t], snapshot, scope, init_event, True, internal_queue)


# --------------------------------------------------------------------------- macrostep


def macrostep(
    snapshot: MachineSnapshot,
    event: Mapping[str, Any],
    scope: Any,
    internal_queue: list[Any],
    microsteps: list[tuple[Any, MachineSnapshot, list[Transition]]] | None = None,
) -> MachineSnapshot:
    """Process one external event to completion (eventless transitions, then raised events)."""
    inspect_micro = scope.system.inspecting

    entered: list[StateNode] | None = [] if inspect_micro else None
    # only inspection and transition() callers that collect microsteps need a record of each one
    record: Callable[[Any, MachineSnapshot, list[Transition]], None] | None = None
    if inspect_micro or microsteps is not None:

        def _record(ev: Any, snap: MachineSnapshot, ts: list[Transition]) -> None:
            if inspect_micro:
                assert entered is not None
                scope.system.send_inspection_event(
                    {
                        "type": "@xstate.microstep",
                        "actorRef": scope.self,
                        "event": ev,
                        "snapshot": snap,
                        "_transitions": ts,
                        "_entered": list(entered),  # durable-xstate addition: state nodes entered, in order
                    }
                )
                entered.clear()
            if microsteps is not None:
                microsteps.append((ev, snap, ts))

        record = _record
    event_type = event["type"]
    if event_type == XSTATE_STOP:
        stopped = stop_children(snapshot, event, scope)._replace(status="stopped")
        if record is not None:
            record(event, stopped, [])
        return stopped
    current = snapshot
    next_event: Any = event
    if event_type != XSTATE_INIT:
        transitions = select_transitions(current, event)
        if not transitions and event_type.startswith("xstate.error.actor"):
            errored = stop_children(snapshot, event, scope)._replace(status="error", error=event.get("error"))
            if record is not None:
                record(event, errored, [])
            return errored
        current = microstep(transitions, snapshot, scope, event, False, internal_queue, entered)
        if record is not None:
            record(event, current, transitions)
    select_eventless = True
    max_iterations = snapshot.machine.max_iterations
    count = 0
    while current.status == "active":
        count += 1
        if max_iterations is not None and count > max_iterations:
            raise InfiniteLoop(
                max_iterations,
                f"Infinite loop detected: the machine has processed more than {max_iterations} "
                "microsteps without reaching a stable state. This usually happens when there's a cycle of "
                "transitions (e.g., eventless transitions or raised events causing state A -> B -> C -> A)."
            )
        enabled = select_eventless_transitions(current, next_event) if select_eventless else []
        previous = current if enabled else None
        if not enabled:
            if not internal_queue:
                break
            next_event = internal_queue.pop(0)
            enabled = select_transitions(current, next_event)
        current = microstep(enabled, current, scope, next_event, False, internal_queue, entered)
        select_eventless = current is not previous
        if record is not None:
            record(next_event, current, enabled)
    if current.status != "active":
        stop_children(current, next_event, scope)
    return current


def stop_children(snapshot: MachineSnapshot, event: Any, scope: Any) -> MachineSnapshot:
    if not snapshot.children:
        return snapshot
    actions = [_stop_child_action(child) for child in list(snapshot.children.values())]
    return resolve_actions_and_context(snapshot, event, scope, actions, [])
