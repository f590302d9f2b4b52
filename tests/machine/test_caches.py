"""The engine's memo tables are bounded (issue 12): a flood of distinct event types leaves every
cache within its bound, the caches still hit, and no result depends on what is cached."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from durable_xstate import assign, create_actor, setup
from durable_xstate.machine import StateMachine, transition
from durable_xstate.machine import callables as callables_module
from durable_xstate.machine.cache import (
    ARITY_MAX,
    CANDIDATES_MAX,
    CONFIGS_MAX,
    PLANS_MAX,
    PROGRAMS_MAX,
    VALUE_NODES_MAX,
    BoundedCache,
)
from durable_xstate.machine.transition import initial_transition

FLOOD = 100_000


def orchestrator() -> StateMachine:
    """Parallel regions, a partial wildcard, a full wildcard and guards: every kind of table gets used."""
    return setup(
        actions={
            "count": assign({"seen": lambda a, p: a.context["seen"] + 1}),
            "mark": assign({"cloud": lambda a, p: a.context["cloud"] + 1}),
        },
        guards={"even": lambda a, p: a.context["seen"] % 2 == 0},
    ).create_machine(
        {
            "id": "orch",
            "type": "parallel",
            "context": {"seen": 0, "cloud": 0},
            "states": {
                "inbox": {"on": {"*": {"actions": "count"}}},
                "cloud": {"on": {"cloud.*": {"actions": "mark"}}},
                "power": {
                    "initial": "off",
                    "states": {
                        "off": {"on": {"ON": [{"target": "on", "guard": "even"}, {"target": "on.fast"}]}},
                        "on": {
                            "initial": "slow",
                            "states": {"slow": {"on": {"FAST": "fast"}}, "fast": {"on": {"SLOW": "slow"}}},
                            "on": {"OFF": "off"},
                        },
                    },
                },
            },
        }
    )


def assert_within_bounds(machine: StateMachine) -> None:
    tables = machine.caches()
    assert len(tables) > 3
    for table in tables:
        assert len(table) <= table.maxsize, table
    assert len(callables_module._ARITY) <= ARITY_MAX
    assert machine._config_cache.maxsize == CONFIGS_MAX and machine._value_nodes.maxsize == VALUE_NODES_MAX


def test_a_flood_of_distinct_event_types_through_the_pure_transition_keeps_every_cache_bounded() -> None:
    machine = orchestrator()
    snap, _ = initial_transition(machine)
    for i in range(FLOOD):
        snap, _ = transition(machine, snap, {"type": f"cloud.evt{i}" if i % 2 else f"evt{i}"})
    assert snap.context == {"seen": FLOOD, "cloud": FLOOD // 2}  # every event was handled, none lost
    assert_within_bounds(machine)
    # the tables that grew with the event types are full, not past full
    inbox = machine.get_state_node_by_id("orch.inbox")
    assert len(inbox._candidates) == CANDIDATES_MAX
    assert len(snap.cfg.programs) == PROGRAMS_MAX
    # after the flood the machine still steps as before
    snap, _ = transition(machine, snap, {"type": "ON"})
    assert snap.value == {"inbox": {}, "cloud": {}, "power": {"on": "slow"}}


def test_a_flood_of_distinct_event_types_through_an_actor_keeps_every_cache_bounded() -> None:
    machine = orchestrator()
    actor = create_actor(machine).start()
    for i in range(FLOOD):
        actor.send({"type": f"evt{i}"})
        if i == FLOOD // 2:
            actor.send({"type": "ON"})  # a second configuration mid-flood: its tables are bounded too
    snap = actor.get_snapshot()
    assert snap.context["seen"] == FLOOD + 1
    assert snap.value == {"inbox": {}, "cloud": {}, "power": {"on": "fast"}}  # seen was odd at ON
    assert_within_bounds(machine)
    assert len(machine.caches()) == 2 + len(machine.id_map) + 2 * 2  # two configurations cached
    assert all(len(info.programs) == PROGRAMS_MAX for info in machine._config_cache.data.values())


def test_the_caches_hit_the_same_event_reuses_the_same_objects() -> None:
    machine = orchestrator()
    snap, _ = initial_transition(machine)
    off = machine.get_state_node_by_id("orch.power.off")
    assert off.candidates("ON") is off.candidates("ON")
    cfg = snap.cfg
    assert cfg.program(machine.root, "ON") is cfg.program(machine.root, "ON")
    assert machine._info(list(snap._nodes)) is cfg
    after1, _ = transition(machine, snap, {"type": "x"})
    (plan,) = cfg.plans.data.values()
    after2, _ = transition(machine, after1, {"type": "y"})
    assert list(cfg.plans.data.values()) == [plan]  # the wildcard's plan, reused for another type
    assert after2.cfg is cfg and after2.context["seen"] == 2


def test_restoring_many_distinct_values_keeps_the_value_table_bounded() -> None:
    machine = setup().create_machine(
        {"id": "many", "initial": "s0", "states": {f"s{i}": {} for i in range(VALUE_NODES_MAX + 50)}}
    )
    actor = create_actor(machine).start()
    base = actor.get_persisted_snapshot()
    for i in range(VALUE_NODES_MAX + 50):
        restored = machine.restore_snapshot({**base, "value": f"s{i}"}, None)
        assert restored.value == f"s{i}"
    assert len(machine._value_nodes) == VALUE_NODES_MAX
    assert machine.restore_snapshot({**base, "value": "s3"}, None).value == "s3"  # evicted, rebuilt


def test_plans_are_bounded_per_configuration() -> None:
    # PLANS_MAX + 10 distinct targetless transitions from one configuration: one plan each
    n = PLANS_MAX + 10
    machine = setup(actions={"count": assign({"n": lambda a, p: a.context["n"] + 1})}).create_machine(
        {"id": "p", "initial": "a", "context": {"n": 0},
         "states": {"a": {"on": {f"E{i}": {"actions": "count"} for i in range(n)}}}}
    )
    snap, _ = initial_transition(machine)
    for i in range(n):
        snap, _ = transition(machine, snap, {"type": f"E{i}"})
    assert snap.context["n"] == n
    assert len(snap.cfg.plans) == PLANS_MAX
    assert_within_bounds(machine)


# --------------------------------------------------------------------------- the helper itself


@settings(max_examples=150)
@given(maxsize=st.integers(1, 8), puts=st.lists(st.tuples(st.integers(0, 20), st.integers()), max_size=60))
def test_bounded_cache_never_exceeds_its_bound_and_keeps_the_latest_values(
    maxsize: int, puts: list[tuple[int, int]]
) -> None:
    cache: BoundedCache[int, int] = BoundedCache("t", maxsize)
    latest: dict[int, int] = {}
    for key, value in puts:
        assert cache.put(key, value) == value
        latest[key] = value
        assert len(cache) <= maxsize
        assert cache.data[key] == value  # what was just put is there
        assert all(latest[k] == v for k, v in cache.data.items())  # nothing stale
    assert len(cache) == min(maxsize, len(latest))


def test_bounded_cache_evicts_the_oldest_insertion() -> None:
    cache: BoundedCache[str, int] = BoundedCache("t", 2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 3)  # an update keeps its place
    cache.put("c", 4)
    assert cache.data == {"b": 2, "c": 4}
    assert repr(cache) == "<BoundedCache t 2/2>"


@settings(max_examples=20)
@given(st.lists(st.sampled_from(["ON", "OFF", "FAST", "SLOW", "cloud.a", "x"]) | st.text(max_size=4), max_size=40))
def test_cached_and_fresh_machines_step_alike(types: list[str]) -> None:
    # one machine reused across examples (warm, evicting caches) and a fresh one per example agree
    fresh = orchestrator()
    a, _ = initial_transition(WARM)
    b, _ = initial_transition(fresh)
    for t in types:
        a, _ = transition(WARM, a, {"type": t})
        b, _ = transition(fresh, b, {"type": t})
        assert (a.value, a.context) == (b.value, b.context)
    assert_within_bounds(WARM)


def _warmed() -> StateMachine:
    """A machine whose tables are already full, so the examples run through evictions."""
    machine = orchestrator()
    snap, _ = initial_transition(machine)
    for i in range(CANDIDATES_MAX + 100):
        snap, _ = transition(machine, snap, {"type": f"warm{i}"})
    return machine


WARM = _warmed()
