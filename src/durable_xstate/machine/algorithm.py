"""The statechart algorithm: transition selection, exit/entry sets, microstep and macrostep.

A port of the structure of xstate's ``stateUtils.ts``, itself a variant of the W3C SCXML algorithm
(https://www.w3.org/TR/scxml/#AlgorithmforSCXMLInterpretation). Each function below carries the name
of its xstate counterpart in snake case:

- ``macrostep``: ``select_transitions`` / ``select_eventless_transitions`` then ``microstep`` until rest;
- ``microstep``: ``exit_states``, ``execute_transition_content``, ``enter_states``, over a
  :class:`StepPlan` (``plan_microstep``: the context-free half of the step, cached per configuration):
  ``remove_conflicting_transitions``, ``compute_exit_set`` (``get_transition_domain``),
  ``compute_entry_set`` (``add_descendant_states_to_enter``, ``add_ancestor_states_to_enter``).

Pure: no I/O, no clock. Side effects reach the outside world only through ``scope.action_executor``
and ``scope.defer``, which the actor runtime (or the pure ``transition()``) provides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import GuardError, InfiniteLoop, InvalidArgumentType, MachineLookupError
from .actions import (
    ActionArgs,
    Assign,
    AssignArgs,
    BuiltinAction,
    BuiltinExecutable,
    ExecutableAction,
    ResolveExtra,
)
from .cache import BoundedCache
from .callables import arity, call_impl
from .configuration import (
    ConfigInfo,
    SelectProgram,
    get_all_state_nodes,
    get_initial_state_nodes,
    get_proper_ancestors,
)
from .events import XSTATE_INIT, XSTATE_STOP, done_state_event
from .guards import BuiltinGuard, GuardArgs, evaluate_guard, guard_type
from .node import StateNode, Transition

if TYPE_CHECKING:
    from .scope import ActorScope
    from .snapshot import MachineSnapshot

__all__ = [
    "Macrostep",
    "Microstep",
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
    candidates = node._candidates.data.get(event_type)
    if candidates is None:
        candidates = node.candidates(event_type)
    for t in candidates:
        guard = t.guard
        if guard is None:
            return t
        try:
            gc = t.guard_call
            if gc is None:
                gc = t.guard_call = _compile_guard(guard, snapshot.machine)
            if gc:  # evaluate_guard's usual case: a named guard without params, its implementation resolved once
                impl, n = gc  # type: ignore[misc]
                if n == 2:
                    passed = bool(impl(GuardArgs(snapshot.context, event), None))
                elif n == 1:
                    passed = bool(impl(GuardArgs(snapshot.context, event)))
                else:
                    passed = bool(impl())
            else:
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


def _compile_guard(guard: Any, machine: Any) -> tuple[Any, int] | bool:
    """A named guard's plain implementation and its arity, or False (the guard goes through evaluate_guard)."""
    if type(guard) is not str:
        return False
    impl = machine.implementations.guards.get(guard)
    if impl is not None and callable(impl) and not isinstance(impl, BuiltinGuard):
        return impl, arity(impl)
    return False


def select_transitions(snapshot: MachineSnapshot, event: Mapping[str, Any]) -> list[Transition]:
    """Enabled transitions for ``event`` (xstate's ``selectTransitions``: ``transitionNode`` over the
    active configuration, https://www.w3.org/TR/scxml/#selectTransitions)."""
    machine = snapshot.machine
    prog = snapshot.cfg.program(machine.root, event["type"])
    if prog is None:
        return []
    return _run_program(prog, snapshot, event) or []


def _run_program(prog: SelectProgram, snapshot: MachineSnapshot, event: Mapping[str, Any]) -> list[Transition] | None:
    node, own, kids = prog
    while not own and len(kids) == 1:  # a node without candidates of its own selects what its one child does
        node, own, kids = kids[0]
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
    """Enabled ``always`` transitions, innermost first (https://www.w3.org/TR/scxml/#selectEventlessTransitions)."""
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
    """The compound state all of ``t``'s exits and entries happen in (https://www.w3.org/TR/scxml/#getTransitionDomain)."""
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
    """The active states the transitions leave (https://www.w3.org/TR/scxml/#computeExitSet)."""
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
    """Drop transitions whose exit sets overlap; a descendant's wins (https://www.w3.org/TR/scxml/#removeConflictingTransitions)."""
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
    """The states the transitions enter, into ``to_enter`` (https://www.w3.org/TR/scxml/#computeEntrySet)."""
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
    """``node`` and the descendants entering it enters (https://www.w3.org/TR/scxml/#addDescendantStatesToEnter)."""
    if node.type == "history":
        add_history_states_to_enter(node, history_value, default_entry, to_enter)
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


def add_history_states_to_enter(
    node: StateNode,
    history_value: HistoryValue,
    default_entry: dict[StateNode, None],
    to_enter: dict[StateNode, None],
) -> None:
    """The history branch of addDescendantStatesToEnter: the recorded states, else the default targets."""
    recorded = history_value.get(node.id)
    if recorded:
        targets: tuple[StateNode, ...] | list[StateNode] = recorded
    else:
        targets, is_initial = history_default(node)
        if is_initial and targets:
            assert node.parent is not None
            default_entry[node.parent] = None
    for s in targets:
        to_enter[s] = None
        add_descendant_states_to_enter(s, history_value, default_entry, to_enter)
    for s in targets:
        add_ancestor_states_to_enter(to_enter, history_value, default_entry, get_proper_ancestors(s, node.parent))


def add_ancestor_states_to_enter(
    to_enter: dict[StateNode, None],
    history_value: HistoryValue,
    default_entry: dict[StateNode, None],
    ancestors: list[StateNode],
    reentrancy_domain: StateNode | None = None,
) -> None:
    """The ancestors entered with a target, and their parallel siblings (https://www.w3.org/TR/scxml/#addAncestorStatesToEnter)."""
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
    scope: ActorScope,
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
    scope: ActorScope,
    actions: list[Any] | tuple[Any, ...],
    extra: ResolveExtra,
    retries: list[tuple[Any, Any]] | None,
) -> MachineSnapshot:
    machine = snapshot.machine
    impls = machine.implementations.actions
    executor = scope.action_executor
    current = snapshot
    self_ = scope.self
    system = scope.system
    for action in actions:
        params = None
        if type(action) is str:
            type_ = action
            resolved: Any = impls.get(action)
        elif isinstance(action, BuiltinAction):
            resolved = action
            type_ = action.type
            if type(action) is Assign:  # no ActionArgs: an assign makes its own
                current = action.assign(scope, current, event, self_, system, None)
                continue
        elif isinstance(action, str):
            type_ = action
            resolved = impls.get(action)
        elif isinstance(action, Mapping):
            type_ = str(action.get("type"))
            resolved = impls.get(type_)
            if "params" in action:
                params = action["params"]
                if callable(params):
                    params = call_impl(params, ActionArgs(current.context, event, self_, system), None)
        elif callable(action):
            resolved = action
            type_ = getattr(action, "__name__", None) or "(anonymous)"
            if type_ == "<lambda>":
                type_ = "(anonymous)"
        else:
            raise InvalidArgumentType(f"invalid action {action!r}")
        if type(resolved) is Assign:
            current = resolved.assign(scope, current, event, self_, system, params)
            continue
        args = ActionArgs(current.context, event, self_, system)
        if not isinstance(resolved, BuiltinAction):
            executor(ExecutableAction(type_, args, params, resolved))
            continue
        current, exec_params, more = resolved.resolve(scope, current, args, params, extra)
        if retries is not None and hasattr(resolved, "retry_resolve"):
            retries.append((resolved, exec_params))
        if resolved.has_execute:
            executor(BuiltinExecutable(resolved, args, exec_params, scope))
        if more:
            current = _resolve_and_execute(current, event, scope, more, extra, retries)
    return current


# A transition's actions, resolved once per plan (so per machine and configuration, under the plans
# cache's bound): each a (kind, object) step. The usual built-ins run without the per-event name lookup
# and type dispatch of _resolve_and_execute; anything else takes that path, one action at a time.
_STEP_ASSIGN = 0  # an Assign: object is its bound ``assign``
_STEP_SEND = 1  # a SendTo with a fixed event, no delay and a fixed target: object is (send_to, where, key)
_STEP_OTHER = 2  # anything else: object is the action as written
_STEP_ASSIGN_PROPS = 3  # an Assign of property assigners: object is (assign, its assigners), run inline

_SEND_PARENT, _SEND_SELF, _SEND_CHILD = 0, 1, 2

CompiledActions = tuple[tuple[int, Any], ...]


def compile_actions(actions: tuple[Any, ...], machine: Any) -> CompiledActions:
    """The steps :func:`run_compiled_actions` runs for ``actions`` (transition content, no retries)."""
    from .children import SendTo

    impls = machine.implementations.actions
    steps: list[tuple[int, Any]] = []
    for action in actions:
        resolved = impls.get(action) if type(action) is str else action
        if type(resolved) is Assign:
            if resolved.is_fn:
                steps.append((_STEP_ASSIGN, resolved.assign))
            else:
                steps.append((_STEP_ASSIGN_PROPS, (resolved, resolved.assigners())))
            continue
        if (
            type(resolved) is SendTo
            and type(resolved.to) is str
            and type(resolved.event) is dict
            and resolved.delay is None
        ):
            to = resolved.to
            if to == "#_parent":
                steps.append((_STEP_SEND, (resolved, _SEND_PARENT, to)))
                continue
            if to == "#_internal":
                steps.append((_STEP_SEND, (resolved, _SEND_SELF, to)))
                continue
            steps.append((_STEP_SEND, (resolved, _SEND_CHILD, to[2:] if to.startswith("#_") else to)))
            continue
        steps.append((_STEP_OTHER, action))
    return tuple(steps)


def run_compiled_actions(
    snapshot: MachineSnapshot, event: Any, scope: ActorScope, steps: CompiledActions, internal_queue: list[Any]
) -> MachineSnapshot:
    """:func:`_resolve_and_execute` over compiled steps: the same resolutions, executables and errors."""
    current = snapshot
    self_ = scope.self
    system = scope.system
    extra: ResolveExtra | None = None
    for kind, obj in steps:
        if kind == _STEP_ASSIGN_PROPS:  # Assign.assign, inline
            context = current.context
            if context is None:
                current = obj[0].assign(scope, current, event, self_, system, None)  # raises
                continue
            a_args = AssignArgs(context, event, self_, system, scope, current)
            partial = {}
            for k, v, n in obj[1]:
                partial[k] = v(a_args, None) if n == 2 else v if n < 0 else v(a_args) if n == 1 else v()
            new_context = {**context, **partial} if partial else dict(context)
            spawned = a_args.spawned
            if spawned:
                current = current._replace(context=new_context, children={**current.children, **spawned})
            else:
                current = current._with_context(new_context)
        elif kind == _STEP_ASSIGN:
            current = obj(scope, current, event, self_, system, None)
        elif kind == _STEP_SEND:
            send, where, key = obj
            to = send.to
            if where == _SEND_CHILD:
                target = current.children.get(key)
            elif where == _SEND_PARENT:
                target = scope.parent
            else:
                target = self_
            if not target:
                raise MachineLookupError(f"Unable to send event to actor '{to}' from machine '{current.machine.id}'.")
            exec_params = {"to": target, "targetId": to, "event": send.event, "id": send.id, "delay": None}
            execute_builtin = getattr(scope, "execute_builtin", None)  # (optional in the ActorScope protocol)
            if execute_builtin is not None:
                execute_builtin(send, exec_params, current.context, event)
            else:
                scope.action_executor(
                    BuiltinExecutable(send, ActionArgs(current.context, event, self_, system), exec_params, scope)
                )
        else:
            if extra is None:
                extra = ResolveExtra(internal_queue, None)
            current = _resolve_and_execute(current, event, scope, (obj,), extra, None)
    return current


def resolve_output(mapper: Any, context: Any, event: Any, self_: Any) -> Any:
    if callable(mapper):
        return call_impl(mapper, OutputArgs(context, event, self_), None)
    return mapper


# --------------------------------------------------------------------------- microstep records

SCXML = "https://www.w3.org/TR/scxml/#AlgorithmforSCXMLInterpretation"


class ExitStep(NamedTuple):
    """One state left by a microstep and the actions its exit runs (its ``exit``, then stopping its invokes)."""

    node: StateNode
    actions: tuple[Any, ...]


class DoneEvents(NamedTuple):
    """What entering a final state raises: ``xstate.done.state.*`` events, and whether the machine is done.

    ``parent_done``: the compound parent whose done event carries this state's output; ``completed``: the
    parallel ancestors completed by it, innermost first; ``machine_completion``: the node whose completion
    finishes the whole machine (None while an ancestor is still running).
    """

    parent_done: str | None
    completed: tuple[str, ...]
    machine_completion: StateNode | None


class EntryStep(NamedTuple):
    """One state entered by a microstep: its actions (entry, invokes, initial), invoke ids, done events."""

    node: StateNode
    actions: tuple[Any, ...]
    invoke_ids: list[str] | None
    done: DoneEvents | None


class Microstep(NamedTuple):
    """One microstep taken by :func:`macrostep`, as xstate and sismic report it.

    ``event``: the event it processed; ``snapshot``: the snapshot after it; ``transitions``: the
    transitions taken (after conflicts were removed); ``exited`` and ``entered``: the state nodes left
    and entered, in the order their actions ran (exit: deepest first; entry: document order).
    """

    event: Any
    snapshot: MachineSnapshot
    transitions: tuple[Transition, ...]
    exited: tuple[StateNode, ...]
    entered: tuple[StateNode, ...]


MicrostepLog = list[tuple[Any, "MachineSnapshot", "StepPlan"]]  # (event, snapshot after, plan taken)


class Macrostep:
    """What :func:`macrostep` returns, as xstate's ``macrostep``: the stable snapshot and the microsteps.

    The microsteps are logged as they are taken and made into :class:`Microstep` records when read, so
    an event whose microsteps nobody reads costs no record.
    """

    __slots__ = ("_log", "snapshot")

    def __init__(self, snapshot: MachineSnapshot, log: MicrostepLog) -> None:
        self.snapshot = snapshot
        self._log = log

    @property
    def microsteps(self) -> list[Microstep]:
        return [Microstep(ev, snap, p.transitions, p.exited, p.entered) for ev, snap, p in self._log]


# --------------------------------------------------------------------------- microstep: the pure plan


def _stop_child_action(child_id: str) -> Any:
    from .children import stop_child

    return stop_child(child_id)


def _spawn_invoke_action(node: StateNode, invoke_def: Any) -> Any:
    from .children import spawn_invoke

    return spawn_invoke(invoke_def)


@dataclass(slots=True)
class StepPlan:
    """The part of a microstep that depends only on the configuration and history, never on context.

    The result of the pure halves of xstate's ``exitStates`` and ``enterStates`` (exit set, history to
    record, entry set and its actions, the next configuration). :func:`plan_microstep` caches it per
    (configuration, transitions, history), so a repeated step only runs actions.
    """

    transitions: tuple[Transition, ...]  # after removeConflictingTransitions
    exits: tuple[ExitStep, ...]
    history: HistoryValue | None  # the history values the exit records, None if none
    transition_actions: tuple[Any, ...]
    entries: tuple[EntryStep, ...]
    next_nodes: list[StateNode]
    unchanged: bool  # same configuration and no history recorded: the snapshot keeps its nodes
    next_cfg: ConfigInfo | None = None
    exited: tuple[StateNode, ...] = ()
    entered: tuple[StateNode, ...] = ()
    exit_actions: bool = False  # some exit step has actions
    entry_actions: bool = False  # some entry step has actions or done events
    compiled: CompiledActions | None = None  # transition_actions compiled on first use (compile_actions)
    only_actions: bool = False  # unchanged, with no exit or entry actions: the step only runs its transitions' actions


def build_step_plan(
    transitions: list[Transition], nodes: list[StateNode], history_value: HistoryValue, is_initial: bool
) -> StepPlan:
    """Plan a microstep: removeConflictingTransitions, then the exit and entry sets (:data:`SCXML`)."""
    node_set: dict[StateNode, None] = dict.fromkeys(nodes)
    filtered = remove_conflicting_transitions(transitions, node_set, history_value)
    exits: tuple[ExitStep, ...] = ()
    history = None
    if not is_initial:
        exits, history = plan_exit_states(filtered, node_set, history_value)
    hv = {**history_value, **history} if history else history_value
    entries = plan_enter_states(filtered, node_set, hv, nodes[0].machine.root if is_initial else None)
    plan = StepPlan(
        transitions=tuple(filtered),
        exits=exits,
        history=history,
        transition_actions=tuple(a for t in filtered for a in t.actions),
        entries=entries,
        next_nodes=list(node_set),
        unchanged=history is None and _same_nodes(nodes, node_set),
        exited=tuple(e.node for e in exits),
        entered=tuple(e.node for e in entries),
        exit_actions=any(e.actions for e in exits),
        entry_actions=any(e.actions or e.done is not None for e in entries),
    )
    plan.only_actions = plan.unchanged and not plan.exit_actions and not plan.entry_actions
    return plan


def plan_exit_states(
    transitions: list[Transition], node_set: dict[StateNode, None], history_value: HistoryValue
) -> tuple[tuple[ExitStep, ...], HistoryValue | None]:
    """The pure half of xstate's ``exitStates`` (https://www.w3.org/TR/scxml/#exitStates).

    Computes the exit set (deepest first), records history for every history child of an exited
    state, and removes the exited states from ``node_set``.
    """
    to_exit = sorted(compute_exit_set(transitions, node_set, history_value), key=_order, reverse=True)
    history: HistoryValue | None = None
    for exiting in to_exit:
        for h in exiting.history_children:
            if history is None:
                history = {}
            if h.history == "deep":
                history[h.id] = [s for s in node_set if s.is_atomic and exiting in s.ancestor_set]
            else:
                history[h.id] = [s for s in node_set if s.parent is exiting]
    steps = []
    for s in to_exit:
        stops = tuple(_stop_child_action(d.id) for d in s.invoke)
        steps.append(ExitStep(s, (*s.exit, *stops)))
        del node_set[s]
    return tuple(steps), history


def plan_enter_states(
    transitions: list[Transition],
    node_set: dict[StateNode, None],
    history_value: HistoryValue,
    initial_root: StateNode | None,
) -> tuple[EntryStep, ...]:
    """The pure half of xstate's ``enterStates`` (https://www.w3.org/TR/scxml/#enterStates).

    Computes the entry set (document order) and, for each state, its actions and the done events a
    final state raises; adds the entered states to ``node_set``. In the initial microstep the root
    (``initial_root``) counts as entered by default, so its ``initial`` actions run.
    """
    to_enter: dict[StateNode, None] = {}
    default_entry: dict[StateNode, None] = {}
    compute_entry_set(transitions, history_value, default_entry, to_enter)
    if initial_root is not None:
        default_entry[initial_root] = None
    completed: set[StateNode] = set()
    steps = []
    for node in sorted(to_enter, key=_order):
        node_set[node] = None
        actions: list[Any] = list(node.entry)
        actions.extend(_spawn_invoke_action(node, d) for d in node.invoke)
        if node in default_entry and node.initial is not None:
            actions.extend(node.initial.actions)
        ids = [d.id for d in node.invoke] if node.invoke else None
        done = done_events_of_final_state(node, node_set, completed) if node.type == "final" else None
        steps.append(EntryStep(node, tuple(actions), ids, done))
    return tuple(steps)


def done_events_of_final_state(
    node: StateNode, node_set: dict[StateNode, None], completed: set[StateNode]
) -> DoneEvents:
    """The done events entering final ``node`` raises (https://www.w3.org/TR/scxml/#enterStates)."""
    parent = node.parent
    if parent is None:
        marker = None
    else:
        marker = parent if parent.type == "parallel" else parent.parent
    completion = marker or node
    parent_done = parent.id if parent is not None and parent.type == "compound" else None
    completed_ids = []
    while marker is not None and marker.type == "parallel" and marker not in completed and is_in_final_state(
        node_set, marker
    ):
        completed.add(marker)
        completed_ids.append(marker.id)
        completion = marker
        marker = marker.parent
    return DoneEvents(parent_done, tuple(completed_ids), completion if marker is None else None)


def plan_microstep(transitions: list[Transition], snapshot: MachineSnapshot, is_initial: bool) -> StepPlan:
    """The cached :class:`StepPlan` of taking ``transitions`` from ``snapshot``'s configuration."""
    if is_initial:
        return build_step_plan(transitions, snapshot._nodes, snapshot.history_value, True)
    history_value = snapshot.history_value
    key: Any = transitions[0] if len(transitions) == 1 else tuple(transitions)
    if history_value and snapshot.machine.has_history:
        key = (key, tuple((k, tuple(v)) for k, v in history_value.items()))
    cache: BoundedCache[Any, StepPlan] = snapshot.cfg.plans
    plan = cache.data.get(key)
    if plan is None:
        plan = cache.put(key, build_step_plan(transitions, snapshot._nodes, history_value, False))
        plan.next_cfg = snapshot.machine._info(plan.next_nodes)
    return plan


# --------------------------------------------------------------------------- microstep: the phases


def microstep(
    transitions: list[Transition],
    snapshot: MachineSnapshot,
    scope: ActorScope,
    event: Any,
    is_initial: bool,
    internal_queue: list[Any],
) -> tuple[MachineSnapshot, StepPlan | None]:
    """xstate's ``microstep`` (https://www.w3.org/TR/scxml/#microstepProcedure).

    exitStates, executeTransitionContent, enterStates; a machine that reached its final state then
    runs the exit actions of every state still active. Returns the next snapshot and the plan taken
    (None when there were no transitions).
    """
    if not transitions:
        return snapshot, None
    plan: StepPlan | None = None
    cfg = snapshot._cfg
    if cfg is not None and not is_initial and len(transitions) == 1 and not snapshot.history_value:
        plan = cfg.plans.data.get(transitions[0])  # plan_microstep's cache hit
    if plan is None:
        plan = plan_microstep(transitions, snapshot, is_initial)
    return take_plan(plan, snapshot, scope, event, internal_queue), plan


def take_plan(
    plan: StepPlan, snapshot: MachineSnapshot, scope: ActorScope, event: Any, internal_queue: list[Any]
) -> MachineSnapshot:
    """The rest of :func:`microstep` once its plan is known: exit, transition content, entry."""
    current = snapshot
    if plan.exit_actions:
        current = exit_states(current, event, scope, plan, internal_queue)
    if plan.transition_actions:  # execute_transition_content (resolve_actions_and_context without retries)
        steps = plan.compiled
        if steps is None:
            steps = plan.compiled = compile_actions(plan.transition_actions, snapshot.machine)
        current = run_compiled_actions(current, event, scope, steps, internal_queue)
    if plan.entry_actions:
        current = enter_states(current, event, scope, plan, internal_queue)
    history_value = {**snapshot.history_value, **plan.history} if plan.history else snapshot.history_value
    if current.status == "done":
        return exit_done_machine(current, event, scope, plan, history_value, internal_queue)
    if plan.unchanged:
        return current
    return current._with_config(plan.next_nodes, plan.next_cfg, history_value)


def exit_states(
    snapshot: MachineSnapshot, event: Any, scope: ActorScope, plan: StepPlan, internal_queue: list[Any]
) -> MachineSnapshot:
    """xstate's ``exitStates`` (https://www.w3.org/TR/scxml/#exitStates): each exit set state's actions."""
    current = snapshot
    for step in plan.exits:
        if step.actions:
            current = resolve_actions_and_context(current, event, scope, step.actions, internal_queue)
    return current


def execute_transition_content(
    snapshot: MachineSnapshot, event: Any, scope: ActorScope, plan: StepPlan, internal_queue: list[Any]
) -> MachineSnapshot:
    """The transitions' actions, in order (https://www.w3.org/TR/scxml/#executeTransitionContent)."""
    return resolve_actions_and_context(snapshot, event, scope, plan.transition_actions, internal_queue)


def enter_states(
    snapshot: MachineSnapshot, event: Any, scope: ActorScope, plan: StepPlan, internal_queue: list[Any]
) -> MachineSnapshot:
    """xstate's ``enterStates`` (https://www.w3.org/TR/scxml/#enterStates): entry actions, done events."""
    current = snapshot
    for step in plan.entries:
        if step.actions:
            current = resolve_actions_and_context(current, event, scope, step.actions, internal_queue, step.invoke_ids)
        if step.done is not None:
            current = raise_done_events(current, event, scope, step, internal_queue)
    return current


def raise_done_events(
    snapshot: MachineSnapshot, event: Any, scope: ActorScope, step: EntryStep, internal_queue: list[Any]
) -> MachineSnapshot:
    """Queue the ``xstate.done.state.*`` events of an entered final state; finish the machine if it is."""
    assert step.done is not None
    parent_done, completed, completion = step.done
    node = step.node
    if parent_done is not None:
        output = resolve_output(node.output, snapshot.context, event, scope.self) if node.output is not None else None
        internal_queue.append(done_state_event(parent_done, output))
    for pid in completed:
        internal_queue.append(done_state_event(pid))
    if completion is None:
        return snapshot
    machine = snapshot.machine
    return snapshot._replace(
        status="done", output=get_machine_output(snapshot, event, scope, machine.root, completion)
    )


def exit_done_machine(
    snapshot: MachineSnapshot,
    event: Any,
    scope: ActorScope,
    plan: StepPlan,
    history_value: HistoryValue,
    internal_queue: list[Any],
) -> MachineSnapshot:
    """A machine that is done runs the exit actions of every state still active (deepest first)."""
    next_nodes = sorted(plan.next_nodes, key=_order, reverse=True)
    exits = [a for n in next_nodes for a in n.exit]
    current = resolve_actions_and_context(snapshot, event, scope, exits, internal_queue)
    if plan.unchanged:
        return current
    return current._replace(nodes=next_nodes, history_value=history_value)


def _same_nodes(prev: list[StateNode], nxt: dict[StateNode, None]) -> bool:
    if len(prev) != len(nxt):
        return False
    return all(n in nxt for n in prev)


def _order(n: StateNode) -> int:
    return n.order


def get_machine_output(
    snapshot: MachineSnapshot, event: Any, scope: ActorScope, root: StateNode, completion: StateNode
) -> Any:
    if root.output is None:
        return None
    inner = None
    if completion.output is not None and completion.parent is not None:
        inner = resolve_output(completion.output, snapshot.context, event, scope.self)
    done_event = done_state_event(completion.id, inner)
    return resolve_output(root.output, snapshot.context, done_event, scope.self)


def initial_microstep(
    snapshot: MachineSnapshot, scope: ActorScope, init_event: Any, internal_queue: list[Any]
) -> MachineSnapshot:
    """xstate's ``initialMicrostep``: a reentering transition from the root to its initial states."""
    root = snapshot.machine.root
    t = Transition(root, None, {"reenter": True})
    t.target = tuple(get_initial_state_nodes(root))
    return microstep([t], snapshot, scope, init_event, True, internal_queue)[0]


# --------------------------------------------------------------------------- macrostep


def macrostep(
    snapshot: MachineSnapshot, event: Mapping[str, Any], scope: ActorScope, internal_queue: list[Any]
) -> Macrostep:
    """xstate's ``macrostep`` (https://www.w3.org/TR/scxml/#mainEventLoop): one external event to rest.

    Takes the event's transitions, then eventless transitions and raised (internal) events until
    none is left. Returns the stable snapshot and every microstep taken, each also reported to
    inspection as ``@xstate.microstep``.
    """
    log: MicrostepLog = []
    event_type = event["type"]
    if event_type == XSTATE_STOP:
        stopped = stop_children(snapshot, event, scope)._replace(status="stopped")
        _add_microstep(log, scope, event, stopped, _NO_STEP, [])
        return Macrostep(stopped, log)
    current = snapshot
    if event_type != XSTATE_INIT:
        cfg = current._cfg
        if cfg is None:
            cfg = current.cfg
        prog = cfg.programs.data.get(event_type)  # select_transitions (cfg.program's cache hit)
        if prog is None:
            prog = cfg.program(current.machine.root, event_type)
        if prog is None:
            transitions = []
        elif not prog[2]:  # one node to ask (_run_program's simplest case)
            t = node_next(prog[0], current, event)
            transitions = [t] if t is not None else []
        else:
            transitions = _run_program(prog, current, event) or []
        if not transitions and event_type.startswith("xstate.error.actor"):
            errored = stop_children(snapshot, event, scope)._replace(status="error", error=event.get("error"))
            _add_microstep(log, scope, event, errored, _NO_STEP, [])
            return Macrostep(errored, log)
        plan = None
        if len(transitions) == 1 and not current.history_value:
            plan = cfg.plans.data.get(transitions[0])  # plan_microstep's cache hit
        if plan is not None:  # microstep with its plan cached
            if plan.only_actions and plan.compiled is not None:
                # no exits, entries or configuration change: the transition's actions only
                current = run_compiled_actions(current, event, scope, plan.compiled, internal_queue)
                if current.status == "done":
                    current = exit_done_machine(current, event, scope, plan, current.history_value, internal_queue)
            else:
                current = take_plan(plan, current, scope, event, internal_queue)
        else:
            current, plan = microstep(transitions, current, scope, event, False, internal_queue)
        log.append((event, current, plan or _NO_STEP))  # _add_microstep
        system = scope.system
        if system.inspecting:
            system.send_inspection_event(
                {
                    "type": "@xstate.microstep",
                    "actorRef": scope.self,
                    "event": event,
                    "snapshot": current,
                    "_transitions": transitions,
                }
            )
    machine = current.machine
    if internal_queue or machine.has_always or machine.max_iterations is not None:  # else nothing to run
        current, event = _run_to_completion(current, event, scope, internal_queue, log)
    if current.status != "active":
        stop_children(current, event, scope)
    return Macrostep(current, log)


def _run_to_completion(
    snapshot: MachineSnapshot, event: Any, scope: ActorScope, internal_queue: list[Any], log: MicrostepLog
) -> tuple[MachineSnapshot, Any]:
    """The macrostep loop: eventless transitions first, then the next internal event, while active."""
    current = snapshot
    next_event = event
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
        current, plan = microstep(enabled, current, scope, next_event, False, internal_queue)
        select_eventless = current is not previous
        _add_microstep(log, scope, next_event, current, plan, enabled)
    return current, next_event


_NO_STEP = StepPlan((), (), None, (), (), [], True)


def _add_microstep(
    log: MicrostepLog, scope: ActorScope, event: Any, snapshot: MachineSnapshot, plan: StepPlan | None, selected: list[Transition]
) -> None:
    """Record a microstep and report it to inspection (xstate's ``addMicrostep``)."""
    log.append((event, snapshot, plan or _NO_STEP))
    system = scope.system
    if system.inspecting:
        system.send_inspection_event(
            {
                "type": "@xstate.microstep",
                "actorRef": scope.self,
                "event": event,
                "snapshot": snapshot,
                "_transitions": selected,
            }
        )


def stop_children(snapshot: MachineSnapshot, event: Any, scope: ActorScope) -> MachineSnapshot:
    if not snapshot.children:
        return snapshot
    actions = [_stop_child_action(child) for child in list(snapshot.children.values())]
    return resolve_actions_and_context(snapshot, event, scope, actions, [])
