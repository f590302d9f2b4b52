"""Shrink a mismatching case while the same mismatch (same signature) remains.

``shrink(case, still_fails)`` tries, in order: dropping chunks of events (halves down to single
events), the top-level extras (restoreAt, probes, input), then every node of the machine and of
the implementations (pre-order, so whole subtrees go first: states, transitions, actions, guards,
context keys, invocations...), a few rewrites (a guard combinator replaced by one of its operands,
a transition array by one of its elements, a compound state's initial moved to a sibling), and
repeats until a whole round removes nothing or the budget is spent. A candidate xstate rejects
(oracle error) does not reproduce the mismatch, so invalid edits are simply discarded.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

Path = tuple[Any, ...]
KEEP = {"description"}  # never removed


def _get(doc: Any, path: Path) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def _paths(doc: Any, path: Path = ()) -> Iterator[Path]:
    """Pre-order paths of every dict entry and list element under ``doc``."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            if not path and k in KEEP:
                continue
            yield (*path, k)
            yield from _paths(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield (*path, i)
            yield from _paths(v, (*path, i))


def _containers(doc: Any, path: Path = ()) -> Iterator[Path]:
    """Pre-order paths of every dict and list (the root included) that has entries."""
    if path[:1] == ("implementations",) and len(path) > (12 if path[1:2] == ("actors",) else 4):
        return  # the insides of expressions: rarely worth the candidates
    if isinstance(doc, dict | list) and doc:
        yield path
        items = doc.items() if isinstance(doc, dict) else enumerate(doc)
        for k, v in items:
            yield from _containers(v, (*path, k))


def _without(doc: Any, path: Path, keys: list[Any]) -> Any:
    new = copy.deepcopy(doc)
    parent = _get(new, path)
    for k in sorted(keys, reverse=True) if isinstance(parent, list) else keys:
        del parent[k]
    return new


def _chunks(get_best: Callable[[], Any], path: Path, attempt: Callable[[Any], bool]) -> None:
    """Remove chunks of the entries of the container at ``path``: halves, quarters... single ones."""
    def keys() -> list[Any]:
        try:
            node = _get(get_best(), path)
        except (KeyError, IndexError, TypeError):
            return []
        if isinstance(node, dict):
            return [k for k in node if not (not path and k in KEEP)]
        return list(range(len(node))) if isinstance(node, list) else []

    size = max(1, len(keys()) // 2)
    while keys():
        start = 0
        while start < len(keys()):
            chunk = keys()[start:start + size]
            if not attempt(_without(get_best(), path, chunk)):
                start += size
        if size == 1:
            break
        size //= 2


NAMED = ("actions", "guards", "delays", "actors")


def _prune(get_best: Callable[[], Any], attempt: Callable[[Any], bool]) -> None:
    """Drop the implementations nothing refers to any more (one candidate)."""
    case = get_best()
    impl = case.get("implementations") or {}
    cand = copy.deepcopy(case)
    changed = False
    for kind in NAMED:
        for name in list(impl.get(kind) or {}):
            rest = copy.deepcopy(cand)
            del rest["implementations"][kind][name]
            if json.dumps(name) not in json.dumps(rest):
                del cand["implementations"][kind][name]
                changed = True
    if changed:
        attempt(cand)


STRUCTURE = {"type", "states", "initial", "history", "target", "id"}


def _state_paths(node: Any, path: Path) -> Iterator[Path]:
    yield path
    for k, v in (node.get("states") or {}).items() if isinstance(node, dict) else ():
        yield from _state_paths(v, (*path, "states", k))


def _strip(get_best: Callable[[], Any], attempt: Callable[[Any], bool]) -> None:
    """For each state node (root first): drop all its behaviour at once, keeping its structure."""
    for path in list(_state_paths(get_best().get("machine"), ("machine",))):
        try:
            node = _get(get_best(), path)
        except (KeyError, TypeError):
            continue
        extra = [k for k in node if k not in STRUCTURE and not (path == ("machine",) and k == "context")]
        if extra:
            attempt(_without(get_best(), path, extra))


def _drop_empty(doc: Any) -> Any:
    """Without the empty objects / arrays left behind in the machine (``"after": {}``...)."""
    def walk(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items() if not (isinstance(v, dict | list) and not v)
                    or k in ("context", "states")}
        if isinstance(x, list):
            return [walk(v) for v in x]
        return x

    return {**doc, "machine": walk(doc["machine"])} if "machine" in doc else doc


def _delete(doc: Any, path: Path) -> Any:
    new = copy.deepcopy(doc)
    parent = _get(new, path[:-1])
    del parent[path[-1]]
    return new


def _replace(doc: Any, path: Path, value: Any) -> Any:
    new = copy.deepcopy(doc)
    if not path:
        return value
    _get(new, path[:-1])[path[-1]] = value
    return new


def _rewrites(doc: Any, path: Path) -> Iterator[Any]:
    node = _get(doc, path)
    if isinstance(node, dict):
        for op in ("and", "or"):
            if op in node and isinstance(node[op], list):
                for x in node[op]:
                    yield _replace(doc, path, x)
        if "not" in node and len(node) == 1:
            yield _replace(doc, path, node["not"])
        if isinstance(node.get("initial"), str) and isinstance(node.get("states"), dict):
            for k, v in node["states"].items():
                if k != node["initial"] and isinstance(v, dict) and v.get("type") != "history":
                    yield _replace(doc, (*path, "initial"), k)
        if isinstance(node.get("initial"), dict) and "target" in node["initial"]:
            yield _replace(doc, (*path, "initial"), node["initial"]["target"])
    if isinstance(node, list) and 1 < len(node) <= 4 and path and path[-1] != "events":
        for x in node:
            yield _replace(doc, path, x if not isinstance(x, list) else [x])


class Budget:
    def __init__(self, seconds: float, tries: int) -> None:
        self.deadline = time.monotonic() + seconds
        self.left = tries

    def spend(self) -> bool:
        self.left -= 1
        return self.left >= 0 and time.monotonic() < self.deadline


class _OutOfBudget(Exception):
    pass


def shrink(case: dict[str, Any], still_fails: Callable[[dict[str, Any]], bool], *,
           seconds: float = 90.0, tries: int = 1500) -> tuple[dict[str, Any], int]:
    """The smallest case found that still fails, and the number of candidates tried."""
    budget = Budget(seconds, tries)
    best = copy.deepcopy(case)
    tried = 0

    def attempt(cand: Any) -> bool:
        nonlocal best, tried
        if not budget.spend():
            raise _OutOfBudget
        tried += 1
        if still_fails(cand):
            best = cand
            return True
        return False

    try:
        while True:
            before = best
            _events(lambda: best, attempt)
            for key in ("restoreAt", "probes", "input", "snapshot"):
                if key in best:
                    attempt(_delete(best, (key,)))
            _strip(lambda: best, attempt)
            _prune(lambda: best, attempt)
            i = 0
            # the machine first: once transitions and states go, whole implementations go too
            while True:
                paths = [p for p in sorted(_containers(best), key=lambda p: p[:1] == ("implementations",))
                         if p[:1] != ("events",)]
                if i >= len(paths):
                    break
                if paths[i] and not (paths[i][:1] == ("implementations",) and len(paths[i]) <= 2):
                    _chunks(lambda: best, paths[i], attempt)  # implementations go by _prune
                if paths[i][:1] == ("machine",) and i % 5 == 0:
                    _prune(lambda: best, attempt)
                i += 1
            _prune(lambda: best, attempt)
            attempt(_drop_empty(best))
            i = 0
            while True:
                paths = [p for p in _paths(best) if p[:1] != ("events",)]
                if i >= len(paths):
                    break
                if not any(attempt(c) for c in _rewrites(best, paths[i])):
                    i += 1
            if best == before:
                break
    except _OutOfBudget:
        pass
    return best, tried


def _events(get_best: Callable[[], dict[str, Any]], attempt: Callable[[Any], bool]) -> None:
    """ddmin-style: drop chunks of events, halving the chunk size down to one event."""
    size = max(1, len(get_best().get("events") or []) // 2)
    while get_best().get("events"):
        start = 0
        while start < len(get_best()["events"]):
            cand = copy.deepcopy(get_best())
            evs = cand["events"]
            cand["events"] = evs[:start] + evs[start + size:]
            _fix_restore(cand, start, size)
            if not attempt(cand):
                start += size
        if size == 1:
            break
        size //= 2


def _fix_restore(case: dict[str, Any], start: int, size: int) -> None:
    """Keep restoreAt pointing at the same events after removing events[start:start+size]."""
    if "restoreAt" not in case:
        return
    ra = case["restoreAt"]
    ats = ra if isinstance(ra, list) else [ra]
    moved = sorted({a if a < start else a - size for a in ats if not start <= a < start + size})
    n = len(case["events"])
    moved = [a for a in moved if a < n]
    if not moved:
        del case["restoreAt"]
    else:
        case["restoreAt"] = moved[0] if len(moved) == 1 and not isinstance(ra, list) else moved
