"""Actor-model benchmarks: durable_xstate against the real xstate on Node.

Run from the repository root:

    .venv/bin/python benchmarks/bench_actors.py                   # full run (~3 min), writes
                                                                  # benchmarks/RESULTS-actors.md
    .venv/bin/python benchmarks/bench_actors.py --quick           # smoke run, prints only
    .venv/bin/python benchmarks/bench_actors.py --profile pingpong  # cProfile one unit, exit

Workloads (see benchmarks/README.md), the same machine configs on both engines:
  spawn     - a parent spawns 10,000 child machines (SPAWN: spawn_child) and then stops them, the
              oldest first (STOP: stop_child); spawn+stop pairs per second.
  waves     - the same 10,000 pairs in 100 waves of 100 (at most 100 live children); pairs per second.
  pingpong  - 100,000 events between a parent and its invoked child: the parent sends PING with
              send_to, the child answers PONG with send_parent; events per second, both directions.
  timers    - one actor with 10,000 delayed raise_ events (distinct ids, 10 different delays),
              fired by advancing the simulated clock in 10 steps; timers fired per second.

Every engine first runs one full unit of each workload with checks (child counts, child statuses,
context counters, timers fired per clock step); the Python side compares what both engines saw with
the same expectation. After timing, the counters are checked again against the number of units run.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import functools
import io
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# the shared helpers of the engine benchmarks
from bench_engine import (
    HERE,
    NODE_DIR,
    ROOT,
    XSTATE_VERSION,
    Result,
    check,
    cpu_model,
    ensure_xstate,
    fmt_ratio,
    git_state,
    load_average,
    md_table,
    table,
)

DURABLE = "durable_xstate"
XSTATE_NODE = "xstate (Node)"
WORKLOADS = ("spawn", "waves", "pingpong", "timers")

SPAWN_COUNT = 10_000
WAVE_SIZE = 100
WAVES = SPAWN_COUNT // WAVE_SIZE
PING_ROUNDS = 50_000  # one START: 50,000 PING + 50,000 PONG = 100,000 events
PROBE_ROUNDS = 3
TIMER_COUNT = 10_000
TIMER_STEP_MS = 100
TIMER_GROUPS = 10  # delays 100, 200, ..., 1000 ms; the clock advances 10 x 100 ms

# --------------------------------------------------------------------------- machine configs
# Sent to Node as JSON. Actions, guards and actors are referenced by name and implemented the same
# way on both sides (python_*_machine below, *Machine in node/bench_actors.mjs).

SPAWN_CHILD_CONFIG: dict[str, Any] = {
    "id": "child",
    "initial": "idle",
    "states": {"idle": {"on": {"WORK": "busy"}}, "busy": {"on": {"DONE": "idle"}}},
}
SPAWN_PARENT_CONFIG: dict[str, Any] = {
    "id": "spawner",
    "initial": "active",
    "context": {"n": 0, "oldest": 0},
    "states": {
        "active": {
            "on": {
                "SPAWN": {"actions": ["spawnOne", "countSpawn"]},
                "STOP": {"actions": ["stopOldest", "countStop"]},
            }
        }
    },
}
PONGER_CONFIG: dict[str, Any] = {
    "id": "ponger",
    "initial": "ready",
    "context": {"pings": 0},
    "states": {"ready": {"on": {"PING": {"actions": ["countPing", "pong"]}}}},
}
PINGER_CONFIG: dict[str, Any] = {
    "id": "pinger",
    "initial": "playing",
    "context": {"pongs": 0, "goal": 0},
    "states": {
        "playing": {
            "invoke": {"id": "ponger", "src": "ponger"},
            "on": {
                "START": {"actions": ["setGoal", "ping"]},
                "PONG": [
                    {"guard": "moreToGo", "actions": ["countPong", "ping"]},
                    {"actions": "countPong"},
                ],
            },
        }
    },
}
TIMER_CONFIG: dict[str, Any] = {
    "id": "scheduler",
    "initial": "running",
    "context": {"armed": 0, "fired": 0},
    "states": {
        "running": {
            "on": {
                "ARM": {"actions": ["armTimers", "countArmed"]},
                "TICK": {"actions": "countFired"},
            }
        }
    },
}

# --------------------------------------------------------------------------- expectations
# What the verification run of one unit must observe, on both engines.


def _ctx_spawn(k: int) -> dict[str, int]:
    return {"n": k, "oldest": k}


EXPECTED: dict[str, dict[str, Any]] = {
    "spawn": {
        "peak_children": SPAWN_COUNT,
        "ids_in_spawn_order": True,
        "all_children_active_in_idle": True,
        "context_after_spawns": {"n": SPAWN_COUNT, "oldest": 0},
        "after_first_stop": {
            "children": SPAWN_COUNT - 1,
            "oldest_present": False,
            "oldest_status": "stopped",
            "next_status": "active",
        },
        "end": {"children": 0, "all_stopped": True, "context": _ctx_spawn(SPAWN_COUNT)},
    },
    "waves": {
        "peak_children": WAVE_SIZE,
        "all_stopped": True,
        "end": {"children": 0, "context": _ctx_spawn(SPAWN_COUNT)},
    },
    "pingpong": {
        "after_probe": {
            "context": {"pongs": PROBE_ROUNDS, "goal": PROBE_ROUNDS},
            "child_ids": ["ponger"],
            "child_status": "active",
            "child_context": {"pings": PROBE_ROUNDS},
        },
        "after_one_unit": {
            "context": {"pongs": PROBE_ROUNDS + PING_ROUNDS, "goal": PROBE_ROUNDS + PING_ROUNDS},
            "child_ids": ["ponger"],
            "child_status": "active",
            "child_context": {"pings": PROBE_ROUNDS + PING_ROUNDS},
        },
    },
    "timers": {
        "armed": TIMER_COUNT,
        "scheduled": TIMER_COUNT,
        "pending": TIMER_COUNT,
        "fired_just_before_first_due": 0,
        "fired_after_each_step": [
            TIMER_COUNT // TIMER_GROUPS * (g + 1) for g in range(TIMER_GROUPS)
        ],
        "end": {"pending": 0, "scheduled": 0, "status": "active"},
    },
}

UNITS = {"spawn": "pairs/s", "waves": "pairs/s", "pingpong": "events/s", "timers": "timers/s"}
TITLES = {
    "spawn": "1. Spawn and stop 10,000 child machines",
    "waves": "1b. The same 10,000 spawn+stop pairs in 100 waves of 100",
    "pingpong": "2. Ping-pong: 100,000 events between a parent and its invoked child",
    "timers": "3. 10,000 pending timers fired on the simulated clock",
}
SHORT = {
    "spawn": "spawn+stop 10,000 children",
    "waves": "spawn+stop in waves of 100",
    "pingpong": "ping-pong parent <-> invoked child",
    "timers": "10,000 delayed events fired",
}
HOW: dict[str, str] = {
    "spawn": (
        "A unit is 10,000 `SPAWN` events, each running `spawnChild('child', {id: 'c' + n})` and an "
        "`assign` incrementing `n`, then 10,000 `STOP` events, each running `stopChild('c' + oldest)` "
        "(the oldest child) and an `assign` incrementing `oldest`. The child is a two-state machine "
        "that stays in `idle`. Up to 10,000 children are alive at once. Both engines copy the "
        "`children` map on every spawn and stop, as xstate does, so the cost of one spawn or stop "
        "grows with the number of live children. In xstate on V8 that copy (an object spread of a "
        "10,000-key object) dominates the time."
    ),
    "waves": (
        "The same parent, child and events as workload 1, but a unit is 100 waves of 100 `SPAWN` "
        "followed by 100 `STOP`, so at most 100 children are alive. This is the per-child cost of "
        "creating, starting and stopping an actor without the cost of copying a large `children` map."
    ),
    "pingpong": (
        "The parent invokes `ponger` when it starts. `START {rounds: 50000}` sets `goal` and sends "
        "`PING` to the child with `sendTo('ponger', ...)`. The child counts the ping and answers "
        "`sendParent({type: 'PONG'})`. The parent counts the pong and, while the guard `pongs + 1 < goal` "
        "holds, sends the next `PING`. A unit is one `START`: 50,000 PINGs and 50,000 PONGs, "
        "100,000 events processed by the two actors' mailboxes. All of them run inside one "
        "`actor.send` call."
    ),
    "timers": (
        "One actor receives `ARM {count: 10000}`. Its `enqueueActions` implementation loops "
        "`i` over 0..9999 and calls `enqueue.raise({type: 'TICK'}, {id: 't' + i, delay})` with delay "
        "`100 * (1 + i % 10)` ms (10 groups of 1,000 timers at 100, 200, ..., 1000 ms). The `TICK` "
        "handler increments `fired`. Preparing a unit (a new actor, a new `SimulatedClock` and the "
        "`ARM` event) is not timed. The timed part is advancing the clock 10 times by 100 ms "
        "(`clock.increment(100)`), which fires all 10,000 timers, 1,000 per step, each delivering "
        "one `TICK` through the scheduler to the actor."
    ),
}


# --------------------------------------------------------------------------- measuring


@dataclass
class Settings:
    target_seconds: float
    repetitions: int
    min_repetitions: int
    budget_seconds: float


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(
    run_batch: Callable[[int], None], ops_per_unit: int, settings: Settings, verified_seconds: float
) -> tuple[float, list[float], int, int]:
    """Median ops/s of ``run_batch(n)`` (n units). Also returns the ops per batch and the units run.

    The verification run of one unit (``verified_seconds``) is the first sizing batch and counts as
    warm-up. The batch doubles until it takes a quarter of the target, is scaled to the target, and
    warm-up continues until the target time has run, re-sizing after each warm-up batch. Then up to
    ``repetitions`` timed batches, stopping early once ``budget_seconds`` are spent and
    ``min_repetitions`` samples exist.
    """
    target = settings.target_seconds
    spent = warm = elapsed = verified_seconds
    n, units = 1, 0
    while elapsed < target / 4 and n < 1 << 30:
        n *= 2
        elapsed = _timed(functools.partial(run_batch, n))
        units += n
        spent += elapsed
        warm += elapsed
    n = max(1, round(n * target / max(elapsed, 1e-9)))
    while warm < target:
        elapsed = _timed(functools.partial(run_batch, n))
        units += n
        spent += elapsed
        warm += elapsed
        n = max(1, round(n * target / max(elapsed, 1e-9)))
    samples: list[float] = []
    for i in range(settings.repetitions):
        if i >= settings.min_repetitions and spent > settings.budget_seconds:
            break
        elapsed = _timed(functools.partial(run_batch, n))
        units += n
        spent += elapsed
        samples.append(n * ops_per_unit / elapsed)
    return statistics.median(samples), samples, n * ops_per_unit, units


def measure_prepared(
    prepare: Callable[[], Any],
    fire: Callable[[Any], None],
    after: Callable[[Any], None],
    ops_per_unit: int,
    settings: Settings,
    verified_seconds: float,
) -> tuple[float, list[float], int]:
    """``measure`` for units that need an untimed ``prepare()``; only the ``fire(unit)`` calls are timed.

    The budget counts the preparation too (wall time).
    """
    wall_start = time.perf_counter() - verified_seconds

    def run_batch(n: int) -> float:
        total = 0.0
        for _ in range(n):
            unit = prepare()
            t0 = time.perf_counter()
            fire(unit)
            total += time.perf_counter() - t0
            after(unit)
        return total

    target = settings.target_seconds
    warm = elapsed = verified_seconds
    n = 1
    while elapsed < target / 4 and n < 1 << 20:
        n *= 2
        elapsed = run_batch(n)
        warm += elapsed
    n = max(1, round(n * target / max(elapsed, 1e-9)))
    while warm < target:
        elapsed = run_batch(n)
        warm += elapsed
        n = max(1, round(n * target / max(elapsed, 1e-9)))
    samples: list[float] = []
    for i in range(settings.repetitions):
        spent = time.perf_counter() - wall_start
        if i >= settings.min_repetitions and spent > settings.budget_seconds:
            break
        elapsed = run_batch(n)
        samples.append(n * ops_per_unit / elapsed)
    return statistics.median(samples), samples, n * ops_per_unit


def check_observed(engine: str, key: str, observed: Any) -> None:
    expected = EXPECTED[key]
    check(
        observed == expected,
        f"{engine}: {key} verification run saw\n  {json.dumps(observed, sort_keys=True)}\n"
        f"expected\n  {json.dumps(expected, sort_keys=True)}",
    )


# --------------------------------------------------------------------------- durable_xstate


def python_spawn_machine() -> Any:
    from durable_xstate import assign, create_machine, setup, spawn_child, stop_child

    child = create_machine(SPAWN_CHILD_CONFIG)
    return setup(
        actors={"child": child},
        actions={
            "spawnOne": spawn_child("child", id=lambda args: f"c{args.context['n']}"),
            "countSpawn": assign({"n": lambda args, params: args.context["n"] + 1}),
            "stopOldest": stop_child(lambda args: f"c{args.context['oldest']}"),
            "countStop": assign({"oldest": lambda args, params: args.context["oldest"] + 1}),
        },
    ).create_machine(SPAWN_PARENT_CONFIG)


def python_pingpong_machine() -> Any:
    from durable_xstate import assign, send_parent, send_to, setup

    ponger = setup(
        actions={
            "countPing": assign({"pings": lambda args, params: args.context["pings"] + 1}),
            "pong": send_parent({"type": "PONG"}),
        }
    ).create_machine(PONGER_CONFIG)
    return setup(
        actors={"ponger": ponger},
        guards={"moreToGo": lambda args, params: args.context["pongs"] + 1 < args.context["goal"]},
        actions={
            "setGoal": assign(
                {"goal": lambda args, params: args.context["pongs"] + args.event["rounds"]}
            ),
            "countPong": assign({"pongs": lambda args, params: args.context["pongs"] + 1}),
            "ping": send_to("ponger", {"type": "PING"}),
        },
    ).create_machine(PINGER_CONFIG)


def python_timer_machine() -> Any:
    from durable_xstate import assign, enqueue_actions, setup

    def arm(args: Any) -> None:
        armed = args.context["armed"]
        raise_ = args.enqueue.raise_
        for i in range(armed, armed + args.event["count"]):
            raise_({"type": "TICK"}, id=f"t{i}", delay=TIMER_STEP_MS * (1 + i % TIMER_GROUPS))

    return setup(
        actions={
            "armTimers": enqueue_actions(arm),
            "countArmed": assign(
                {"armed": lambda args, params: args.context["armed"] + args.event["count"]}
            ),
            "countFired": assign({"fired": lambda args, params: args.context["fired"] + 1}),
        }
    ).create_machine(TIMER_CONFIG)


def _children(actor: Any) -> dict[str, Any]:
    children: dict[str, Any] = actor.get_snapshot().children
    return children


def durable_spawn(settings: Settings) -> tuple[Result, dict[str, Any]]:
    from durable_xstate import create_actor

    actor = create_actor(python_spawn_machine()).start()
    send = actor.send
    spawn_ev, stop_ev = {"type": "SPAWN"}, {"type": "STOP"}
    count = SPAWN_COUNT
    observed: dict[str, Any] = {}
    t0 = time.perf_counter()
    for _ in range(count):
        send(spawn_ev)
    kids = _children(actor)
    ids, refs = list(kids), list(kids.values())
    observed["peak_children"] = len(ids)
    observed["ids_in_spawn_order"] = ids == [f"c{i}" for i in range(count)]
    observed["all_children_active_in_idle"] = all(
        r.get_snapshot().status == "active" and r.get_snapshot().value == "idle" for r in refs
    )
    observed["context_after_spawns"] = dict(actor.get_snapshot().context)
    send(stop_ev)
    observed["after_first_stop"] = {
        "children": len(_children(actor)),
        "oldest_present": "c0" in _children(actor),
        "oldest_status": refs[0].get_snapshot().status,
        "next_status": refs[1].get_snapshot().status,
    }
    for _ in range(count - 1):
        send(stop_ev)
    observed["end"] = {
        "children": len(_children(actor)),
        "all_stopped": all(r.get_snapshot().status == "stopped" for r in refs),
        "context": dict(actor.get_snapshot().context),
    }
    verified = time.perf_counter() - t0
    del kids, refs
    check_observed(DURABLE, "spawn", observed)

    def run(n: int) -> None:
        for _ in range(n):
            for _ in range(count):
                send(spawn_ev)
            for _ in range(count):
                send(stop_ev)

    ops, samples, batch, units = measure(run, count, settings, verified)
    done = (units + 1) * count
    check(not _children(actor), f"{DURABLE}: spawn: children left after timing")
    check(
        actor.get_snapshot().context == _ctx_spawn(done),
        f"{DURABLE}: spawn: context {actor.get_snapshot().context} after {units + 1} units",
    )
    return Result(DURABLE, ops, samples, batch, UNITS["spawn"]), observed


def durable_waves(settings: Settings) -> tuple[Result, dict[str, Any]]:
    from durable_xstate import create_actor

    actor = create_actor(python_spawn_machine()).start()
    send = actor.send
    spawn_ev, stop_ev = {"type": "SPAWN"}, {"type": "STOP"}
    peak, all_stopped = 0, True
    t0 = time.perf_counter()
    for _ in range(WAVES):
        for _ in range(WAVE_SIZE):
            send(spawn_ev)
        refs = list(_children(actor).values())
        peak = max(peak, len(refs))
        for _ in range(WAVE_SIZE):
            send(stop_ev)
        all_stopped = all_stopped and all(r.get_snapshot().status == "stopped" for r in refs)
    verified = time.perf_counter() - t0
    observed = {
        "peak_children": peak,
        "all_stopped": all_stopped,
        "end": {"children": len(_children(actor)), "context": dict(actor.get_snapshot().context)},
    }
    check_observed(DURABLE, "waves", observed)

    def run(n: int) -> None:
        for _ in range(n):
            for _ in range(WAVES):
                for _ in range(WAVE_SIZE):
                    send(spawn_ev)
                for _ in range(WAVE_SIZE):
                    send(stop_ev)

    ops, samples, batch, units = measure(run, SPAWN_COUNT, settings, verified)
    done = (units + 1) * SPAWN_COUNT
    check(not _children(actor), f"{DURABLE}: waves: children left after timing")
    check(
        actor.get_snapshot().context == _ctx_spawn(done),
        f"{DURABLE}: waves: context {actor.get_snapshot().context} after {units + 1} units",
    )
    return Result(DURABLE, ops, samples, batch, UNITS["waves"]), observed


def _pingpong_observation(actor: Any) -> dict[str, Any]:
    snap = actor.get_snapshot()
    child = snap.children["ponger"]
    return {
        "context": dict(snap.context),
        "child_ids": list(snap.children),
        "child_status": child.get_snapshot().status,
        "child_context": dict(child.get_snapshot().context),
    }


def durable_pingpong(settings: Settings) -> tuple[Result, dict[str, Any]]:
    from durable_xstate import create_actor

    actor = create_actor(python_pingpong_machine()).start()
    actor.send({"type": "START", "rounds": PROBE_ROUNDS})
    probe = _pingpong_observation(actor)
    start = {"type": "START", "rounds": PING_ROUNDS}
    verified = _timed(lambda: actor.send(start))
    observed = {"after_probe": probe, "after_one_unit": _pingpong_observation(actor)}
    check_observed(DURABLE, "pingpong", observed)
    send = actor.send

    def run(n: int) -> None:
        for _ in range(n):
            send(start)

    ops, samples, batch, units = measure(run, 2 * PING_ROUNDS, settings, verified)
    o = _pingpong_observation(actor)
    want = PROBE_ROUNDS + (units + 1) * PING_ROUNDS
    check(
        o["context"] == {"pongs": want, "goal": want} and o["child_context"] == {"pings": want},
        f"{DURABLE}: pingpong: {o} after {units} timed units, expected {want}",
    )
    return Result(DURABLE, ops, samples, batch, UNITS["pingpong"]), observed


def _timer_unit(machine: Any) -> tuple[Any, Any]:
    from durable_xstate import SimulatedClock, create_actor

    clock = SimulatedClock()
    actor = create_actor(machine, clock=clock).start()
    actor.send({"type": "ARM", "count": TIMER_COUNT})
    return clock, actor


def _fire_timers(unit: tuple[Any, Any]) -> None:
    increment = unit[0].increment
    for _ in range(TIMER_GROUPS):
        increment(TIMER_STEP_MS)


def durable_timers(settings: Settings) -> tuple[Result, dict[str, Any]]:
    machine = python_timer_machine()
    clock, actor = _timer_unit(machine)

    def fired() -> int:
        return int(actor.get_snapshot().context["fired"])

    observed: dict[str, Any] = {
        "armed": actor.get_snapshot().context["armed"],
        "scheduled": len(actor.get_scheduled_events()),
        "pending": clock.pending(),
    }
    clock.increment(TIMER_STEP_MS - 1)
    observed["fired_just_before_first_due"] = fired()
    steps: list[int] = []
    t0 = time.perf_counter()
    clock.increment(1)
    steps.append(fired())
    for _ in range(TIMER_GROUPS - 1):
        clock.increment(TIMER_STEP_MS)
        steps.append(fired())
    verified = time.perf_counter() - t0
    observed["fired_after_each_step"] = steps
    observed["end"] = {
        "pending": clock.pending(),
        "scheduled": len(actor.get_scheduled_events()),
        "status": actor.get_snapshot().status,
    }
    check_observed(DURABLE, "timers", observed)

    def after(unit: tuple[Any, Any]) -> None:
        c, a = unit
        check(
            a.get_snapshot().context["fired"] == TIMER_COUNT and c.pending() == 0,
            f"{DURABLE}: timers: fired {a.get_snapshot().context['fired']}, {c.pending()} pending",
        )

    ops, samples, batch = measure_prepared(
        lambda: _timer_unit(machine), _fire_timers, after, TIMER_COUNT, settings, verified
    )
    return Result(DURABLE, ops, samples, batch, UNITS["timers"]), observed


DURABLE_BENCHES: dict[str, Callable[[Settings], tuple[Result, dict[str, Any]]]] = {
    "spawn": durable_spawn,
    "waves": durable_waves,
    "pingpong": durable_pingpong,
    "timers": durable_timers,
}

# --------------------------------------------------------------------------- xstate on Node


def node_spec(settings: Settings) -> dict[str, Any]:
    return {
        "target_seconds": settings.target_seconds,
        "repetitions": settings.repetitions,
        "min_repetitions": settings.min_repetitions,
        "budget_seconds": settings.budget_seconds,
        "spawn": {"parent": SPAWN_PARENT_CONFIG, "child": SPAWN_CHILD_CONFIG, "count": SPAWN_COUNT},
        "waves": {
            "parent": SPAWN_PARENT_CONFIG,
            "child": SPAWN_CHILD_CONFIG,
            "wave": WAVE_SIZE,
            "waves": WAVES,
        },
        "pingpong": {
            "parent": PINGER_CONFIG,
            "child": PONGER_CONFIG,
            "rounds": PING_ROUNDS,
            "probe_rounds": PROBE_ROUNDS,
        },
        "timers": {
            "config": TIMER_CONFIG,
            "count": TIMER_COUNT,
            "step_ms": TIMER_STEP_MS,
            "groups": TIMER_GROUPS,
        },
    }


def run_node(settings: Settings) -> tuple[dict[str, Any] | None, str]:
    node = shutil.which("node")
    if node is None:
        return None, "node not found"
    base, note = ensure_xstate()
    if base is None:
        return None, note
    # stderr is not captured: the Node side prints one progress line per workload.
    proc = subprocess.run(
        [node, str(NODE_DIR / "bench_actors.mjs"), str(base)],
        input=json.dumps(node_spec(settings)),
        stdout=subprocess.PIPE,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"node bench_actors.mjs failed (exit {proc.returncode}); see its stderr above"
        )
    out: dict[str, Any] = json.loads(proc.stdout)
    if out.get("xstate_version") != XSTATE_VERSION:
        note = f"{note}; xstate is {out.get('xstate_version')}, not {XSTATE_VERSION}".lstrip("; ")
    for key in WORKLOADS:
        check_observed(XSTATE_NODE, key, out[key]["observed"])
    return out, note


def node_result(out: dict[str, Any] | None, key: str, note: str) -> Result:
    if out is None:
        return Result(XSTATE_NODE, error=note or "not run", unit=UNITS[key])
    r = out[key]
    return Result(
        XSTATE_NODE, float(r["ops_per_second"]), list(r["samples"]), int(r["batch"]), r["unit"]
    )


# --------------------------------------------------------------------------- running


def fmt_ops(r: Result) -> str:
    if r.ops_per_second is None:
        return r.error or "n/a"
    return f"{r.ops_per_second:,.0f}"


def ratio(results: list[Result]) -> float | None:
    d, x = results[0], results[1]
    if d.ops_per_second is None or x.ops_per_second is None:
        return None
    return d.ops_per_second / x.ops_per_second


def run_all(
    settings: Settings,
) -> tuple[dict[str, list[Result]], dict[str, dict[str, Any]], dict[str, Any] | None, str]:
    results: dict[str, list[Result]] = {}
    observed: dict[str, dict[str, Any]] = {}
    print("durable_xstate", flush=True)
    for key in WORKLOADS:
        t0 = time.perf_counter()
        res, obs = DURABLE_BENCHES[key](settings)
        results[key] = [res]
        observed[key] = obs
        print(
            f"  {key:<9} {fmt_ops(res):>12} {res.unit}   ({time.perf_counter() - t0:.1f}s)",
            flush=True,
        )
    print("xstate on Node (all workloads) ...", flush=True)
    t0 = time.perf_counter()
    out, note = run_node(settings)
    for key in WORKLOADS:
        results[key].append(node_result(out, key, note))
    print(f"  ({time.perf_counter() - t0:.1f}s)", flush=True)
    return results, observed, out, note


# --------------------------------------------------------------------------- reporting


def samples_cell(r: Result) -> str:
    if not r.samples:
        return "-"
    return f"{len(r.samples)} x {r.batch:,}"


def spread_cell(r: Result) -> str:
    return f"{min(r.samples):,.0f} to {max(r.samples):,.0f}" if r.samples else "-"


def workload_rows(rs: list[Result]) -> list[list[str]]:
    rows = []
    for i, r in enumerate(rs):
        rows.append(
            [
                r.engine,
                fmt_ops(r),
                spread_cell(r),
                samples_cell(r),
                "-" if i == 0 else fmt_ratio(ratio(rs)),
            ]
        )
    return rows


def summary_rows(results: dict[str, list[Result]]) -> list[list[str]]:
    rows = []
    for key in WORKLOADS:
        d, x = results[key]
        rows.append([SHORT[key], d.unit, fmt_ops(d), fmt_ops(x), fmt_ratio(ratio(results[key]))])
    return rows


def slowest_workload(results: dict[str, list[Result]]) -> str:
    """The workload where durable_xstate does worst against xstate (lowest ratio)."""
    ratios = {k: ratio(results[k]) for k in WORKLOADS}
    measured = {k: v for k, v in ratios.items() if v is not None}
    if not measured:
        return "pingpong"
    return min(measured, key=lambda k: measured[k])


def versions(node_out: dict[str, Any] | None) -> dict[str, str]:
    try:
        durable = metadata.version("durable-xstate")
    except metadata.PackageNotFoundError:
        durable = "not installed"
    node = shutil.which("node")
    node_version = (
        subprocess.run(
            [node, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if node
        else "not found"
    )
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "node": node_version,
        "xstate": str(node_out.get("xstate_version")) if node_out else "not run",
        "durable-xstate": durable,
    }


def verification_rows(
    observed: dict[str, dict[str, Any]], node_out: dict[str, Any] | None
) -> list[list[str]]:
    def flat(prefix: str, value: Any) -> list[tuple[str, Any]]:
        if isinstance(value, dict) and not (
            value and all(isinstance(v, int) for v in value.values())
        ):
            out: list[tuple[str, Any]] = []
            for k, v in value.items():
                out.extend(flat(f"{prefix}.{k}" if prefix else k, v))
            return out
        return [(prefix, value)]

    rows = []
    for key in WORKLOADS:
        mine = flat("", observed[key])
        theirs = dict(flat("", node_out[key]["observed"])) if node_out else {}
        for name, value in mine:
            other = theirs.get(name, "not run")
            rows.append(
                [
                    key,
                    f"`{name}`",
                    f"`{json.dumps(value)}`",
                    f"`{json.dumps(other)}`" if node_out else other,
                ]
            )
    return rows


def render_markdown(
    results: dict[str, list[Result]],
    observed: dict[str, dict[str, Any]],
    node_out: dict[str, Any] | None,
    node_note: str,
    settings: Settings,
    wall: float,
    load_before: str,
    profiled: str,
    profile: str,
) -> str:
    v = versions(node_out)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Actor benchmark results",
        "",
        "Written by `benchmarks/bench_actors.py` (see `benchmarks/README.md`); the engine benchmarks are in "
        "[RESULTS.md](RESULTS.md). Numbers are medians of up to "
        f"{settings.repetitions} timed batches of at least one unit (or ~{settings.target_seconds:g}s "
        f"when a unit is shorter), after at least {settings.target_seconds:g}s of warm-up. An "
        f"engine stops taking samples after {settings.budget_seconds:g}s on one workload, once it has "
        f"{settings.min_repetitions}. Higher is better. The ratio is durable_xstate / xstate (above 1x: "
        "durable_xstate is faster).",
        "",
        f"- Date: {now}",
        f"- Machine: {os.cpu_count()} CPUs (`nproc`), {cpu_model()}, {platform.system()} {platform.release()}",
        f"- Python: {v['python']}; Node: {v['node']}; xstate: {v['xstate']}",
        f"- durable-xstate {v['durable-xstate']} at commit {git_state()}",
        f"- Load average before the run: {load_before}; whole run: {wall:.0f}s",
    ]
    if node_note:
        lines.append(f"- Node note: {node_note}")
    lines += ["", "## Summary", ""]
    lines.append(
        md_table(
            summary_rows(results),
            ["workload", "unit", "durable_xstate", "xstate (Node)", "durable_xstate / xstate"],
        )
    )
    for key in WORKLOADS:
        unit = results[key][0].unit
        lines += ["", f"## {TITLES[key]}", ""]
        lines.append(
            md_table(
                workload_rows(results[key]),
                [
                    "engine",
                    f"{unit} (median)",
                    "range of samples",
                    "samples x ops per batch",
                    "durable_xstate / xstate",
                ],
            )
        )
        lines += ["", HOW[key]]
    lines += [
        "",
        "## Verification",
        "",
        "Before timing, each engine runs one full unit of each workload and reports what it saw. "
        "The run aborts unless both engines saw exactly the expected values "
        "(`EXPECTED` in `bench_actors.py`). After timing, each engine checks its counters again "
        "against the number of units it ran: no children left, `n == oldest == units x 10,000`, "
        "`pongs == goal == pings`, and all 10,000 timers fired with none pending in every timed unit.",
        "",
        md_table(
            verification_rows(observed, node_out),
            ["workload", "observed", "durable_xstate", "xstate (Node)"],
        ),
        "",
        f"## Where durable_xstate spends its time: {SHORT[profiled]} (its lowest ratio to xstate)",
        "",
        f"cProfile of one unit of the `{profiled}` workload after one warm-up unit "
        f"(`bench_actors.py --profile {profiled}` prints the same), top 15 functions by own time. "
        "cProfile's per-call overhead inflates the totals. Read the proportions, not the totals.",
        "",
        "```",
        profile.strip("\n"),
        "```",
        "",
    ]
    return "\n".join(lines)


def print_tables(results: dict[str, list[Result]]) -> None:
    for key in WORKLOADS:
        print()
        print(TITLES[key])
        print(
            table(
                workload_rows(results[key]),
                [
                    "engine",
                    f"{results[key][0].unit} (median)",
                    "range",
                    "samples",
                    "durable/xstate",
                ],
            )
        )
    print()
    print(table(summary_rows(results), ["workload", "unit", "durable", "xstate", "durable/xstate"]))


# --------------------------------------------------------------------------- profiling


def profile_workload(key: str, top: int = 15) -> str:
    """cProfile one unit of a workload on durable_xstate, after one unprofiled warm-up unit."""
    from durable_xstate import create_actor

    prof = cProfile.Profile()
    if key in ("spawn", "waves"):
        actor = create_actor(python_spawn_machine()).start()
        spawn_ev, stop_ev = {"type": "SPAWN"}, {"type": "STOP"}
        per = SPAWN_COUNT if key == "spawn" else WAVE_SIZE
        rounds = 1 if key == "spawn" else WAVES

        def unit() -> None:
            for _ in range(rounds):
                for _ in range(per):
                    actor.send(spawn_ev)
                for _ in range(per):
                    actor.send(stop_ev)

        unit()
        prof.runcall(unit)
    elif key == "pingpong":
        actor = create_actor(python_pingpong_machine()).start()
        start = {"type": "START", "rounds": PING_ROUNDS}
        actor.send(start)
        prof.runcall(actor.send, start)
    elif key == "timers":
        machine = python_timer_machine()
        _fire_timers(_timer_unit(machine))
        unit = _timer_unit(machine)
        prof.runcall(_fire_timers, unit)
    else:
        raise ValueError(f"unknown workload {key!r}; one of {', '.join(WORKLOADS)}")
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("tottime").print_stats(top)
    return buf.getvalue()


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (one timed batch per engine and workload); prints only",
    )
    parser.add_argument(
        "--profile",
        choices=WORKLOADS,
        help="cProfile one unit of this workload on durable_xstate and exit",
    )
    parser.add_argument(
        "--target", type=float, default=0.3, help="minimum seconds per timed batch (default 0.3)"
    )
    parser.add_argument(
        "--repetitions", type=int, default=7, help="at most this many timed batches (default 7)"
    )
    parser.add_argument(
        "--min-repetitions",
        type=int,
        default=3,
        help="at least this many timed batches, even over the budget (default 3)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=12.0,
        help="seconds per engine and workload after which no more batches start (default 12)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=HERE / "RESULTS-actors.md",
        help="where to write the results (default benchmarks/RESULTS-actors.md)",
    )
    args = parser.parse_args(argv)
    if args.profile:
        print(profile_workload(args.profile))
        return 0
    if args.quick:
        settings = Settings(0.05, 1, 1, 1.0)
    else:
        settings = Settings(args.target, args.repetitions, args.min_repetitions, args.budget)
    load_before = load_average()
    print(f"load average before the run: {load_before}", flush=True)
    t0 = time.perf_counter()
    results, observed, node_out, node_note = run_all(settings)
    wall = time.perf_counter() - t0
    print_tables(results)
    print(f"\nwhole run: {wall:.0f}s")
    if not args.quick:
        profiled = slowest_workload(results)
        print(f"profiling {profiled} (durable_xstate's lowest ratio to xstate) ...", flush=True)
        profile = profile_workload(profiled)
        print(profile)
        text = render_markdown(
            results, observed, node_out, node_note, settings, wall, load_before, profiled, profile
        )
        args.output.write_text(text)
        shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
        print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
