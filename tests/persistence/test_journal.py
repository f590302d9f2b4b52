"""The journal (issue 14): an entry per committed revision, none for one that did not commit, bounded,
readable through the API and `durable-xstate history`, and replayed to check a machine against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from durable_xstate import assign, create_actor, setup
from durable_xstate.actors import DurableClock
from durable_xstate.cli import app
from durable_xstate.errors import WriteConflict
from durable_xstate.persistence import (
    JournalPolicy,
    PersistableActor,
    StoredRecord,
    journal,
    replay,
)
from durable_xstate.stores import LockableStorage, MemoryStore

CONFIG: dict[str, Any] = {
    "id": "order",
    "version": "1",
    "initial": "cart",
    "context": {"items": 0},
    "states": {
        "cart": {"on": {"ADD": {"actions": "add"}, "PAY": "paying"}},
        "paying": {"after": {"1000": "paid"}, "on": {"FAIL": "cart"}},
        "paid": {"type": "final"},
    },
}
MACHINE = setup(actions={"add": assign({"items": lambda a, p: a.context["items"] + 1})}).create_machine(CONFIG)
# the same machine after a change that no longer reproduces the history: ADD counts twice
CHANGED = setup(actions={"add": assign({"items": lambda a, p: a.context["items"] + 2})}).create_machine(CONFIG)


def creator(machine: Any = MACHINE) -> Any:
    return lambda i, s: create_actor(machine, id=i, snapshot=s)


def memory() -> LockableStorage:
    m = MemoryStore()
    return LockableStorage(m, m)


async def step(store: LockableStorage, *events: dict[str, Any], now: float = 0.0, **options: Any) -> None:
    pa = PersistableActor(id="o1", storage=store, actor_creator=creator(), clock=DurableClock(lambda: now), **options)
    await pa.init()
    try:
        for e in events:
            pa.send(e, idempotency_key=e.get("key"))
        await pa.save()
    finally:
        await pa.close()


async def test_every_committed_revision_has_its_entry() -> None:
    store = memory()
    await step(store, {"type": "ADD", "key": "k1"}, meta=None)
    await step(store, {"type": "ADD"}, {"type": "PAY"}, meta={"by": "alice"})
    await step(store, now=5000.0)  # the timer fires on load: an entry with the timer's event
    found = await journal(store, "o1")
    assert [e.revision for e in found] == [1, 2, 3]
    assert [[d["event"]["type"] for d in e.events] for e in found] == [["ADD"], ["ADD", "PAY"], [found[2].events[0]["event"]["type"]]]
    assert found[2].events[0]["from"] == "timer" and found[2].state == "paid" and found[2].status == "done"
    assert found[0].idempotency_keys == ["k1"] and found[1].meta == {"by": "alice"}
    assert found[0].checkpoint and found[0].snapshot is not None and found[0].snapshot["context"] == {"items": 1}
    assert (await journal(store, "o1", since=2, limit=1))[0].revision == 2
    assert await journal(store, "nobody") == []


async def test_a_run_that_does_not_commit_leaves_no_entry() -> None:
    store = memory()
    await step(store, {"type": "ADD"})
    slow = PersistableActor(id="o1", storage=store, actor_creator=creator())
    await slow.init()
    slow.actor.send({"type": "ADD"})
    await step(store, {"type": "PAY"})  # another writer commits revision 2 meanwhile
    with pytest.raises(WriteConflict):
        await slow.save()
    await slow.close()
    found = await journal(store, "o1")
    assert [(e.revision, [d["event"]["type"] for d in e.events]) for e in found] == [(1, ["ADD"]), (2, ["PAY"])]


async def test_an_unchanged_run_writes_no_entry_and_journal_false_keeps_none() -> None:
    store = memory()
    await step(store, {"type": "ADD"})
    await step(store)  # nothing happened: nothing written
    assert [e.revision for e in await journal(store, "o1")] == [1]
    other = memory()
    await step(other, {"type": "ADD"}, journal=False)
    assert await journal(other, "o1") == []


@given(n=st.integers(1, 60), max_entries=st.integers(1, 12), every=st.integers(1, 7))
async def test_retention_keeps_the_newest_entries_from_a_checkpoint(n: int, max_entries: int, every: int) -> None:
    store = memory()
    policy = JournalPolicy(max_entries=max_entries, checkpoint_every=every)
    for _ in range(n):
        await step(store, {"type": "ADD"}, journal=policy)
    found = await journal(store, "o1")
    assert 1 <= len(found) <= max_entries
    assert found[-1].revision == n and [e.revision for e in found] == list(range(n - len(found) + 1, n + 1))
    assert found[0].checkpoint  # replay always has somewhere to start
    stored = await store.read("o1.json")
    assert stored is not None
    report = replay(StoredRecord.decode(stored.data, key="o1.json", version=None), creator())
    assert report.reproduces and report.snapshot is not None and report.snapshot["context"] == {"items": n}


async def test_replay_finds_the_revision_a_changed_machine_no_longer_reproduces() -> None:
    store = memory()
    await step(store, {"type": "ADD"})
    await step(store, {"type": "ADD"})
    await step(store, {"type": "PAY"})
    stored = await store.read("o1.json")
    assert stored is not None
    record = StoredRecord.decode(stored.data, key="o1.json", version=None)
    same = replay(record, creator())
    assert same.reproduces and same.checked == 2 and same.snapshot is not None and same.snapshot["value"] == "paying"
    back = replay(record, creator(), to=2)  # time travel: the state at revision 2
    assert back.snapshot is not None and back.snapshot["value"] == "cart" and back.snapshot["context"] == {"items": 2}
    changed = replay(record, creator(CHANGED))
    assert not changed.reproduces and changed.diverged_at == 2


def test_history_and_replay_on_the_command_line(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'store'}"
    flow = {"id": "flow", "initial": "a", "states": {"a": {"on": {"GO": "b"}}, "b": {"on": {"GO": "c"}}, "c": {}}}
    (tmp_path / "flow.json").write_text(json.dumps(flow))
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(app, ["send", str(tmp_path / "flow.json"), "f1", "GO", "--store", url])
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["history", "f1", "--store", url, "--json"])
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    assert [(i["revision"], i["event"]["type"], i["state"]) for i in items] == [(1, "GO", "b"), (2, "GO", "c")]
    table = runner.invoke(app, ["history", "f1", "--store", url]).stdout
    assert "GO" in table and "c" in table
    replayed = runner.invoke(app, ["replay", "f1", "-m", str(tmp_path / "flow.json"), "--store", url])
    assert replayed.exit_code == 0 and "reproduces revisions 1..2" in replayed.stdout, replayed.output
    changed = {**flow, "states": {**flow["states"], "b": {"on": {"GO": "a"}}}}
    (tmp_path / "changed.json").write_text(json.dumps(changed))
    diverged = runner.invoke(app, ["replay", "f1", "-m", str(tmp_path / "changed.json"), "--store", url])
    assert diverged.exit_code == 1 and "does not reproduce revision 2" in diverged.stdout, diverged.output


async def test_the_journal_on_every_backend(store: LockableStorage) -> None:
    """The journal lives in the record: an entry commits with its revision on every backend."""
    await step(store, {"type": "ADD"})
    await step(store, {"type": "ADD"}, {"type": "PAY"})
    found = await journal(store, "o1")
    assert [e.revision for e in found] == [1, 2] and found[1].state == "paying"
