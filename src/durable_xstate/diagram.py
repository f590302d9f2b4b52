"""A Mermaid ``stateDiagram-v2`` of a machine, with an actor's active states marked when given.

``to_mermaid(machine, active=...)`` draws nested states as composite states, parallel regions
separated by ``--``, history states as ``key [H]`` / ``key [H*]``, final states with an arrow to
``[*]``, and every transition labelled with its event and guard (``PAY [paidInFull]``,
``after paymentTimeout``, ``always``, ``onDone``). Targetless transitions are drawn as self-loops.

Mermaid's grammar is narrow, so every state gets a generated ASCII id (``s_fulfilment__packing``)
and a quoted label; labels lose the characters Mermaid cannot carry (``:``, ``;``, ``"``). The
structure is written first and every transition after it at the top level: Mermaid keeps a state in
the composite that declared it, and transitions crossing composite boundaries render that way.
Mermaid can style only simple states, so the active leaves are highlighted (``classDef active``)
and the full active state value is written in a ``%%`` comment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .machine.guards import BuiltinGuard
from .machine.machine import StateMachine
from .machine.node import StateNode, Transition

__all__ = ["ACTIVE_STYLE", "guard_label", "to_mermaid"]

#: The style of the active leaf states.
ACTIVE_STYLE = "fill:#ffe082,stroke:#e65100,stroke-width:3px,color:#000"

_INDENT = "    "
_EVENT_PREFIXES = (
    ("xstate.done.actor.", "onDone"),
    ("xstate.error.actor.", "onError"),
    ("xstate.snapshot.", "onSnapshot"),
)


def to_mermaid(
    machine: StateMachine,
    active: Iterable[StateNode] | None = None,
    *,
    active_value: Any = None,
) -> str:
    """The diagram text. ``active``: the actor's active state nodes (e.g. ``snapshot.nodes``)."""
    ids = _Ids(machine)
    lines = ["stateDiagram-v2"]
    root = machine.root
    if root.type == "compound" and not root.transitions and not root.always:
        lines += _children(root, ids, 1)
    else:  # root-level transitions need the root drawn as a state of its own
        lines.append(f"{_INDENT}[*] --> {ids[root]}")
        lines += _declare(root, ids, 1)
    transitions = list(_transitions(machine, ids))
    if transitions:
        lines.append("")
        lines += [f"{_INDENT}{t}" for t in transitions]
    if active is not None:
        leaves = [n for n in active if n.is_atomic]
        lines.append("")
        if active_value is not None:
            lines.append(f"{_INDENT}%% active state: {_comment(json.dumps(active_value))}")
        lines.append(f"{_INDENT}classDef active {ACTIVE_STYLE}")
        if leaves:
            lines.append(f"{_INDENT}class {','.join(ids[n] for n in leaves)} active")
    return "\n".join(lines) + "\n"


class _Ids:
    """One Mermaid-safe id per state node: ``s_`` + the path, ASCII word characters only, unique."""

    def __init__(self, machine: StateMachine) -> None:
        self._ids: dict[StateNode, str] = {}
        used: set[str] = set()
        for node in sorted(machine.id_map.values(), key=lambda n: n.order):
            parts = node.path or (machine.id,)
            base = "s_" + "__".join(re.sub(r"[^0-9A-Za-z_]", "_", p) for p in parts)
            candidate, n = base, 2
            while candidate.lower() in used:  # Mermaid ids are case-insensitive keywords-wise; be safe
                candidate, n = f"{base}_{n}", n + 1
            used.add(candidate.lower())
            self._ids[node] = candidate

    def __getitem__(self, node: StateNode) -> str:
        return self._ids[node]


def _label(node: StateNode) -> str:
    name = node.key if node.parent is not None else node.machine.id
    if node.type == "history":
        name = f"{name} [{'H*' if node.history == 'deep' else 'H'}]"
    return _text(name).replace('"', "'")


def _declare(node: StateNode, ids: _Ids, depth: int) -> list[str]:
    pad = _INDENT * depth
    if not node.states:
        return [f'{pad}state "{_label(node)}" as {ids[node]}']
    # no space before '{': Mermaid would keep it as part of the id
    return [f'{pad}state "{_label(node)}" as {ids[node]}{{', *_children(node, ids, depth + 1), f"{pad}}}"]


def _children(node: StateNode, ids: _Ids, depth: int) -> list[str]:
    pad = _INDENT * depth
    lines: list[str] = []
    if node.type == "parallel":
        for i, region in enumerate(node.children):
            if i:
                lines.append(f"{pad}--")
            lines += _declare(region, ids, depth)
    else:
        if node.initial is not None and node.initial.target:
            lines.append(f"{pad}[*] --> {ids[node.initial.target[0]]}")
        for child in node.children:
            lines += _declare(child, ids, depth)
    for history in node.history_children:
        lines += _declare(history, ids, depth)
    lines += [f"{pad}{ids[child]} --> [*]" for child in node.children if child.type == "final"]
    return lines


def labelled_transitions(
    node: StateNode, delay_text: Callable[[float], str]
) -> Iterable[tuple[Transition, str]]:
    """Each transition of ``node`` (events, delays, always) with its label: ``EVENT``, ``after 15m``,
    ``onDone``, ``always``, and `` [guard]`` when guarded; ``delay_text`` writes a numeric delay. The
    Mermaid and DOT diagrams draw from this one walk."""
    for descriptor, transitions in node.transitions.items():
        for t in transitions:
            yield t, _guarded(_event_label(descriptor, t, delay_text), t)
    for t in node.always or ():
        yield t, _guarded("always", t)


def _guarded(label: str, t: Transition) -> str:
    return label if t.guard is None else f"{label} [{guard_label(t.guard)}]"


def _transitions(machine: StateMachine, ids: _Ids) -> Iterable[str]:
    for node in sorted(machine.id_map.values(), key=lambda n: n.order):
        for t, label in labelled_transitions(node, lambda ms: f"{ms}ms"):
            yield from _edges(node, t, label, ids)
        if node.history_target:
            for target in node.history_target:
                yield f"{ids[node]} --> {ids[target]}"


def _edges(node: StateNode, t: Transition, label: str, ids: _Ids) -> Iterable[str]:
    for target in t.target or (node,):
        yield f"{ids[node]} --> {ids[target]} : {_text(label)}"


def _event_label(descriptor: str, t: Transition, delay_text: Callable[[float], str]) -> str:
    if t.delay is not None:
        return f"after {delay_text(t.delay)}" if isinstance(t.delay, int | float) else f"after {t.delay}"
    if descriptor.startswith("xstate.done.state."):
        return "onDone"
    for prefix, name in _EVENT_PREFIXES:
        if descriptor.startswith(prefix):
            return f"{name} {descriptor[len(prefix):]}"
    return descriptor


def guard_label(guard: Any) -> str:
    """A short name for a guard: its name, ``and(a, b)``, ``not(a)``, ``stateIn(#id)``, a function's name."""
    if isinstance(guard, str):
        return guard
    if isinstance(guard, Mapping):
        return str(guard.get("type", "guard"))
    if isinstance(guard, BuiltinGuard):
        if guard.kind == "stateIn":
            value = guard.state_value
            return f"stateIn({value if isinstance(value, str) else json.dumps(value)})"
        return f"{guard.kind}({', '.join(guard_label(g) for g in guard.guards)})"
    name = getattr(guard, "__name__", None)
    return name if isinstance(name, str) and name != "<lambda>" else "guard"


def _text(text: str) -> str:
    """Text Mermaid accepts in a label: no ':' ';' or newline, and no accidental 'direction LR'."""
    text = text.replace(":", "\N{MODIFIER LETTER COLON}").replace(";", ",")
    text = re.sub(r"\s+", " ", text)
    return re.sub(r"(?i)\b(direction)\s+(tb|bt|rl|lr)\b", r"\1_\2", text)


def _comment(text: str) -> str:
    return re.sub(r"\s+", " ", text)
