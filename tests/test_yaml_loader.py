"""The one YAML loader (durable_xstate.yaml_loader) and the command line's machine files: alias bombs, deep
nesting and structures containing themselves are refused with a MachineConfigError naming the limit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_xstate.cloud.yaml_machine import (
    CreateMachineYamlError,
    create_machine_yaml,
    parse_machine_yaml,
)
from durable_xstate.errors import MachineConfigError
from durable_xstate.loader import MachineLoadError, load_machine
from durable_xstate.machine.limits import MAX_NESTING, MAX_STATE_DEPTH
from durable_xstate.machine.machine import StateMachine
from durable_xstate.yaml_loader import MAX_YAML_NODES, YamlLimitError, yaml_loader


def bomb(levels: int, width: int = 9) -> str:
    """The billion-laughs pattern as a machine: each anchor lists ``width`` aliases of the previous one."""
    lines = ["id: m", "initial: s", "context:", f"  a0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    lines += ["states:", "  s: {}"]
    return "\n".join(lines) + "\n"


def nested_yaml(depth: int) -> str:
    return f"id: m\ncontext:\n  x: {'[' * depth}{']' * depth}\n"


def nested_states(depth: int) -> dict[str, object]:
    config: dict[str, object] = {"id": "m"}
    node = config
    for _ in range(depth):
        child: dict[str, object] = {}
        node["initial"] = "s"
        node["states"] = {"s": child}
        node = child
    return config


# ---------------------------------------------------------------------------------------------- item 1: bombs
@pytest.mark.parametrize("levels", [7, 8, 9, 30])
def test_an_alias_bomb_is_refused_naming_the_limit(levels: int) -> None:
    text = bomb(levels)
    assert len(text) < 2000
    with pytest.raises(CreateMachineYamlError) as caught:
        create_machine_yaml(text)
    err = caught.value
    assert isinstance(err, MachineConfigError) and isinstance(err, ValueError)
    assert f"more than {MAX_YAML_NODES} nodes with aliases expanded" in err.problem
    assert "MAX_YAML_NODES" in err.problem
    assert err.path.startswith("<yaml line ")


def test_a_bomb_in_a_machine_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb(9))
    with pytest.raises(MachineLoadError, match=f"more than {MAX_YAML_NODES} nodes") as caught:
        load_machine(str(path))
    assert str(path) in str(caught.value)


def test_a_merge_key_bomb_is_refused() -> None:
    lines = ["id: m", "context:", "  m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}"]
    for i in range(1, 9):
        keys = ", ".join(f"k{j}: *m{i - 1}" for j in range(9))
        lines.append(f"  m{i}: &m{i} {{<<: *m{i - 1}, {keys}}}")
    with pytest.raises(CreateMachineYamlError, match="MAX_YAML_NODES"):
        create_machine_yaml("\n".join(lines) + "\n")


def test_aliases_below_the_limit_still_work() -> None:
    # 9**4 = 6561 leaves: well under the limit, and the aliases read as copies
    config = parse_machine_yaml(bomb(4))
    assert config["context"]["a3"][8][8][8] == ["lol"] * 9


def test_the_node_limit_counts_expanded_nodes_exactly() -> None:
    # the mapping, keys x and y, the list [*a]: 4 nodes; the list of m scalars: m + 1, and its alias m + 1 again
    m = (MAX_YAML_NODES - 6) // 2
    fits = "x: &a [" + ", ".join(["1"] * m) + "]\ny: [*a]\n"
    assert len(yaml.load(fits, Loader=yaml_loader())["y"][0]) == m
    over = "x: &a [" + ", ".join(["1"] * (m + 1)) + "]\ny: [*a]\n"
    with pytest.raises(YamlLimitError):
        yaml.load(over, Loader=yaml_loader())


def test_an_alias_inside_the_node_it_names_is_refused() -> None:
    with pytest.raises(CreateMachineYamlError, match=r"alias \*a is inside the node &a it names"):
        create_machine_yaml("id: m\ncontext:\n  x: &a [1, *a]\n")


# ---------------------------------------------------------------------------------------------- item 2: nesting
def test_yaml_nested_100k_deep_is_refused() -> None:
    with pytest.raises(CreateMachineYamlError, match=f"nested more than {MAX_NESTING} levels deep") as caught:
        create_machine_yaml(nested_yaml(100_000))
    assert caught.value.path == f"<yaml line 3, column {4 + MAX_NESTING}>"


def test_yaml_nesting_through_an_alias_is_counted() -> None:
    half = MAX_NESTING // 2 + 5
    text = f"id: m\ncontext:\n  x: &a {'[' * half}{']' * half}\n  y: {'[' * half}*a{']' * half}\n"
    with pytest.raises(CreateMachineYamlError, match=r"alias \*a adds"):
        create_machine_yaml(text)


def test_yaml_nesting_at_the_limit_is_accepted() -> None:
    # the document's mapping, "context"'s mapping, then lists: depth MAX_NESTING exactly
    machine = create_machine_yaml(nested_yaml(MAX_NESTING - 2))
    assert isinstance(machine, StateMachine)
    with pytest.raises(CreateMachineYamlError, match="nested more than"):
        create_machine_yaml(nested_yaml(MAX_NESTING - 1))


def test_yaml_states_nested_too_deep_name_the_path_and_limit() -> None:
    text = json.dumps(nested_states(MAX_STATE_DEPTH + 1))  # JSON is YAML
    with pytest.raises(CreateMachineYamlError, match=f"states nested more than {MAX_STATE_DEPTH}") as caught:
        create_machine_yaml(text)
    assert caught.value.path.startswith("states.s.states.s.") and caught.value.path.endswith(".states.s")
    machine = create_machine_yaml(json.dumps(nested_states(MAX_STATE_DEPTH)))
    assert len(machine.id_map) == MAX_STATE_DEPTH + 1


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".txt"])
def test_machine_files_nested_100k_deep_are_refused(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"deep{suffix}"
    path.write_text('{"id": "m", "context": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}")
    with pytest.raises(MachineLoadError, match=f"nested more than {MAX_NESTING} levels deep") as caught:
        load_machine(str(path))
    assert "MAX_NESTING" in str(caught.value) and str(path) in str(caught.value)


def test_json_nesting_scan_skips_brackets_in_strings(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"id": "m", "description": "[" * 1000 + '\\"{', "context": {"x": 1}}))
    assert load_machine(str(path)).id == "m"


def test_a_machine_file_with_states_nested_too_deep_names_the_file_and_path(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(nested_states(MAX_STATE_DEPTH + 1)))
    with pytest.raises(MachineConfigError, match=f"states nested more than {MAX_STATE_DEPTH}") as caught:
        load_machine(str(path))
    assert caught.value.path.startswith(f"{path}: states.s.states.s")


# ---------------------------------------------------------------------------------------------- item 4: properties
_SCALARS = st.sampled_from(["x", "1", "-2.5", "on", "yes", "true", "null", "~", "''", '"q"', "2001-12-14", "0x1F"])
_ANCHORS = st.sampled_from(["", "", "&a ", "&b ", "&c "])
_ALIASES = st.sampled_from(["*a", "*b", "*c"])


def _flow(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    seq = st.tuples(_ANCHORS, st.lists(children, max_size=6)).map(lambda t: f"{t[0]}[{', '.join(t[1])}]")
    mapping = st.tuples(_ANCHORS, st.lists(st.tuples(st.sampled_from(["k", "on", "1", "id", "<<"]), children),
                                           max_size=5)).map(
        lambda t: t[0] + "{" + ", ".join(f"{k}: {v}" for k, v in t[1]) + "}")
    return seq | mapping


_FRAGMENTS = st.recursive(_SCALARS | _ALIASES, _flow, max_leaves=40)
_BOMBS = st.builds(bomb, st.integers(1, 12), st.integers(1, 12))
_DEEP = st.integers(1, 3 * MAX_NESTING).map(nested_yaml)


def _as_machine(fragment: str, where: int) -> str:
    if where == 0:
        return fragment
    if where == 1:
        return f"id: m\ninitial: s\ncontext:\n  data: {fragment}\nstates:\n  s: {{}}\n"
    return f"id: m\ninitial: s\nstates:\n  s:\n    on: {fragment}\n"


@settings(max_examples=150)
@given(text=st.tuples(_FRAGMENTS, st.integers(0, 2)).map(lambda t: _as_machine(*t)) | _BOMBS | _DEEP)
def test_random_yaml_gives_a_machine_or_a_machine_config_error(text: str) -> None:
    try:
        machine = create_machine_yaml(text)
    except MachineConfigError:
        pass
    else:
        assert isinstance(machine, StateMachine)


@settings(max_examples=60)
@given(text=st.tuples(_FRAGMENTS, st.integers(0, 2)).map(lambda t: _as_machine(*t)) | _BOMBS | _DEEP,
       suffix=st.sampled_from([".yaml", ".json", ".txt"]))
def test_random_machine_files_give_a_machine_or_a_machine_config_error(text: str, suffix: str,
                                                                       tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("files") / f"m{suffix}"
    path.write_text(text)
    try:
        machine = load_machine(str(path), check_implementations=False)
    except MachineConfigError:
        pass
    else:
        assert isinstance(machine, StateMachine)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=100)
@given(data=_JSON, depth=st.integers(0, 3 * MAX_NESTING), key=st.sampled_from(["context", "meta", "states", "on"]))
def test_random_json_machine_files_give_a_machine_or_a_machine_config_error(
    data: object, depth: int, key: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("json") / "m.json"
    path.write_text(f'{{"id": "m", "{key}": {"[" * depth}{json.dumps(data)}{"]" * depth}}}')
    try:
        machine = load_machine(str(path), check_implementations=False)
    except MachineConfigError:
        pass
    else:
        assert isinstance(machine, StateMachine)
