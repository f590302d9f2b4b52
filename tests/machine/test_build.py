"""Building a machine: the shortcuts of the builder make the same nodes and transitions as the long way."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from durable_xstate import MachineConfigError, create_machine
from durable_xstate.machine import StateMachine, StateNode, Transition

KEYS = ("a", "b", "c", "a.b")  # a dotted key: "a.b" as a target is a path, never this key


@st.composite
def configs(draw: st.DrawFn, depth: int = 0, path: tuple[str, ...] = ()) -> dict[str, Any]:
    """A state config whose transitions are bare target strings: siblings, children, ids, or ""."""
    config: dict[str, Any] = {}
    if depth < 2 and draw(st.booleans()):
        keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=3, unique=True))
        config["states"] = {k: draw(configs(depth + 1, (*path, k))) for k in keys}
        if draw(st.booleans()):
            config["type"] = "parallel"
        else:
            config["initial"] = keys[0]
    targets = st.sampled_from(
        ["", *KEYS, ".a", "#m", "#m.a", "#m.b.a", "a.b", "#nowhere", "back\\.slash"]
    )
    events = st.sampled_from(["GO", "STOP", "*", "ev.*"])
    config["on"] = draw(st.dictionaries(events, targets, max_size=3))
    return config


def long_form(config: Any) -> Any:
    """The same config with every ``EVENT: "target"`` written as ``EVENT: {"target": "target"}``."""
    if not isinstance(config, dict):
        return config
    out = {k: long_form(v) for k, v in config.items() if k != "on"}
    if "on" in config:
        out["on"] = {d: {"target": t} if isinstance(t, str) else t for d, t in config["on"].items()}
    return out


def build(config: dict[str, Any]) -> StateMachine | MachineConfigError:
    try:
        return create_machine({"id": "m", **config})
    except MachineConfigError as err:
        return err


def transition_fields(t: Transition) -> tuple[Any, ...]:
    targets = None if t.target is None else [n.id for n in t.target]
    return (t.source.id, t.event_type, t.config, t.actions, t.guard, t.reenter, t.meta, t.description,
            t.target_config, targets, t.delay)


def node_fields(n: StateNode) -> tuple[Any, ...]:
    return (n.id, n.key, n.path, n.type, n.order, n.config_path, [c.id for c in n.ancestors],
            {c.id for c in n.ancestor_set}, [c.id for c in n.children], [c.id for c in n.history_children],
            n.entry, n.exit, n.invoke, n.after, n.tags, n.history, n.has_output, n.has_transitions,
            {d: [transition_fields(t) for t in ts] for d, ts in n.transitions.items()},
            None if n.initial is None else transition_fields(n.initial))


@settings(max_examples=300, deadline=None)
@given(configs())
def test_bare_target_strings_build_what_target_objects_build(config: dict[str, Any]) -> None:
    short, long = build(config), build(long_form(config))
    if isinstance(short, MachineConfigError) or isinstance(long, MachineConfigError):
        assert isinstance(short, MachineConfigError) and isinstance(long, MachineConfigError)
        assert (short.path, str(short)) == (long.path, str(long))
        return
    assert list(short.id_map) == list(long.id_map)
    for node_id, node in short.id_map.items():
        assert node_fields(node) == node_fields(long.id_map[node_id])


@settings(max_examples=100, deadline=None)
@given(configs())
def test_every_node_knows_its_ancestors(config: dict[str, Any]) -> None:
    machine = build(config)
    if isinstance(machine, MachineConfigError):
        return
    for node in machine.id_map.values():
        chain = []
        parent = node.parent
        while parent is not None:
            chain.append(parent)
            parent = parent.parent
        assert node.ancestors == tuple(chain)
        assert node.ancestor_set == frozenset(chain)
        assert node.children + node.history_children == tuple(
            [s for s in node.states.values() if s.type != "history"]
            + [s for s in node.states.values() if s.type == "history"]
        )


def test_shorthand_is_the_target_object() -> None:
    root = create_machine({"id": "m", "initial": "a", "states": {"a": {}, "b": {}}}).root
    for target in ("a", ""):
        quick = Transition.shorthand(root, "GO", target)
        slow = Transition(root, "GO", {"target": target})
        assert transition_fields(quick) == transition_fields(slow)


def test_delays_add_to_the_entry_and_exit_actions() -> None:
    machine = create_machine(
        {"id": "m", "initial": "a", "states": {"a": {"entry": "hello", "after": {"500": "b", "100": "b"}}, "b": {}}},
        actions={"hello": lambda: None},
    )
    a = machine.states["a"]
    assert a.entry[0] == "hello" and len(a.entry) == 3 and len(a.exit) == 2
    assert [t.delay for t in a.after] == [100, 500]  # integer-like keys first, ascending (Object.keys)
    assert machine.states["b"].entry == () and machine.states["b"].after == ()
