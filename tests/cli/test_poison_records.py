"""The commands that read records (show, list, tick) on a store holding poison records: one clear line
for each, the other actors listed and advanced as usual."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "persistence"))

from test_cli import FakeTime, fails, ok, record, write
from test_hardening import POISON

from durable_xstate.stores import IndexEntry


@pytest.mark.parametrize("name", sorted(POISON))
def test_show_prints_one_line_for_a_poison_record(runner: CliRunner, store: str, name: str) -> None:
    write(store, "p.json", POISON[name])
    for args in (("show", "p"), ("show", "p", "--json")):
        if args[-1] == "--json" and name in ("timer-types", "timer-not-object", "outbox-types", "seen-types",
                                              "revision-type", "revision-negative", "machine-types",
                                              "expires-type", "long-format"):
            continue  # well-formed JSON: --json prints it as stored, to look at
        err = fails(runner, *args, "--store", store)
        assert "RecordError" in err and "p.json" in err and len(err) < 500


def test_list_and_tick_go_on_past_poison_records(
    runner: CliRunner, store: str, toggle: str, clock: FakeTime
) -> None:
    ok(runner, "send", toggle, "a", "FLIP", "--store", store)
    ok(runner, "send", toggle, "z", "FLIP", "--store", store)
    for name, data in POISON.items():  # bad bytes behind an entry that says due (they went bad after a write)
        write(store, f"p-{name}.json", data, index=IndexEntry(0.0))
    rows = {row["id"]: row for row in json.loads(ok(runner, "list", "--store", store, "--json"))}
    assert rows["a"]["value"] == "on" and rows["z"]["value"] == "on"
    for name in POISON:
        assert "RecordError" in rows[f"p-{name}"]["error"] and len(rows[f"p-{name}"]["error"]) < 400
    listed = ok(runner, "list", "--store", store)
    lines = [line for line in listed.splitlines() if line.startswith("unreadable p-")]
    assert len(lines) == len(POISON) and all("RecordError" in line for line in lines) and "Traceback" not in listed

    clock.advance(0.25)
    report = json.loads(ok(runner, "tick", "--machine", toggle, "--store", store, "--json"))
    assert sorted(f["id"] for f in report["fired"]) == ["a", "z"]
    assert sorted(u["id"] for u in report["unreadable"]) == sorted(f"p-{n}" for n in POISON)
    assert record(store, "a")["snapshot"]["value"] == "off"
    out = ok(runner, "tick", "--machine", toggle, "--store", store)
    assert out.count("unreadable p-") == len(POISON)


def test_tick_reports_an_actor_that_fails_and_fires_the_others(
    runner: CliRunner, store: str, toggle: str, clock: FakeTime
) -> None:
    ok(runner, "send", toggle, "a", "FLIP", "--store", store)
    ok(runner, "send", toggle, "b", "FLIP", "--store", store)
    data = record(store, "b")
    data["snapshot"]["value"] = "nowhere"  # reads well, does not fit the machine
    write(store, "b.json", json.dumps(data).encode(), replace=True, index=IndexEntry(data["nextDueAt"]))
    clock.advance(0.25)
    report = json.loads(ok(runner, "tick", "--machine", toggle, "--store", store, "--json"))
    assert [f["id"] for f in report["fired"]] == ["a"]
    assert [f["id"] for f in report["failed"]] == ["b"] and "UnusableSnapshot" in report["failed"][0]["error"]
    assert report["busy"] == []
    assert "failed b: UnusableSnapshot" in ok(runner, "tick", "--machine", toggle, "--store", store)
