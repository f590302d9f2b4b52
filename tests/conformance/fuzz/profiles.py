"""Feature profiles: the weights the generator draws with.

``default`` exercises everything moderately; every other profile starts from it and pushes one
area hard, so that each construct is heavily exercised in some runs. ``all`` (see ``profile_for``)
cycles through the profiles by case index.
"""

from __future__ import annotations

from typing import Any

DEFAULT: dict[str, Any] = {
    "depth": 3,  # deepest nesting level of a state (the root is level 0); at most 4
    "children": (2, 4),  # children of a compound state
    "regions": (2, 3),  # regions of a parallel state
    "p_compound": 0.3,  # a child state is compound (when the depth allows it)
    "p_parallel": 0.12,  # ... or parallel
    "p_final": 0.18,  # a compound state gets a final child
    "p_history": 0.1,  # a compound state gets a history child
    "p_root_parallel": 0.1,
    "p_on": 0.7,  # a state handles events at all
    "on_keys": (1, 3),
    "p_wildcard": 0.08,  # an `on` key is "*" or "foo.*"
    "p_targetless": 0.25,
    "p_reenter": 0.15,
    "p_multi": 0.06,  # multiple targets (into the regions of a parallel state)
    "p_id_target": 0.2,  # target written "#id" / "#m.path" even when a relative form exists
    "p_guard": 0.3,
    "p_array": 0.2,  # guarded transition array
    "p_combinator": 0.35,  # a guard is and/or/not/stateIn rather than a name
    "p_actions": 0.45,  # a transition / entry / exit gets actions
    "p_after": 0.15,
    "p_named_delay": 0.3,
    "p_always": 0.12,
    "p_tags": 0.15,
    "p_invoke": 0.1,
    "p_spawn": 0.06,  # an action is a spawn (assign $spawn or spawnChild)
    "p_child_send": 0.15,  # an action talks to a child (sendTo / forwardTo / stopChild)
    "p_delayed_raise": 0.2,
    "p_initial_obj": 0.08,  # `initial: {target, actions}`
    "p_output": 0.5,  # a final state has an output
    "p_input": 0.2,
    "events": (3, 10),
    "p_restore": 0.2,
    "p_probes": 0.3,
    "p_advance": 0.12,
    "p_flush": 0.04,
    "p_unknown": 0.05,
    "fuel": (2, 5),  # the bound on transitions taken on internal events (see generator.py)
}

PROFILES: dict[str, dict[str, Any]] = {
    "default": {},
    "timers": {"p_after": 0.6, "p_delayed_raise": 0.6, "p_advance": 0.35, "p_named_delay": 0.5,
               "p_restore": 0.35},
    "history": {"p_history": 0.6, "p_compound": 0.5, "depth": 4, "p_id_target": 0.35,
                "events": (5, 14)},
    "parallel": {"p_parallel": 0.45, "p_root_parallel": 0.4, "p_multi": 0.25, "depth": 4,
                 "p_final": 0.35},
    "actors": {"p_invoke": 0.45, "p_spawn": 0.3, "p_child_send": 0.5, "p_advance": 0.2,
               "p_flush": 0.1, "p_restore": 0.3},
    "always": {"p_always": 0.5, "fuel": (3, 7), "p_guard": 0.45},
    "actions": {"p_actions": 0.85, "p_delayed_raise": 0.3, "p_child_send": 0.25},
    "guards": {"p_guard": 0.7, "p_array": 0.5, "p_combinator": 0.6, "p_probes": 0.5},
    "final": {"p_final": 0.6, "p_output": 0.8, "p_compound": 0.45},
    "deep": {"depth": 4, "p_compound": 0.55, "p_id_target": 0.4, "p_reenter": 0.3},
    "probes": {"p_probes": 0.9, "p_tags": 0.5, "p_restore": 0.4},
}

NAMES = sorted(PROFILES)


def profile_for(name: str, index: int) -> str:
    """The profile of case ``index`` in a run with ``--profile name``."""
    if name == "all":
        return NAMES[index % len(NAMES)]
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r} (known: all, {', '.join(NAMES)})")
    return name


def weights(name: str) -> dict[str, Any]:
    return {**DEFAULT, **PROFILES[name]}
