"""Engine benchmarks: durable_xstate against Python statechart libraries and the real xstate on Node.

Run from the repository root:

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/bench_engine.py            # full run, writes benchmarks/RESULTS.md
    .venv/bin/python benchmarks/bench_engine.py --quick    # smoke run, prints only
    .venv/bin/python benchmarks/bench_engine.py --profile  # cProfile of 100k durable_xstate toggles
                                                          # (a full run appends it to RESULTS.md)

Workloads (see benchmarks/README.md):
  a. toggle  — two states, TOGGLE flips a <-> b; events per second.
  b. nested  — a media player: parallel playback/volume regions, nested playing.normal/fast, a deep
               history state restored after POWER off/on, guarded context-reading volume changes.
  c. build   — time to build a 100-state machine from its config (builds per second).

Every implementation is first driven step by step through a known event sequence and checked
state by state, so no number comes from a machine that silently does nothing. Each engine runs in a
fresh process per workload and takes turns with durable_xstate batch by batch (benchmarks/sidebyside.py):
the same sizing and warm-up batches on both sides, then --rounds rounds; medians, ranges, and the ratio
of the medians with its per-round range are reported. --max-load / --force guard RESULTS.md.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import functools
import io
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sidebyside as sbs
from sidebyside import NODE_DIR, ensure_xstate  # noqa: F401  (re-exported for the other scripts)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
XSTATE_VERSION = "5.33.3"

DURABLE = "durable_xstate"
TR_MACHINE = "transitions Machine"
TR_HSM = "transitions HierarchicalMachine"
PSM = "python-statemachine"
SISMIC = "sismic"
XSTATE_NODE = "xstate (Node)"
HIERARCHICAL_PEERS = (TR_HSM, PSM, SISMIC)

Calls = Sequence[Callable[[], object]]
Observation = tuple[tuple[str, ...], int | None]

# --------------------------------------------------------------------------- machine definitions

TOGGLE_CONFIG: dict[str, Any] = {
    "id": "toggle",
    "initial": "a",
    "states": {"a": {"on": {"TOGGLE": "b"}}, "b": {"on": {"TOGGLE": "a"}}},
}
TOGGLE_EXPECTED: list[list[str]] = [["a"], ["b"], ["a"], ["b"], ["a"]]

# The media player. `on` is a compound state holding the parallel `running` state and a deep
# history state; POWER from `off` re-enters through the history. (xstate also allows the history
# state directly inside the parallel state; sismic does not, so every engine uses this shape.)
PLAYER_CONFIG: dict[str, Any] = {
    "id": "player",
    "initial": "off",
    "context": {"level": 10},
    "states": {
        "off": {"on": {"POWER": "on.hist"}},
        "on": {
            "initial": "running",
            "on": {"POWER": "off"},
            "states": {
                "hist": {"type": "history", "history": "deep"},
                "running": {
                    "type": "parallel",
                    "states": {
                        "playback": {
                            "initial": "stopped",
                            "states": {
                                "stopped": {"on": {"PLAY": "playing"}},
                                "playing": {
                                    "initial": "normal",
                                    "on": {"PAUSE": "paused", "STOP": "stopped"},
                                    "states": {
                                        "normal": {"on": {"FAST": "fast"}},
                                        "fast": {"on": {"NORMAL": "normal"}},
                                    },
                                },
                                "paused": {"on": {"PLAY": "playing", "STOP": "stopped"}},
                            },
                        },
                        "volume": {
                            "initial": "audible",
                            "states": {
                                "audible": {
                                    "on": {
                                        "VOL_UP": {"guard": "canIncrease", "actions": "volumeUp"},
                                        "VOL_DOWN": {
                                            "guard": "canDecrease",
                                            "actions": "volumeDown",
                                        },
                                        "MUTE": "muted",
                                    }
                                },
                                "muted": {"on": {"UNMUTE": "audible"}},
                            },
                        },
                    },
                },
            },
        },
    },
}
MAX_LEVEL = 10

PLAYER_PRELUDE = ["POWER"]
# One cycle returns to where it started (stopped + audible, level 10), so it can repeat forever.
PLAYER_CYCLE: list[tuple[str, list[str], int]] = [
    ("PLAY", ["audible", "normal"], 10),
    ("VOL_UP", ["audible", "normal"], 10),  # guard fails: already at the maximum
    ("FAST", ["audible", "fast"], 10),
    ("VOL_DOWN", ["audible", "fast"], 9),  # guard passes, context changes
    ("MUTE", ["fast", "muted"], 9),
    ("POWER", ["off"], 9),  # leave `on`: the deep history records playing.fast + muted
    ("POWER", ["fast", "muted"], 9),  # re-enter through the deep history
    ("UNMUTE", ["audible", "fast"], 9),
    ("VOL_UP", ["audible", "fast"], 10),
    ("NORMAL", ["audible", "normal"], 10),
    ("PAUSE", ["audible", "paused"], 10),
    ("STOP", ["audible", "stopped"], 10),
]
PLAYER_START: Observation = (("off",), 10)
PLAYER_AFTER_PRELUDE: Observation = (("audible", "stopped"), 10)


def big_machine_config(groups: int = 10, per_group: int = 9) -> dict[str, Any]:
    """100 state nodes (10 compound groups x 9 atomic leaves, plus the 10 groups) and 181 transitions."""
    states: dict[str, Any] = {}
    for g in range(groups):
        nxt = (g + 1) % groups
        leaves: dict[str, Any] = {}
        for s in range(per_group):
            on: dict[str, Any] = {"NEXT": f"s{s + 1}" if s + 1 < per_group else f"#big.g{nxt}"}
            if s:
                on["BACK"] = f"s{s - 1}"
            leaves[f"s{s}"] = {"on": on}
        states[f"g{g}"] = {"initial": "s0", "on": {"SKIP": f"g{nxt}"}, "states": leaves}
    return {"id": "big", "initial": "g0", "on": {"RESET": ".g0"}, "states": states}


BIG_CONFIG = big_machine_config()
BIG_PROBE = ["NEXT"] * 9 + ["SKIP", "NEXT", "BACK", "RESET"]
BIG_EXPECTED: list[Any] = (
    [{"g0": "s0"}]
    + [{"g0": f"s{i}"} for i in range(1, 9)]
    + [{"g1": "s0"}, {"g2": "s0"}, {"g2": "s1"}, {"g2": "s0"}, {"g0": "s0"}]
)

SISMIC_TOGGLE_YAML = """
statechart:
  name: toggle
  root state:
    name: root
    initial: a
    states:
      - name: a
        transitions:
          - {target: b, event: TOGGLE}
      - name: b
        transitions:
          - {target: a, event: TOGGLE}
"""

SISMIC_PLAYER_YAML = f"""
statechart:
  name: player
  preamble: level = 10
  root state:
    name: root
    initial: off
    states:
      - name: off
        transitions:
          - {{target: hist, event: POWER}}
      - name: on
        initial: running
        transitions:
          - {{target: off, event: POWER}}
        states:
          - name: hist
            type: deep history
            memory: running
          - name: running
            parallel states:
              - name: playback
                initial: stopped
                states:
                  - name: stopped
                    transitions:
                      - {{target: playing, event: PLAY}}
                  - name: playing
                    initial: normal
                    transitions:
                      - {{target: paused, event: PAUSE}}
                      - {{target: stopped, event: STOP}}
                    states:
                      - name: normal
                        transitions:
                          - {{target: fast, event: FAST}}
                      - name: fast
                        transitions:
                          - {{target: normal, event: NORMAL}}
                  - name: paused
                    transitions:
                      - {{target: playing, event: PLAY}}
                      - {{target: stopped, event: STOP}}
              - name: volume
                initial: audible
                states:
                  - name: audible
                    transitions:
                      - {{event: VOL_UP, guard: level < {MAX_LEVEL}, action: level = level + 1}}
                      - {{event: VOL_DOWN, guard: level > 0, action: level = level - 1}}
                      - {{target: muted, event: MUTE}}
                  - name: muted
                    transitions:
                      - {{target: audible, event: UNMUTE}}
"""

NOTES: dict[str, dict[str, str]] = {
    "toggle": {
        DURABLE: "`actor.send({'type': 'TOGGLE'})` on a started actor.",
        TR_MACHINE: "`Machine(auto_transitions=False)`, trigger method `model.TOGGLE()`.",
        TR_HSM: "`HierarchicalMachine(auto_transitions=False)`, trigger method `model.TOGGLE()`.",
        PSM: "`StateChart` subclass (the v3 statechart class), `sm.send('TOGGLE')`.",
        SISMIC: "YAML statechart, `interpreter.queue('TOGGLE'); interpreter.execute_once()`.",
        XSTATE_NODE: "`createActor(createMachine(config)).start()`, `actor.send({type: 'TOGGLE'})`.",
    },
    "nested": {
        DURABLE: "The xstate JSON config as is; guards/actions via `setup(guards=..., actions=...)`.",
        TR_HSM: (
            "Parallel + nested states, `conditions=` guards, `dest=None` internal transitions for the "
            "targetless volume changes. **No history states in transitions**: emulated by saving "
            "`model.state` in a `before` callback of POWER (on->off) and restoring it with "
            "`machine.set_state(saved)` in an `after` callback of POWER (off->on); restored states "
            "run no enter callbacks (this machine has none)."
        ),
        PSM: (
            "`StateChart` with `State.Compound`/`State.Parallel` and `HistoryState(type='deep')`. "
            "Two deviations forced by 3.2.2: the history state needs an explicit default "
            "`h.to(running)` (without it, entering the unrecorded history left the configuration "
            "empty), and the targetless guarded volume changes are *external* self-transitions "
            "`audible.to.itself(cond=..., on=...)` because `internal=True` inside the parallel region "
            "corrupted the configuration (the sibling region's `stopped` was entered next to "
            "`playing.fast`). The external self-transition exits and re-enters `audible` (no "
            "entry/exit actions exist, so the observed states are the same)."
        ),
        SISMIC: (
            "YAML statechart with `parallel states`, `type: deep history` (sismic needs the `memory: "
            "running` default), guards and actions as Python code strings evaluated by sismic."
        ),
        XSTATE_NODE: "The same JSON config; guards/actions implemented in JS via `setup()`.",
        TR_MACHINE: "Not run: a flat `Machine` has no hierarchy, parallel regions or history.",
    },
    "build": {
        DURABLE: (
            "`create_machine(config)`: every state node and transition (targets resolved), the initial "
            "transitions, and the config validated (types, ids, descriptors, nesting limits)."
        ),
        XSTATE_NODE: (
            "`createMachine(config)`: every state node and transition (targets resolved) and the "
            "machine's event names; initial transitions are formatted on first use."
        ),
    },
}

# --------------------------------------------------------------------------- measuring


@dataclass
class Result:
    engine: str
    ops_per_second: float | None = None
    samples: list[float] = field(default_factory=list)
    batch: int = 0
    unit: str = "events/s"
    error: str | None = None
    #: durable_xstate / this engine, per round, when the two took turns side by side
    ratios: list[float] = field(default_factory=list)
    #: the ratio of the two medians of that side-by-side run
    pair_ratio: float | None = None


def loop(calls: Calls) -> Callable[[int], None]:
    """The timed loop, the same for every Python engine: n rounds over pre-bound zero-arg calls."""
    calls = tuple(calls)

    def run(n: int) -> None:
        for _ in range(n):
            for call in calls:
                call()

    return run


def check(cond: bool, message: str) -> None:
    if not cond:
        raise AssertionError(message)


def value_leaves(value: Any) -> list[str]:
    """Atomic state names of an xstate state value (``{'a': {'b': 'c'}, 'd': 'e'}`` -> c, e)."""
    if isinstance(value, str):
        return [value]
    out: list[str] = []
    for key, sub in value.items():
        if isinstance(sub, str):
            out.append(sub)
        elif isinstance(sub, Mapping) and sub:
            out.extend(value_leaves(sub))
        else:
            out.append(key)
    return out


@dataclass
class Subject:
    """One engine running one machine: a way to send one event, to observe, and to bind calls."""

    engine: str
    step: Callable[[str], None]
    observe: Callable[[], Observation]
    bind: Callable[[str], Callable[[], object]]


# --------------------------------------------------------------------------- durable_xstate


def durable_toggle() -> Subject:
    from durable_xstate import create_actor, create_machine

    actor = create_actor(create_machine(TOGGLE_CONFIG)).start()

    def observe() -> Observation:
        return tuple(sorted(value_leaves(actor.get_snapshot().value))), None

    return Subject(
        DURABLE,
        lambda ev: actor.send({"type": ev}),
        observe,
        lambda ev: functools.partial(actor.send, {"type": ev}),
    )


def durable_player_machine() -> Any:
    from durable_xstate import assign, setup

    return setup(
        guards={
            "canIncrease": lambda args, params: args.context["level"] < MAX_LEVEL,
            "canDecrease": lambda args, params: args.context["level"] > 0,
        },
        actions={
            "volumeUp": assign({"level": lambda args, params: args.context["level"] + 1}),
            "volumeDown": assign({"level": lambda args, params: args.context["level"] - 1}),
        },
    ).create_machine(PLAYER_CONFIG)


def durable_nested() -> Subject:
    from durable_xstate import create_actor

    actor = create_actor(durable_player_machine()).start()

    def observe() -> Observation:
        snap = actor.get_snapshot()
        return tuple(sorted(value_leaves(snap.value))), snap.context["level"]

    return Subject(
        DURABLE,
        lambda ev: actor.send({"type": ev}),
        observe,
        lambda ev: functools.partial(actor.send, {"type": ev}),
    )


# --------------------------------------------------------------------------- transitions


def _transitions_leaves(state: Any, sep: str) -> tuple[str, ...]:
    names: list[str] = []

    def walk(s: Any) -> None:
        if isinstance(s, list | tuple):
            for x in s:
                walk(x)
        else:
            names.append(str(s).rsplit(sep, 1)[-1])

    walk(state)
    return tuple(sorted(names))


class _TransitionsModel:
    """Model object for the transitions library (its trigger methods are attached at runtime)."""

    def __init__(self) -> None:
        self.level = MAX_LEVEL
        self.saved: Any = None

    def can_increase(self) -> bool:
        return self.level < MAX_LEVEL

    def can_decrease(self) -> bool:
        return self.level > 0

    def volume_up(self) -> None:
        self.level += 1

    def volume_down(self) -> None:
        self.level -= 1


def _transitions_toggle(hierarchical: bool) -> Subject:
    from transitions import Machine
    from transitions.extensions import HierarchicalMachine

    model = _TransitionsModel()
    cls: Any = HierarchicalMachine if hierarchical else Machine
    cls(
        model=model,
        states=["a", "b"],
        transitions=[
            {"trigger": "TOGGLE", "source": "a", "dest": "b"},
            {"trigger": "TOGGLE", "source": "b", "dest": "a"},
        ],
        initial="a",
        auto_transitions=False,
    )
    m: Any = model
    return Subject(
        TR_HSM if hierarchical else TR_MACHINE,
        lambda ev: getattr(m, ev)(),
        lambda: (_transitions_leaves(m.state, "_"), None),
        lambda ev: getattr(m, ev),
    )


def transitions_machine_toggle() -> Subject:
    return _transitions_toggle(hierarchical=False)


def transitions_hsm_toggle() -> Subject:
    return _transitions_toggle(hierarchical=True)


def transitions_hsm_nested() -> Subject:
    from transitions.extensions import HierarchicalMachine

    model = _TransitionsModel()
    states: list[Any] = [
        "off",
        {
            "name": "on",
            "initial": "running",
            "children": [
                {
                    "name": "running",
                    "parallel": [
                        {
                            "name": "playback",
                            "initial": "stopped",
                            "children": [
                                "stopped",
                                {
                                    "name": "playing",
                                    "initial": "normal",
                                    "children": ["normal", "fast"],
                                },
                                "paused",
                            ],
                        },
                        {"name": "volume", "initial": "audible", "children": ["audible", "muted"]},
                    ],
                }
            ],
        },
    ]
    machine: Any = HierarchicalMachine(
        model=model,
        states=states,
        initial="off",
        auto_transitions=False,
        ignore_invalid_triggers=True,
    )
    m: Any = model

    def save_history() -> None:
        m.saved = m.state

    def restore_history() -> None:
        if m.saved is not None:
            machine.set_state(m.saved, m)

    pb, vol = "on_running_playback_", "on_running_volume_"
    add = machine.add_transition
    add("POWER", "off", "on", after=restore_history)
    add("POWER", "on", "off", before=save_history)
    add("PLAY", [pb + "stopped", pb + "paused"], pb + "playing")
    add("PAUSE", pb + "playing", pb + "paused")
    add("STOP", [pb + "playing", pb + "paused"], pb + "stopped")
    add("FAST", pb + "playing_normal", pb + "playing_fast")
    add("NORMAL", pb + "playing_fast", pb + "playing_normal")
    add("VOL_UP", vol + "audible", None, conditions="can_increase", after="volume_up")
    add("VOL_DOWN", vol + "audible", None, conditions="can_decrease", after="volume_down")
    add("MUTE", vol + "audible", vol + "muted")
    add("UNMUTE", vol + "muted", vol + "audible")
    return Subject(
        TR_HSM,
        lambda ev: getattr(m, ev)(),
        lambda: (_transitions_leaves(m.state, "_"), m.level),
        lambda ev: getattr(m, ev),
    )


# --------------------------------------------------------------------------- python-statemachine


def _psm_leaves(sm: Any) -> tuple[str, ...]:
    return tuple(sorted(s.id for s in sm.configuration if s.is_atomic))


def psm_toggle() -> Subject:
    from statemachine import State, StateChart

    class Toggle(StateChart):  # type: ignore[type-arg]
        a = State(initial=True)
        b = State()
        TOGGLE = a.to(b) | b.to(a)

    sm: Any = Toggle()
    return Subject(
        PSM,
        lambda ev: sm.send(ev),
        lambda: (_psm_leaves(sm), None),
        lambda ev: functools.partial(sm.send, ev),
    )


def psm_nested() -> Subject:
    from statemachine import HistoryState, State, StateChart

    class Player(StateChart):  # type: ignore[type-arg]
        catch_errors_as_events = False
        off = State(initial=True)

        class on(State.Compound):
            class running(State.Parallel, initial=True):
                class playback(State.Compound):
                    stopped = State(initial=True)

                    class playing(State.Compound):
                        normal = State(initial=True)
                        fast = State()
                        FAST = normal.to(fast)
                        NORMAL = fast.to(normal)

                    paused = State()
                    PLAY = stopped.to(playing) | paused.to(playing)
                    PAUSE = playing.to(paused)
                    STOP = playing.to(stopped) | paused.to(stopped)

                class volume(State.Compound):
                    audible = State(initial=True)
                    muted = State()
                    VOL_UP = audible.to.itself(  # type: ignore[no-untyped-call]
                        cond="can_increase", on="volume_up"
                    )
                    VOL_DOWN = audible.to.itself(  # type: ignore[no-untyped-call]
                        cond="can_decrease", on="volume_down"
                    )
                    MUTE = audible.to(muted)
                    UNMUTE = muted.to(audible)

            h = HistoryState(type="deep")
            h.to(running)

        POWER = off.to(on.h) | on.to(off)

        def __init__(self) -> None:
            self.level = MAX_LEVEL
            super().__init__()

        def can_increase(self) -> bool:
            return self.level < MAX_LEVEL

        def can_decrease(self) -> bool:
            return self.level > 0

        def volume_up(self) -> None:
            self.level += 1

        def volume_down(self) -> None:
            self.level -= 1

    sm: Any = Player()
    return Subject(
        PSM,
        lambda ev: sm.send(ev),
        lambda: (_psm_leaves(sm), sm.level),
        lambda ev: functools.partial(sm.send, ev),
    )


# --------------------------------------------------------------------------- sismic


def _sismic(yaml_text: str, with_level: bool) -> Subject:
    from sismic.interpreter import Interpreter  # type: ignore[import-untyped]
    from sismic.io import import_from_yaml  # type: ignore[import-untyped]

    chart: Any = import_from_yaml(yaml_text)
    interpreter: Any = Interpreter(chart)
    interpreter.execute_once()
    queue, execute_once = interpreter.queue, interpreter.execute_once

    def step(ev: str) -> None:
        queue(ev)
        execute_once()

    def observe() -> Observation:
        leaves = tuple(sorted(s for s in interpreter.configuration if not chart.children_for(s)))
        return leaves, interpreter.context["level"] if with_level else None

    return Subject(SISMIC, step, observe, lambda ev: functools.partial(step, ev))


def sismic_toggle() -> Subject:
    return _sismic(SISMIC_TOGGLE_YAML, with_level=False)


def sismic_nested() -> Subject:
    return _sismic(SISMIC_PLAYER_YAML, with_level=True)


# --------------------------------------------------------------------------- side-by-side workloads

TOGGLE_MAKERS: dict[str, Callable[[], Subject]] = {}
NESTED_MAKERS: dict[str, Callable[[], Subject]] = {}


def _makers() -> None:
    if TOGGLE_MAKERS:
        return
    TOGGLE_MAKERS.update({DURABLE: durable_toggle, TR_MACHINE: transitions_machine_toggle,
                          TR_HSM: transitions_hsm_toggle, PSM: psm_toggle, SISMIC: sismic_toggle})
    NESTED_MAKERS.update({DURABLE: durable_nested, TR_HSM: transitions_hsm_nested, PSM: psm_nested,
                          SISMIC: sismic_nested})


def verify_toggle(make: Callable[[], Subject]) -> None:
    verifier = make()
    for i, exp in enumerate(TOGGLE_EXPECTED):
        if i:
            verifier.step("TOGGLE")
        got = verifier.observe()
        check(got == (tuple(exp), None), f"{verifier.engine}: toggle step {i}: {got} != {exp}")


def verify_nested(make: Callable[[], Subject]) -> None:
    verifier = make()
    name = verifier.engine
    check(verifier.observe() == PLAYER_START, f"{name}: start {verifier.observe()} != {PLAYER_START}")
    for ev in PLAYER_PRELUDE:
        verifier.step(ev)
    check(verifier.observe() == PLAYER_AFTER_PRELUDE, f"{name}: after prelude {verifier.observe()}")
    for i, (ev, leaves, level) in enumerate(PLAYER_CYCLE):
        verifier.step(ev)
        exp = (tuple(sorted(leaves)), level)
        got = verifier.observe()
        check(got == exp, f"{name}: cycle step {i} ({ev}): {got} != {exp}")


def sidebyside_workload(name: str, engine: str, params: dict[str, Any]) -> Any:
    """One workload on one Python engine for the side-by-side harness (node/engine.mjs is the twin).

    Setup runs the state-by-state verification; ``check()`` reports the units run and where the timed
    instance ended (for the toggle its leaf, for the player its leaves and level)."""
    from sidebyside import SimpleWorkload

    _makers()
    units = [0]
    if name == "toggle":
        make = TOGGLE_MAKERS[engine]
        verify_toggle(make)
        subject = make()
        run_calls = loop([subject.bind("TOGGLE")])

        def run_toggle(n: int) -> None:
            run_calls(n)
            units[0] += n

        def check_toggle() -> dict[str, Any]:
            return {"units": units[0], "leaves": list(subject.observe()[0])}

        return SimpleWorkload("events/s", 1, run_toggle, check_toggle)
    if name == "nested":
        make = NESTED_MAKERS[engine]
        verify_nested(make)
        subject = make()
        for ev in PLAYER_PRELUDE:
            subject.step(ev)
        run_cycle = loop([subject.bind(ev) for ev, _, _ in PLAYER_CYCLE])

        def run_nested(n: int) -> None:
            run_cycle(n)
            units[0] += n

        def check_nested() -> dict[str, Any]:
            leaves, level = subject.observe()
            return {"units": units[0], "leaves": list(leaves), "level": level}

        return SimpleWorkload("events/s", len(PLAYER_CYCLE), run_nested, check_nested)
    if name == "build":
        from durable_xstate import create_actor, create_machine

        check(engine == DURABLE, f"build runs on {DURABLE} only, not {engine}")
        actor = create_actor(create_machine(BIG_CONFIG)).start()
        check(actor.get_snapshot().value == BIG_EXPECTED[0], "durable_xstate: big machine initial state")
        for i, ev in enumerate(BIG_PROBE):
            actor.send({"type": ev})
            got = actor.get_snapshot().value
            check(got == BIG_EXPECTED[i + 1], f"durable_xstate: big machine probe {i} ({ev}): {got}")
        last: list[Any] = [None]

        def run_build(n: int) -> None:
            # Keep only the latest machine alive (as the Node side does).
            for _ in range(n):
                last[0] = create_machine(BIG_CONFIG)
            units[0] += n

        def check_build() -> dict[str, Any]:
            return {"units": units[0], "id": last[0].id, "state_nodes": len(last[0].id_map)}

        return SimpleWorkload("builds/s", 1, run_build, check_build)
    raise ValueError(f"unknown workload {name!r}")


def node_params(key: str) -> dict[str, Any]:
    """What node/engine.mjs needs for one workload: the same configs, events and expected states."""
    if key == "toggle":
        return {"config": TOGGLE_CONFIG, "event": "TOGGLE", "expected": TOGGLE_EXPECTED}
    if key == "nested":
        return {
            "config": PLAYER_CONFIG,
            "prelude": PLAYER_PRELUDE,
            "cycle": [ev for ev, _, _ in PLAYER_CYCLE],
            "expected_start": {"leaves": list(PLAYER_START[0]), "level": PLAYER_START[1]},
            "expected_prelude_end": {"leaves": list(PLAYER_AFTER_PRELUDE[0]), "level": PLAYER_AFTER_PRELUDE[1]},
            "expected_steps": [{"leaves": leaves, "level": level} for _, leaves, level in PLAYER_CYCLE],
        }
    return {"config": BIG_CONFIG, "probe": BIG_PROBE, "expected_probe": BIG_EXPECTED}


# --------------------------------------------------------------------------- running, side by side

PEERS: dict[str, list[str]] = {
    "toggle": [TR_MACHINE, TR_HSM, PSM, SISMIC],
    "nested": [TR_HSM, PSM, SISMIC],
    "build": [],
}


def fmt_ops(r: Result) -> str:
    if r.ops_per_second is None:
        return r.error or "n/a"
    return f"{r.ops_per_second:,.0f}"


def side_result(engine: str, side: Any, unit: str, batch: int, pair: Any = None) -> Result:
    r = Result(engine, statistics.median(side.rates), list(side.rates), batch, unit)
    if pair is not None:
        r.ratios, r.pair_ratio = list(pair.ratios), pair.ratio
    return r


def failure(engine: str, err: Exception) -> Result:
    text = str(err)
    if "ModuleNotFoundError" in text or "ImportError" in text:
        missing = text.split("No module named", 1)[-1].split("\n", 1)[0].strip(" '\"")
        return Result(engine, error=f"not installed ({missing})")
    if "node not found" in text or "not installed in benchmarks/node" in text:
        return Result(engine, error=text)
    raise err


def run_all(settings: sbs.Settings, peers: bool = True) -> tuple[dict[str, list[Result]], dict[str, Any]]:
    """Per workload: durable_xstate and xstate on Node side by side, then durable_xstate and each
    Python peer side by side (each pair in fresh processes). The durable_xstate row is its side of the
    xstate pair. Returns the results and the Node worker's versions."""
    results: dict[str, list[Result]] = {}
    node_versions: dict[str, Any] = {}
    for key in ("toggle", "nested", "build"):
        print(f"{TITLES[key]}", flush=True)
        ours = sbs.Side(DURABLE, "python", "bench_engine", key, engine=DURABLE)
        rows: list[Result] = []
        try:
            pair = sbs.compare(ours, sbs.Side(XSTATE_NODE, "node", "engine.mjs", key, node_params(key)), settings)
            node_versions = pair.b.versions
            rows.append(side_result(DURABLE, pair.a, pair.unit, pair.ops_per_batch))
            rows.append(side_result(XSTATE_NODE, pair.b, pair.unit, pair.ops_per_batch, pair))
            print(f"  {DURABLE} {sbs.fmt_rate(pair.a.rates)}  {XSTATE_NODE} {sbs.fmt_rate(pair.b.rates)}  "
                  f"ratio {sbs.fmt_ratio(pair)}  ({pair.seconds:.1f}s)", flush=True)
        except sbs.HarnessError as err:
            rows.append(failure(XSTATE_NODE, err))
            print(f"  {XSTATE_NODE}: {rows[-1].error}", flush=True)
        for peer in PEERS[key] if peers else []:
            try:
                pair = sbs.compare(ours, sbs.Side(peer, "python", "bench_engine", key, engine=peer), settings)
            except sbs.HarnessError as err:
                rows.append(failure(peer, err))
                print(f"  {peer}: {rows[-1].error}", flush=True)
                continue
            if not any(r.engine == DURABLE for r in rows):
                rows.insert(0, side_result(DURABLE, pair.a, pair.unit, pair.ops_per_batch))
            rows.append(side_result(peer, pair.b, pair.unit, pair.ops_per_batch, pair))
            print(f"  {peer} {sbs.fmt_rate(pair.b.rates)}  ratio {sbs.fmt_ratio(pair)}  ({pair.seconds:.1f}s)",
                  flush=True)
        results[key] = rows
    return results, node_versions


def by_engine(rs: list[Result]) -> dict[str, Result]:
    return {r.engine: r for r in rs}


def ratio(a: Result | None, b: Result | None) -> float | None:
    if a is None or b is None or a.ops_per_second is None or b.ops_per_second is None:
        return None
    if a.engine == DURABLE and b.pair_ratio is not None:
        return b.pair_ratio  # measured side by side: the ratio of that pair's medians
    return a.ops_per_second / b.ops_per_second


def fmt_ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}x"


def fmt_pair_ratio(durable: Result | None, r: Result) -> str:
    """durable_xstate / r: the ratio of the medians and the range of the per-round ratios."""
    x = ratio(durable, r)
    if x is None:
        return "n/a"
    if r.ratios:
        return f"{x:.2f}x ({min(r.ratios):.2f}-{max(r.ratios):.2f})"
    return f"{x:.2f}x"


def targets(results: dict[str, list[Result]]) -> list[tuple[str, str, str, str]]:
    """(target, measured, goal, verdict) rows."""
    rows: list[tuple[str, str, str, str]] = []
    t = by_engine(results["toggle"])
    r = ratio(t.get(DURABLE), t.get(TR_MACHINE))
    tr = t.get(TR_MACHINE)
    shown = fmt_pair_ratio(t.get(DURABLE), tr) if tr else "n/a"
    rows.append(("toggle: durable_xstate / transitions `Machine`", shown, ">= 2x", verdict(r, 2.0)))
    n = by_engine(results["nested"])
    peers = [n[p] for p in HIERARCHICAL_PEERS if p in n and n[p].ops_per_second is not None]
    fastest = max(peers, key=lambda p: p.ops_per_second or 0.0) if peers else None
    r = ratio(n.get(DURABLE), fastest)
    label = f"nested: durable_xstate / fastest hierarchical peer ({fastest.engine if fastest else 'none'})"
    shown = fmt_pair_ratio(n.get(DURABLE), fastest) if fastest else "n/a"
    rows.append((label, shown, ">= 5x", verdict(r, 5.0)))
    for key, what in (("toggle", "toggle"), ("nested", "nested"), ("build", "100-state build")):
        e = by_engine(results[key])
        r = ratio(e.get(DURABLE), e.get(XSTATE_NODE))
        x = e.get(XSTATE_NODE)
        shown = fmt_pair_ratio(e.get(DURABLE), x) if x else "n/a"
        rows.append((f"{what}: durable_xstate / xstate on Node", shown, "aim 1x", verdict(r, 1.0)))
    return rows


def verdict(r: float | None, goal: float) -> str:
    if r is None:
        return "not measured"
    return "met" if r >= goal else f"missed ({r / goal:.0%} of goal)"


# --------------------------------------------------------------------------- reporting


def versions(node_out: dict[str, Any]) -> dict[str, str]:
    def pkg(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

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
        "xstate": str(node_out.get("xstate", "not run")),
        "durable-xstate": pkg("durable-xstate"),
        "transitions": pkg("transitions"),
        "python-statemachine": pkg("python-statemachine"),
        "sismic": pkg("sismic"),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:  # used by other benchmark scripts
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def git_state() -> str:
    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return proc.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "src")
    return f"{head} (uncommitted changes in src/)" if dirty else head


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def md_table(rows: list[list[str]], headers: list[str]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def workload_rows(rs: list[Result]) -> list[list[str]]:
    durable = by_engine(rs).get(DURABLE)
    rows = []
    for r in rs:
        spread = f"{min(r.samples):,.0f} to {max(r.samples):,.0f}" if r.samples else "-"
        rows.append([r.engine, fmt_ops(r), spread, "-" if r.engine == DURABLE else fmt_pair_ratio(durable, r)])
    return rows


TITLES = {
    "toggle": "a. Toggle (two states, TOGGLE flips a <-> b)",
    "nested": "b. Nested media player (parallel regions, deep history, guards reading context)",
    "build": "c. Build a 100-state machine from its config",
}


def render_markdown(
    results: dict[str, list[Result]],
    node_versions: dict[str, Any],
    settings: sbs.Settings,
    wall: float,
    load: sbs.LoadGate,
    profile: str,
) -> str:
    v = versions(node_versions)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Engine benchmark results",
        "",
        *load.banner(),
        "Written by `benchmarks/bench_engine.py`. Higher rates are better. Ratios are durable_xstate / the "
        "other engine (above 1x: durable_xstate is faster), each measured side by side with durable_xstate "
        "in its own pair of fresh processes; the durable_xstate row is its side of the xstate pair.",
        "",
        *sbs.method_lines(settings, load.before),
        f"- Date: {now}; whole run: {wall:.0f}s",
        f"- Machine: {os.cpu_count()} CPUs (`nproc`), {cpu_model()}, {platform.system()} {platform.release()}",
        f"- Python: {v['python']}; Node: {v['node']}; xstate: {v['xstate']}",
        f"- durable-xstate {v['durable-xstate']} at commit {git_state()}; transitions {v['transitions']}; "
        f"python-statemachine {v['python-statemachine']}; sismic {v['sismic']}",
    ]
    lines += [
        "",
        "Actor-model benchmarks (spawning and stopping children, parent/child ping-pong, timers on the "
        "simulated clock) are in [RESULTS-actors.md](RESULTS-actors.md), written by `bench_actors.py`; "
        "the stores and the durable step (load, one event, save, per backend, and against xstate on Node) "
        "in [RESULTS-stores.md](RESULTS-stores.md), written by `bench_stores.py` and `bench_durable.py`.",
    ]
    lines += ["", "## Targets", ""]
    lines.append(
        md_table([list(r) for r in targets(results)], ["target", "measured", "goal", "verdict"])
    )
    for key in ("toggle", "nested", "build"):
        unit = results[key][0].unit
        lines += ["", f"## {TITLES[key]}", ""]
        lines.append(
            md_table(
                workload_rows(results[key]),
                ["engine", f"{unit} (median)", "range over the rounds", "durable_xstate / engine (per-round range)"],
            )
        )
        lines += ["", "How each engine runs it:", ""]
        for engine, note in NOTES[key].items():
            lines.append(f"- **{engine}**: {note}")
    lines += [
        "",
        "## Workload details",
        "",
        "- Toggle: `{id: 'toggle', initial: 'a', states: {a: {on: {TOGGLE: 'b'}}, b: {on: {TOGGLE: 'a'}}}}`.",
        "- Nested: `PLAYER_CONFIG` in `bench_engine.py`; a timed round is the 12-event cycle "
        + " ".join(ev for ev, _, _ in PLAYER_CYCLE)
        + " (one failing and two passing guards, a context change each way, deep history out and "
        "back in), which returns to `{on: {running: {playback: 'stopped', volume: 'audible'}}}` with "
        "level 10. Every engine is first checked state by state through that cycle; after the rounds "
        "both sides of a pair report the units they ran and where they ended, which must agree.",
        "- Build: 10 compound groups x 9 atomic states = 100 state nodes under the root, 181 transitions "
        "(sibling, `#big.gN` id and `.g0` child targets). Each engine's machine is checked with a short "
        "event probe before timing.",
        "",
        "## Where durable_xstate spends its time on the toggle",
        "",
        "cProfile of 100,000 `actor.send({'type': 'TOGGLE'})` after 1,000 warm-up sends, top 15 "
        "functions by own time (`bench_engine.py --profile` prints the same). cProfile's per-call "
        "overhead inflates the totals; the proportions are what matter.",
        "",
        "```",
        profile.strip("\n"),
        "```",
        "",
    ]
    return "\n".join(lines)


def print_tables(results: dict[str, list[Result]]) -> None:
    for key in ("toggle", "nested", "build"):
        unit = results[key][0].unit
        print()
        print(TITLES[key])
        print(
            table(
                workload_rows(results[key]),
                ["engine", f"{unit} (median)", "range", "durable/engine"],
            )
        )
    print()
    print(table([list(r) for r in targets(results)], ["target", "measured", "goal", "verdict"]))


def profile_toggle(count: int = 100_000, top: int = 15) -> str:
    from durable_xstate import create_actor, create_machine

    actor = create_actor(create_machine(TOGGLE_CONFIG)).start()
    ev = {"type": "TOGGLE"}
    for _ in range(1000):
        actor.send(ev)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(count):
        actor.send(ev)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("tottime").print_stats(top)
    return buf.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="short smoke run; does not write RESULTS.md"
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile 100k durable_xstate toggles and exit"
    )
    parser.add_argument(
        "--target", type=float, default=0.3, help="seconds per batch on the slower side (default 0.3)"
    )
    parser.add_argument("--repetitions", type=int, default=None, help="the same as --rounds (kept for old scripts)")
    parser.add_argument("--no-peers", action="store_true", help="only durable_xstate and xstate on Node")
    parser.add_argument(
        "--output", type=Path, default=HERE / "RESULTS.md", help="where to write the results"
    )
    sbs.add_common_args(parser)
    args = parser.parse_args(argv)
    if args.profile:
        print(profile_toggle())
        return 0
    rounds = args.rounds or args.repetitions or (5 if args.quick else 7)
    settings = sbs.Settings(0.05, rounds, 0.1) if args.quick else sbs.Settings(args.target, rounds, 1.0)
    load = sbs.gate(args)
    t0 = time.perf_counter()
    results, node_versions = run_all(settings, peers=not args.no_peers)
    wall = time.perf_counter() - t0
    print_tables(results)
    print(f"\nwhole run: {wall:.0f}s; load average after: {sbs.fmt_load(sbs.load_average())}")
    if args.quick:
        return 0
    refusal = load.refuse()
    if refusal:
        print(refusal, file=sys.stderr)
        return 3
    profile = profile_toggle()
    text = render_markdown(results, node_versions, settings, wall, load, profile)
    args.output.write_text(text)
    print(f"wrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
