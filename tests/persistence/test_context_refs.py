"""A save writes actor references in the context exactly as xstate persists them (the record's encoder
marks them while it walks the context), and the saved record, its journal fingerprint and its
checkpoint hold the marked snapshot, as ``actor.get_persisted_snapshot()`` gives it."""

from __future__ import annotations

import json
from typing import Any

from durable_xstate import PersistableActor, assign, create_actor, setup, spawn_child
from durable_xstate.persistence.journal import digest
from durable_xstate.stores import LockableStorage, MemoryStore

CHILD = setup().create_machine({"id": "kid", "initial": "idle", "states": {"idle": {}}})


def _keep_refs(args: Any, params: Any) -> dict[str, Any]:
    ref = args.self.get_snapshot().children["k1"]
    return {
        "refs": [ref, {"nested": ref, "n": 1}, [ref, "x"]],
        "plain": {"deep": [1, 2.5, None, True, "s"]},
        "ref": ref,
    }


def _machine() -> Any:
    return setup(
        actors={"kid": CHILD},
        actions={
            "spawn": spawn_child("kid", id="k1"),
            "keep": assign(_keep_refs),
            "count": assign({"n": lambda a, p: a.context["n"] + 1}),
        },
    ).create_machine(
        {
            "id": "parent",
            "initial": "on",
            "context": {"n": 0, "refs": [], "plain": {}, "ref": None},
            "states": {"on": {"entry": "spawn", "on": {"KEEP": {"actions": "keep"}, "INC": {"actions": "count"}}}},
        }
    )


async def test_actor_references_in_the_context_are_saved_as_xstate_marks() -> None:
    machine = _machine()
    mem = MemoryStore()
    storage = LockableStorage(mem, mem)

    def creator(id: str, snapshot: Any) -> Any:
        return create_actor(machine, id=id, snapshot=snapshot)

    for event in ({"type": "KEEP"}, {"type": "INC"}, {"type": "INC"}):
        pa = PersistableActor(id="p1", storage=storage, actor_creator=creator)
        await pa.init()
        pa.actor.send(event)
        marked = pa.actor.get_persisted_snapshot()
        await pa.save()
        record = pa.record
        assert record is not None and record.snapshot == marked  # the kept record holds the marks
        stored = await mem.read("p1.json")
        assert stored is not None
        data = json.loads(stored.data)
        assert data["snapshot"] == json.loads(json.dumps(marked))
        mark = {"xstate$$type": 1, "id": "k1"}
        assert data["snapshot"]["context"]["refs"] == [mark, {"nested": mark, "n": 1}, [mark, "x"]]
        assert data["snapshot"]["context"]["ref"] == mark
        entries = data["journal"]
        assert entries[-1]["digest"] == digest(marked)
        if entries[-1].get("checkpoint"):
            assert entries[-1]["snapshot"] == json.loads(json.dumps(marked))
        await pa.close()
