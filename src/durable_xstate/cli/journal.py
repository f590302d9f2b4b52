"""``history`` (an actor's journal) and ``replay`` (re-run it on a machine: does it still reproduce?)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from ..actors.actor import create_actor
from ..loader import load_machine
from ..persistence import JournalEntry, ReplayReport, StoredRecord, replay
from ..persistence.journal import entries
from .app import (
    DEFAULT_STORE,
    CliError,
    JsonFlag,
    LockOption,
    StoreOption,
    _friendly_errors,
    _key,
    _opened,
    _redact,
    _stdout,
    actor_id_arg,
    app,
)
from .render import _dumps, format_value, print_table


async def _record(store: str, lock: str | None, id: str) -> StoredRecord:
    key = _key(id)
    async with _opened(store, lock, must_exist=True) as opened:  # read-only: never creates the store
        stored = await opened.read(key)
    if stored is None:
        raise CliError(f"no actor {id!r} in {_redact(store)}")
    return StoredRecord.decode(stored.data, key=_key(id), version=stored.version)


def _main_event(entry: JournalEntry) -> Any:
    """The event a person would name a revision by: the first sent from outside, else the first."""
    sent = [e["event"] for e in entry.events if e.get("from") == "send"]
    return sent[0] if sent else (entry.events[0]["event"] if entry.events else None)


@app.command()
@_friendly_errors
def history(
    id: Annotated[str, typer.Argument(metavar="ID", help="The actor's id.")],
    store: StoreOption = DEFAULT_STORE,
    lock: LockOption = None,
    as_json: JsonFlag = False,
    since: Annotated[int | None, typer.Option("--since", help="From this revision on.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most this many revisions.")] = None,
) -> None:
    """The journal of actor ID: each committed revision, its events, the state it left, what it emitted."""
    actor_id_arg(id)
    found = entries(asyncio.run(_record(store, lock, id)))
    if since is not None:
        found = [e for e in found if e.revision >= since]
    if limit is not None:
        found = found[:limit]
    if as_json:
        typer.echo(_dumps([{"revision": e.revision, "event": _main_event(e), **e.to_json()} for e in found]))
        return
    console = _stdout()
    if not found:
        console.print(Text(f"no journal for {id!r} (written before the journal, or with journal=False)", style="dim"))
        return
    table = Table()
    for column in ("rev", "at", "events", "state", "status", "emitted"):
        table.add_column(column, overflow="fold", no_wrap=column in ("rev", "at"))
    for e in found:
        events = ", ".join(
            str(d["event"].get("type")) + ("" if d.get("from") == "send" else f" ({d.get('from')})")
            for d in e.events if isinstance(d.get("event"), dict)
        )
        emitted = ", ".join(str(x.get("type")) for x in e.emitted if isinstance(x, dict))
        table.add_row(Text(str(e.revision) + (" *" if e.checkpoint else "")), Text(e.at), Text(events or "-"),
                      Text(format_value(e.state)), Text(str(e.status)), Text(emitted or "-"))
    print_table(console, table)
    console.print(Text("* a checkpoint: replay starts there", style="dim"))


@app.command("replay")
@_friendly_errors
def replay_command(
    id: Annotated[str, typer.Argument(metavar="ID", help="The actor's id.")],
    machine: Annotated[str, typer.Option("--machine", "-m", metavar="MACHINE",
                                         help="The machine to replay on (file or package.module:attribute).")],
    to: Annotated[int | None, typer.Option("--to", help="Stop at this revision (default: the newest).")] = None,
    store: StoreOption = DEFAULT_STORE,
    lock: LockOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Re-run the journal of ID on MACHINE from its oldest checkpoint: does MACHINE still reproduce it?

    Run it before deploying a new version. Prints the state at --to (time travel). Actions run again:
    replay where they do no harm. Exit status 1 when the history is not reproduced."""
    actor_id_arg(id)
    logic = load_machine(machine)
    record = asyncio.run(_record(store, lock, id))
    report = replay(record, lambda i, s: create_actor(logic, id=i, snapshot=s), to=to)
    if as_json:
        typer.echo(_dumps(_report_json(report)))
    else:
        _render(report)
    if not report.reproduces:
        raise typer.Exit(1)


def _report_json(report: ReplayReport) -> dict[str, Any]:
    return {"id": report.id, "from": report.start, "to": report.end, "reproduces": report.reproduces,
            "checked": report.checked, "divergedAt": report.diverged_at, "expected": report.expected,
            "actual": report.actual, "snapshot": report.snapshot}


def _render(report: ReplayReport) -> None:
    console = _stdout()
    if report.reproduces:
        console.print(Text(f"reproduces revisions {report.start}..{report.end} of {report.id} "
                           f"({report.checked} replayed)", style="green"))
    else:
        console.print(Text(f"does not reproduce revision {report.diverged_at} of {report.id}", style="bold red"))
        console.print(Text(f"  journal: {format_value(report.expected)}"))
        console.print(Text(f"  machine: {format_value(report.actual)}"))
    if report.snapshot is not None:
        console.print(Text(f"state at revision {report.end if report.reproduces else report.diverged_at}: "
                           f"{format_value(report.snapshot.get('value'))} ({report.snapshot.get('status')})"))
