"""A Python worker and a Node worker share one actor: the record's snapshot is xstate's own format.

Python saves a record; the real xstate (through the conformance oracle) restores its snapshot, takes
events and persists; Python restores that result and carries on. Needs Node and the oracle's
node_modules (scripts/test installs them; CI fails rather than skips when they are missing).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from harness import HANG_SECONDS

from durable_xstate import PersistableActor, create_actor
from durable_xstate.stores import LockableStorage, MemoryStore

CONFORMANCE = Path(__file__).parents[1] / "conformance"
sys.path.insert(0, str(CONFORMANCE))

from runner import build_machine  # noqa: E402

CASE: dict[str, Any] = {
    "machine": {
        "id": "ticket",
        "initial": "open",
        "context": {"notes": [], "reopened": 0},
        "states": {
            "open": {
                "initial": "new",
                "states": {"new": {"on": {"TRIAGE": "triaged"}}, "triaged": {"on": {"ASSIGN": "assigned"}},
                           "assigned": {}, "hist": {"type": "history", "history": "deep"}},
                "on": {"NOTE": {"actions": "addNote"}, "HOLD": "onHold"},
            },
            "onHold": {"on": {"RESUME": {"target": "open.hist", "actions": "countReopen"}}},
            "closed": {"type": "final"},
        },
        "on": {"CLOSE": ".closed"},
    },
    "implementations": {
        "actions": {
            "addNote": {"assign": {"notes": {"merge": [{"var": "context.notes"}, [{"var": "event.text"}]]}}},
            "countReopen": {"assign": {"reopened": {"+": [{"var": "context.reopened"}, 1]}}},
        }
    },
}


def oracle(snapshot: dict[str, Any], events: list[dict[str, Any]], tmp: Path) -> dict[str, Any]:
    if shutil.which("node") is None or not (CONFORMANCE / "oracle" / "node_modules" / "xstate").is_dir():
        if os.environ.get("CI"):
            pytest.fail("node and the oracle's node_modules are required in CI")
        pytest.skip("node or the oracle's node_modules is not installed")
    case = tmp / "case.json"
    case.write_text(json.dumps({**CASE, "snapshot": snapshot, "events": events}))
    out = subprocess.run(
        ["node", str(CONFORMANCE / "oracle" / "oracle.mjs"), str(case)],
        capture_output=True, text=True, check=True, timeout=HANG_SECONDS,  # a cap for a hang only
    )
    lines = [json.loads(x) for x in out.stdout.splitlines() if x.strip()]
    persisted: dict[str, Any] = lines[-1]["persisted"]
    return persisted


async def test_python_node_python_round_trip(tmp_path: Path) -> None:
    machine = build_machine(CASE["machine"], CASE["implementations"])
    store_backend = MemoryStore()
    store = LockableStorage(store_backend, store_backend)

    def creator(id: str, snapshot: Any) -> Any:
        return create_actor(machine, id=id, snapshot=snapshot)

    # 1. Python: triage, write a note, put on hold (deep history records open.triaged)
    async with PersistableActor(id="t-1", storage=store, actor_creator=creator) as actor:
        for ev in ({"type": "TRIAGE"}, {"type": "NOTE", "text": "from python"}, {"type": "HOLD"}):
            actor.send(ev)
    stored = await store.read("t-1.json")
    assert stored is not None
    record = json.loads(stored.data)
    python_snapshot = record["snapshot"]
    assert python_snapshot["historyValue"] == {"ticket.open.hist": [{"id": "ticket.open.triaged"}]}

    # 2. Node (the real xstate): restore the Python snapshot, resume through history, assign, note
    node_snapshot = oracle(python_snapshot, [{"type": "RESUME"}, {"type": "ASSIGN"},
                                             {"type": "NOTE", "text": "from node"}], tmp_path)
    assert node_snapshot["value"] == {"open": "assigned"}
    assert node_snapshot["context"] == {"notes": ["from python", "from node"], "reopened": 1}

    # a Node service writes the record back (only the snapshot changes)
    record["snapshot"] = node_snapshot
    await store.write("t-1.json", json.dumps(record).encode(), stored.version)

    # 3. Python again: continues exactly where Node left off
    async with PersistableActor(id="t-1", storage=store, actor_creator=creator) as actor:
        assert actor.get_snapshot().value == {"open": "assigned"}
        actor.send({"type": "CLOSE"})
        final = actor.get_persisted_snapshot()
    assert final["status"] == "done"
    assert final["context"] == {"notes": ["from python", "from node"], "reopened": 1}

    # and the very same Python snapshot gives the same result in Node
    assert oracle(python_snapshot, [{"type": "RESUME"}], tmp_path)["value"] == {"open": "triaged"}
