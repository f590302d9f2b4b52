"""What the command line says: no store is created by a command that only reads, a missing extra is one
line naming it, --version, durations as durations, ids never wrapped, flags shown as flags, an unhandled
event and an empty id refused with a clear message."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from harness import HANG_SECONDS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cli import ORDER, ok, record, run
from typer.testing import CliRunner

from durable_xstate.describe import duration_text

ROOT = Path(__file__).resolve().parents[2]

LONG_DELAY_YAML = """\
id: slow
initial: waiting
states:
  waiting:
    on:
      START: running
  running:
    after:
      172800000: finished
      2700000: reminded
  reminded: {}
  finished:
    type: final
"""


def one_line_error(result: Any, code: int = 1) -> str:
    """Exit status ``code``, exactly one line on stderr starting with ``error:``, no traceback."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# ---------------------------------------------------------------------------------------------- no such store
def read_only_commands(actor: str) -> list[list[str]]:
    return [["list"], ["show", actor], ["show", actor, "--json"], ["history", actor], ["diagram", ORDER, actor],
            ["replay", actor, "-m", ORDER], ["serve", "--port", "0"]]


@pytest.mark.parametrize("command", read_only_commands("o1"), ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("scheme", ["file", "sqlite"])
def test_a_read_only_command_never_creates_a_store(
    runner: CliRunner, tmp_path: Path, command: list[str], scheme: str
) -> None:
    where = tmp_path / "typo" / ("stroe" if scheme == "file" else "actors.db")
    url = f"{scheme}://{where}"
    line = one_line_error(run(runner, *command, "--store", url))
    assert line == f"error: no such store: {url}"
    assert not where.exists() and not where.parent.exists()  # nothing created, not even the parent


def test_a_read_only_command_on_a_missing_default_store(runner: CliRunner, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DURABLE_XSTATE_STORE", raising=False)
    assert one_line_error(run(runner, "list")) == "error: no such store: file://.durable-xstate"
    assert list(tmp_path.iterdir()) == []


def test_writing_commands_create_the_store_then_reading_works(runner: CliRunner, tmp_path: Path) -> None:
    db = tmp_path / "actors.db"
    url = f"sqlite://{db}"
    ok(runner, "send", ORDER, "o1", "ADD_ITEM", "--store", url)
    assert db.is_file()
    assert "o1" in ok(runner, "list", "--store", url)
    folder = tmp_path / "files"
    ok(runner, "tick", "--store", f"file://{folder}")  # a writing command may create it, as before
    assert folder.is_dir()
    assert "no actors in" in ok(runner, "list", "--store", f"file://{folder}")  # there, and empty


# ---------------------------------------------------------------------------------------------- missing extras
def extras() -> dict[str, list[str]]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        found: dict[str, list[str]] = tomllib.load(f)["project"]["optional-dependencies"]
    return found


def requirement_names(extra: str) -> set[str]:
    return {re.split(r"[\[<>=!~ ;]", req, maxsplit=1)[0].lower() for req in extras()[extra]}


# every store scheme whose client is optional: (URL, the module that is missing, its distribution)
SCHEMES = [
    ("redis://127.0.0.1:1/0", "redis", "redis"),
    ("rediss://127.0.0.1:1/0", "redis", "redis"),
    ("postgresql://u@127.0.0.1:1/db", "psycopg", "psycopg"),
    ("postgres://u@127.0.0.1:1/db", "psycopg", "psycopg"),
    ("s3://bucket/prefix/?region=us-east-1", "boto3", "boto3"),
    ("dynamodb://table?region=us-east-1", "boto3", "boto3"),
    ("azure://account/container/prefix/", "azure", "azure-storage-blob"),
    ("azure+http://127.0.0.1:1/devstoreaccount1/container/", "azure", "azure-storage-blob"),
    ("azure+https://127.0.0.1:1/devstoreaccount1/container/", "azure", "azure-storage-blob"),
]


def test_every_optional_scheme_is_checked() -> None:
    from durable_xstate.stores import _BACKENDS, _EXTRAS

    assert {url.split(":", 1)[0] for url, _, _ in SCHEMES} == set(_BACKENDS) - {"memory", "file", "sqlite"}
    assert set(_EXTRAS) == {url.split(":", 1)[0] for url, _, _ in SCHEMES}


BACKEND_MODULES = ("durable_xstate.stores.redis", "durable_xstate.stores.postgres", "durable_xstate.stores.s3",
                   "durable_xstate.stores.dynamodb", "durable_xstate.stores._aws", "durable_xstate.stores._s3_index",
                   "durable_xstate.stores.azure", "durable_xstate.stores._azure_blobs",
                   "durable_xstate.stores._azure_index", "durable_xstate.inspector")


def hide(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``modules`` (and their submodules) unimportable, as when the package is not installed; the
    modules of ours that import them are imported afresh."""
    for name in list(sys.modules):
        if name.split(".")[0] in modules or name.startswith(BACKEND_MODULES):
            monkeypatch.delitem(sys.modules, name)
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


@pytest.mark.parametrize(("url", "module", "distribution"), SCHEMES, ids=[u.split(":")[0] for u, _, _ in SCHEMES])
@pytest.mark.parametrize("command", [["list"], ["show", "o1"], ["send", ORDER, "o1", "ADD_ITEM"]],
                         ids=["list", "show", "send"])
def test_a_missing_client_is_one_line_naming_the_extra(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, url: str, module: str, distribution: str, command: list[str]
) -> None:
    hide(monkeypatch, module, *(("botocore",) if module == "boto3" else ()))
    line = one_line_error(run(runner, *command, "--store", url))
    found = re.search(r"pip install 'durable-xstate\[(\w+)\]'", line)
    assert found, line
    extra = found.group(1)
    assert extra in extras() and distribution in requirement_names(extra), (extra, line)


def test_serve_without_the_inspector_extra(runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    hide(monkeypatch, "starlette", "uvicorn")
    line = one_line_error(run(runner, "serve", "--port", "0", "--store", f"file://{tmp_path}"))
    assert "pip install 'durable-xstate[inspector]'" in line
    assert {"starlette", "uvicorn"} <= requirement_names("inspector")


def test_without_opentelemetry_the_command_line_works(tmp_path: Path) -> None:
    """The otel extra is optional everywhere: without it telemetry stays off, and nothing asks for it."""
    code = ("import sys; sys.modules['opentelemetry'] = None\n"
            "from durable_xstate.cli import main\n"
            f"sys.argv = ['durable-xstate', 'send', {ORDER!r}, 'o1', 'ADD_ITEM', '--store', 'file://{tmp_path}']\n"
            "main()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=HANG_SECONDS,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert "state cart" in done.stdout and (tmp_path / "o1.json").exists()


# ---------------------------------------------------------------------------------------------- --version, --help
def test_version(runner: CliRunner) -> None:
    result = run(runner, "--version")
    assert result.exit_code == 0
    assert result.stdout == f"durable-xstate {importlib.metadata.version('durable-xstate')}\n"


def test_the_console_script_prints_its_version() -> None:
    script = Path(sys.executable).parent / "durable-xstate"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=HANG_SECONDS)
    assert done.returncode == 0 and done.stdout.strip() == f"durable-xstate {importlib.metadata.version('durable-xstate')}"


COMMANDS = ["send", "show", "list", "tick", "worker", "history", "replay", "reindex", "delete", "diagram", "serve",
            "demo"]


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_shows_flags_as_flags_and_arguments_by_name(runner: CliRunner, command: str) -> None:
    result = runner.invoke(__import__("durable_xstate.cli", fromlist=["app"]).app, [*command.split(), "--help"],
                           env={"COLUMNS": "100"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert not re.search(r"<(bool|str|int|float|Path)", text), text  # a flag takes no value; values are named
    flowing = " ".join(text.split())
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage, usage
    if command == "send":
        assert "MACHINE ID EVENT" in usage and "--allow-unhandled" in text and "exit status 2" in flowing
    if command == "diagram":
        assert "MACHINE [ID]" in usage and "--format" in text and "mermaid|dot|svg|png" in text
    if command == "":
        assert "--version" in text


# ---------------------------------------------------------------------------------------------- durations, ids
def parse_duration(text: str) -> float:
    total = 0.0
    for amount, unit in re.findall(r"([\d.]+)(ms|d|h|m|s)", text):
        total += float(amount) * {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}[unit]
    assert re.fullmatch(r"(?:[\d.]+(?:ms|d|h|m|s))+", text), text
    return total


@given(ms=st.one_of(st.integers(0, 10**12), st.floats(0, 10**9, allow_nan=False)))
def test_a_duration_reads_back_as_the_same_delay(ms: float) -> None:
    text = duration_text(ms)
    assert "e+" not in text and "e-" not in text
    back = parse_duration(text)
    assert abs(back - ms) <= (0.0005 if ms < 1000 else 0.5), (ms, text)


def test_durations_as_people_write_them() -> None:
    assert [duration_text(ms) for ms in (250, 1500, 900_000, 5_400_000, 172_800_000, 14 * 86_400_000)] == [
        "250ms", "1.5s", "15m", "1h30m", "48h", "14d"]


def test_show_and_send_print_delays_as_durations(runner: CliRunner, store: str, tmp_path: Path) -> None:
    machine = tmp_path / "slow.yaml"
    machine.write_text(LONG_DELAY_YAML)
    out = ok(runner, "send", str(machine), "s1", "START", "--store", store)
    assert "after 48h (running) due" in out and "after 45m (running) due" in out
    shown = ok(runner, "show", "s1", "--store", store)
    assert re.search(r"after 48h \(running\)\s.*\s48h\s", shown) and "45m" in shown
    assert "e+" not in shown and " ms" not in shown and "172800000" not in shown


def test_long_ids_are_never_wrapped(runner: CliRunner, store: str) -> None:
    long_id = "order-" + "0123456789abcdef" * 6
    ok(runner, "send", ORDER, long_id, "ADD_ITEM", "--store", store)
    ok(runner, "send", ORDER, "o2", "CHECKOUT", "--store", store)  # an outbox entry (the rejection)
    listed = runner.invoke(__import__("durable_xstate.cli", fromlist=["app"]).app, ["list", "--store", store],
                           env={"COLUMNS": "60"}, catch_exceptions=False)
    assert listed.exit_code == 0
    assert any(long_id in line for line in listed.stdout.splitlines()), listed.stdout
    shown = ok(runner, "show", "o2", "--store", store)
    outbox_id = record(store, "o2")["outbox"][0]["id"]
    assert any(outbox_id in line for line in shown.splitlines()), shown


# ---------------------------------------------------------------------------------------------- send: unhandled
def test_an_unhandled_event_exits_2_and_changes_nothing(runner: CliRunner, store: str) -> None:
    ok(runner, "send", ORDER, "o1", "ADD_ITEM", "--store", store)
    before = record(store, "o1")
    line = one_line_error(run(runner, "send", ORDER, "o1", "PICKED", "--store", store), code=2)
    assert line.startswith("error: PICKED was not handled in state cart (nothing changed)")
    assert "--allow-unhandled" in line
    assert record(store, "o1") == before
    one_line_error(run(runner, "send", ORDER, "o1", "PICKED", "--json", "--store", store), code=2)
    assert record(store, "o1")["revision"] == before["revision"]


def test_allow_unhandled_accepts_it_with_a_note(runner: CliRunner, store: str) -> None:
    ok(runner, "send", ORDER, "o1", "ADD_ITEM", "--store", store)
    out = ok(runner, "send", ORDER, "o1", "PICKED", "--allow-unhandled", "--store", store)
    assert "note: PICKED was not handled in cart" in out
    data = json.loads(ok(runner, "send", ORDER, "o1", "PICKED", "--allow-unhandled", "--json", "--store", store))
    assert data["handled"] is False and data["revision"] == 1  # an event that changes nothing writes nothing
    ok(runner, "send", ORDER, "o2", "PICKED", "--allow-unhandled", "--store", store)
    assert record(store, "o2")["snapshot"]["value"] == "cart"  # created, as before


def test_an_unhandled_first_event_does_not_create_the_actor(runner: CliRunner, store: str) -> None:
    line = one_line_error(run(runner, "send", ORDER, "o1", "PICKED", "--store", store), code=2)
    assert "not handled in state cart (nothing changed, the actor was not created)" in line
    assert "no actor 'o1'" in one_line_error(run(runner, "show", "o1", "--store", store))


def test_an_event_to_a_finished_actor_says_it_is_done(runner: CliRunner, store: str, tmp_path: Path) -> None:
    machine = tmp_path / "once.yaml"
    machine.write_text("id: once\ninitial: a\nstates:\n  a:\n    on:\n      GO: b\n  b:\n    type: final\n")
    ok(runner, "send", str(machine), "x", "GO", "--store", store)
    line = one_line_error(run(runner, "send", str(machine), "x", "GO", "--store", store), code=2)
    assert "GO was not handled in state b (nothing changed; the actor is done)" in line


# ---------------------------------------------------------------------------------------------- empty ids
@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(blank=st.text(alphabet=" \t\n\r\x0b\x0c\u00a0\u2003", max_size=4))
def test_an_empty_id_is_refused_by_every_command(runner: CliRunner, tmp_path: Path, blank: str) -> None:
    where = tmp_path / "never"
    url = f"file://{where}"
    for command in (["send", ORDER, blank, "ADD_ITEM"], ["show", blank], ["history", blank], ["delete", blank, "--yes"],
                    ["diagram", ORDER, blank], ["replay", blank, "-m", ORDER]):
        line = one_line_error(run(runner, *command, "--store", url))
        assert line.startswith("error: the actor id is empty"), (command, line)
    assert not where.exists()
