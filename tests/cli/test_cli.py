"""The durable-xstate command line, on a temporary file:// store (and once as the installed console script)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import HANG_SECONDS
from typer.testing import CliRunner

from durable_xstate import cli
from durable_xstate.cli import app, normalize_store_url
from durable_xstate.errors import (
    InvalidKey,
    LockTimeout,
    MachineConfigError,
    MachineMismatch,
    RecordError,
    StoreUnavailable,
    WriteConflict,
)
from durable_xstate.examples.order import ORDER_CONFIG
from durable_xstate.stores import IndexEntry, open_store

ORDER = "durable_xstate.examples.order:machine"

TOGGLE_YAML = """\
# YAML 1.1 would read the keys on/off as booleans; machine files keep them strings
id: toggle
initial: off
states:
  off:
    on:
      FLIP: on
  on:
    after:
      200: off
    on:
      FLIP: off
"""


class FakeTime:
    """The wall clock the commands read (``time.time``), moved only by the test and by the commands' own
    ``asyncio.sleep``: what a test proves about timers does not depend on how fast the machine is."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = time.time()
        self.slept: list[float] = []
        real_sleep = asyncio.sleep

        async def sleep(delay: float, result: Any = None) -> Any:
            self.slept.append(delay)
            self.advance(max(delay, 0))
            return await real_sleep(0, result)

        monkeypatch.setattr(time, "time", lambda: self.now)
        monkeypatch.setattr(asyncio, "sleep", sleep)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def run(runner: CliRunner, *args: str) -> Any:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result


def ok(runner: CliRunner, *args: str) -> str:
    result = run(runner, *args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return str(result.stdout)


def fails(runner: CliRunner, *args: str, code: int = 1) -> str:
    """The command exits with ``code`` and says why in exactly one line on stderr, without a traceback."""
    result = run(runner, *args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.output
    if code == 1:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return str(result.stderr)


def record(store_url: str, actor_id: str) -> dict[str, Any]:
    async def read() -> Any:
        store = open_store(store_url)
        try:
            return await store.read(f"{actor_id}.json")
        finally:
            await store.close()

    stored = asyncio.run(read())
    assert stored is not None
    data: dict[str, Any] = json.loads(stored.data)
    return data


# ---------------------------------------------------------------------------------------------- send
def test_send_creates_the_actor_then_applies_events_durably(runner: CliRunner, store: str, clock: FakeTime) -> None:
    out = ok(runner, "send", ORDER, "o1", "ADD_ITEM", "--data", '{"sku": "book", "price": 25}', "--store", store)
    assert "created o1" in out and "state cart" in out and "revision 1" in out
    assert '"total": 25' in out
    out = ok(runner, "send", ORDER, "o1", "CHECKOUT", "--store", store)
    assert "created" not in out and "state awaitingPayment" in out and "revision 2" in out
    assert "after paymentTimeout (awaitingPayment) due" in out and "(in 15m)" in out
    saved = record(store, "o1")
    assert saved["snapshot"]["value"] == "awaitingPayment" and saved["revision"] == 2
    assert saved["machine"] == {"id": "order", "version": "1"}


def test_send_prints_emitted_events_and_unhandled_events(runner: CliRunner, store: str) -> None:
    out = ok(runner, "send", ORDER, "o1", "CHECKOUT", "--store", store)
    assert 'emitted order.rejected {"reason": "the cart is empty"}' in out
    out = ok(runner, "send", ORDER, "o1", "PICKED", "--allow-unhandled", "--store", store)
    assert "note: PICKED was not handled in cart" in out


def test_send_json_output_and_event_given_as_json(runner: CliRunner, store: str) -> None:
    out = ok(runner, "send", ORDER, "o1", '{"type": "ADD_ITEM", "price": 5, "qty": 2}', "--store", store, "--json")
    data = json.loads(out)
    assert data["created"] is True and data["handled"] is True and data["revision"] == 1
    assert data["value"] == "cart" and data["status"] == "active" and data["context"]["total"] == 10
    out = ok(runner, "send", ORDER, "o1", "CHECKOUT", "--store", store, "--json")
    data = json.loads(out)
    assert data["value"] == "awaitingPayment" and data["emitted"] == []
    assert [t["event"]["type"] for t in data["timers"]] == ["xstate.after.paymentTimeout.order.awaitingPayment"]


def test_send_rejects_malformed_data_as_a_usage_error(runner: CliRunner, store: str) -> None:
    fails(runner, "send", ORDER, "o1", "ADD_ITEM", "--data", "[1]", "--store", store, code=2)
    fails(runner, "send", ORDER, "o1", "ADD_ITEM", "--data", "{nope", "--store", store, code=2)
    fails(runner, "send", ORDER, "o1", "ADD_ITEM", "--data", '{"type": "PAY"}', "--store", store, code=2)


def test_machine_from_a_config_file_with_python_implementations(runner: CliRunner, store: str, tmp_path: Path) -> None:
    path = tmp_path / "order.json"
    path.write_text(json.dumps({"machine": ORDER_CONFIG,
                                "implementations": "durable_xstate.examples.order:implementations"}))
    ok(runner, "send", str(path), "o1", "ADD_ITEM", "--data", '{"price": 3}', "--store", store)
    out = ok(runner, "send", ORDER, "o1", "CHECKOUT", "--store", store)  # the same machine, id and version
    assert "state awaitingPayment" in out


def test_implementations_as_a_mapping_of_references(runner: CliRunner, store: str, tmp_path: Path) -> None:
    module = tmp_path / "toggle_impl.py"
    module.write_text("COUNT = {'count': __import__('durable_xstate').assign({'n': lambda a, p: a.context['n'] + 1})}\n")
    path = tmp_path / "counter.yaml"
    path.write_text(
        "machine:\n  id: counter\n  initial: idle\n  context: {n: 0}\n"
        "  states:\n    idle:\n      on:\n        INC: {actions: count}\n"
        "implementations:\n  actions: toggle_impl:COUNT\n"
    )
    cwd = os.getcwd()
    os.chdir(tmp_path)  # package.module:attribute references import from the current directory
    try:
        ok(runner, "send", str(path), "c1", "INC", "--store", store)
        out = ok(runner, "send", str(path), "c1", "INC", "--store", store, "--json")
    finally:
        os.chdir(cwd)
    assert json.loads(out)["context"] == {"n": 2}


# ---------------------------------------------------------------------------------------------- show, list
def test_show_prints_state_context_timers_and_outbox(runner: CliRunner, store: str) -> None:
    ok(runner, "send", ORDER, "o1", "CHECKOUT", "--store", store)
    ok(runner, "send", ORDER, "o1", "ADD_ITEM", "--data", '{"price": 4}', "--store", store)
    ok(runner, "send", ORDER, "o1", "CHECKOUT", "--store", store)
    out = ok(runner, "show", "o1", "--store", store)
    for expected in ("order@1", "awaitingPayment", "active", "revision", "timers", "after paymentTimeout",
                     "15m", "outbox", "order.rejected", '"total": 4'):
        assert expected in out, expected
    raw = json.loads(ok(runner, "show", "o1", "--store", store, "--json"))
    assert raw["format"] == "durable-xstate.record/1" and raw["revision"] == 3
    assert raw["timers"][0]["dueAt"] == raw["nextDueAt"] and raw["outbox"][0]["event"]["type"] == "order.rejected"


def test_list_shows_machine_state_status_and_next_timer(
    runner: CliRunner, store: str, toggle: str, clock: FakeTime
) -> None:
    assert "no such store" in fails(runner, "list", "--store", store)  # read-only: it creates nothing
    ok(runner, "send", ORDER, "o1", "ADD_ITEM", "--store", store)
    ok(runner, "send", toggle, "t1", "FLIP", "--store", store)
    out = ok(runner, "list", "--store", store)
    assert "o1" in out and "order@1" in out and "cart" in out and "t1" in out and "toggle" in out
    assert "in 0.2s" in out
    rows = {row["id"]: row for row in json.loads(ok(runner, "list", "--store", store, "--json"))}
    assert rows["o1"]["value"] == "cart" and rows["o1"]["nextDueAt"] is None
    assert rows["t1"]["value"] == "on" and rows["t1"]["machine"] == {"id": "toggle", "version": None}
    assert rows["t1"]["nextDueAt"] is not None


def test_list_reports_a_corrupt_record_and_keeps_going(runner: CliRunner, store: str) -> None:
    ok(runner, "send", ORDER, "o1", "ADD_ITEM", "--store", store)
    write(store, "bad.json", b'{"status": "active"}')
    rows = {row["id"]: row for row in json.loads(ok(runner, "list", "--store", store, "--json"))}
    assert "RecordError" in rows["bad"]["error"] and rows["o1"]["value"] == "cart"
    assert "unreadable" in ok(runner, "list", "--store", store)


# ---------------------------------------------------------------------------------------------- timers
def test_a_timer_fires_on_a_later_tick(
    runner: CliRunner, store: str, toggle: str, clock: FakeTime
) -> None:
    ok(runner, "send", toggle, "t1", "FLIP", "--store", store)
    out = ok(runner, "tick", "--machine", toggle, "--store", store)
    assert "nothing due" in out and "next timer: t1" in out
    clock.advance(0.25)
    out = ok(runner, "tick", "--machine", toggle, "--store", store)
    assert "fired t1: on -> off" in out and "after 200ms (on)" in out
    saved = record(store, "t1")
    assert saved["snapshot"]["value"] == "off" and saved["timers"] == []
    assert "nothing due" in ok(runner, "tick", "--machine", toggle, "--store", store)


def test_a_timer_fires_on_a_later_send(
    runner: CliRunner, store: str, toggle: str, clock: FakeTime
) -> None:
    ok(runner, "send", toggle, "t1", "FLIP", "--store", store)
    clock.advance(0.25)
    out = ok(runner, "send", toggle, "t1", "FLIP", "--store", store)  # the timer fires on load: off, then on
    assert "timers that fell due fired on load: on -> off" in out and "state on" in out


def test_tick_json_and_actors_of_machines_not_given_are_skipped(
    runner: CliRunner, store: str, toggle: str, clock: FakeTime
) -> None:
    ok(runner, "send", toggle, "t1", "FLIP", "--store", store)
    clock.advance(0.25)
    out = ok(runner, "tick", "--store", store)
    assert "skipped t1: machine toggle was not given" in out
    report = json.loads(ok(runner, "tick", "--machine", toggle, "--machine", ORDER, "--store", store, "--json"))
    assert [f["id"] for f in report["fired"]] == ["t1"] and report["fired"][0]["after"] == "off"
    assert report["skipped"] == [] and report["busy"] == [] and report["deleted"] == []


def test_tick_deletes_expired_actors(runner: CliRunner, store: str) -> None:
    ok(runner, "send", ORDER, "o1", "ADD_ITEM", "--store", store)
    data = record(store, "o1")
    data["expiresAt"] = time.time() * 1000 - 1
    # as a writer sets it: with the index entry that says when the record is due (here: to expire)
    write(store, "o1.json", json.dumps(data).encode(), replace=True, index=IndexEntry(data["expiresAt"]))
    out = ok(runner, "tick", "--store", store)
    assert "deleted expired actor o1" in out
    fails(runner, "show", "o1", "--store", store)


# ---------------------------------------------------------------------------------------------- delete
def test_delete_asks_for_yes(runner: CliRunner, store: str) -> None:
    ok(runner, "send", ORDER, "o1", "ADD_ITEM", "--store", store)
    assert "without --yes" in fails(runner, "delete", "o1", "--store", store)
    record(store, "o1")  # still there
    out = ok(runner, "delete", "o1", "--yes", "--store", store)
    assert "deleted o1" in out and "order@1" in out
    assert "no actor 'o1'" in fails(runner, "show", "o1", "--store", store)
    assert "no actor 'o1'" in fails(runner, "delete", "o1", "--yes", "--store", store)


def test_delete_waits_for_the_lock_of_a_working_process(runner: CliRunner, store: str) -> None:
    ok(runner, "send", ORDER, "o1", "ADD_ITEM", "--store", store)
    with held_lock(store, "o1.json"):
        assert "LockTimeout" in fails(runner, "delete", "o1", "--yes", "--lock-timeout", "0.1", "--store", store)
    ok(runner, "delete", "o1", "--yes", "--store", store)


# ---------------------------------------------------------------------------------------------- diagram
def test_diagram_draws_nested_parallel_history_final_states_and_guards(runner: CliRunner) -> None:
    out = ok(runner, "diagram", ORDER)
    assert out.startswith("stateDiagram-v2\n")
    for expected in (
        "[*] --> s_cart",
        'state "fulfilment" as s_fulfilment{',
        'state "packing" as s_fulfilment__packing{',
        "[*] --> s_fulfilment__packing__picking",
        "\n        --\n",  # the parallel regions' divider
        'state "resume [H*]" as s_fulfilment__resume',
        "s_fulfilment__packing__packed --> [*]",
        "s_delivered --> [*]",
        "s_cart --> s_awaitingPayment : CHECKOUT [hasItems]",
        "s_awaitingPayment --> s_fulfilment : PAY [paidInFull]",
        "s_awaitingPayment --> s_cancelled : after paymentTimeout",
        "s_fulfilment --> s_shipping : onDone",
        "s_onHold --> s_fulfilment__resume : RESUME",
        "s_cart --> s_cart : ADD_ITEM",  # targetless: a self-loop
    ):
        assert expected in out, expected
    assert "classDef" not in out


def test_diagram_marks_the_active_states_of_an_actor(runner: CliRunner, store: str) -> None:
    for event in ("ADD_ITEM", "CHECKOUT"):
        ok(runner, "send", ORDER, "o1", event, "--store", store)
    ok(runner, "send", ORDER, "o1", "PAY", "--data", '{"amount": 0}', "--store", store)
    out = ok(runner, "diagram", ORDER, "o1", "--store", store)
    assert "classDef active" in out
    assert "class s_fulfilment__packing__picking,s_fulfilment__invoicing__drafting active" in out
    assert '%% active state: {"fulfilment": {"packing": "picking", "invoicing": "drafting"}}' in out
    fenced = ok(runner, "diagram", ORDER, "o1", "--store", store, "--markdown")
    assert fenced.startswith("```mermaid\nstateDiagram-v2\n") and fenced.endswith("```\n")


def test_diagram_of_a_file_needs_no_implementations(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "guarded.json"
    path.write_text(json.dumps({
        "id": "m", "initial": "a",
        "on": {"RESET": ".a"},
        "states": {
            "a": {"on": {"GO": [{"target": "b", "guard": "ready", "actions": "log"}]}, "always": {"target": "c", "guard": {"type": "skip"}}},
            "b": {"type": "final"},
            "c": {"type": "history", "history": "shallow", "target": "a"},
        },
    }))
    out = ok(runner, "diagram", str(path))
    assert "[*] --> s_m" in out and 'state "m" as s_m{' in out  # root transitions: the root is drawn
    assert "s_a --> s_b : GO [ready]" in out and "s_a --> s_c : always [skip]" in out
    assert 'state "c [H]" as s_c' in out and "s_c --> s_a\n" in out and "s_m --> s_a : RESET" in out


# ---------------------------------------------------------------------------------------------- demo
def test_demo_runs_with_no_arguments(runner: CliRunner, clock: FakeTime) -> None:
    out = ok(runner, "demo")
    waits = [d for d in clock.slept if d > 0]  # (yields to the loop are sleep(0))
    assert len(waits) == 1 and 1.5 < waits[0] < 3  # it waits once, for the shipping timer
    for expected in ("run 1: CHECKOUT", "order.rejected", "the stored record after checkout",
                     "after paymentTimeout (awaitingPayment)", "state shipping", "nothing due",
                     "fired order-", "shipping -> delivered", "order.delivered", "status done",
                     "the stored record at the end", "temporary store was removed"):
        assert expected in out, expected


def test_demo_on_a_given_store_keeps_the_actor(runner: CliRunner, store: str, clock: FakeTime) -> None:
    out = ok(runner, "demo", "--store", store)
    rows = json.loads(ok(runner, "list", "--store", store, "--json"))
    assert len(rows) == 1 and rows[0]["value"] == "delivered" and rows[0]["status"] == "done"
    assert f"durable-xstate show {rows[0]['id']} --store {store}" in out


# ---------------------------------------------------------------------------------------------- errors
def test_invalid_id(runner: CliRunner, store: str) -> None:
    assert "InvalidKey" in fails(runner, "send", ORDER, "../x", "ADD_ITEM", "--store", store)
    assert "InvalidKey" in fails(runner, "show", "../x", "--store", store)


def test_record_of_another_machine(runner: CliRunner, store: str, toggle: str) -> None:
    ok(runner, "send", ORDER, "o1", "ADD_ITEM", "--store", store)
    err = fails(runner, "send", toggle, "o1", "FLIP", "--store", store)
    assert "MachineMismatch" in err and "'order' version '1'" in err
    assert "MachineMismatch" in fails(runner, "diagram", toggle, "o1", "--store", store)


def test_corrupt_record(runner: CliRunner, store: str) -> None:
    write(store, "bad.json", b"{not json")
    assert "RecordError" in fails(runner, "show", "bad", "--store", store)
    assert "RecordError" in fails(runner, "show", "bad", "--json", "--store", store)
    assert "RecordError" in fails(runner, "send", ORDER, "bad", "ADD_ITEM", "--store", store)
    ok(runner, "delete", "bad", "--yes", "--store", store)  # a corrupt record can still be deleted


def test_lock_held_by_another_process(runner: CliRunner, store: str) -> None:
    ok(runner, "send", ORDER, "o1", "ADD_ITEM", "--store", store)
    with held_lock(store, "o1.json"):
        err = fails(runner, "send", ORDER, "o1", "ADD_ITEM", "--lock-timeout", "0.1", "--store", store)
    assert "LockTimeout: Could not acquire lock on path o1.json." in err and "--lock-timeout" in err
    assert record(store, "o1")["revision"] == 1


def test_bad_machines(runner: CliRunner, store: str, tmp_path: Path) -> None:
    assert "no such file" in fails(runner, "send", str(tmp_path / "nope.json"), "o1", "GO", "--store", store)
    assert "cannot import" in fails(runner, "send", "no_such_module:machine", "o1", "GO", "--store", store)
    assert "no attribute" in fails(runner, "send", "durable_xstate.examples.order:nope", "o1", "GO", "--store", store)
    broken = tmp_path / "broken.json"
    broken.write_text('{"id": "x", "initial": "nope", "states": {"a": {}}}')
    err = fails(runner, "send", str(broken), "o1", "GO", "--store", store)
    assert "MachineConfigError" in err and "initial" in err
    (tmp_path / "invalid.yaml").write_text("id: [unclosed")
    assert "invalid YAML" in fails(runner, "diagram", str(tmp_path / "invalid.yaml"))
    unimplemented = tmp_path / "actions.json"
    unimplemented.write_text('{"id": "x", "initial": "a", "states": {"a": {"on": {"GO": {"actions": "doIt"}}}}}')
    err = fails(runner, "send", str(unimplemented), "o1", "GO", "--store", store)
    assert "unknown action 'doIt'" in err and "implementations" in err
    ok(runner, "diagram", str(unimplemented))  # a diagram does not run anything


def test_bad_store_urls(runner: CliRunner, tmp_path: Path) -> None:
    assert "unknown store URL scheme" in fails(runner, "list", "--store", "bogus://x")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert "StoreUnavailable" in fails(runner, "send", ORDER, "o1", "ADD_ITEM", "--store", f"file://{blocker}/store")


@pytest.mark.parametrize(
    "error",
    [
        RecordError("o1.json", "corrupt"),
        MachineMismatch("o1.json", "another machine"),
        InvalidKey("../x", "no"),
        WriteConflict("o1.json", "1", "2"),
        LockTimeout("o1.json"),
        StoreUnavailable("file", "read", OSError("disk on fire")),
        MachineConfigError("states.a", "broken"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_typed_errors_are_one_line_and_exit_1(
    runner: CliRunner, store: str, error: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def raise_it(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(cli.step, "apply_event", raise_it)  # where the send command looks it up
    err = fails(runner, "send", ORDER, "o1", "ADD_ITEM", "--store", store)
    assert err.startswith(f"error: {type(error).__name__}: ")


# ---------------------------------------------------------------------------------------------- stores
def test_memory_store_and_the_default_store_url() -> None:
    assert normalize_store_url("file://.durable-xstate") == "file://./.durable-xstate"
    assert normalize_store_url("file:///abs/dir") == "file:///abs/dir"
    assert normalize_store_url("file://./rel?fsync=false") == "file://./rel?fsync=false"
    assert normalize_store_url("memory://x") == "memory://x"
    runner = CliRunner()
    ok(runner, "send", ORDER, "m1", "ADD_ITEM", "--store", "memory://cli-test")
    assert json.loads(ok(runner, "show", "m1", "--json", "--store", "memory://cli-test"))["revision"] == 1


def test_the_installed_console_script_on_the_default_store(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "durable-xstate"
    assert script.exists(), "install the package (pip install -e .) to get the durable-xstate script"
    env = {**os.environ, "DURABLE_XSTATE_STORE": ""}
    env.pop("DURABLE_XSTATE_STORE")

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(script), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=HANG_SECONDS)  # a cap for a hang only

    sent = call("send", ORDER, "o1", "ADD_ITEM", "--data", '{"price": 7}')
    assert sent.returncode == 0, sent.stderr
    assert (tmp_path / ".durable-xstate" / "o1.json").exists()  # file://.durable-xstate, in the current directory
    shown = call("show", "o1", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["snapshot"]["context"]["total"] == 7
    missing = call("show", "nobody")
    assert missing.returncode == 1 and missing.stderr.strip() == "error: no actor 'nobody' in file://.durable-xstate"
    assert "Traceback" not in missing.stderr


# ---------------------------------------------------------------------------------------------- helpers
def write(store_url: str, key: str, data: bytes, *, replace: bool = False, index: IndexEntry | None = None) -> None:
    async def put() -> None:
        store = open_store(store_url)
        try:
            current = await store.read(key) if replace else None
            await store.write(key, data, current.version if current else None, index=index)
        finally:
            await store.close()

    asyncio.run(put())


class held_lock:
    """Another process's lease on ``key`` for the duration of the ``with`` block."""

    def __init__(self, store_url: str, key: str) -> None:
        self.store_url, self.key = store_url, key

    def __enter__(self) -> None:
        async def take() -> Any:
            store = open_store(self.store_url)
            try:
                return await store.acquire(self.key, "someone-else", 600.0, 600.0)  # held however slow the test
            finally:
                await store.close()

        self.lease = asyncio.run(take())

    def __exit__(self, *exc: Any) -> None:
        async def give_back() -> None:
            store = open_store(self.store_url)
            try:
                await store.release(self.lease)
            finally:
                await store.close()

        asyncio.run(give_back())


@pytest.fixture(autouse=True)
def _no_store_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("DURABLE_XSTATE_STORE", raising=False)
    monkeypatch.delenv("DURABLE_XSTATE_LOCK", raising=False)
    yield
