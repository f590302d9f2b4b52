"""Configs and events nested too deep are refused with a typed error before the recursive code runs."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable_xstate import (
    InvalidEvent,
    MachineConfigError,
    create_machine,
    initial_transition,
    transition,
)
from durable_xstate.machine.limits import MAX_NESTING, MAX_STATE_DEPTH, find_too_deep


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def nested_states(depth: int) -> dict[str, Any]:
    config: dict[str, Any] = {"id": "m"}
    node = config
    for _ in range(depth):
        child: dict[str, Any] = {}
        node["initial"] = "s"
        node["states"] = {"s": child}
        node = child
    return config


GO = create_machine({"id": "m", "initial": "a", "states": {"a": {"on": {"GO": "b"}}, "b": {}}})


# ---------------------------------------------------------------------------------------------- configs
def test_states_nested_100k_deep_are_refused_with_the_path() -> None:
    with pytest.raises(MachineConfigError) as caught:
        create_machine(nested_states(100_000))
    err = caught.value
    assert isinstance(err, ValueError)
    assert f"states nested more than {MAX_STATE_DEPTH} levels deep" in err.problem and "MAX_STATE_DEPTH" in err.problem
    assert err.path.startswith("states.s.states.s.") and "more" in err.path and err.path.endswith("states.s")


def test_states_at_the_limit_build() -> None:
    machine = create_machine(nested_states(MAX_STATE_DEPTH))
    snapshot, _ = initial_transition(machine)
    assert len(snapshot.nodes) == MAX_STATE_DEPTH + 1
    with pytest.raises(MachineConfigError, match="states nested more than"):
        create_machine(nested_states(MAX_STATE_DEPTH + 1))


def test_a_context_nested_100k_deep_is_refused_with_the_path() -> None:
    with pytest.raises(MachineConfigError, match=f"nested more than {MAX_NESTING} levels") as caught:
        create_machine({"id": "m", "context": {"x": nested(100_000)}})
    assert caught.value.path.startswith("context.x[0].k[0].k")


def test_a_context_at_the_limit_builds_and_persists() -> None:
    from durable_xstate import create_actor

    machine = create_machine({"id": "m", "context": {"x": nested(MAX_NESTING - 2)}})
    persisted = create_actor(machine).start().get_persisted_snapshot()
    assert find_too_deep(persisted["context"], MAX_NESTING - 1) is None
    with pytest.raises(MachineConfigError):
        create_machine({"id": "m", "context": {"x": nested(MAX_NESTING - 1)}})


def test_a_config_that_contains_itself_is_refused() -> None:
    config: dict[str, Any] = {"id": "m", "meta": {}}
    config["meta"]["self"] = config
    with pytest.raises(MachineConfigError, match="nested more than"):
        create_machine(config)


def test_shared_values_are_walked_quickly() -> None:
    # 60 levels, each holding the level below twice: 2**60 paths, 60 distinct lists
    value: Any = 1
    for _ in range(60):
        value = [value, value]
    assert find_too_deep(value, MAX_NESTING) is None
    assert find_too_deep(value, 59) is not None


@given(st.recursive(st.integers(), lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=2), c, max_size=3),
                    max_leaves=25), st.integers(0, 12))
def test_find_too_deep_agrees_with_a_recursive_depth(value: Any, limit: int) -> None:
    def depth(v: Any) -> int:
        if isinstance(v, dict):
            return 1 + max(map(depth, v.values()), default=0)
        if isinstance(v, list):
            return 1 + max(map(depth, v), default=0)
        return 0

    found = find_too_deep(value, limit)
    assert (found is None) == (depth(value) <= limit)
    if found is not None:  # the path leads to a container one level past the limit
        node = value
        for key in found.path:
            node = node[key]
        assert isinstance(node, dict | list) and len(found.path) == limit


# ---------------------------------------------------------------------------------------------- events
def test_transition_refuses_an_event_nested_100k_deep() -> None:
    snapshot, _ = initial_transition(GO)
    with pytest.raises(InvalidEvent) as caught:
        transition(GO, snapshot, {"type": "GO", "payload": nested(100_000)})
    err = caught.value
    assert isinstance(err, ValueError)
    assert err.event_type == "GO" and err.path.startswith("payload[0].k[0].k")
    assert f"more than {MAX_NESTING} levels" in err.problem and "MAX_NESTING" in err.problem
    assert snapshot.value == "a"


def test_transition_takes_an_event_at_the_limit() -> None:
    snapshot, _ = initial_transition(GO)
    after, _ = transition(GO, snapshot, {"type": "GO", "payload": nested(MAX_NESTING - 1)})
    assert after.value == "b"
    with pytest.raises(InvalidEvent):
        transition(GO, snapshot, {"type": "GO", "payload": nested(MAX_NESTING)})
