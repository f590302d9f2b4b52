"""A malformed config raises MachineConfigError (also a ValueError) naming the config path."""

from __future__ import annotations

from typing import Any

import pytest

from durable_xstate import MachineConfigError, create_actor, create_machine, setup


def config_error(config: dict[str, Any], **kw: Any) -> MachineConfigError:
    with pytest.raises(MachineConfigError) as info:
        create_actor(create_machine(config, **kw))
    assert isinstance(info.value, ValueError)
    return info.value


def test_unknown_sibling_target_names_the_transition() -> None:
    err = config_error({"initial": "a", "states": {"a": {"on": {"GO": [{"guard": "g"}, {"target": "nope"}]}}}})
    assert err.path == "states.a.on.GO[1].target"
    assert "nope" in str(err)


def test_unknown_id_target() -> None:
    err = config_error({"initial": "a", "states": {"a": {"on": {"GO": "#missing"}}}})
    assert err.path == "states.a.on.GO.target"
    assert "#missing" in str(err)


def test_bare_target_from_root_suggests_dot() -> None:
    err = config_error({"initial": "a", "on": {"GO": "a"}, "states": {"a": {}}})
    assert err.path == "on.GO.target"
    assert '".a"' in str(err)


def test_missing_initial_on_compound_state() -> None:
    err = config_error({"initial": "a", "states": {"a": {"states": {"x": {}, "y": {}}}}})
    assert err.path == "states.a.initial"
    assert 'initial: "x"' in str(err)


def test_initial_naming_a_missing_child() -> None:
    err = config_error({"initial": "zzz", "states": {"a": {}}})
    assert err.path == "initial"
    assert "zzz" in str(err)


def test_initial_of_wrong_shape() -> None:
    err = config_error({"initial": 42, "states": {"a": {}}})
    assert err.path == "initial"


def test_duplicate_ids() -> None:
    err = config_error({"initial": "a", "states": {"a": {"id": "same"}, "b": {"id": "same"}}})
    assert err.path == "states.b.id"
    assert "duplicate" in str(err)


def test_history_and_final_states_cannot_have_children() -> None:
    err = config_error({"initial": "a", "states": {"a": {}, "h": {"type": "history", "states": {"x": {}}}}})
    assert err.path == "states.h.states"
    err = config_error({"initial": "a", "states": {"a": {"type": "final", "states": {"x": {}}}}})
    assert err.path == "states.a.states"


def test_unknown_state_type_and_bad_history_kind() -> None:
    assert config_error({"initial": "a", "states": {"a": {"type": "weird"}}}).path == "states.a.type"
    err = config_error({"initial": "a", "states": {"a": {}, "h": {"type": "history", "history": "sideways"}}})
    assert err.path == "states.h.history"


def test_history_default_target_must_exist() -> None:
    err = config_error(
        {"initial": "a", "states": {"a": {"initial": "x", "states": {"x": {}, "h": {"type": "history", "target": "q"}}}}}
    )
    assert err.path == "states.a.states.h.target"


def test_bad_event_descriptors() -> None:
    for descriptor in ("foo.*.bar", "foo*", "*.x"):
        err = config_error({"initial": "a", "states": {"a": {"on": {descriptor: "b"}}, "b": {}}})
        assert err.path == f"states.a.on.{descriptor}"
    err = config_error({"initial": "a", "states": {"a": {"on": {"": "a"}}}})
    assert "always" in str(err)


def test_v4_cond_is_refused() -> None:
    err = config_error({"initial": "a", "states": {"a": {"on": {"E": {"cond": "g", "target": "a"}}}}})
    assert err.path == "states.a.on.E.cond"


def test_unknown_implementation_names() -> None:
    cfg = {"initial": "a", "states": {"a": {"entry": ["known", "unknown"], "on": {"E": {"guard": "nog"}}}}}
    with pytest.raises(MachineConfigError) as info:
        create_actor(setup(actions={"known": lambda a, p: None}).create_machine(cfg))
    assert info.value.path == "states.a.entry[1]"
    assert "unknown action 'unknown'" in str(info.value)
    with pytest.raises(MachineConfigError) as info:
        create_actor(setup(actions={"known": lambda a, p: None, "unknown": lambda a, p: None}).create_machine(cfg))
    assert info.value.path == "states.a.on.E[0].guard"


def test_lenient_mode_keeps_xstate_behaviour_for_missing_actions() -> None:
    machine = create_machine({"initial": "a", "states": {"a": {"entry": "missing"}}}, strict=False)
    actor = create_actor(machine).start()
    assert actor.get_snapshot().status == "active"


def test_provide_supplies_implementations_later() -> None:
    machine = create_machine({"initial": "a", "states": {"a": {"entry": "hello"}}})
    seen = []
    actor = create_actor(machine.provide(actions={"hello": lambda a, p: seen.append(a.event["type"])})).start()
    assert seen == ["xstate.init"]
    assert actor.get_snapshot().value == "a"


def test_not_an_object() -> None:
    with pytest.raises(MachineConfigError):
        create_machine([])  # type: ignore[arg-type]
    with pytest.raises(MachineConfigError) as info:
        create_machine({"initial": "a", "states": {"a": "oops"}})
    assert info.value.path == "states.a"


@pytest.mark.parametrize("key", [1, None, 2.5])
def test_an_event_descriptor_that_is_not_a_string(key: Any) -> None:
    # a YAML file's `on: {1: b}` reached the engine as an int key and raised a bare TypeError
    err = config_error({"initial": "a", "states": {"a": {"on": {key: "b"}}, "b": {}}})
    assert err.path == f"states.a.on.{key}"
    assert "must be a string" in err.problem
