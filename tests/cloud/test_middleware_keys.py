"""Orchestration middleware keyed by a state key that names no leaf state is refused at construction,
as unknown implementation names are: the actor, orchestrate_cloud_events and the Lambda adapter."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable_xstate.cloud import (
    CloudOrchestrationActor,
    make_lambda_handler,
    orchestrate_cloud_events,
    state_key,
)
from durable_xstate.errors import MachineConfigError
from durable_xstate.examples.summary import ORCHESTRATION, STATEMACHINE, machine
from durable_xstate.stores import LockableStorage, MemoryStore

LEAF_KEYS = sorted(state_key(n) for n in machine.id_map.values() if n.is_atomic)


def command(id: str, key: str, snapshot: Any) -> dict[str, Any]:
    return {"type": "cmd", "source": "/t", "data": {}}


def test_the_leaf_keys_of_nested_and_parallel_states() -> None:
    expected = ["FetchData", "Summarise", "Done", "Error", "#Regulate.#Grounded.Check", "#Regulate.#Grounded.Done",
                "#Regulate.#Compliant.Check", "#Regulate.#Compliant.Done"]
    assert sorted(expected) == LEAF_KEYS
    for key in LEAF_KEYS:  # every one of them is accepted
        CloudOrchestrationActor(machine, id="p", version="1.0.0", middleware={"orchestration": {key: command}})


def test_a_typo_in_a_nested_key_is_refused_naming_the_nearest_and_the_known_keys() -> None:
    with pytest.raises(MachineConfigError) as caught:
        CloudOrchestrationActor(machine, id="p", version="1.0.0",
                                middleware={"orchestration": {"#Regulate.#Grounded.Chek": command}})
    message = str(caught.value)
    assert caught.value.path == "middleware.orchestration['#Regulate.#Grounded.Chek']"
    assert "unknown state key '#Regulate.#Grounded.Chek'" in message
    assert "did you mean '#Regulate.#Grounded.Check'?" in message
    assert all(key in message for key in LEAF_KEYS)
    assert isinstance(caught.value, ValueError)


def test_a_key_of_a_compound_or_parallel_state_says_the_middleware_runs_for_leaves() -> None:
    with pytest.raises(MachineConfigError, match="'Regulate' is a parallel state, and the middleware runs for "
                                                 "entered leaf states only"):
        CloudOrchestrationActor(machine, id="p", version="1.0.0", middleware={"orchestration": {"Regulate": command}})
    with pytest.raises(MachineConfigError, match=r"'#Regulate\.Grounded' is a compound state"):
        CloudOrchestrationActor(machine, id="p", version="1.0.0",
                                middleware={"orchestration": {"#Regulate.Grounded": command}})


def test_the_original_dotted_path_spelling_is_refused_with_the_hint() -> None:
    # "Regulate.Grounded.Check" is the state path, not the key: the key marks each ancestor with "#"
    with pytest.raises(MachineConfigError, match=r"did you mean '#Regulate\.#Grounded\.Check'\?"):
        CloudOrchestrationActor(machine, id="p", version="1.0.0",
                                middleware={"orchestration": {"Regulate.Grounded.Check": command}})


@given(st.text(max_size=30).filter(lambda key: key not in LEAF_KEYS))
def test_any_other_key_is_refused(key: str) -> None:
    with pytest.raises(MachineConfigError, match="unknown state key"):
        CloudOrchestrationActor(machine, id="p", version="1.0.0", middleware={"orchestration": {key: command}})


async def test_orchestrate_refuses_before_reading_or_writing_anything() -> None:
    memory = MemoryStore()
    store = LockableStorage(memory, memory)
    with pytest.raises(MachineConfigError, match=r"'Sumarise'.*did you mean 'Summarise'"):
        await orchestrate_cloud_events(statemachine=STATEMACHINE, storage=store, inits=[{"subject": "book-1"}],
                                       on_orchestration_state={**ORCHESTRATION, "Sumarise": command})
    assert [key async for key in store.list()] == []


def test_the_lambda_adapter_refuses_at_construction() -> None:
    memory = MemoryStore()
    with pytest.raises(MachineConfigError, match="'FetchDta'"):
        make_lambda_handler(statemachine=STATEMACHINE, storage=LockableStorage(memory, memory),
                            on_orchestration_state={"FetchDta": command})
