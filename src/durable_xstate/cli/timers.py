"""``tick``: fire the timers that fell due and delete expired actors, across a store."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from ..loader import load_machine
from ..machine.machine import StateMachine
from ..persistence import RunDueResult, StoredRecord, Timer, cleanup, run_due
from ..persistence.index import due_keys
from ..persistence.index import next_due as next_due_actor
from ..persistence.listing import ListedActor, all_actors, read_listed
from ..stores import LockableStorage
from .app import (
    DEFAULT_STORE,
    JsonFlag,
    LockOption,
    MachinesOption,
    StoreOption,
    _friendly_errors,
    _library_logging,
    _one_line,
    _opened,
    _read_record,
    _stdout,
    app,
)
from .render import (
    _dumps,
    _event_text,
    _iso,
    _machine_name,
    _status_text,
    _timer_name,
    _when,
    format_value,
)


# ---------------------------------------------------------------------------------------------- tick
@dataclass
class FiredActor:
    actor_id: str
    machine_id: str | None
    before: Any
    after: Any
    status: Any
    timers: list[Timer]
    emitted: list[dict[str, Any]]


@dataclass
class TickReport:
    """What ``tick_store`` did: advanced actors, actors it could not advance and why, deletions."""

    now_ms: float
    fired: list[FiredActor] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (id, why)
    busy: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (id, error): loaded but not advanced
    deleted: list[str] = field(default_factory=list)
    next_due: tuple[str, float] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now_ms,
            "fired": [
                {"id": f.actor_id, "before": f.before, "after": f.after, "status": f.status,
                 "timers": [t.to_json() for t in f.timers], "emitted": f.emitted}
                for f in self.fired
            ],
            "skipped": [{"id": i, "reason": r} for i, r in self.skipped],
            "busy": self.busy,
            "unreadable": [{"id": i, "error": e} for i, e in self.unreadable],
            "failed": [{"id": i, "error": e} for i, e in self.failed],
            "deleted": self.deleted,
            "nextDue": None if self.next_due is None else {"id": self.next_due[0], "dueAt": self.next_due[1]},
        }


async def tick_store(store: LockableStorage, machines: list[StateMachine], *, now_ms: float | None = None) -> TickReport:
    """``run_due`` for the actors of ``machines`` (matched by machine id and version), then ``cleanup``."""
    now = time.time() * 1000 if now_ms is None else now_ms
    by_name = {(m.id, m.version): m for m in machines}
    known = ", ".join(f"{m.id}@{m.version}" if m.version else m.id for m in machines) or "none"

    def resolve(machine_id: str | None, version: str | None) -> StateMachine | None:
        return by_name.get((machine_id, version)) if machine_id is not None else None

    report = TickReport(now_ms=now)
    due: dict[str, StoredRecord] = {}
    later: list[tuple[str, float]] = []
    for item in await _due_records(store, now):
        record = item.record
        if record is None:
            report.unreadable.append((item.id, _one_line(item.error) if item.error else ""))
            continue
        next_due = record.next_due_at
        if next_due is None:
            continue
        if next_due > now:
            later.append((item.id, next_due))
        elif resolve(record.machine_id, record.machine_version) is None:
            report.skipped.append((item.id, f"machine {_machine_name(record)} was not given "
                                                  f"(--machine; given: {known})"))
        else:
            due[item.id] = record
    result = await run_due(store, resolve, now_ms=now) if due else RunDueResult()
    fired = set(result)
    for actor_id, before in due.items():
        if actor_id in result.failed:  # e.g. a snapshot that does not fit, an action that raises
            report.failed.append((actor_id, _one_line(result.failed[actor_id])))
            continue
        if actor_id in result.skipped:
            report.skipped.append((actor_id, result.skipped[actor_id]))
            continue
        if actor_id not in fired:
            report.busy.append(actor_id)
            continue
        after = await _read_record(store, actor_id)
        after_snapshot = (after.snapshot if after else None) or {}
        prefix = f"{actor_id}/{after.revision}/" if after else "\0"
        report.fired.append(FiredActor(
            actor_id=actor_id,
            machine_id=before.machine_id,
            before=(before.snapshot or {}).get("value"),
            after=after_snapshot.get("value"),
            status=after_snapshot.get("status"),
            timers=[t for t in before.timers if t.due_at <= now],
            emitted=[dict(o["event"]) for o in (after.outbox if after else []) if str(o.get("id", "")).startswith(prefix)],
        ))
        if after is not None and after.next_due_at is not None:
            later.append((actor_id, after.next_due_at))
    report.deleted = await cleanup(store, now_ms=now)
    if store.indexes:  # the index names the next due actor; nothing else was read
        upcoming = await next_due_actor(store, "", now)
        if upcoming is not None:
            later.append(upcoming)
    if later:
        report.next_due = min(later, key=lambda item: item[1])
    return report


async def _due_records(store: LockableStorage, now: float) -> list[ListedActor]:
    """The records that may be due at ``now``: what the index says is due (a stale entry is re-checked
    by the caller), or every record of a store without an index."""
    if not store.indexes:
        return await all_actors(store)
    found: list[ListedActor] = []
    async for key in due_keys(store, "", now):
        item = await read_listed(store, key)
        if item is not None:
            found.append(item)
    return found


def render_tick(console: Console, report: TickReport, *, indent: str = "") -> None:
    if not (report.fired or report.skipped or report.busy or report.deleted or report.unreadable or report.failed):
        console.print(Text(f"{indent}nothing due", style="dim"))
    for fired in report.fired:
        line = Text(f"{indent}fired ", style="bold")
        line.append(fired.actor_id, style="bold")
        line.append(f": {format_value(fired.before)} -> ")
        line.append(format_value(fired.after), style="bold cyan")
        line.append("  status ")
        line.append_text(_status_text(fired.status))
        console.print(line)
        for timer in fired.timers:
            name = _timer_name(timer, fired.machine_id)
            console.print(Text(f"{indent}  timer {name} was due at {_iso(timer.due_at)}", style="dim"))
        for event in fired.emitted:
            console.print(Text(f"{indent}  emitted {_event_text(event)}", style="green"))
    for actor_id, why in report.skipped:
        console.print(Text(f"{indent}skipped {actor_id}: {why}", style="yellow"))
    for actor_id in report.busy:
        console.print(Text(f"{indent}busy {actor_id}: another process holds or just saved it; "
                           "it fires its own due timers", style="yellow"))
    for actor_id, problem in report.unreadable:
        console.print(Text(f"{indent}unreadable {actor_id}: {problem}", style="red"))
    for actor_id, problem in report.failed:
        console.print(Text(f"{indent}failed {actor_id}: {problem}", style="red"))
    for actor_id in report.deleted:
        console.print(Text(f"{indent}deleted expired actor {actor_id}"))
    if report.next_due is not None:
        console.print(Text(f"{indent}next timer: {report.next_due[0]} due {_when(report.next_due[1], time.time() * 1000)}",
                           style="dim"))


@app.command()
@_friendly_errors
def tick(
    machine: MachinesOption = None,
    store: StoreOption = DEFAULT_STORE,
    lock: LockOption = None,
    as_json: JsonFlag = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show the library's log.")] = False,
) -> None:
    """Fire the timers that fell due (run_due) and delete expired actors (cleanup); print what fired.

    Records name their machine by id and version only, so the machines to run come from --machine;
    actors of other machines are reported as skipped. Meant for cron or a scheduler.
    """
    machines = [load_machine(spec) for spec in machine or []]

    async def run() -> TickReport:
        async with _opened(store, lock) as opened:
            return await tick_store(opened, machines)

    # run_due logs what it skips; the report says the same, so its log shows only with --verbose
    with _library_logging(logging.INFO if verbose else logging.ERROR):
        report = asyncio.run(run())
    if as_json:
        typer.echo(_dumps(report.to_json()))
    else:
        render_tick(_stdout(), report)


