"""The one YAML loader for machine configs: PyYAML's safe loader, YAML 1.2 booleans, and size limits.

Every place that reads a YAML machine (``load_machine`` for the command line, ``create_machine_yaml``)
uses :func:`yaml_loader` or a subclass of it, so the limits hold everywhere:

- :data:`MAX_YAML_NODES` (100,000): nodes in the document *as if every alias were copied out*.
  Anchors and aliases (``b: &b [*a, *a, ...]``) multiply: a few hundred bytes can stand for billions of
  nodes (the "billion laughs"), and everything after parsing (key conversion, schema validation,
  ``deepcopy`` of a context, the JSON of a persisted snapshot) walks the expanded tree. Real machines
  (Stately exports) have a few hundred to a few thousand nodes.
- :data:`~durable_xstate.machine.limits.MAX_NESTING` (200): levels of nesting, aliases expanded. The
  composer recurses per level, so this is checked while composing, before the recursion gets deep.
- an alias inside the node it names (``a: &a [*a]``, a structure containing itself) is refused: a
  machine config is a tree.

Each is refused while the document is composed, before anything is built, with :class:`YamlLimitError`
(a ``yaml.YAMLError`` carrying the line and column), which the callers turn into their
``MachineConfigError``. The cost is a counter per node: a bomb is refused in about a millisecond.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.events import AliasEvent, MappingStartEvent, ScalarEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, SequenceNode

from .errors import DurableXStateError
from .machine.limits import MAX_NESTING

__all__ = ["MAX_YAML_NODES", "YamlLimitError", "yaml_loader"]

#: Most nodes in a YAML machine, aliases counted as copies of what they name.
MAX_YAML_NODES = 100_000


class YamlLimitError(DurableXStateError, ComposerError):
    """A YAML document over one of this module's limits. ``problem`` names the limit; ``problem_mark``
    is where in the text it was passed."""


class _LimitedComposer(yaml.SafeLoader):
    """Counts nodes (aliases expanded) and nesting while composing; see the module docstring."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0  # nodes open around the one being composed
        self._expanded = 0  # nodes so far, each alias counted as the size of what it names
        self._measured: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, height)

    # PyYAML's compose_node, plus the counting (a copy rather than a super() call: one frame less per
    # level in a recursion this module bounds).
    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(AliasEvent):
            event = self.get_event()  # type: ignore[no-untyped-call]
            anchor = event.anchor
            if anchor not in self.anchors:
                raise ComposerError(None, None, f"found undefined alias {anchor!r}", event.start_mark)
            named = self.anchors[anchor]
            measured = self._measured.get(id(named))
            if measured is None:
                raise YamlLimitError(None, None, f"alias *{anchor} is inside the node &{anchor} it names (a "
                                                 "structure containing itself); a machine config is a tree",
                                     event.start_mark)
            size, height = measured
            self._count(size, event, f"alias *{anchor}")
            if self._depth + height > MAX_NESTING:
                self._too_deep(event, f" (alias *{anchor} adds {height} levels)")
            return named
        event = self.peek_event()  # type: ignore[no-untyped-call]
        anchor = event.anchor
        if anchor is not None and anchor in self.anchors:
            raise ComposerError(f"found duplicate anchor {anchor!r}; first occurrence",
                                self.anchors[anchor].start_mark, "second occurrence", event.start_mark)
        self._depth += 1
        if self._depth > MAX_NESTING:
            self._too_deep(event, "")
        self.descend_resolver(parent, index)
        node: Node
        if self.check_event(ScalarEvent):
            node = self.compose_scalar_node(anchor)
        elif self.check_event(SequenceStartEvent):
            node = self.compose_sequence_node(anchor)
        elif self.check_event(MappingStartEvent):
            node = self.compose_mapping_node(anchor)
        self.ascend_resolver()
        self._depth -= 1
        self._measure(node)
        self._count(1, event, "this node")
        return node

    def _measure(self, node: Node) -> None:
        size, height = 1, 0
        if isinstance(node, SequenceNode):
            children: Any = node.value
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = ()
        for child in children:
            child_size, child_height = self._measured[id(child)]
            size += child_size
            height = max(height, child_height)
        self._measured[id(node)] = (size, height + 1)

    def _count(self, size: int, event: Any, what: str) -> None:
        self._expanded += size
        if self._expanded > MAX_YAML_NODES:
            raise YamlLimitError(None, None, f"more than {MAX_YAML_NODES} nodes with aliases expanded (at {what}); a "
                                             f"YAML machine may have at most {MAX_YAML_NODES} "
                                             "(durable_xstate.yaml_loader.MAX_YAML_NODES)", event.start_mark)

    def _too_deep(self, event: Any, detail: str) -> None:
        raise YamlLimitError(None, None, f"nested more than {MAX_NESTING} levels deep{detail}; a machine config may "
                                         f"nest at most {MAX_NESTING} (durable_xstate.machine.limits.MAX_NESTING)",
                             event.start_mark)


def yaml_loader() -> type[yaml.SafeLoader]:
    """The loader class: :class:`yaml.SafeLoader` with the limits above and YAML 1.2 booleans
    (``on``/``off``/``yes``/``no`` stay strings; YAML 1.1 reads the key ``on``, every machine's
    transitions, as ``True``)."""
    global _YAML_LOADER
    if _YAML_LOADER is None:
        bool_tag = "tag:yaml.org,2002:bool"

        class Loader(_LimitedComposer):
            pass

        Loader.yaml_implicit_resolvers = {
            first: [(tag, regexp) for tag, regexp in resolvers if tag != bool_tag]
            for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
        }
        Loader.add_implicit_resolver(bool_tag, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
        _YAML_LOADER = Loader
    return _YAML_LOADER


_YAML_LOADER: type[yaml.SafeLoader] | None = None
