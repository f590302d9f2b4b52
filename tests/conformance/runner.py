"""Run a conformance case on durable-xstate and print the same JSON lines as ``oracle/oracle.mjs``.

Usage: ``python tests/conformance/runner.py CASE.json``

The case format and its small expression language are specified in the header of ``oracle.mjs``;
this module implements the same language in Python and builds the machine only through the public
API of ``durable_xstate``. Lines are compared with the oracle's golden output after parsing.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from durable_xstate import (
    ActorSnapshot,
    MachineSnapshot,
    SimulatedClock,
    and_,
    assign,
    cancel,
    create_actor,
    emit,
    enqueue_actions,
    forward_to,
    from_callback,
    from_observable,
    from_promise,
    from_transition,
    log,
    not_,
    or_,
    raise_,
    send_parent,
    send_to,
    setup,
    spawn_child,
    state_in,
    stop_child,
)
from durable_xstate.actors.system import reset_session_ids
from durable_xstate.machine.js import js_items, js_to_number

OPS = frozenset(
    ["var", "lit", "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "!", "and", "or", "if",
     "cat", "merge", "len", "in", "min", "max", "obj"]
)  # fmt: skip


class Unsupported(Exception):
    """The case uses a feature this runner (or the engine) does not provide yet."""


class Rejection(Exception):
    """A promise actor rejected with a plain value (JavaScript can reject with anything)."""

    def __init__(self, value: Any) -> None:
        super().__init__(repr(value))
        self.value = value

    def to_json(self) -> Any:
        return plain(self.value)


class _Undefined:
    """JavaScript's ``undefined`` (a missing key, a missing ``var`` default), distinct from ``null``.

    JSON drops it from objects and writes it as null in arrays (``plain``); ``cat`` writes it as "";
    arithmetic and comparisons treat it as NaN where null is 0; ``==`` tells the two apart.
    """

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "undefined"

    def __copy__(self) -> _Undefined:
        return self

    def __deepcopy__(self, memo: Any) -> _Undefined:
        return self

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED = _Undefined()

CLOCK: dict[str, SimulatedClock] = {}  # the clock of the current root actor (promise delays use it)


# ----------------------------------------------------------------------------- JS-like values


def js_truthy(v: Any) -> bool:
    if v is None or v is False or v is UNDEFINED:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return v != 0 and not (isinstance(v, float) and math.isnan(v))
    if isinstance(v, str):
        return v != ""
    return True  # objects and arrays are truthy in JavaScript


def js_num(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def js_json(v: Any) -> str | None:
    """JSON.stringify: None (JS undefined) for undefined itself."""
    if v is UNDEFINED:
        return None
    return json.dumps(plain(v), separators=(",", ":"), ensure_ascii=False)


def to_num(v: Any) -> float | int:
    """JavaScript's ToNumber."""
    if v is None or v is False:
        return 0
    if v is True:
        return 1
    if isinstance(v, int | float):
        return v
    if isinstance(v, str):
        return js_num(js_to_number(v))
    if isinstance(v, list):
        return to_num(js_str(v))
    return math.nan  # undefined, objects


def js_str(v: Any) -> str:
    if isinstance(v, str):
        return v
    if v is UNDEFINED:
        return "undefined"
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, float) and math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int | float):
        return json.dumps(js_num(v))
    if isinstance(v, list):
        return ",".join("" if x is None or x is UNDEFINED else js_str(x) for x in v)
    return "[object Object]"


def js_add(a: Any, b: Any) -> Any:
    if isinstance(a, str) or isinstance(b, str) or isinstance(a, list | dict) or isinstance(b, list | dict):
        return js_str(a) + js_str(b)
    return js_num(to_num(a) + to_num(b))


def plain(v: Any) -> Any:
    """JSON round trip as JavaScript would do it (actor refs become their toJSON, errors become {})."""
    if v is None or isinstance(v, bool | str):
        return v
    if isinstance(v, int | float):
        return None if math.isnan(v) or math.isinf(v) else js_num(v)
    if v is UNDEFINED:
        return None
    if isinstance(v, Mapping):
        out = {}
        for k, x in v.items():
            if x is UNDEFINED or (callable(x) and not getattr(x, "__xstate_actor__", False)):
                continue
            out[str(k)] = plain(x)
        return out
    if isinstance(v, list | tuple):
        return [plain(x) for x in v]
    if getattr(v, "__xstate_actor__", False):
        return {"xstate$$type": 1, "id": v.id}
    if isinstance(v, Rejection):
        return plain(v.value)
    if isinstance(v, BaseException):
        return {}
    if isinstance(v, MachineSnapshot | ActorSnapshot):
        return plain(v.to_json())
    return str(v)


def get_path(scope: Any, path: Any, default: Any) -> Any:
    if path in ("", None):
        return scope
    cur = scope
    for k in str(path).split("."):
        if cur is None or cur is UNDEFINED:
            return default
        if isinstance(cur, Mapping):
            cur = cur.get(k, UNDEFINED)
        elif isinstance(cur, list | str):
            if k == "length":
                cur = len(cur)
            else:
                try:
                    cur = cur[int(k)] if int(k) >= 0 else UNDEFINED
                except (ValueError, IndexError):
                    cur = UNDEFINED
        else:
            cur = UNDEFINED
    return default if cur is UNDEFINED else cur


def evaluate(e: Any, scope: Mapping[str, Any]) -> Any:
    if e is None or not isinstance(e, dict | list):
        return e
    if isinstance(e, list):
        return [evaluate(x, scope) for x in e]
    if len(e) == 1:
        op = next(iter(e))
        if op in OPS:
            return _op(op, e[op], scope)
    return {k: evaluate(v, scope) for k, v in e.items()}


def _op(op: str, raw: Any, scope: Mapping[str, Any]) -> Any:
    if op == "lit":
        return raw
    if op == "var":
        p, d = (raw[0], raw[1] if len(raw) > 1 else UNDEFINED) if isinstance(raw, list) else (raw, UNDEFINED)
        return get_path(scope, evaluate(p, scope), evaluate(d, scope))
    args = raw if isinstance(raw, list) else [raw]
    if op == "and":
        v: Any = True
        for a in args:
            v = evaluate(a, scope)
            if not js_truthy(v):
                return v
        return v
    if op == "or":
        v = False
        for a in args:
            v = evaluate(a, scope)
            if js_truthy(v):
                return v
        return v
    if op == "if":
        i = 0
        while i + 1 < len(args):
            if js_truthy(evaluate(args[i], scope)):
                return evaluate(args[i + 1], scope)
            i += 2
        return evaluate(args[-1], scope) if len(args) % 2 else None
    vals = [evaluate(a, scope) for a in args]
    if op == "+":
        acc: Any = 0
        for x in vals:
            acc = js_add(acc, x)
        return acc
    if op == "*":
        acc = 1
        for x in vals:
            acc = acc * to_num(x)
        return js_num(acc)
    nums = [to_num(x) for x in vals]
    if op == "-":
        return js_num(-nums[0]) if len(nums) == 1 else js_num(nums[0] - nums[1])
    if op == "/":
        if nums[1] == 0:
            return math.inf if nums[0] > 0 else (-math.inf if nums[0] < 0 else math.nan)
        return js_num(nums[0] / nums[1])
    if op == "%":
        if nums[1] == 0 or math.isinf(nums[0]) or math.isnan(nums[0]) or math.isnan(nums[1]):
            return math.nan
        return js_num(math.fmod(nums[0], nums[1]))
    if op == "==":
        return js_json(vals[0]) == js_json(vals[1])
    if op == "!=":
        return js_json(vals[0]) != js_json(vals[1])
    if op in ("<", "<=", ">", ">="):
        a, b = vals[0], vals[1]
        if not (isinstance(a, str) and isinstance(b, str)):
            a, b = to_num(a), to_num(b)
            if math.isnan(a) or math.isnan(b):
                return False
        try:
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        except TypeError:
            return False
    if op == "!":
        return not js_truthy(vals[0])
    if op == "cat":
        return "".join(x if isinstance(x, str) else (js_json(x) or "") for x in vals)
    if op == "merge":
        out: list[Any] = []
        for x in vals:
            out.extend(x if isinstance(x, list) else [x])
        return out
    if op == "len":
        x = vals[0]
        if x is None or x is UNDEFINED:
            return 0
        if isinstance(x, str | list | Mapping):
            return len(x)
        return UNDEFINED
    if op == "in":
        hay = vals[1]
        if isinstance(hay, list):
            return any(js_json(x) == js_json(vals[0]) for x in hay)
        return js_str(vals[0]) in js_str(hay)
    if op in ("min", "max"):
        if any(isinstance(x, float) and math.isnan(x) for x in nums):
            return math.nan
        if not nums:
            return math.inf if op == "min" else -math.inf
        return js_num(min(nums) if op == "min" else max(nums))
    if op == "obj":
        return {str(k): val for k, val in vals}
    raise ValueError(op)


def is_expr(x: Any) -> bool:
    return isinstance(x, dict) and "$expr" in x


def js_arg(v: Any) -> Any:
    """An argument the engine passes as None where xstate passes undefined (params, input)."""
    return UNDEFINED if v is None else plain(v)


def scope_of(context: Any, event: Any, params: Any = None, **extra: Any) -> dict[str, Any]:
    s = {"context": plain(context), "event": plain(event), "params": js_arg(params)}
    s.update(extra)
    return s


# ----------------------------------------------------------------------------- config conversion


def convert_guard(g: Any) -> Any:
    if g is None or isinstance(g, str):
        return g
    if isinstance(g, list):
        raise ValueError("guard arrays are not supported")
    if "and" in g:
        return and_([convert_guard(x) for x in g["and"]])
    if "or" in g:
        return or_([convert_guard(x) for x in g["or"]])
    if "not" in g:
        return not_(convert_guard(g["not"]))
    if "stateIn" in g:
        return state_in(g["stateIn"])
    if "type" in g:
        if is_expr(g.get("params")):
            expr = g["params"]["$expr"]
            return {"type": g["type"], "params": lambda a: evaluate(expr, scope_of(a.context, a.event))}
        return g
    raise ValueError(f"bad guard {g!r}")


def convert_action_ref(a: Any) -> Any:
    if isinstance(a, dict) and "type" in a and is_expr(a.get("params")):
        expr = a["params"]["$expr"]
        return {"type": a["type"], "params": lambda args: evaluate(expr, scope_of(args.context, args.event))}
    return a


def convert_actions(acts: Any) -> Any:
    if acts is None:
        return None
    return [convert_action_ref(a) for a in (acts if isinstance(acts, list) else [acts])]


def convert_transition(t: Any) -> Any:
    if t is None or isinstance(t, str):
        return t
    if isinstance(t, list):
        return [convert_transition(x) for x in t]
    r = dict(t)
    if "guard" in r:
        r["guard"] = convert_guard(r["guard"])
    if "actions" in r:
        r["actions"] = convert_actions(r["actions"])
    return r


def mapper_or_value(x: Any) -> Any:
    if is_expr(x):
        expr = x["$expr"]
        return lambda a: evaluate(expr, scope_of(a.context, a.event))
    return x


def convert_state(s: dict[str, Any], is_root: bool = False) -> dict[str, Any]:
    r = dict(s)
    if is_root and is_expr(s.get("context")):
        expr = s["context"]["$expr"]
        r["context"] = lambda a: evaluate(expr, {"input": js_arg(a.input)})
    for key in ("entry", "exit"):
        if key in r:
            r[key] = convert_actions(r[key])
    for key in ("on", "after"):
        if key in r and isinstance(r[key], dict):
            r[key] = {k: convert_transition(v) for k, v in r[key].items()}
    for key in ("always", "onDone"):
        if key in r:
            r[key] = convert_transition(r[key])
    if isinstance(r.get("initial"), dict):
        r["initial"] = {**r["initial"], "actions": convert_actions(r["initial"].get("actions"))}
    if "output" in r:
        r["output"] = mapper_or_value(r["output"])
    if "invoke" in r:
        def conv(inv: dict[str, Any]) -> dict[str, Any]:
            i = dict(inv)
            for k in ("onDone", "onError", "onSnapshot"):
                if k in i:
                    i[k] = convert_transition(i[k])
            if "input" in i:
                i["input"] = mapper_or_value(i["input"])
            return i

        r["invoke"] = [conv(i) for i in r["invoke"]] if isinstance(r["invoke"], list) else conv(r["invoke"])
    if isinstance(r.get("states"), dict):
        r["states"] = {k: convert_state(v) for k, v in r["states"].items()}
    return r


# ----------------------------------------------------------------------------- implementations


def ev_expr(spec: Any) -> Callable[..., Any]:
    return lambda args, params: evaluate(spec, scope_of(args.context, args.event, params))


def named_noop(name: str) -> Callable[..., None]:
    def fn(args: Any, params: Any) -> None:
        return None

    fn.__name__ = name
    return fn


def build_action(spec: Any, name: str) -> Any:
    if spec is None or (isinstance(spec, dict) and not spec):
        return named_noop(name)
    if "assign" in spec:
        a = spec["assign"]
        if is_expr(a):
            expr = a["$expr"]
            return assign(lambda args, params: evaluate(expr, scope_of(args.context, args.event, params)))

        def assigner(args: Any, params: Any) -> dict[str, Any]:
            out = {}
            for k, v in js_items(a):  # Object.entries: integer-like keys first
                if isinstance(v, dict) and "$spawn" in v:
                    inp = v.get("input")
                    out[k] = args.spawn(
                        v["$spawn"], id=v.get("id"), system_id=v.get("systemId"), sync_snapshot=v.get("syncSnapshot"),
                        input=None if inp is None else evaluate(inp, scope_of(args.context, args.event, params)),
                    )
                else:
                    out[k] = evaluate(v, scope_of(args.context, args.event, params))
            return out

        return assign(assigner)
    if "raise" in spec:
        return raise_(ev_expr(spec["raise"]), delay=spec.get("delay"), id=spec.get("id"))
    if "emit" in spec:
        return emit(ev_expr(spec["emit"]))
    if "log" in spec:
        expr = spec["log"]
        return log(lambda args, params: evaluate(expr, scope_of(args.context, args.event, params)), spec.get("label"))
    if "cancel" in spec:
        return cancel(spec["cancel"])
    if "stopChild" in spec:
        return stop_child(spec["stopChild"])
    if "enqueue" in spec:
        steps = spec["enqueue"]

        def collect(args: Any, params: Any) -> None:
            def run(items: list[Any]) -> None:
                for st in items:
                    if isinstance(st, dict) and "if" in st:
                        if args.check(convert_guard(st["if"])):
                            run(st.get("then") or [])
                        else:
                            run(st.get("else") or [])
                    elif isinstance(st, str) or (isinstance(st, dict) and "type" in st):
                        args.enqueue(convert_action_ref(st))
                    else:
                        args.enqueue(build_action(st, "(inline)"))

            run(steps)

        return enqueue_actions(collect)
    if "sendTo" in spec:
        return send_to(spec["sendTo"], ev_expr(spec["event"]), delay=spec.get("delay"), id=spec.get("id"))
    if "sendToSystem" in spec:
        sys_id = spec["sendToSystem"]
        return send_to(lambda args, params: args.system.get(sys_id), ev_expr(spec["event"]),
                       delay=spec.get("delay"), id=spec.get("id"))
    if "sendParent" in spec:
        return send_parent(ev_expr(spec["sendParent"]), delay=spec.get("delay"), id=spec.get("id"))
    if "forwardTo" in spec:
        return forward_to(spec["forwardTo"])
    if "spawnChild" in spec:
        inp = spec.get("input")
        return spawn_child(
            spec["spawnChild"], id=spec.get("id"), system_id=spec.get("systemId"),
            sync_snapshot=bool(spec.get("syncSnapshot")),
            input=None if inp is None else (lambda a: evaluate(inp, scope_of(a.context, a.event))),
        )
    raise ValueError(f"unknown action spec for {name}: {spec!r}")


def build_guard(spec: Any) -> Callable[..., bool]:
    if isinstance(spec, bool):
        return lambda args, params: spec
    return lambda args, params: js_truthy(evaluate(spec, scope_of(args.context, args.event, params)))


def build_delay(spec: Any) -> Any:
    if isinstance(spec, int | float):
        return spec
    return lambda args, params: evaluate(spec, scope_of(args.context, args.event, params))


def build_actor(spec: dict[str, Any], name: str) -> Any:
    if "machine" in spec:
        return build_machine(spec["machine"], spec.get("implementations") or {})
    if "promise" in spec:
        p, delay = spec["promise"], spec.get("delay")

        def creator(args: Any) -> Any:
            # ``new Promise(executor)``: the executor runs now, synchronously (so its clock timer is set
            # in the same order as xstate's), and the promise settles when ``settle`` runs
            fut = asyncio.get_running_loop().create_future()

            def settle() -> None:
                if fut.done():
                    return
                if "reject" in p:
                    fut.set_exception(Rejection(evaluate(p["reject"], {"input": js_arg(args.input)})))
                    fut.exception()  # handled (xstate attaches its handlers at start): no "never retrieved" log
                else:
                    fut.set_result(evaluate(p.get("resolve"), {"input": js_arg(args.input)}))

            if delay:
                CLOCK["now"].set_timeout(settle, delay)
            else:
                settle()
            return fut

        return from_promise(creator)
    if "callback" in spec:
        c = spec["callback"]

        def callback(args: Any) -> None:
            for ev in c.get("onStart") or []:
                args.send_back(evaluate(ev, {"input": js_arg(args.input)}))

            def on_event(event: Any) -> None:
                for ev in (c.get("onReceive") or {}).get(event["type"], []):
                    args.send_back(evaluate(ev, {"input": js_arg(args.input), "event": plain(event)}))

            args.receive(on_event)

        return from_callback(callback)
    if "transition" in spec:
        t = spec["transition"]
        on = t.get("on") or {}

        def reducer(state: Any, event: Any) -> Any:
            if event["type"] in on:
                return evaluate(on[event["type"]], {"context": plain(state), "event": plain(event)})
            return state

        return from_transition(reducer, lambda args: evaluate(t.get("initial"), {"input": js_arg(args.input)}))
    if "observable" in spec:
        o = spec["observable"]

        class Source:
            def __init__(self, inp: Any) -> None:
                self.inp = inp

            def subscribe(self, observer: Any) -> Any:
                for v in o.get("values") or []:
                    observer.next(evaluate(v, {"input": js_arg(self.inp)}))
                if "error" in o:
                    observer.error(Rejection(evaluate(o["error"], {"input": js_arg(self.inp)})))
                elif o.get("complete"):
                    observer.complete()
                return None

        return from_observable(lambda args: Source(args.input))
    raise ValueError(f"unknown actor spec for {name}: {spec!r}")


def build_machine(config: dict[str, Any], impl: dict[str, Any]) -> Any:
    actors = {k: build_actor(v, k) for k, v in (impl.get("actors") or {}).items()}
    actions = {k: build_action(v, k) for k, v in (impl.get("actions") or {}).items()}
    guards = {k: build_guard(v) for k, v in (impl.get("guards") or {}).items()}
    delays = {k: build_delay(v) for k, v in (impl.get("delays") or {}).items()}
    return setup(actions=actions, guards=guards, delays=delays, actors=actors, strict=False).create_machine(
        convert_state(config, True)
    )


# ----------------------------------------------------------------------------- driver


def err_json(e: Any) -> Any:
    if e is None:
        return None
    if isinstance(e, Rejection):
        return plain(e.value)
    if isinstance(e, BaseException):
        name = "TypeError" if isinstance(e, TypeError) else "Error"  # our TypeErrors subclass it (errors.py)
        return {"name": name, "message": str(e)}
    return plain(e)


def run_case(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The oracle's lines for ``spec``, computed by durable-xstate."""
    return iter(asyncio.run(_run_case(spec)))


async def _flush() -> None:
    """Let coroutines settle, like the oracle's two setImmediate turns after each step."""
    loop = asyncio.get_running_loop()
    for _ in range(200):
        await asyncio.sleep(0)
        if not getattr(loop, "_ready", None):
            await asyncio.sleep(0)
            if not getattr(loop, "_ready", None):
                return


async def _run_case(spec: dict[str, Any]) -> list[dict[str, Any]]:
    reset_session_ids()
    lines: list[dict[str, Any]] = []
    machine = build_machine(spec["machine"], spec.get("implementations") or {})
    events = spec.get("events") or []
    restore_at = spec.get("restoreAt")
    restore_set = set(restore_at if isinstance(restore_at, list) else ([] if restore_at is None else [restore_at]))
    root_id = spec.get("id") or "root"
    buf: dict[str, list[Any]] = {"actions": [], "emitted": [], "micro": []}
    state: dict[str, Any] = {}

    def inspect(ev: dict[str, Any]) -> None:
        if ev["type"] == "@xstate.action":
            ref = ev["actorRef"]
            rec: dict[str, Any] = {"type": ev["action"]["type"]}
            if ev["action"]["params"] is not None:
                rec["params"] = plain(ev["action"]["params"])
            if ref.parent is not None:
                rec["actor"] = ref.id
            buf["actions"].append(rec)
        elif ev["type"] == "@xstate.microstep" and ev["actorRef"].parent is None:
            buf["micro"].append({"event": ev["event"]["type"], "value": plain(ev["snapshot"].value)})

    def start(snapshot: Any, now: float = 0) -> None:
        clock = SimulatedClock(now)
        CLOCK["now"] = clock
        actor = create_actor(
            machine, id=root_id, clock=clock, input=spec.get("input"), snapshot=snapshot,
            inspect=inspect, logger=lambda *a: None,
        )
        actor.on("*", lambda e: buf["emitted"].append(plain(e)))
        actor.subscribe(error=lambda e: None)
        actor.start()
        state["actor"], state["clock"] = actor, clock

    def clear() -> None:
        buf["actions"], buf["emitted"], buf["micro"] = [], [], []

    def report(step: int, event: Any) -> dict[str, Any]:
        actor = state["actor"]
        s = actor.get_snapshot()
        line: dict[str, Any] = {
            "step": step,
            "event": event,
            "value": plain(s.value),
            "context": plain(s.context),
            "status": s.status,
            "output": plain(s.output),
            "error": err_json(s.error),
            "tags": sorted(s.tags),
            "children": {k: c.get_snapshot().status for k, c in s.children.items()},
            "actions": buf["actions"],
            "emitted": buf["emitted"],
            "microsteps": buf["micro"],
            "persisted": plain(actor.get_persisted_snapshot()),
        }
        probes = spec.get("probes")
        if js_truthy(probes):  # `spec.probes && ...` in the oracle: `{}` prints empty lists
            line["probes"] = {
                "can": [s.can(e) for e in probes.get("can") or []],
                "matches": [s.matches(v) for v in probes.get("matches") or []],
                "hasTag": [s.has_tag(t) for t in probes.get("hasTag") or []],
            }
        clear()
        return {k: v for k, v in line.items() if v is not None}

    start(spec.get("snapshot"))
    await _flush()
    lines.append(report(0, {"type": "xstate.init"}))
    for i, ev in enumerate(events):
        if i in restore_set:
            persisted = plain(state["actor"].get_persisted_snapshot())
            frm = json.loads(json.dumps(persisted))
            now = state["clock"].now()
            state["actor"].stop()
            clear()
            start(persisted, now)
            await _flush()
            lines.append({"restore": True, "beforeStep": i + 1, "from": frm, "actions": buf["actions"]})
            clear()
        if "$advance" in ev:
            state["clock"].increment(ev["$advance"])
        elif "$flush" not in ev:
            state["actor"].send(ev)
        await _flush()
        lines.append(report(i + 1, ev))
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: runner.py CASE.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[1]).read_text() if argv[1] != "-" else sys.stdin.read())
    for line in run_case(spec):
        print(json.dumps(line, separators=(",", ":"), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
