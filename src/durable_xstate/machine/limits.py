"""Bounds on the size of what the engine takes in: how deep a config or an event may nest.

The builder, the snapshot code, ``copy.deepcopy`` and the JSON encoder all recurse, so a value nested
deeper than Python's recursion limit (about 1000 frames) would end in a bare ``RecursionError``, part
way through. These limits are checked first, by an iterative walk, and refused with a typed error:

- :data:`MAX_NESTING` (200): levels of nested objects/lists in a machine config (the whole document,
  its ``context`` included) and in an event. Real configs and events stay under 20.
- :data:`MAX_STATE_DEPTH` (64): levels of nested ``states``. Real machines stay under 10. Each level
  costs two levels of nesting (``states.<key>``), so 64 levels of states fit in :data:`MAX_NESTING`.

Both leave the engine (and JSON Schema validation of YAML machines) well inside the recursion limit,
with room for the caller's own frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidEvent, MachineConfigError

__all__ = [
    "MAX_NESTING",
    "MAX_STATE_DEPTH",
    "SCALAR_TYPES",
    "TooDeep",
    "check_config_depth",
    "check_event_depth",
    "find_too_deep",
    "find_too_deep_states",
]

#: Most levels of nested objects/lists in a machine config or an event.
MAX_NESTING = 200
#: Most levels of nested ``states`` in a machine config.
MAX_STATE_DEPTH = 64
assert 2 * MAX_STATE_DEPTH <= MAX_NESTING  # check_config_depth's one-walk fast path relies on it

# A linked path: (parent path, key), or () at the root. Built per container, joined only on failure.
_Path = tuple[Any, ...]


class TooDeep:
    """Where a walk went past a limit: the path (keys from the root) of the first value too deep."""

    __slots__ = ("limit", "path")

    def __init__(self, path: list[Any], limit: int) -> None:
        self.path = path
        self.limit = limit

    def dotted(self) -> str:
        """The path as a config path (``states.a.on.GO[0]``); long paths keep their two ends."""
        parts = [f"[{k}]" if isinstance(k, int) else (f".{k}" if i else str(k)) for i, k in enumerate(self.path)]
        if len(parts) > 12:
            parts = [*parts[:6], f"...({len(parts) - 12} more)...", *parts[-6:]]
        return "".join(parts).lstrip(".")


def _unlink(path: _Path) -> list[Any]:
    keys: list[Any] = []
    while path:
        path, key = path
        keys.append(key)
    keys.reverse()
    return keys


def find_too_deep(value: Any, limit: int = MAX_NESTING) -> TooDeep | None:
    """None when ``value`` nests at most ``limit`` objects/lists deep (a scalar is depth 0), else where.

    Iterative, so any depth is safe to check. A container reached twice (shared, as YAML aliases make
    them) is walked again only from a deeper level, so shared structure costs at most ``limit`` walks of
    each container; a container that contains itself is reported as too deep.
    """
    if type(value) is dict and limit > 0:  # the usual event: a flat dict, checked without building anything
        for child in value.values():
            if isinstance(child, dict | list | tuple | Mapping):
                break
        else:
            return None
    elif not isinstance(value, list | tuple | Mapping):
        return None
    deepest_seen: dict[int, int] = {}
    stack: list[tuple[Any, int, _Path]] = [(value, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if depth > limit:
            return TooDeep(_unlink(path), limit)
        seen = deepest_seen.get(id(node))
        if seen is not None and seen >= depth:
            continue
        deepest_seen[id(node)] = depth
        items = node.items() if isinstance(node, Mapping) else enumerate(node)
        for key, child in items:
            if isinstance(child, dict | list | tuple | Mapping):
                stack.append((child, depth + 1, (path, key)))
    return None


def find_too_deep_states(config: Mapping[str, Any], limit: int = MAX_STATE_DEPTH) -> TooDeep | None:
    """None when ``config`` nests ``states`` at most ``limit`` levels deep (the root is level 0), else where.

    Iterative, and shared state configs are walked again only from a deeper level.
    """
    deepest_seen: dict[int, int] = {}
    stack: list[tuple[Mapping[str, Any], int, _Path]] = [(config, 0, ())]
    while stack:
        node, depth, path = stack.pop()
        seen = deepest_seen.get(id(node))
        if seen is not None and seen >= depth:
            continue
        deepest_seen[id(node)] = depth
        states = node.get("states")
        if not isinstance(states, Mapping):
            continue
        for key, child in states.items():
            if not isinstance(child, Mapping):
                continue
            child_path = ((path, "states"), key)
            if depth + 1 > limit:
                return TooDeep(_unlink(child_path), limit)
            stack.append((child, depth + 1, child_path))
    return None


def check_config_depth(config: Mapping[str, Any]) -> None:
    """Raise MachineConfigError (naming the config path and the limit) for a config nested too deep.

    States first: their walk is bounded on its own, and its message says more about a deep machine.
    A config nested at most ``2 * MAX_STATE_DEPTH`` levels in all (every real one) passes both limits
    (each level of states is two levels of objects), so one walk without paths decides it.
    """
    if not _nests_deeper(config, 2 * MAX_STATE_DEPTH):
        return
    too_deep = find_too_deep_states(config, MAX_STATE_DEPTH)
    if too_deep is not None:
        raise MachineConfigError(
            too_deep.dotted(),
            f"states nested more than {MAX_STATE_DEPTH} levels deep; a machine may nest at most {MAX_STATE_DEPTH} "
            "levels of states (durable_xstate.machine.limits.MAX_STATE_DEPTH)",
        )
    too_deep = find_too_deep(config, MAX_NESTING)
    if too_deep is not None:
        raise MachineConfigError(
            too_deep.dotted(),
            f"nested more than {MAX_NESTING} levels of objects/lists deep; a machine config may nest at most "
            f"{MAX_NESTING} (durable_xstate.machine.limits.MAX_NESTING)",
        )


#: Types that hold no other value: an event whose values are all of these is flat.
SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})


def _nests_deeper(value: Any, limit: int, budget: int = 4096) -> bool:
    """True when ``value`` nests more than ``limit`` objects/lists deep. A plain depth-first walk for the
    usual small value; past ``budget`` containers (perhaps shared ones, visited once per path) the walk
    that visits each container once per level decides."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        for child in node.values() if type(node) is dict or isinstance(node, Mapping) else node:
            kind = type(child)
            if kind is dict or kind is list or kind is tuple or (
                kind not in SCALAR_TYPES and isinstance(child, Mapping | list | tuple)
            ):
                if depth >= limit:
                    return True
                budget -= 1
                if budget < 0:
                    return find_too_deep(value, limit) is not None
                push((child, depth + 1))
    return False


def check_event_depth(event: Any) -> None:
    """Raise InvalidEvent (naming the path in the event and the limit) for an event nested too deep.

    On the hot path of ``send``: a flat dict (the usual event) is one loop over its values.
    """
    if type(event) is dict:
        for child in event.values():
            kind = type(child)
            if kind is dict or kind is list or kind is tuple or (
                kind not in SCALAR_TYPES and isinstance(child, Mapping | list | tuple)
            ):
                break
        else:
            return
    elif not isinstance(event, Mapping | list | tuple):
        return
    if not _nests_deeper(event, MAX_NESTING):
        return
    too_deep = find_too_deep(event, MAX_NESTING)
    assert too_deep is not None
    event_type = event.get("type") if isinstance(event, Mapping) else None
    raise InvalidEvent(
        event_type,
        too_deep.dotted(),
        f"nested more than {MAX_NESTING} levels of objects/lists deep; an event may nest at most "
        f"{MAX_NESTING} (durable_xstate.machine.limits.MAX_NESTING)",
    )
