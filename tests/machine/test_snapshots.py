"""Persisted snapshots: xstate's JSON shape, restore without actions, and SnapshotError on misfits."""

from __future__ import annotations

import json

import pytest

from durable_xstate import SnapshotError, create_actor, create_machine, setup

PLAYER = {
    "id": "player",
    "initial": "off",
    "states": {
        "off": {"on": {"ON": "on.hist", "DEEP": "on.deepHist"}},
        "on": {
            "initial": "a",
            "states": {
                "a": {"initial": "a1", "states": {"a1": {"on": {"N": "a2"}}, "a2": {}}},
                "b": {},
                "hist": {"type": "history"},
                "deepHist": {"type": "history", "history": "deep"},
            },
            "on": {"OFF": "off", "B": ".b"},
        },
    },
}


def test_persisted_snapshot_has_xstate_keys_in_xstate_order() -> None:
    actor = create_actor(create_machine(PLAYER)).start()
    for t in ("ON", "N", "OFF"):
        actor.send({"type": t})
    persisted = actor.get_persisted_snapshot()
    assert list(persisted) == ["status", "value", "historyValue", "context", "children"]
    assert persisted == {
        "status": "active",
        "value": "off",
        "historyValue": {"player.on.hist": [{"id": "player.on.a"}], "player.on.deepHist": [{"id": "player.on.a.a2"}]},
        "context": {},
        "children": {},
    }


def test_restore_runs_no_entry_actions_and_resumes_history() -> None:
    entries: list[str] = []
    machine = setup(actions={"enter": lambda a, p: entries.append(p["s"])}).create_machine(
        {"initial": "a", "states": {"a": {"entry": {"type": "enter", "params": {"s": "a"}}, "on": {"GO": "b"}},
                                    "b": {"entry": {"type": "enter", "params": {"s": "b"}}}}}
    )
    actor = create_actor(machine).start()
    actor.send({"type": "GO"})
    saved = json.loads(json.dumps(actor.get_persisted_snapshot()))
    assert entries == ["a", "b"]
    restored = create_actor(machine, snapshot=saved).start()
    assert restored.get_snapshot().value == "b"
    assert entries == ["a", "b"]

    player = create_machine(PLAYER)
    p = create_actor(player).start()
    for t in ("ON", "N", "OFF"):
        p.send({"type": t})
    p2 = create_actor(player, snapshot=json.loads(json.dumps(p.get_persisted_snapshot()))).start()
    p2.send({"type": "DEEP"})
    assert p2.get_snapshot().value == {"on": {"a": "a2"}}


def test_unknown_state_in_snapshot_raises_snapshot_error() -> None:
    machine = create_machine(PLAYER)
    bad = {"status": "active", "value": {"on": "nope"}, "historyValue": {}, "context": {}, "children": {}}
    with pytest.raises(SnapshotError) as info:
        create_actor(machine, snapshot=bad)
    assert isinstance(info.value, ValueError)
    assert info.value.path == "value"
    assert "nope" in str(info.value)


@pytest.mark.parametrize(
    ("snapshot", "path"),
    [
        ([], ""),
        ({"status": "running", "value": "off"}, "status"),
        ({"status": "active"}, "value"),
        ({"status": "active", "value": "off", "historyValue": []}, "historyValue"),
        ({"status": "active", "value": "off", "historyValue": {"h": [{"x": 1}]}}, "historyValue.h[0]"),
        ({"status": "active", "value": "off", "children": {"k": 3}}, "children.k"),
    ],
)
def test_wrong_shapes_name_the_path(snapshot: object, path: str) -> None:
    with pytest.raises(SnapshotError) as info:
        create_actor(create_machine(PLAYER), snapshot=snapshot)  # type: ignore[arg-type]
    assert info.value.path == path


def test_snapshot_queries() -> None:
    machine = create_machine(
        {
            "id": "m",
            "type": "parallel",
            "states": {
                "x": {"initial": "x1", "states": {"x1": {"tags": ["busy"], "meta": {"m": 1}, "on": {"GO": "x2"}}, "x2": {}}},
                "y": {"initial": "y1", "states": {"y1": {"on": {"NOPE": {}}}}},
            },
        }
    )
    snap = create_actor(machine).start().get_snapshot()
    assert snap.value == {"x": "x1", "y": "y1"}
    assert snap.matches({"x": "x1"}) and snap.matches("x") and not snap.matches({"x": "x2"})
    assert snap.has_tag("busy") and not snap.has_tag("idle")
    assert snap.can({"type": "GO"}) and not snap.can({"type": "NOPE"}) and not snap.can({"type": "OTHER"})
    assert snap.get_meta() == {"m.x.x1": {"m": 1}}
