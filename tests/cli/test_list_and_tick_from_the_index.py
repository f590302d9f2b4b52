"""`list` filters and pages; `tick` reads what is due: from the store's index where it keeps one, by
reading every record where it does not - the same answers either way (issue 13)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from test_cli import ok
from typer.testing import CliRunner

from durable_xstate import create_actor
from durable_xstate.actors import DurableClock
from durable_xstate.cli.timers import tick_store
from durable_xstate.loader import load_machine
from durable_xstate.persistence import PersistableActor, reindex
from durable_xstate.stores import LockableStorage, MemoryStore, Versioned

SWITCH = """\
id: toggle
initial: off
states:
  off:
    on:
      FLIP: on
  on:
    on:
      FLIP: off
"""


@pytest.fixture
def switch(tmp_path: Path) -> str:
    """The toggle without its timer: what it lists does not depend on how fast the machine runs."""
    path = tmp_path / "switch.yaml"
    path.write_text(SWITCH)
    return str(path)


def ids(out: str) -> list[str]:
    return [row["id"] for row in json.loads(out)]


def test_list_filters_by_machine_status_and_state_and_pages(tmp_path: Path, switch: str) -> None:
    runner, store = CliRunner(), f"file://{tmp_path / 'store'}"
    for n in range(5):
        ok(runner, "send", switch, f"t{n}", "FLIP", "--store", store)  # on
    ok(runner, "send", switch, "t1", "FLIP", "--store", store)  # back off
    ok(runner, "send", "durable_xstate.examples.order:machine", "o1", "ADD_ITEM", "--store", store)
    assert ids(ok(runner, "list", "--store", store, "--json", "--state", "on")) == ["t0", "t2", "t3", "t4"]
    assert ids(ok(runner, "list", "--store", store, "--json", "--state", "off")) == ["t1"]
    assert ids(ok(runner, "list", "--store", store, "--json", "--machine", "order")) == ["o1"]
    assert ids(ok(runner, "list", "--store", store, "--json", "--status", "active", "--machine", "toggle",
                  "--state", "on", "--limit", "2")) == ["t0", "t2"]
    assert ids(ok(runner, "list", "--store", store, "--json", "--state", "on", "--after", "t2")) == ["t3", "t4"]
    assert ids(ok(runner, "list", "--store", store, "--json", "--prefix", "t", "--limit", "3")) == ["t0", "t1", "t2"]
    assert "more: --after t2" in ok(runner, "list", "--store", store, "--prefix", "t", "--limit", "3")
    assert ids(ok(runner, "list", "--store", store, "--json", "--status", "done")) == []


class CountingReads(LockableStorage):
    """A real memory store that counts the values read (to show what a tick costs)."""

    def __init__(self) -> None:
        m = MemoryStore()
        super().__init__(m, m)
        self.reads: list[str] = []

    async def read(self, key: str) -> Versioned | None:
        self.reads.append(key)
        return await super().read(key)


def test_tick_reads_only_what_the_index_says_is_due(toggle: str) -> None:
    machine = load_machine(toggle)

    async def scenario() -> Any:
        store = CountingReads()
        clock = [1_000_000.0]

        async def flip(actor_id: str, at: float) -> None:
            clock[0] = at
            pa = PersistableActor(id=actor_id, storage=store, actor_creator=lambda i, s: create_actor(machine, id=i, snapshot=s),
                                  clock=DurableClock(lambda: clock[0]))
            await pa.init()
            pa.actor.send({"type": "FLIP"})
            await pa.save()
            await pa.close()

        for n in range(50):  # 50 actors in state on, due 200 ms after their flip, spread over time
            await flip(f"t{n}", 1_000_000.0 + 1000 * n)
        store.reads.clear()
        report = await tick_store(store, [machine], now_ms=1_000_000.0 + 1000 * 2 + 250)
        return store.reads, report

    reads, report = asyncio.run(scenario())
    assert sorted(f.actor_id for f in report.fired) == ["t0", "t1", "t2"]
    assert report.next_due is not None and report.next_due[0] == "t3"
    # the due three (before and after firing, by run_due and by tick), and the next one: not the other 46
    assert {k for k in reads} <= {"t0.json", "t1.json", "t2.json", "t3.json"}


def test_reindex_gives_records_written_without_an_entry_their_entry() -> None:
    async def scenario() -> tuple[list[str], list[str], int]:
        m = MemoryStore()
        store = LockableStorage(m, m)
        pa = PersistableActor(id="o1", storage=store,
                              actor_creator=lambda i, s: create_actor(load_machine("durable_xstate.examples.order:machine"),
                                                                      id=i, snapshot=s))
        await pa.init()
        pa.actor.send({"type": "ADD_ITEM"})
        await pa.save()
        await pa.close()
        stored = await store.read("o1.json")
        assert stored is not None
        await store.write("o1.json", stored.data, stored.version)  # as an earlier version wrote it: no entry
        await store.write("junk.json", b"not a record")
        before = (await store.find_page("", {"state": "cart"})).keys
        done, failed = await reindex(store)
        after = (await store.find_page("", {"state": "cart"})).keys
        assert list(failed) == ["junk.json"]
        return before, after, done

    before, after, done = asyncio.run(scenario())
    assert before == [] and after == ["o1.json"] and done == 1
