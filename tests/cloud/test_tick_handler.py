"""make_tick_handler: the Lambda entry point a schedule invokes; called directly, as Lambda would."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from durable_xstate.actors.actor import create_actor
from durable_xstate.cloud import make_tick_handler
from durable_xstate.machine import assign, setup
from durable_xstate.persistence import PersistableActor, StoredRecord
from durable_xstate.stores import open_store

MACHINE = setup(actions={"count": assign({"count": lambda args, params: args.context["count"] + 1})}).create_machine({
    "id": "reminder", "version": "2", "initial": "waiting", "context": {"count": 0},
    "states": {"waiting": {"after": {"50": {"target": "sent", "actions": "count"}}}, "sent": {}},
})
OTHER = setup().create_machine({"id": "other", "initial": "a", "states": {"a": {"after": {"10": "b"}}, "b": {}}})


async def _seed(url: str, machine: Any, actor_id: str) -> None:
    store = open_store(url)
    pa = PersistableActor(id=actor_id, storage=store, locking="read-write",
                          actor_creator=lambda i, s: create_actor(machine, id=i, snapshot=s))
    await pa.init()
    await pa.save()
    await pa.close()
    await store.close()


async def _context(url: str, actor_id: str) -> tuple[Any, Any]:
    store = open_store(url)
    stored = await store.read(f"{actor_id}.json")
    await store.close()
    assert stored is not None
    snapshot = StoredRecord.decode(stored.data, key=actor_id, version=stored.version).snapshot
    return snapshot["value"], snapshot["context"].get("count")


def test_a_scheduled_invocation_fires_what_fell_due_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the wall clock stands still unless the test moves it: "not due yet" must not depend on the machine's speed
    now = [time.time()]
    monkeypatch.setattr(time, "time", lambda: now[0])
    url = f"file://{tmp_path}"
    asyncio.run(_seed(url, MACHINE, "r1"))
    asyncio.run(_seed(url, MACHINE, "r2"))
    asyncio.run(_seed(url, OTHER, "o1"))
    handler = make_tick_handler(url, [MACHINE])
    assert handler({}, None)["fired"] == []  # nothing due yet (the timers are 50 ms away)
    now[0] += 0.1
    result = handler({"source": "aws.scheduler"}, None)
    assert sorted(result["fired"]) == ["r1", "r2"]
    assert "o1" in result["skipped"] and "other" in result["skipped"]["o1"]  # no machine given for it
    assert result["failed"] == {} and result["deleted"] == []
    again = handler({}, None)  # a second (or overlapping) invocation fires nothing twice
    assert again["fired"] == []
    assert asyncio.run(_context(url, "r1")) == ("sent", 1)
    assert asyncio.run(_context(url, "r2")) == ("sent", 1)
    assert asyncio.run(_context(url, "o1")) == ("a", None)
