"""Active configurations: completing a set of nodes, and what is derived once per configuration.

A configuration (the active state nodes, in xstate's order) determines the state value, the tags,
which nodes to ask for transitions for each event type, and the plan of every microstep taken from
it. All of that is computed once and cached, so the hot path mostly reads attributes.
"""

from __future__ import annotations

from typing import Any

from .cache import PLANS_MAX, PROGRAMS_MAX, BoundedCache
from .js import js_items
from .node import StateNode

__all__ = ["ConfigInfo", "get_all_state_nodes", "get_initial_state_nodes", "get_proper_ancestors"]


def get_proper_ancestors(node: StateNode, to_node: StateNode | None) -> list[StateNode]:
    if to_node is node:
        return []
    out = []
    for a in node.ancestors:
        if a is to_node:
            break
        out.append(a)
    return out


def get_initial_state_nodes(node: StateNode) -> dict[StateNode, None]:
    found: dict[StateNode, None] = {}

    def visit(n: StateNode) -> None:
        if n in found:
            return
        found[n] = None
        if n.type == "compound":
            assert n.initial is not None and n.initial.target
            visit(n.initial.target[0])
        elif n.type == "parallel":
            for c in n.children:
                visit(c)

    visit(node)
    return found


def _initial_with_ancestors(node: StateNode) -> dict[StateNode, None]:
    states = get_initial_state_nodes(node)
    for s in list(states):
        for a in get_proper_ancestors(s, node):
            states[a] = None
    return states


def get_all_state_nodes(nodes: list[StateNode]) -> dict[StateNode, None]:
    """Complete a set of nodes to a full configuration (initial descendants, all ancestors)."""
    node_set: dict[StateNode, None] = dict.fromkeys(nodes)
    # adjacency: which of the set's nodes have a child in the set
    has_child = {n.parent for n in node_set if n.parent is not None}
    i = 0
    items = list(node_set)
    while i < len(items):
        s = items[i]
        i += 1
        if s.type == "compound" and s not in has_child:
            for n in _initial_with_ancestors(s):
                if n not in node_set:
                    node_set[n] = None
                    items.append(n)
                    if n.parent is not None:
                        has_child.add(n.parent)
        elif s.type == "parallel":
            for child in s.children:
                if child not in node_set:
                    for n in _initial_with_ancestors(child):
                        if n not in node_set:
                            node_set[n] = None
                            items.append(n)
                            if n.parent is not None:
                                has_child.add(n.parent)
    for s in list(node_set):
        m = s.parent
        while m is not None:
            node_set[m] = None
            m = m.parent
    return node_set



SelectProgram = tuple[StateNode, bool, tuple[Any, ...]]


class ConfigInfo:
    """Everything derived from one active configuration: value, tags, adjacency, selection programs, plans."""

    __slots__ = ("adj", "nodes", "plans", "programs", "select_adj", "tag_order", "tags", "value")

    def __init__(self, root: StateNode, nodes: list[StateNode]) -> None:
        self.nodes = nodes
        self.adj = _adjacency(nodes)
        full = get_all_state_nodes(nodes)
        if len(full) == len(nodes):
            self.select_adj = self.adj
        else:  # an incomplete configuration (an error before the initial state): complete it as xstate does
            self.select_adj = _adjacency(list(full))
        # xstate selects transitions by walking the state value (transitionNode), which is the completed
        # configuration; the value is computed from it, and so are the selection programs
        self.value = _value_from_adj(root, self.select_adj)
        # in the order of the active nodes, as xstate's Set of them (its snapshot's JSON lists them so)
        self.tag_order: tuple[str, ...] = tuple(dict.fromkeys(t for s in nodes for t in s.tags))
        self.tags = frozenset(self.tag_order)
        self.programs: BoundedCache[str, SelectProgram | None] = BoundedCache("programs", PROGRAMS_MAX)
        self.plans: BoundedCache[Any, Any] = BoundedCache("plans", PLANS_MAX)

    def program(self, root: StateNode, event_type: str) -> SelectProgram | None:
        """The nodes to ask for ``event_type``, pruned to subtrees that have candidates for it.

        Pruning cannot change the result: a subtree without candidates selects nothing and evaluates
        no guard, and the combination rule (children's transitions, else the node's own) is the same
        for one child or several.
        """
        try:
            return self.programs.data[event_type]
        except KeyError:
            prog = _build_program(root, self.select_adj, event_type)
            # stored from the first node that asks anything: a node without candidates of its own and
            # one child selects what that child does (the algorithm's _run_program does the same walk)
            while prog is not None and not prog[1] and len(prog[2]) == 1:
                prog = prog[2][0]
            return self.programs.put(event_type, prog)


def _value_children(node: StateNode, kids: list[StateNode]) -> list[StateNode]:
    """The children ``transitionNode`` walks into from ``node``'s part of the state value.

    xstate decides by the value's shape, not by the node's type: a string (a compound state whose first
    active child is atomic) walks that child only; an object walks its keys in ``Object.keys`` order
    (integer-like first): all of them when there are several, as for a parallel state. They differ from
    the node's type only in configurations xstate reaches through odd targets (a compound state with two
    active children), where this is what xstate does.
    """
    if len(kids) <= 1:
        return kids
    if node.type == "compound" and kids[0].is_atomic:
        return kids[:1]
    return [kid for _, kid in js_items({k.key: k for k in kids})]


def _build_program(
    node: StateNode, adj: dict[StateNode, list[StateNode]], event_type: str
) -> SelectProgram | None:
    kids = tuple(
        p for p in (_build_program(k, adj, event_type) for k in _value_children(node, adj.get(node, [])))
        if p is not None
    )
    own = node.has_transitions and bool(node.candidates(event_type))
    if not own and not kids:
        return None
    return (node, own, kids)


def _adjacency(nodes: list[StateNode]) -> dict[StateNode, list[StateNode]]:
    adj: dict[StateNode, list[StateNode]] = {}
    for s in nodes:
        if s not in adj:
            adj[s] = []
        p = s.parent
        if p is not None:
            lst = adj.get(p)
            if lst is None:
                lst = adj[p] = []
            lst.append(s)
    return adj


def _value_from_adj(node: StateNode, adj: dict[StateNode, list[StateNode]]) -> Any:
    kids = adj.get(node)
    if kids is None:
        return {}
    if node.type == "compound":
        if kids:
            if kids[0].is_atomic:
                return kids[0].key
        else:
            return {}
    return {k.key: _value_from_adj(k, adj) for k in kids}
