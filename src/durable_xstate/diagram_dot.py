"""A Graphviz (DOT) rendering of a machine, and images of it made by Graphviz's ``dot``.

``to_dot(machine, active=...)`` draws compound states as clusters (a black dot marks the initial
state), parallel states as a cluster labelled ``name (parallel)`` whose regions have dashed borders,
final states with a double border, history states as ``H`` / ``H*`` circles, and every transition
labelled like the Mermaid diagram (``PAY [paidInFull]``, ``onDone``, ``always``), delays as durations
(``after 15m``). With ``active`` the active leaves are filled like Mermaid's ``classDef active``
(:data:`durable_xstate.diagram.ACTIVE_STYLE`) and the active compound states get its border colour.

``render_dot(text, "svg")`` runs ``dot`` (Debian's ``graphviz`` package; ``brew install graphviz``)
and returns the image's bytes; without ``dot`` it raises :class:`DiagramRenderError` saying so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from typing import Any

from .describe import duration_text
from .diagram import _Ids, labelled_transitions
from .errors import DiagramRenderError
from .machine.machine import StateMachine
from .machine.node import StateNode, Transition

__all__ = ["ACTIVE_BORDER", "ACTIVE_FILL", "IMAGE_FORMATS", "render_dot", "to_dot"]

#: The fill of the active leaf states (Mermaid's ``classDef active``: ``fill:#ffe082``).
ACTIVE_FILL = "#ffe082"
#: The border of the active states, leaves and compound states (``stroke:#e65100``).
ACTIVE_BORDER = "#e65100"
#: What :func:`render_dot` can make.
IMAGE_FORMATS = ("svg", "png")
#: How long ``dot`` may take (a machine of thousands of states renders in a few seconds).
RENDER_TIMEOUT = 120.0

_INDENT = "  "


def to_dot(machine: StateMachine, active: Iterable[StateNode] | None = None, *, active_value: Any = None) -> str:
    """The DOT text. ``active``: the actor's active state nodes (e.g. ``snapshot.nodes``)."""
    ids = _Ids(machine)
    active_set = frozenset(active or ())
    lines = [
        f"digraph {_quote(machine.id)} {{",
        f"{_INDENT}graph [compound=true, rankdir=LR, fontname=\"Helvetica\", label={_quote(machine.id)}, "
        "labelloc=t, nodesep=0.4, ranksep=0.5];",
        f"{_INDENT}node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\"];",
        f"{_INDENT}edge [fontname=\"Helvetica\", fontsize=10];",
    ]
    if active_value is not None:
        lines.append(f"{_INDENT}// active state: {_comment(str(active_value))}")
    root = machine.root
    if root.type == "compound" and not root.transitions and not root.always:
        lines += _contents(root, ids, active_set, 1)
    else:  # root-level transitions need the root drawn as a state of its own
        lines += _declare(root, ids, active_set, 1)
    lines.append("")
    for edge in _edges(machine, ids):
        lines.append(f"{_INDENT}{edge}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_dot(dot_text: str, fmt: str) -> bytes:
    """Run Graphviz's ``dot -T<fmt>`` on ``dot_text`` (``fmt``: one of :data:`IMAGE_FORMATS`).

    Raises :class:`DiagramRenderError` when ``dot`` is not installed, fails or takes too long."""
    if fmt not in IMAGE_FORMATS:
        raise DiagramRenderError(f"unknown image format {fmt!r}; known: {', '.join(IMAGE_FORMATS)}")
    dot = shutil.which("dot")
    if dot is None:
        raise DiagramRenderError(
            f"{fmt} needs Graphviz's dot, which is not on PATH: apt-get install graphviz (or brew install "
            "graphviz); the Mermaid text (--format mermaid) needs nothing"
        )
    try:
        done = subprocess.run([dot, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True,
                              timeout=RENDER_TIMEOUT, check=False, env={**os.environ, "LC_ALL": "C.UTF-8"})
    except subprocess.TimeoutExpired:
        raise DiagramRenderError(f"Graphviz's dot took more than {RENDER_TIMEOUT:g} s") from None
    except OSError as err:
        raise DiagramRenderError(f"cannot run Graphviz's dot ({dot}): {err.strerror or err}") from None
    if done.returncode != 0 or not done.stdout:
        problem = " ".join(done.stderr.decode("utf-8", "replace").split()) or f"exit status {done.returncode}"
        raise DiagramRenderError(f"Graphviz's dot failed: {problem}")
    return done.stdout


# ---------------------------------------------------------------------------------------------- structure
def _cluster(node: StateNode, ids: _Ids) -> str:
    return f"cluster_{ids[node]}"


def _anchor(node: StateNode, ids: _Ids) -> str:
    """The node edges attach to: the state itself, or for a compound/parallel state its marker inside."""
    return ids[node] if not node.states else f"{ids[node]}__anchor"


def _name(node: StateNode) -> str:
    return node.key if node.parent is not None else node.machine.id


def _declare(node: StateNode, ids: _Ids, active: frozenset[StateNode], depth: int) -> list[str]:
    pad = _INDENT * depth
    is_active = node in active
    if node.type == "history":
        label = "H*" if node.history == "deep" else "H"
        return [f"{pad}{ids[node]} [label={_quote(label)}, xlabel={_quote(_name(node))}, shape=circle, width=0.3, fixedsize=true, "
                f"tooltip={_quote(_name(node))}];"]
    if not node.states:
        attrs = [f"label={_quote(_name(node))}"]
        if node.type == "final":
            attrs.append("peripheries=2")
        if is_active:
            attrs += [f"fillcolor=\"{ACTIVE_FILL}\"", f"color=\"{ACTIVE_BORDER}\"", "penwidth=3",
                      "fontcolor=\"#000000\"", "class=\"active\""]
        return [f"{pad}{ids[node]} [{', '.join(attrs)}];"]
    label = _name(node) + (" (parallel)" if node.type == "parallel" else "")
    parent_parallel = node.parent is not None and node.parent.type == "parallel"
    style = "rounded,dashed" if parent_parallel else "rounded"
    lines = [f"{pad}subgraph {_cluster(node, ids)} {{", f"{pad}{_INDENT}label={_quote(label)};",
             f"{pad}{_INDENT}style=\"{style}\";", f"{pad}{_INDENT}labeljust=l;"]
    if is_active:
        lines += [f"{pad}{_INDENT}color=\"{ACTIVE_BORDER}\";", f"{pad}{_INDENT}penwidth=2;",
                  f"{pad}{_INDENT}class=\"active\";"]
    lines += _contents(node, ids, active, depth + 1)
    lines.append(f"{pad}}}")
    return lines


def _contents(node: StateNode, ids: _Ids, active: frozenset[StateNode], depth: int) -> list[str]:
    """A compound or parallel state's inside: its anchor (the initial marker), children, history states."""
    pad = _INDENT * depth
    lines: list[str] = []
    # the node edges to and from this state attach to: the initial marker, or invisible in a parallel state
    shape = "point, width=0.12, fillcolor=black" if node.type == "compound" else "point, style=invis, width=0.01"
    lines.append(f"{pad}{_anchor(node, ids)} [shape={shape}, label=\"\"];")
    if node.type == "compound" and node.initial is not None and node.initial.target:
        lines.append(f"{pad}{_anchor(node, ids)} -> {_edge_end(node.initial.target[0], ids)}"
                     f"{_attrs(_cluster_head(node, node.initial.target[0], ids))};")
    for child in (*node.children, *node.history_children):
        lines += _declare(child, ids, active, depth)
    return lines


# ---------------------------------------------------------------------------------------------- transitions
def _edges(machine: StateMachine, ids: _Ids) -> Iterable[str]:
    for node in sorted(machine.id_map.values(), key=lambda n: n.order):
        for t, label in labelled_transitions(node, duration_text):
            yield from _transition(node, t, label, ids)
        for target in node.history_target or ():
            yield f"{_edge_end(node, ids)} -> {_edge_end(target, ids)}{_attrs([*_cluster_head(node, target, ids), 'style=dashed'])};"


def _transition(node: StateNode, t: Transition, label: str, ids: _Ids) -> Iterable[str]:
    for target in t.target or (node,):
        attrs = [f"label={_quote(label)}"]
        if node.states and target is not node and target not in node.ancestor_set and node not in target.ancestor_set:
            attrs.append(f"ltail={_cluster(node, ids)}")
        attrs += _cluster_head(node, target, ids)
        yield f"{_edge_end(node, ids)} -> {_edge_end(target, ids)}{_attrs(attrs)};"


def _cluster_head(source: StateNode, target: StateNode, ids: _Ids) -> list[str]:
    """``lhead`` for an edge into a compound state from outside it (Graphviz clips the edge at its border)."""
    if target.states and source is not target and target not in source.ancestor_set and source not in (
        target.ancestor_set
    ):
        return [f"lhead={_cluster(target, ids)}"]
    return []


def _edge_end(node: StateNode, ids: _Ids) -> str:
    return _anchor(node, ids)


def _attrs(attrs: list[str]) -> str:
    return f" [{', '.join(attrs)}]" if attrs else ""


def _quote(text: str) -> str:
    """A DOT string: backslashes (DOT's escapes: ``\\n``, ``\\l``) and quotes escaped, one line."""
    text = " ".join(str(text).split())
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _comment(text: str) -> str:
    return " ".join(text.split())
