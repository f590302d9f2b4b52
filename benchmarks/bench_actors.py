"""Actor-model benchmarks: durable_xstate against the real xstate on Node.

Run from the repository root:

    .venv/bin/python benchmarks/bench_actors.py                   # full run (~15 min), writes
                                                                  # benchmarks/RESULTS-actors.md
    .venv/bin/python benchmarks/bench_actors.py --quick           # smoke run (~30 s), prints only
    .venv/bin/python benchmarks/bench_actors.py --profile pingpong  # cProfile one unit, exit

Workloads (see benchmarks/README.md), the same machine configs on both engines:
  spawn     - a parent spawns 10,000 child machines (SPAWN: spawn_child) and then stops them, the
              oldest first (STOP: stop_child); spawn+stop pairs per second.
  waves     - the same 10,000 pairs in 100 waves of 100 (at most 100 live children); pairs per second.
  pingpong  - 100,000 events between a parent and its invoked child: the parent sends PING with
              send_to, the child answers PONG with send_parent; events per second, both directions.
  timers    - one actor with 10,000 delayed raise_ events (distinct ids, 10 different delays),
              fired by advancing the simulated clock in 10 steps; timers fired per second.

Each workload runs side by side (benchmarks/sidebyside.py): durable_xstate and xstate (node/actors.mjs)
each in a fresh process, taking turns batch by batch after the same warm-up. Every engine first runs
one full unit of each workload with checks (child counts, child statuses, context counters, timers
fired per clock step); the Python side compares what both engines saw with the same expectation.
After the rounds both engines' counters must be equal.
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
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sidebyside as sbs

# the shared helpers of the engine benchmarks
from bench_engine import (
    HERE,
    ROOT,
    Result,
    check,
    cpu_model,
    git_state,
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
# way on both sides (python_*_machine below, *Machine in node/actors.mjs).

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


def node_spec(quick: bool = False) -> dict[str, dict[str, Any]]:
    """Per workload, the configs and counts both sides run (--quick: a tenth of the counts)."""
    div = 10 if quick else 1
    return {
        "spawn": {"parent": SPAWN_PARENT_CONFIG, "child": SPAWN_CHILD_CONFIG, "count": SPAWN_COUNT // div},
        "waves": {"parent": SPAWN_PARENT_CONFIG, "child": SPAWN_CHILD_CONFIG, "wave": WAVE_SIZE,
                  "waves": WAVES // div},
        "pingpong": {"parent": PINGER_CONFIG, "child": PONGER_CONFIG, "rounds": PING_ROUNDS // div,
                     "probe_rounds": PROBE_ROUNDS},
        "timers": {"config": TIMER_CONFIG, "count": TIMER_COUNT // div, "step_ms": TIMER_STEP_MS,
                   "groups": TIMER_GROUPS},
    }


def expected(spec: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What the verification run of one unit must observe, on both engines."""
    count = spec["spawn"]["count"]
    pairs = spec["waves"]["wave"] * spec["waves"]["waves"]
    probe, rounds = spec["pingpong"]["probe_rounds"], spec["pingpong"]["rounds"]
    timers, groups = spec["timers"]["count"], spec["timers"]["groups"]
    return {
        "spawn": {
            "peak_children": count,
            "ids_in_spawn_order": True,
            "all_children_active_in_idle": True,
            "context_after_spawns": {"n": count, "oldest": 0},
            "after_first_stop": {
                "children": count - 1,
                "oldest_present": False,
                "oldest_status": "stopped",
                "next_status": "active",
            },
            "end": {"children": 0, "all_stopped": True, "context": _ctx_spawn(count)},
        },
        "waves": {
            "peak_children": spec["waves"]["wave"],
            "all_stopped": True,
            "end": {"children": 0, "context": _ctx_spawn(pairs)},
        },
        "pingpong": {
            "after_probe": {
                "context": {"pongs": probe, "goal": probe},
                "child_ids": ["ponger"],
                "child_status": "active",
                "child_context": {"pings": probe},
            },
            "after_one_unit": {
                "context": {"pongs": probe + rounds, "goal": probe + rounds},
                "child_ids": ["ponger"],
                "child_status": "active",
                "child_context": {"pings": probe + rounds},
            },
        },
        "timers": {
            "armed": timers,
            "scheduled": timers,
            "pending": timers,
            "fired_just_before_first_due": 0,
            "fired_after_each_step": [timers // groups * (g + 1) for g in range(groups)],
            "end": {"pending": 0, "scheduled": 0, "status": "active"},
        },
    }


EXPECTED = expected(node_spec())

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


def check_observed(engine: str, key: str, observed: Any, spec: dict[str, dict[str, Any]] | None = None) -> None:
    expected = (EXPECTED if spec is None else globals()["expected"](spec))[key]
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


def _pingpong_observation(actor: Any) -> dict[str, Any]:
    snap = actor.get_snapshot()
    child = snap.children["ponger"]
    return {
        "context": dict(snap.context),
        "child_ids": list(snap.children),
        "child_status": child.get_snapshot().status,
        "child_context": dict(child.get_snapshot().context),
    }


def _timer_unit(machine: Any, count: int = TIMER_COUNT) -> tuple[Any, Any]:
    from durable_xstate import SimulatedClock, create_actor

    clock = SimulatedClock()
    actor = create_actor(machine, clock=clock).start()
    actor.send({"type": "ARM", "count": count})
    return clock, actor


def _fire_timers(unit: tuple[Any, Any]) -> None:
    increment = unit[0].increment
    for _ in range(TIMER_GROUPS):
        increment(TIMER_STEP_MS)


# --------------------------------------------------------------------------- side-by-side workloads


def _timed_cpu(fn: Callable[[], object]) -> tuple[float, float]:
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def _spawn_observe(actor: Any, count: int) -> dict[str, Any]:
    """Run the spawn verification unit on ``actor`` and return what it saw (as durable_spawn does)."""
    send = actor.send
    spawn_ev, stop_ev = {"type": "SPAWN"}, {"type": "STOP"}
    observed: dict[str, Any] = {}
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
    return observed


def sidebyside_workload(name: str, engine: str, params: dict[str, Any]) -> Any:
    """One actor workload on durable_xstate for the side-by-side harness (node/actors.mjs is the twin).

    Setup runs the verification unit and reports what it saw (``EXPECTED`` in this file); ``check()``
    reports the counters after all units, which both sides must agree on."""
    from sidebyside import SimpleWorkload

    from durable_xstate import create_actor

    spawn_ev, stop_ev = {"type": "SPAWN"}, {"type": "STOP"}
    count = int(params.get("count", SPAWN_COUNT))
    wave_size, waves = int(params.get("wave", WAVE_SIZE)), int(params.get("waves", WAVES))
    ping_rounds = int(params.get("rounds", PING_ROUNDS))
    timer_count = int(params.get("count", TIMER_COUNT))
    if name == "spawn":
        actor = create_actor(python_spawn_machine()).start()
        observed = _spawn_observe(actor, count)
        send = actor.send

        def run_spawn(n: int) -> None:
            for _ in range(n):
                for _ in range(count):
                    send(spawn_ev)
                for _ in range(count):
                    send(stop_ev)

        def check_spawn() -> dict[str, Any]:
            return {"children": len(_children(actor)), "context": dict(actor.get_snapshot().context)}

        return SimpleWorkload(UNITS["spawn"], count, run_spawn, check_spawn, observed)
    if name == "waves":
        actor = create_actor(python_spawn_machine()).start()
        send = actor.send
        peak, all_stopped = 0, True
        for _ in range(waves):
            for _ in range(wave_size):
                send(spawn_ev)
            refs = list(_children(actor).values())
            peak = max(peak, len(refs))
            for _ in range(wave_size):
                send(stop_ev)
            all_stopped = all_stopped and all(r.get_snapshot().status == "stopped" for r in refs)
        observed = {
            "peak_children": peak,
            "all_stopped": all_stopped,
            "end": {"children": len(_children(actor)), "context": dict(actor.get_snapshot().context)},
        }

        def run_waves(n: int) -> None:
            for _ in range(n * waves):
                for _ in range(wave_size):
                    send(spawn_ev)
                for _ in range(wave_size):
                    send(stop_ev)

        def check_waves() -> dict[str, Any]:
            return {"children": len(_children(actor)), "context": dict(actor.get_snapshot().context)}

        return SimpleWorkload(UNITS["waves"], waves * wave_size, run_waves, check_waves, observed)
    if name == "pingpong":
        actor = create_actor(python_pingpong_machine()).start()
        actor.send({"type": "START", "rounds": PROBE_ROUNDS})
        probe = _pingpong_observation(actor)
        start = {"type": "START", "rounds": ping_rounds}
        actor.send(start)
        observed = {"after_probe": probe, "after_one_unit": _pingpong_observation(actor)}
        send = actor.send

        def run_pingpong(n: int) -> None:
            for _ in range(n):
                send(start)

        return SimpleWorkload(UNITS["pingpong"], 2 * ping_rounds, run_pingpong,
                              lambda: _pingpong_observation(actor), observed)
    if name == "timers":
        machine = python_timer_machine()
        clock, actor = _timer_unit(machine, timer_count)

        def fired() -> int:
            return int(actor.get_snapshot().context["fired"])

        obs: dict[str, Any] = {
            "armed": actor.get_snapshot().context["armed"],
            "scheduled": len(actor.get_scheduled_events()),
            "pending": clock.pending(),
        }
        clock.increment(TIMER_STEP_MS - 1)
        obs["fired_just_before_first_due"] = fired()
        steps: list[int] = []
        clock.increment(1)
        steps.append(fired())
        for _ in range(TIMER_GROUPS - 1):
            clock.increment(TIMER_STEP_MS)
            steps.append(fired())
        obs["fired_after_each_step"] = steps
        obs["end"] = {
            "pending": clock.pending(),
            "scheduled": len(actor.get_scheduled_events()),
            "status": actor.get_snapshot().status,
        }
        totals = {"units": 0, "fired": 0, "pending": 0}

        def run_timers(n: int) -> tuple[float, float]:
            # Only the clock advances are timed; preparing a unit (actor, clock, ARM) is not.
            elapsed = cpu = 0.0
            for _ in range(n):
                unit = _timer_unit(machine, timer_count)
                e, c = _timed_cpu(functools.partial(_fire_timers, unit))
                elapsed, cpu = elapsed + e, cpu + c
                totals["units"] += 1
                totals["fired"] += unit[1].get_snapshot().context["fired"]
                totals["pending"] += unit[0].pending()
            return elapsed, cpu

        return SimpleWorkload(UNITS["timers"], timer_count, run_timers, lambda: dict(totals), obs)
    raise ValueError(f"unknown workload {name!r}")


def fmt_ops(r: Result) -> str:
    if r.ops_per_second is None:
        return r.error or "n/a"
    return f"{r.ops_per_second:,.0f}"


def ratio(results: list[Result]) -> float | None:
    d, x = results[0], results[1]
    if d.ops_per_second is None or x.ops_per_second is None:
        return None
    return x.pair_ratio if x.pair_ratio is not None else d.ops_per_second / x.ops_per_second


def fmt_pair_ratio(results: list[Result]) -> str:
    r, x = ratio(results), results[1]
    if r is None:
        return "n/a"
    return f"{r:.2f}x ({min(x.ratios):.2f}-{max(x.ratios):.2f})" if x.ratios else f"{r:.2f}x"


def run_all(
    settings: sbs.Settings, spec: dict[str, dict[str, Any]], only: Sequence[str] = WORKLOADS
) -> tuple[dict[str, list[Result]], dict[str, dict[str, Any]], dict[str, Any] | None, str]:
    """Each workload: durable_xstate and xstate on Node side by side, each in a fresh process."""
    results: dict[str, list[Result]] = {}
    observed: dict[str, dict[str, Any]] = {}
    node_observed: dict[str, Any] = {}
    node_versions: dict[str, Any] = {}
    note = ""
    for key in only:
        print(TITLES[key], flush=True)
        try:
            pair = sbs.compare(sbs.Side(DURABLE, "python", "bench_actors", key, spec[key]),
                               sbs.Side(XSTATE_NODE, "node", "actors.mjs", key, spec[key]), settings)
        except sbs.HarnessError as err:
            if "node not found" not in str(err) and "not installed in benchmarks/node" not in str(err):
                raise
            note = str(err)
            results[key] = [Result(DURABLE, error=note, unit=UNITS[key]), Result(XSTATE_NODE, error=note, unit=UNITS[key])]
            observed[key] = {}
            continue
        check_observed(DURABLE, key, pair.a.observed, spec)
        check_observed(XSTATE_NODE, key, pair.b.observed, spec)
        observed[key], node_observed[key] = pair.a.observed, pair.b.observed
        node_versions = pair.b.versions
        d = Result(DURABLE, pair.a.median, list(pair.a.rates), pair.ops_per_batch, pair.unit)
        x = Result(XSTATE_NODE, pair.b.median, list(pair.b.rates), pair.ops_per_batch, pair.unit,
                   ratios=list(pair.ratios), pair_ratio=pair.ratio)
        results[key] = [d, x]
        print(f"  {DURABLE} {sbs.fmt_rate(pair.a.rates)}  {XSTATE_NODE} {sbs.fmt_rate(pair.b.rates)}  "
              f"ratio {sbs.fmt_ratio(pair)}  ({pair.seconds:.1f}s)", flush=True)
    out = {"xstate_version": node_versions.get("xstate"), **{k: {"observed": v} for k, v in node_observed.items()}}
    return results, observed, out if node_observed else None, note


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
                "-" if i == 0 else fmt_pair_ratio(rs),
            ]
        )
    return rows


#: The goals of issue 17 (durable_xstate / xstate, side by side); workloads without one are reported only.
TARGETS = {"pingpong": 1.0, "timers": 1.0}


def target_text(key: str, results: dict[str, list[Result]]) -> str:
    goal = TARGETS.get(key)
    if goal is None:
        return "-"
    measured = ratio(results[key])
    verdict = "not measured" if measured is None else ("met" if measured >= goal else "**missed**")
    return f">= {goal:g}x: {verdict}"


def summary_rows(results: dict[str, list[Result]]) -> list[list[str]]:
    rows = []
    for key in results:
        d, x = results[key]
        rows.append([SHORT[key], d.unit, fmt_ops(d), fmt_ops(x), fmt_pair_ratio(results[key]),
                     target_text(key, results)])
    return rows


def slowest_workload(results: dict[str, list[Result]]) -> str:
    """The workload where durable_xstate does worst against xstate (lowest ratio)."""
    ratios = {k: ratio(results[k]) for k in results}
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
    settings: sbs.Settings,
    wall: float,
    load: sbs.LoadGate,
    profiled: str,
    profile: str,
) -> str:
    v = versions(node_out)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Actor benchmark results",
        "",
        *load.banner(),
        "Written by `benchmarks/bench_actors.py` (see `benchmarks/README.md`); the engine benchmarks are in "
        "[RESULTS.md](RESULTS.md). Higher rates are better. The ratio is durable_xstate / xstate (above 1x: "
        "durable_xstate is faster). A batch is at least one unit of the workload.",
        "",
        *sbs.method_lines(settings, load.before),
        f"- Date: {now}; whole run: {wall:.0f}s",
        f"- Machine: {os.cpu_count()} CPUs (`nproc`), {cpu_model()}, {platform.system()} {platform.release()}",
        f"- Python: {v['python']}; Node: {v['node']}; xstate: {v['xstate']}",
        f"- durable-xstate {v['durable-xstate']} at commit {git_state()}",
    ]
    if node_note:
        lines.append(f"- Node note: {node_note}")
    lines += ["", "## Summary", ""]
    lines.append(
        md_table(
            summary_rows(results),
            ["workload", "unit", "durable_xstate", "xstate (Node)", "durable_xstate / xstate", "target"],
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
    for key in results:
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
    print(table(summary_rows(results), ["workload", "unit", "durable", "xstate", "durable/xstate", "target"]))


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
        help="smoke run (a tenth of each workload's counts, short batches, 5 rounds); prints only",
    )
    parser.add_argument(
        "--profile",
        choices=WORKLOADS,
        help="cProfile one unit of this workload on durable_xstate and exit",
    )
    parser.add_argument(
        "--only", default=",".join(WORKLOADS), help="comma-separated workloads (default: all)"
    )
    parser.add_argument(
        "--target", type=float, default=0.3, help="minimum seconds per batch on the slower side (default 0.3)"
    )
    parser.add_argument("--repetitions", type=int, default=None, help="the same as --rounds (kept for old scripts)")
    parser.add_argument(
        "--output",
        type=Path,
        default=HERE / "RESULTS-actors.md",
        help="where to write the results (default benchmarks/RESULTS-actors.md)",
    )
    sbs.add_common_args(parser)
    args = parser.parse_args(argv)
    if args.profile:
        print(profile_workload(args.profile))
        return 0
    only = [w for w in args.only.split(",") if w]
    unknown = set(only) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads {sorted(unknown)}; one of {', '.join(WORKLOADS)}")
    rounds = args.rounds or args.repetitions or (5 if args.quick else 7)
    settings = sbs.Settings(0.05, rounds, 0.1) if args.quick else sbs.Settings(args.target, rounds, 1.0)
    load = sbs.gate(args)
    t0 = time.perf_counter()
    results, observed, node_out, node_note = run_all(settings, node_spec(args.quick), only)
    wall = time.perf_counter() - t0
    print_tables(results)
    print(f"\nwhole run: {wall:.0f}s; load average after: {sbs.fmt_load(sbs.load_average())}")
    if args.quick:
        return 0
    if len(only) < len(WORKLOADS):
        print("not writing RESULTS: --only ran a part of the workloads")
        return 0
    refusal = load.refuse()
    if refusal:
        print(refusal, file=sys.stderr)
        return 3
    profiled = slowest_workload(results)
    print(f"profiling {profiled} (durable_xstate's lowest ratio to xstate) ...", flush=True)
    profile = profile_workload(profiled)
    print(profile)
    text = render_markdown(results, observed, node_out, node_note, settings, wall, load, profiled, profile)
    args.output.write_text(text)
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
