"""The implementations a generated machine refers to by name: guards, actions, delays and actors.

``Library`` adds an implementation to ``impl`` the first time a machine uses it and returns the
reference to put in the config. Every expression here is well defined on both sides (numbers stay
numbers, context keys always exist), except a few that deliberately read an undefined value
(``event.v`` when the event carries none) to exercise the expression language's JS semantics.

Bounding rules (each keeps both engines from looping forever; see generator.py for the rest):
  * transitions taken on *internal* events (``always``, raised events R1/R2, events children send
    back P1/P2, wildcards, ``onDone`` of states and invocations, ``onSnapshot``) are gated by the
    guard ``fuelOk`` (``context.fuel < K``) and run the action ``burn`` (``fuel + 1``) first;
  * delays are >= 1 ms (a delayed event never fires inside the clock advance that scheduled it);
  * ``n`` never decreases, so delays computed from it stay positive.
"""

from __future__ import annotations

import json
import random
from typing import Any


def var(path: str, default: Any = None) -> dict[str, Any]:
    return {"var": path if default is None else [path, default]}


CTX_N = var("context.n")

GUARDS: dict[str, Any] = {
    "nEven": {"==": [{"%": [CTX_N, 2]}, 0]},
    "nLt": {"<": [CTX_N, var("params.k", 2)]},
    "nGe2": {">=": [CTX_N, 2]},
    "vIs1": {"==": [var("event.v"), 1]},
    "vGt1": {">": [var("event.v", 0), 1]},
    "vLt2": {"<": [var("event.v"), 2]},  # false on JS when event.v is undefined (NaN compare)
    "sHasA": {"in": ["A", var("context.s")]},
    "logLong": {">": [{"len": var("context.log")}, 2]},
    "yes": True,
    "no": False,
}

DELAYS: dict[str, Any] = {
    "dShort": 60,
    "dLong": 700,
    "dCtx": {"+": [100, {"*": [CTX_N, 50]}]},
    "dParam": {"+": [var("params.ms", 150), 0]},
}

EXT_ASSIGNS: list[Any] = [
    {"assign": {"n": {"+": [CTX_N, 1]}}},
    {"assign": {"n": var("params.k", 0)}},
    {"assign": {"s": {"cat": [var("context.s"), var("event.type")]}}},
    {"assign": {"s": {"cat": [var("context.s"), var("event.v")]}}},  # cat of undefined is ""
    {"assign": {"log": {"merge": [var("context.log"), [var("event.type")]]}}},
    {"assign": {"$expr": {"n": {"*": [CTX_N, 2]}, "s": {"cat": ["x", {"len": var("context.log")}]}}}},
    {"assign": {"n": {"max": [CTX_N, var("event.v", 0)]}}},
    {"assign": {"n": {"+": [CTX_N, var("event.output.k", 0)]}}},
]


class Library:
    def __init__(self, rng: random.Random, w: dict[str, Any], impl: dict[str, Any], is_child: bool) -> None:
        self.rng, self.w, self.impl, self.is_child = rng, w, impl, is_child
        self.fuel = rng.randint(*w["fuel"])
        self.send_ids: list[str] = []  # ids of delayed sends (for cancel)
        self.child_ids: list[str] = []  # ids children are invoked / spawned with
        self.scope: list[str] = []  # ids of the children likely alive where the next action runs
        self.system_ids: list[str] = []
        self._names: dict[str, str] = {}
        self._n = 0
        self.make_child: Any = None  # set by the generator: () -> child machine actor spec

    # ------------------------------------------------------------------ registry
    def _add(self, kind: str, spec: Any, prefix: str) -> str:
        key = kind + json.dumps(spec, sort_keys=True)
        if key not in self._names:
            self._n += 1
            name = f"{prefix}{self._n}"
            self.impl.setdefault(kind, {})[name] = spec
            self._names[key] = name
        return self._names[key]

    def named(self, kind: str, name: str, spec: Any) -> str:
        self.impl.setdefault(kind, {})[name] = spec
        return name

    # ------------------------------------------------------------------ guards
    def fuel_ok(self) -> str:
        return self.named("guards", "fuelOk", {"<": [var("context.fuel"), self.fuel]})

    def burn(self) -> str:
        return self.named("actions", "burn", {"assign": {"fuel": {"+": [var("context.fuel"), 1]}}})

    def guard_ref(self) -> Any:
        name = self.rng.choice(sorted(GUARDS))
        self.named("guards", name, GUARDS[name])
        if name == "nLt" and self.rng.random() < 0.6:
            if self.rng.random() < 0.3:
                return {"type": name, "params": {"$expr": {"k": {"+": [var("context.fuel"), 1]}}}}
            return {"type": name, "params": {"k": self.rng.randint(0, 4)}}
        return name

    # ------------------------------------------------------------------ delays
    def delay(self, *, after_key: bool = False) -> Any:
        """A delay for an ``after`` key (``after_key``) or for a delayed action."""
        if self.rng.random() < self.w["p_named_delay"]:
            name = self.rng.choice(sorted(DELAYS))
            return self.named("delays", name, DELAYS[name])
        if self.rng.random() < 0.05:
            # keys that are numbers but not array indices keep their place in Object.keys order
            key = self.rng.choice(["0100", "50.5", "1e2"])
            # an action's string delay names a delay implementation: an unknown name means no
            # delay at all (in xstate too), so an entry raise could loop forever. Actions get the number.
            number = float(key)
            return key if after_key else (int(number) if number.is_integer() else number)
        return self.rng.choice([1, 50, 100, 200, 500, 1000])

    # ------------------------------------------------------------------ actions
    def event_to_self(self, ext: list[str]) -> dict[str, Any]:
        ev: dict[str, Any] = {"type": self.rng.choice(ext)}
        if self.rng.random() < 0.4:
            ev["v"] = self.rng.choice([0, 1, 2, 3, CTX_N])
        return ev

    def action_spec(self, ext: list[str], guard: Any, depth: int = 0) -> Any:
        """A fresh action implementation (an entry of implementations.actions, or an enqueue step)."""
        rng, w = self.rng, self.w
        r = rng.random()
        # mostly children alive where the action runs; rarely any (a send to a missing child
        # is an error in xstate: it stops the machine, so it must stay rare)
        ids = self.child_ids if rng.random() < 0.03 else self.scope
        if ids and r < w["p_child_send"]:
            cid = rng.choice(ids)
            k = rng.random()
            if k < 0.55:
                spec: dict[str, Any] = {"sendTo": cid, "event": {"type": rng.choice(["C1", "C2", "A"]),
                                                                   "v": CTX_N}}
                if rng.random() < 0.2:
                    spec["delay"] = self.delay()
                return spec
            if k < 0.75:
                return {"forwardTo": cid}
            if k < 0.85 and self.system_ids:
                return {"sendToSystem": rng.choice(self.system_ids), "event": {"type": "C1"}}
            return {"stopChild": cid}
        if r < w["p_child_send"] + w["p_spawn"] and self.impl.get("actors") and not self.is_child:
            return self.spawn_spec()
        r = rng.random()
        if self.is_child and r < 0.25:
            ev = {"type": rng.choice(["P1", "P2"]), "v": CTX_N}
            if rng.random() < 0.5:
                return {"sendParent": ev}
            return {"sendTo": "#_parent", "event": ev}
        if r < 0.4:
            return rng.choice(EXT_ASSIGNS)
        if r < 0.55:
            if rng.random() < w["p_delayed_raise"]:
                sid = rng.choice(["t1", "t2"])
                if sid not in self.send_ids:
                    self.send_ids.append(sid)
                spec = {"raise": self.event_to_self([*ext, "R1"]), "delay": self.delay()}
                if rng.random() < 0.8:
                    spec["id"] = sid
                return spec
            return {"raise": {"type": rng.choice(["R1", "R2"])}}
        if r < 0.6 and self.send_ids:
            return {"cancel": rng.choice(self.send_ids)}
        if r < 0.7:
            return {"emit": {"type": rng.choice(["note", "ping"]), "n": CTX_N}}
        if r < 0.78:
            expr = rng.choice([{"cat": ["n=", CTX_N]}, var("context.s"), {"cat": ["v", var("event.v")]}])
            return {"log": expr, "label": "L"} if rng.random() < 0.5 else {"log": expr}
        if r < 0.86 and depth == 0:
            steps: list[Any] = [self.action_spec(ext, guard, 1) for _ in range(rng.randint(1, 2))]
            if rng.random() < 0.7:
                steps.append({"if": guard(), "then": [self.action_spec(ext, guard, 1)],
                              "else": [self.action_spec(ext, guard, 1)] if rng.random() < 0.5 else []})
            if rng.random() < 0.3:
                steps.append(self.action_ref(ext, guard, depth=1))
            return {"enqueue": steps}
        return None  # a custom no-op, recorded by name in "actions"

    def action_ref(self, ext: list[str], guard: Any, depth: int = 0) -> Any:
        rng = self.rng
        if rng.random() < 0.12:
            name = self.named("actions", "setN", {"assign": {"n": var("params.k", 0)}})
            if rng.random() < 0.3:
                return {"type": name, "params": {"$expr": {"k": {"+": [CTX_N, 2]}}}}
            return {"type": name, "params": {"k": rng.randint(0, 5)}}
        if rng.random() < 0.05:
            name = self.named("actions", "later", {"raise": {"type": "R2"}, "delay": "dParam"})
            self.named("delays", "dParam", DELAYS["dParam"])
            return {"type": name, "params": {"ms": rng.choice([30, 300])}}
        spec = self.action_spec(ext, guard, depth)
        if spec is None:
            return self._add("actions", None, "noop") if rng.random() < 0.5 else self.named("actions", "spy", None)
        return self._add("actions", spec, "act")

    # ------------------------------------------------------------------ actors
    def actor_src(self) -> str:
        rng = self.rng
        kind = rng.choice(["promise", "promise", "callback", "transition", "observable", "machine", "machine"])
        if kind == "promise":
            spec: dict[str, Any] = {"promise": {"reject": {"why": var("input.n", 0)}} if rng.random() < 0.3
                                    else {"resolve": {"k": var("input.n", 1)}}}
            if rng.random() < 0.6:
                spec["delay"] = rng.choice([50, 100, 100, 300])
            return self._add("actors", spec, "prom")
        if kind == "callback":
            spec = {"callback": {"onStart": [{"type": "P1"}] if rng.random() < 0.5 else [],
                                 "onReceive": {"C1": [{"type": "P2", "v": var("event.v", 0)}],
                                               "A": [{"type": "P1"}]}}}
            return self._add("actors", spec, "cb")
        if kind == "transition":
            spec = {"transition": {"initial": {"count": var("input.n", 0)},
                                   "on": {"C1": {"count": {"+": [var("context.count"), 1]}},
                                          "C2": {"count": 0}}}}
            return self._add("actors", spec, "tr")
        if kind == "observable":
            o: dict[str, Any] = {"values": [{"v": i} for i in range(rng.randint(0, 3))]}
            if rng.random() < 0.25:
                o["error"] = {"bad": 1}
            else:
                o["complete"] = rng.random() < 0.7
            return self._add("actors", {"observable": o}, "obs")
        return self._add("actors", self.make_child(), "child")

    def new_child_id(self, prefix: str) -> str:
        cid = f"{prefix}{len(self.child_ids) + 1}"
        self.child_ids.append(cid)
        return cid

    def spawn_spec(self, long_lived: bool = False, system: bool = False) -> Any:
        rng = self.rng
        srcs = sorted(self.impl["actors"])
        if long_lived:
            srcs = [s for s in srcs if not s.startswith(("prom", "obs"))] or srcs
        src = rng.choice(srcs)
        cid = self.new_child_id("sp")
        inp = {"n": CTX_N} if rng.random() < 0.5 else None
        sys_id = None
        if system and rng.random() < 0.3:
            sys_id = f"sys{len(self.system_ids) + 1}"
            self.system_ids.append(sys_id)
        if rng.random() < 0.5:
            sp: dict[str, Any] = {"$spawn": src, "id": cid}
            if inp:
                sp["input"] = inp
            if sys_id:
                sp["systemId"] = sys_id
            return {"assign": {"ref": sp}}
        spec: dict[str, Any] = {"spawnChild": src, "id": cid}
        if inp:
            spec["input"] = inp
        if sys_id:
            spec["systemId"] = sys_id
        if rng.random() < 0.2:
            spec["syncSnapshot"] = True
        return spec
