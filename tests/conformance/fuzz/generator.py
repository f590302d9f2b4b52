"""Random but valid xstate machines in the conformance case format (see oracle/oracle.mjs).

``generate_case(seed, index, profile)`` depends on its arguments alone. A machine is built in two
passes: the state tree first (kinds and keys), then, with every node known, the transitions,
actions, timers, invocations... of each node, so that any node can be a target.

Validity / boundedness rules (besides those in library.py):
  * a history state is never an initial state, never a region of a parallel state, and its default
    target is a sibling (path relative to its parent);
  * final states carry only entry/exit/tags/output (no transitions, no children);
  * multiple targets always go to distinct regions of one parallel state;
  * from the root, targets are ".child" or "#..." (a bare key is invalid there);
  * transitions on internal events are fuel-gated (library.py), and a transition array on such an
    event never contains a bare-string target, which could not carry the gate.
"""

from __future__ import annotations

import json
import random
from typing import Any

from .library import CTX_N, Library, var
from .profiles import profile_for, weights

EXT_EVENTS = ["A", "B", "C", "D", "foo.bar", "foo.baz"]
INTERNAL = {"R1", "R2", "P1", "P2"}  # raised by the machine itself / sent back by its children
MACHINE_ID = "m"


class Node:
    def __init__(self, path: tuple[str, ...], cfg: dict[str, Any], kind: str) -> None:
        self.path, self.cfg, self.kind = path, cfg, kind
        self.live: list[str] = []  # ids of the long-lived children this node invokes


class MachineGen:
    def __init__(self, rng: random.Random, w: dict[str, Any], impl: dict[str, Any], *,
                 mid: str = MACHINE_ID, is_child: bool = False, depth: int | None = None) -> None:
        self.rng, self.w, self.mid, self.is_child = rng, w, mid, is_child
        self.depth = min(4, depth if depth is not None else w["depth"])
        self.lib = Library(rng, w, impl, is_child)
        self.lib.make_child = self.child_machine
        self.nodes: list[Node] = []
        self.handled: set[str] = set()
        self.tags: list[str] = []
        self._names = 0
        self.ext = ["C1", "C2", "A", "B"] if is_child else list(EXT_EVENTS)

    # ------------------------------------------------------------------ tree
    def name(self) -> str:
        self._names += 1
        letters = "abcdefghijklmnopqrstuvwxyz"
        return letters[self._names - 1] if self._names <= 26 else f"s{self._names}"

    def build(self) -> dict[str, Any]:
        root: dict[str, Any] = {"id": self.mid}
        self.nodes.append(Node((), root, "root"))
        if self.rng.random() < self.w["p_root_parallel"] and self.depth >= 1:
            self.parallel(root, (), 0)
        else:
            self.compound(root, (), 0)
        self.root = root
        self.context(root)
        self.spawned: list[str] = []
        if not self.is_child and self.rng.random() < self.w["p_invoke"] + self.w["p_spawn"]:
            self.lib.actor_src()  # actors that spawn actions may use before any invoke
            if self.rng.random() < self.w["p_spawn"] * 4:
                # children spawned on entry of the root live as long as the machine: safe to talk to
                spawns = [self.lib.spawn_spec(long_lived=True, system=True)
                          for _ in range(self.rng.randint(1, 2))]
                for sp in spawns:
                    self.spawned.append(sp.get("id") or sp["assign"]["ref"]["id"])
                root["entry"] = [self.lib._add("actions", sp, "spawn") for sp in spawns]
        for node in list(self.nodes):
            self.decorate(node)
        return root

    def child_kind(self, level: int) -> str:
        r = self.rng.random()
        if level < self.depth:
            if r < self.w["p_parallel"]:
                return "parallel"
            if r < self.w["p_parallel"] + self.w["p_compound"]:
                return "compound"
        return "atomic"

    def add(self, parent: dict[str, Any], path: tuple[str, ...], kind: str, level: int) -> str:
        key = self.name()
        cfg: dict[str, Any] = {}
        parent.setdefault("states", {})[key] = cfg
        p = (*path, key)
        self.nodes.append(Node(p, cfg, kind))
        if kind == "compound":
            self.compound(cfg, p, level)
        elif kind == "parallel":
            self.parallel(cfg, p, level)
        elif kind == "final":
            cfg["type"] = "final"
        elif kind == "history":
            cfg["type"] = "history"
            if self.rng.random() < 0.6:
                cfg["history"] = self.rng.choice(["shallow", "deep"])
        return key

    def compound(self, cfg: dict[str, Any], path: tuple[str, ...], level: int) -> None:
        keys = [self.add(cfg, path, self.child_kind(level + 1), level + 1)
                for _ in range(self.rng.randint(*self.w["children"]))]
        if self.rng.random() < self.w["p_final"]:
            fk = self.add(cfg, path, "final", level + 1)
            if self.rng.random() < 0.15:
                keys.append(fk)  # a final initial state: done at once
        if self.rng.random() < self.w["p_history"]:
            self.add(cfg, path, "history", level + 1)
        first = self.rng.choice(keys)
        cfg["initial"] = first
        # `initial: {target, actions}` is filled in decorate() once actions can be drawn
        cfg["$initial_obj"] = self.rng.random() < self.w["p_initial_obj"]

    def parallel(self, cfg: dict[str, Any], path: tuple[str, ...], level: int) -> None:
        cfg["type"] = "parallel"
        for _ in range(self.rng.randint(*self.w["regions"])):
            kind = "compound" if level + 1 < self.depth and self.rng.random() < 0.85 else "atomic"
            self.add(cfg, path, kind, level + 1)

    def context(self, root: dict[str, Any]) -> None:
        ctx: dict[str, Any] = {"fuel": 0, "n": 0, "s": "", "log": []}
        if not self.is_child:
            ctx["ref"] = None
        if self.is_child or self.rng.random() < self.w["p_input"]:
            ctx["n"] = var("input.n", 0)
            root["context"] = {"$expr": ctx}
        else:
            root["context"] = ctx

    # ------------------------------------------------------------------ node contents
    def decorate(self, node: Node) -> None:
        rng, w, cfg = self.rng, self.w, node.cfg
        if node.kind == "history":
            if rng.random() < 0.4:
                sibs = [n for n in self.children(node.path[:-1]) if n.kind not in ("history",)]
                cfg["target"] = self.rng.choice(sibs).path[-1]
            return
        outer = self.spawned + [i for n in self.nodes if len(n.path) < len(node.path)
                                and n.path == node.path[: len(n.path)] for i in n.live]
        self.lib.scope = outer
        if not self.is_child and rng.random() < w["p_invoke"]:
            invs = [self.invoke(node) for _ in range(1 if rng.random() < 0.8 else 2)]
            cfg["invoke"] = invs[0] if len(invs) == 1 else invs
        # children alive while this node's entry/exit run: the ancestors' (its own start after its
        # entry actions and stop before its exit actions); during its transitions: its own too
        if cfg.pop("$initial_obj", False):
            cfg["initial"] = {"target": cfg["initial"], "actions": self.actions(node.path, min_n=1)}
        for key in ("entry", "exit"):
            if rng.random() < w["p_actions"] * 0.6 and key not in cfg:
                cfg[key] = self.actions(node.path, min_n=1)
        self.lib.scope = outer + node.live
        if rng.random() < w["p_tags"]:
            tag = rng.choice(["busy", "idle", "t1"])
            cfg["tags"] = [tag]
            self.tags.append(tag)
        if node.kind == "final":
            if rng.random() < w["p_output"]:
                cfg["output"] = rng.choice([{"$expr": {"k": CTX_N, "s": var("context.s")}}, 7, "done"])
            return
        if rng.random() < w["p_on"]:
            on: dict[str, Any] = {}
            for _ in range(rng.randint(*w["on_keys"])):
                if rng.random() < w["p_wildcard"]:
                    ev = rng.choice(["*", "foo.*"])
                elif rng.random() < 0.15:
                    ev = rng.choice(sorted(INTERNAL))
                else:
                    ev = rng.choice(self.ext)
                gated = ev in INTERNAL or ev == "*"
                on[ev] = self.transition(node.path, gated)
                self.handled.add(ev)
            cfg["on"] = on
        if rng.random() < w["p_after"]:
            after: dict[str, Any] = {}
            for _ in range(rng.randint(1, 2)):
                d = self.lib.delay(after_key=True)
                after[str(d)] = self.transition(node.path, False)
            cfg["after"] = after
        if rng.random() < w["p_always"]:
            cfg["always"] = self.transition(node.path, True)
        if node.kind in ("compound", "parallel") and rng.random() < 0.6:
            kids = self.children(node.path)
            if any(k.kind == "final" for k in kids) or node.kind == "parallel":
                cfg["onDone"] = self.transition(node.path, True)
        if node.kind == "root" and any(k.kind == "final" for k in self.children(())):
            if rng.random() < w["p_output"]:
                cfg["output"] = {"$expr": {"n": CTX_N, "out": var("event.output")}}

    def children(self, path: tuple[str, ...]) -> list[Node]:
        return [n for n in self.nodes if len(n.path) == len(path) + 1 and n.path[:-1] == path]

    def invoke(self, node: Node) -> dict[str, Any]:
        path = node.path
        src = self.lib.actor_src()
        inv: dict[str, Any] = {"src": src, "id": self.lib.new_child_id("i")}
        if not src.startswith(("prom", "obs")):
            node.live.append(inv["id"])
        if self.rng.random() < 0.6:
            inv["input"] = {"$expr": {"n": {"+": [CTX_N, 1]}}} if self.rng.random() < 0.7 else {"n": 2}
        failing = "reject" in json.dumps(self.lib.impl["actors"][src]) or '"error"' in json.dumps(
            self.lib.impl["actors"][src])
        for key, p in (("onDone", 0.7), ("onError", 0.9 if failing else 0.4), ("onSnapshot", 0.25)):
            if self.rng.random() < p:
                inv[key] = self.transition(path, True)
        return inv

    def child_machine(self) -> dict[str, Any]:
        impl: dict[str, Any] = {}
        sub = MachineGen(self.rng, {**self.w, "p_invoke": 0, "p_spawn": 0, "p_root_parallel": 0.1},
                         impl, mid=f"child{self.rng.randint(1, 99)}", is_child=True,
                         depth=self.rng.randint(1, 2))
        spec: dict[str, Any] = {"machine": sub.build()}
        if impl:
            spec["implementations"] = impl
        return spec

    # ------------------------------------------------------------------ transitions
    def transition(self, path: tuple[str, ...], gated: bool) -> Any:
        rng, w = self.rng, self.w
        if rng.random() < w["p_array"]:
            arr: list[Any] = [self.trans_obj(path, gated, guarded=True) for _ in range(rng.randint(1, 2))]
            if rng.random() < 0.6:
                arr.append(self.trans_obj(path, gated, guarded=False))
            if not gated and rng.random() < 0.15:
                tgt = self.target(path, allow_none=False, allow_multi=False)
                if isinstance(tgt, str):
                    arr.append(tgt)  # a bare string inside an array
            return arr
        if not gated and rng.random() < 0.25:
            tgt = self.target(path, allow_none=False)
            if tgt is not None:
                return tgt
        return self.trans_obj(path, gated, guarded=rng.random() < w["p_guard"])

    def trans_obj(self, path: tuple[str, ...], gated: bool, guarded: bool) -> dict[str, Any]:
        rng, w = self.rng, self.w
        t: dict[str, Any] = {}
        tgt = self.target(path)
        if tgt is not None:
            t["target"] = tgt
        if rng.random() < w["p_reenter"]:
            t["reenter"] = True
        g = self.guard(path) if guarded else None
        if gated:
            fuel = self.lib.fuel_ok()
            g = fuel if g is None else {"and": [fuel, g]}
        if g is not None:
            t["guard"] = g
        acts = self.actions(path) if rng.random() < w["p_actions"] else []
        if gated:
            acts = [self.lib.burn(), *acts]
        if acts:
            t["actions"] = acts if len(acts) > 1 or rng.random() < 0.5 else acts[0]
        return t

    def actions(self, path: tuple[str, ...], min_n: int = 1) -> list[Any]:
        return [self.lib.action_ref(self.ext, lambda: self.guard(path))
                for _ in range(self.rng.randint(min_n, 3))]

    def guard(self, path: tuple[str, ...], depth: int = 0) -> Any:
        rng = self.rng
        if depth < 2 and rng.random() < self.w["p_combinator"]:
            r = rng.random()
            if r < 0.3:
                return {"and": [self.guard(path, depth + 1) for _ in range(rng.randint(1, 3))]}
            if r < 0.55:
                return {"or": [self.guard(path, depth + 1) for _ in range(rng.randint(1, 3))]}
            if r < 0.75:
                return {"not": self.guard(path, depth + 1)}
            node = rng.choice(self.nodes[1:])
            if rng.random() < 0.5:
                return {"stateIn": self.id_ref(node)}
            if len(node.path) > 1 and rng.random() < 0.3:
                return {"stateIn": ".".join(node.path)}
            return {"stateIn": state_value(node.path)}
        return self.lib.guard_ref()

    def target(self, path: tuple[str, ...], allow_none: bool = True, allow_multi: bool = True) -> Any:
        rng, w = self.rng, self.w
        if allow_none and rng.random() < w["p_targetless"]:
            return None
        if allow_multi and rng.random() < w["p_multi"]:
            multi = self.multi_target()
            if multi:
                return multi
        if rng.random() < 0.04:
            return self.id_ref(self.nodes[0])
        candidates = [n for n in self.nodes[1:]]
        # prefer nearby nodes: siblings and descendants make for the common relative forms
        near = [n for n in candidates if n.path[: max(0, len(path) - 1)] == path[: max(0, len(path) - 1)]]
        node = rng.choice(near if near and rng.random() < 0.6 else candidates)
        return self.ref(path, node)

    def ref(self, src: tuple[str, ...], node: Node) -> str:
        to = node.path
        if self.rng.random() >= self.w["p_id_target"]:
            if len(to) > len(src) and to[: len(src)] == src:
                return "." + ".".join(to[len(src):])
            if src and len(to) >= len(src) and to[: len(src) - 1] == src[:-1]:
                return ".".join(to[len(src) - 1:])
        return self.id_ref(node)

    def id_ref(self, node: Node) -> str:
        if not node.path:
            return "#" + self.mid
        if "id" in node.cfg or self.rng.random() < 0.4:
            node.cfg.setdefault("id", f"id_{node.path[-1]}")
            return "#" + node.cfg["id"]
        return "#" + ".".join([self.mid, *node.path])

    def multi_target(self) -> list[str] | None:
        pars = [n for n in self.nodes if n.cfg.get("type") == "parallel"]
        if not pars:
            return None
        par = self.rng.choice(pars)
        regions = self.rng.sample(self.children(par.path), 2)
        out = []
        for reg in regions:
            under = [n for n in self.nodes if n.path[: len(reg.path)] == reg.path and n.kind != "history"]
            out.append(self.id_ref(self.rng.choice(under)))
        return out


def state_value(path: tuple[str, ...]) -> Any:
    if len(path) == 1:
        return path[0]
    return {path[0]: state_value(path[1:])}


def leaf_values(gen: MachineGen) -> list[Any]:
    vals = [state_value(n.path) for n in gen.nodes[1:] if n.kind != "history"]
    return vals + [".".join(n.path) for n in gen.nodes[1:] if len(n.path) > 1][:3]


def generate_case(seed: int | str, index: int, profile: str = "default") -> dict[str, Any]:
    """Case ``index`` of ``seed`` (``profile`` may be ``all``: it then picks by index)."""
    prof = profile_for(profile, index)
    rng = random.Random(f"{seed}:{index}:{prof}")
    w = weights(prof)
    impl: dict[str, Any] = {}
    gen = MachineGen(rng, w, impl)
    machine = gen.build()
    case: dict[str, Any] = {
        "description": f"fuzz seed {seed} index {index} profile {prof}",
        "machine": machine,
        "implementations": impl,
    }
    if rng.random() < w["p_input"]:
        case["input"] = {"n": rng.randint(0, 3)}
    case["events"] = events(rng, w, gen)
    if case["events"] and rng.random() < w["p_restore"]:
        n = len(case["events"])
        case["restoreAt"] = (rng.randrange(n) if rng.random() < 0.6
                             else sorted(rng.sample(range(n), min(n, 2))))
    if rng.random() < w["p_probes"]:
        case["probes"] = probes(rng, gen)
    return case


def events(rng: random.Random, w: dict[str, Any], gen: MachineGen) -> list[dict[str, Any]]:
    handled = sorted((gen.handled - {"*", "foo.*"}) | ({"foo.bar", "foo.baz"} if "foo.*" in gen.handled else set()))
    out: list[dict[str, Any]] = []
    for _ in range(rng.randint(*w["events"])):
        r = rng.random()
        if r < w["p_advance"]:
            out.append({"$advance": rng.choice([1, 50, 100, 200, 500, 1000, 1500])})
        elif r < w["p_advance"] + w["p_flush"]:
            out.append({"$flush": True})
        elif r < w["p_advance"] + w["p_flush"] + w["p_unknown"]:
            out.append({"type": rng.choice(["ZZZ", "foo", "foo.bar.baz", "C1"])})
        else:
            pool = handled if handled and rng.random() < 0.85 else EXT_EVENTS
            ev: dict[str, Any] = {"type": rng.choice(pool)}
            if rng.random() < 0.35:
                ev["v"] = rng.randint(0, 3)
            out.append(ev)
    return out


def probes(rng: random.Random, gen: MachineGen) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if rng.random() < 0.8:
        out["can"] = [{"type": rng.choice([*EXT_EVENTS, "R1", "P1"])} for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.7:
        vals = leaf_values(gen)
        out["matches"] = [rng.choice(vals) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.5:
        out["hasTag"] = sorted({*gen.tags[:2], "busy"})
    return out
