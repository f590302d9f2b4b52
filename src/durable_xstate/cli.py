"""The ``durable-xstate`` command line: durable actors on the embedded default store, or any store URL.

    durable-xstate send MACHINE ID EVENT [--data JSON]   create the actor if absent, apply EVENT, save
    durable-xstate show ID [--json]                      the stored record
    durable-xstate list [--json]                         every actor in the store
    durable-xstate tick [--machine MACHINE ...]          fire the timers that fell due, delete expired actors
    durable-xstate delete ID --yes                       delete an actor's record
    durable-xstate diagram MACHINE [ID]                  a Mermaid state diagram, ID's active states marked
    durable-xstate demo                                  an order machine, one short-lived process per event

MACHINE is a JSON/YAML config file or ``package.module:attribute`` (see :mod:`durable_xstate.loader`).
Every command takes ``--store URL`` (default ``file://.durable-xstate``, or ``$DURABLE_XSTATE_STORE``)
and ``--lock URL`` for stores without locks of their own. Errors from the library print one line
and exit with status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.console import Console
from rich.json import JSON
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .actors.actor import Actor, create_actor
from .diagram import to_mermaid
from .errors import (
    DurableXStateError,
    LockTimeout,
    MachineMismatch,
    RecordError,
    StoreNotConfigured,
    StoreUnavailable,
    WriteConflict,
)
from .loader import load_machine
from .machine.machine import StateMachine
from .persistence import StoredRecord, Timer, cleanup, run_due, with_persistable_actor
from .stores import LockableStorage, open_store, validate_key

__all__ = ["DEFAULT_STORE", "CliError", "app", "apply_event", "main", "tick_store"]

DEFAULT_STORE = "file://.durable-xstate"
_OWNER = f"durable-xstate-cli:{os.getpid()}"

app = typer.Typer(
    name="durable-xstate",
    help="Durable, lockable xstate actors: send events, inspect and tick stored actors, draw machines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


class CliError(Exception):
    """A problem the command line reports in one line (exit status 1)."""


# ---------------------------------------------------------------------------------------------- options
StoreOption = Annotated[
    str,
    typer.Option("--store", "-s", metavar="URL", envvar="DURABLE_XSTATE_STORE",
                 help="Store URL: file://DIR, memory://NAME, sqlite:///PATH, redis://..., s3://..., ..."),
]
LockOption = Annotated[
    str | None,
    typer.Option("--lock", metavar="URL", envvar="DURABLE_XSTATE_LOCK",
                 help="Lock URL, for stores that have no locks of their own (e.g. S3)."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
LockTimeoutOption = Annotated[
    float, typer.Option("--lock-timeout", metavar="SECONDS", help="How long to wait for the actor's lock.")
]


# ---------------------------------------------------------------------------------------------- plumbing
P = ParamSpec("P")
R = TypeVar("R")

_HINTS: list[tuple[type[BaseException], str]] = [
    (LockTimeout, "another process holds the actor; try again, or raise --lock-timeout"),
    (WriteConflict, "someone else saved the actor in between; nothing was written, run it again"),
    (StoreNotConfigured, "this store has no locks of its own; pass --lock URL"),
]


def _one_line(err: BaseException) -> str:
    message = " ".join(str(err).split())
    if isinstance(err, DurableXStateError):
        message = f"{type(err).__name__}: {message}"
    for kind, hint in _HINTS:
        if isinstance(err, kind):
            return f"{message} ({hint})"
    return message


def _friendly_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Library errors and CliError become one line on stderr and exit status 1, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            with _library_logging(logging.WARNING):
                return fn(*args, **kwargs)
        except (DurableXStateError, CliError) as err:
            _stderr().print(f"[bold red]error:[/] {escape(_one_line(err))}", soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


class _OneLineHandler(logging.Handler):
    """Writes ``level (logger): message`` to the current sys.stderr (the traceback of exc_info is left out)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = " ".join(record.getMessage().split())
            sys.stderr.write(f"{record.levelname.lower()} ({record.name}): {message}\n")
        except Exception:  # a log line must never break the command
            self.handleError(record)


def _stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


def normalize_store_url(url: str) -> str:
    """``file://.name`` means the directory ``.name`` here (``file://./.name``), as the docs promise."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "file" and parts.netloc.startswith(".") and parts.netloc not in (".", ".."):
        return urlunsplit(("file", ".", f"/{parts.netloc}{parts.path}", parts.query, parts.fragment))
    return url


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@contextlib.asynccontextmanager
async def _opened(url: str, lock: str | None) -> AsyncIterator[LockableStorage]:
    try:
        store = open_store(normalize_store_url(url), lock=normalize_store_url(lock) if lock else None)
    except (ValueError, ImportError) as err:
        raise CliError(f"cannot open store {_redact(url)}: {' '.join(str(err).split())}") from None
    try:
        yield store
    finally:
        await store.close()


def _key(actor_id: str) -> str:
    return validate_key(f"{actor_id}.json")


async def _read_record(store: LockableStorage, actor_id: str) -> StoredRecord | None:
    key = _key(actor_id)
    stored = await store.read(key)
    if stored is None:
        return None
    return StoredRecord.decode(stored.data, key=key, version=stored.version)


async def _require_record(store: LockableStorage, actor_id: str, url: str) -> StoredRecord:
    record = await _read_record(store, actor_id)
    if record is None:
        raise CliError(f"no actor {actor_id!r} in {_redact(url)}")
    return record


def _parse_json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise typer.BadParameter(f"not JSON: {err}", param_hint=what) from None
    if not isinstance(value, dict):
        raise typer.BadParameter(f"must be a JSON object, got {type(value).__name__}", param_hint=what)
    return value


def _event(event: str, data: str | None) -> dict[str, Any]:
    if event.lstrip().startswith("{"):
        if data is not None:
            raise typer.BadParameter("give the event either as a JSON object or as TYPE with --data", param_hint="EVENT")
        parsed = _parse_json_object(event, "EVENT")
        if not isinstance(parsed.get("type"), str):
            raise typer.BadParameter("a JSON event needs a string 'type'", param_hint="EVENT")
        return parsed
    extra = _parse_json_object(data, "--data") if data is not None else {}
    if "type" in extra and extra["type"] != event:
        raise typer.BadParameter(f"--data has type {extra['type']!r} but EVENT is {event!r}", param_hint="--data")
    return {"type": event, **{k: v for k, v in extra.items() if k != "type"}}


# ---------------------------------------------------------------------------------------------- formatting
def format_value(value: Any) -> str:
    """A state value in one line: ``cart``, ``fulfilment.packing.picking, fulfilment.invoicing.drafting``."""
    if isinstance(value, Mapping):
        leaves: list[str] = []
        for key, sub in value.items():
            inner = format_value(sub)
            leaves += [f"{key}.{leaf}" for leaf in inner.split(", ")] if inner else [str(key)]
        return ", ".join(leaves)
    return "" if value is None else str(value)


def _iso(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _relative(delta_ms: float) -> str:
    seconds = abs(delta_ms) / 1000
    if seconds < 0.05:
        return "due now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            amount = f"{seconds / size:.1f}".removesuffix(".0") + unit
            break
    else:
        amount = f"{seconds:.1f}".removesuffix(".0") + "s"
    return f"in {amount}" if delta_ms > 0 else f"{amount} overdue"


def _when(ms: float | None, now_ms: float) -> str:
    return "-" if ms is None else f"{_iso(ms)} ({_relative(ms - now_ms)})"


def _timer_name(timer: Timer, machine_id: str | None = None) -> str:
    """``after paymentTimeout (awaitingPayment)`` for an ``after`` timer, else the event type."""
    event_type = str(timer.event.get("type", "?"))
    prefix = "xstate.after."
    if machine_id and event_type.startswith(prefix):
        rest = event_type[len(prefix):]
        for marker in (f".{machine_id}.", f".{machine_id}"):
            delay, found, state = rest.partition(marker)
            if found and (marker.endswith(".") or not state):
                unit = "ms" if delay.replace(".", "", 1).isdigit() else ""
                return f"after {delay}{unit} ({state or machine_id})"
    return event_type


def _event_text(event: Mapping[str, Any]) -> str:
    rest = {k: v for k, v in event.items() if k != "type"}
    return f"{event.get('type')} {json.dumps(rest, ensure_ascii=False, default=str)}" if rest else str(event.get("type"))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def _machine_name(record: StoredRecord) -> str:
    if record.machine_version is None:
        return str(record.machine_id)
    return f"{record.machine_id}@{record.machine_version}"


def _status_text(status: Any) -> Text:
    style = {"active": "green", "done": "blue", "error": "bold red", "stopped": "yellow"}.get(str(status), "")
    return Text(str(status), style=style)


def render_record(console: Console, record: StoredRecord, now_ms: float | None = None) -> None:
    """The stored record in tables: state, context, timers with due times, outbox."""
    now = time.time() * 1000 if now_ms is None else now_ms
    snapshot = record.snapshot or {}
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("actor", Text(record.id))
    grid.add_row("machine", Text(_machine_name(record)))
    grid.add_row("state", Text(format_value(snapshot.get("value")), style="bold"))
    grid.add_row("status", _status_text(snapshot.get("status", "-")))
    grid.add_row("revision", Text(str(record.revision)))
    if "output" in snapshot:
        grid.add_row("output", Text(json.dumps(snapshot["output"], ensure_ascii=False, default=str)))
    if "error" in snapshot:
        grid.add_row("error", Text(json.dumps(snapshot["error"], ensure_ascii=False, default=str), style="red"))
    grid.add_row("created", Text(str(record.created_at or "-")))
    grid.add_row("updated", Text(str(record.updated_at or "-")))
    if record.expires_at is not None:
        grid.add_row("expires", Text(_when(record.expires_at, now)))
    history = snapshot.get("historyValue") or {}
    if history:
        grid.add_row("history", Text(", ".join(
            f"{k} -> {' + '.join(str(i.get('id')) for i in v)}" for k, v in history.items()
        )))
    children = snapshot.get("children") or {}
    if children:
        grid.add_row("children", Text(", ".join(f"{k} ({v.get('src')})" for k, v in children.items())))
    if record.seen:
        grid.add_row("idempotency", Text(f"{len(record.seen)} applied key(s) remembered"))
    console.print(grid)
    console.print(Text("context", style="bold"))
    console.print(JSON.from_data(snapshot.get("context"), default=str))
    if record.timers:
        table = Table(title="timers", title_justify="left", title_style="bold")
        table.add_column("due")
        table.add_column("event")
        table.add_column("delay", justify="right")
        for timer in sorted(record.timers, key=lambda t: t.due_at):
            table.add_row(Text(_when(timer.due_at, now)), Text(_timer_name(timer, record.machine_id)),
                          Text(f"{timer.delay:g} ms"))
        console.print(table)
    else:
        console.print(Text("timers: none", style="dim"))
    if record.outbox:
        table = Table(title="outbox (emitted, not yet handed over)", title_justify="left", title_style="bold")
        table.add_column("id")
        table.add_column("emitted at")
        table.add_column("event")
        for item in record.outbox:
            event = item.get("event")
            table.add_row(Text(str(item.get("id"))), Text(str(item.get("emittedAt", "-"))),
                          Text(_event_text(event) if isinstance(event, Mapping) else str(event)))
        console.print(table)
    else:
        console.print(Text("outbox: empty", style="dim"))


# ---------------------------------------------------------------------------------------------- send
@dataclass
class StepOutcome:
    """What one durable step did (``apply_event``)."""

    actor_id: str
    event: dict[str, Any]
    created: bool
    stored_value: Any  # the state as it was stored (None for a new actor)
    loaded_value: Any  # after the timers that fell due fired on load
    value: Any
    status: str
    context: Any
    handled: bool
    emitted_on_load: list[dict[str, Any]] = field(default_factory=list)
    emitted: list[dict[str, Any]] = field(default_factory=list)
    output: Any = None
    error: Any = None
    record: StoredRecord | None = None  # as read back after the save

    def to_json(self) -> dict[str, Any]:
        record = self.record
        return {
            "id": self.actor_id,
            "event": self.event,
            "created": self.created,
            "handled": self.handled,
            "value": self.value,
            "status": self.status,
            "context": self.context,
            "output": self.output,
            "error": None if self.error is None else str(self.error),
            "emittedOnLoad": self.emitted_on_load,
            "emitted": self.emitted,
            "revision": record.revision if record else None,
            "timers": [t.to_json() for t in record.timers] if record else [],
        }


async def apply_event(
    store: LockableStorage,
    machine: StateMachine,
    actor_id: str,
    event: dict[str, Any],
    *,
    input: Any = None,
    lock_timeout: float = 5.0,
) -> StepOutcome:
    """One durable step: lock, load (or create) ``actor_id``, fire due timers, send ``event``, save, release."""
    emitted: list[dict[str, Any]] = []
    loaded: dict[str, Any] = {}

    def creator(id_: str, snapshot: Any) -> Actor:
        emitted.clear()  # only the actor that is finally used counts
        loaded["created"] = snapshot is None
        loaded["value"] = None if snapshot is None else snapshot.get("value")
        actor = create_actor(machine, id=id_, snapshot=snapshot, input=input if snapshot is None else None)
        actor.on("*", lambda e: emitted.append(dict(e)))
        return actor

    def step(actor: Actor) -> StepOutcome:
        before = actor.get_snapshot()
        on_load = list(emitted)
        handled = before.status == "active" and bool(before.can(event))
        actor.send(event)
        after = actor.get_snapshot()
        return StepOutcome(
            actor_id=actor_id,
            event=event,
            created=bool(loaded.get("created")),
            stored_value=loaded.get("value"),
            loaded_value=before.value,
            value=after.value,
            status=after.status,
            context=after.context,
            handled=handled,
            emitted_on_load=on_load,
            emitted=emitted[len(on_load):],
            output=after.output,
            error=after.error,
        )

    outcome: StepOutcome = await with_persistable_actor(
        step, id=actor_id, storage=store, actor_creator=creator, locking="read-write",
        acquire_lock_timeout=lock_timeout,
    )
    outcome.record = await _read_record(store, actor_id)
    return outcome


def render_step(console: Console, outcome: StepOutcome, *, indent: str = "", previous_context: Any = None) -> None:
    """The step's state, status, context (unless equal to ``previous_context``), emitted events, timers."""
    now = time.time() * 1000
    if outcome.created:
        console.print(Text(f"{indent}created {outcome.actor_id}", style="dim"))
    elif outcome.stored_value != outcome.loaded_value:
        console.print(Text(
            f"{indent}timers that fell due fired on load: {format_value(outcome.stored_value)} -> "
            f"{format_value(outcome.loaded_value)}", style="magenta",
        ))
    for event in outcome.emitted_on_load:
        console.print(Text(f"{indent}emitted on load: {_event_text(event)}", style="magenta"))
    line = Text(indent)
    line.append("state ", style="bold")
    line.append(format_value(outcome.value), style="bold cyan")
    line.append("  status ")
    line.append_text(_status_text(outcome.status))
    if outcome.record is not None:
        line.append(f"  revision {outcome.record.revision}")
    console.print(line)
    if not outcome.handled:
        console.print(Text(
            f"{indent}note: {outcome.event['type']} was not handled in {format_value(outcome.loaded_value)}"
            + (" (the actor is not active)" if outcome.status != "active" else ""), style="yellow",
        ))
    if previous_context is None or outcome.context != previous_context:
        console.print(Text(f"{indent}context ") + Text(json.dumps(outcome.context, ensure_ascii=False, default=str)))
    for event in outcome.emitted:
        console.print(Text(f"{indent}emitted {_event_text(event)}", style="green"))
    if outcome.output is not None:
        console.print(Text(f"{indent}output {json.dumps(outcome.output, ensure_ascii=False, default=str)}"))
    if outcome.error is not None:
        console.print(Text(f"{indent}error {outcome.error}", style="bold red"))
    if outcome.record is not None:
        for timer in sorted(outcome.record.timers, key=lambda t: t.due_at):
            name = _timer_name(timer, outcome.record.machine_id)
            console.print(Text(f"{indent}timer {name} due {_when(timer.due_at, now)}", style="dim"))


@app.command()
@_friendly_errors
def send(
    machine: Annotated[str, typer.Argument(metavar="MACHINE",
                                           help="A JSON/YAML machine config file, or package.module:attribute.")],
    id: Annotated[str, typer.Argument(metavar="ID", help="The actor's id (its record is ID.json).")],
    event: Annotated[str, typer.Argument(metavar="EVENT", help="The event type (or a whole event as a JSON object).")],
    data: Annotated[str | None, typer.Option("--data", "-d", metavar="JSON",
                                              help="More event fields, a JSON object.")] = None,
    input: Annotated[str | None, typer.Option("--input", metavar="JSON",
                                               help="The actor's input, used only when it is created.")] = None,
    store: StoreOption = DEFAULT_STORE,
    lock: LockOption = None,
    lock_timeout: LockTimeoutOption = 5.0,
    as_json: JsonFlag = False,
) -> None:
    """Apply EVENT to actor ID durably (created when absent): lock, load, fire due timers, send, save."""
    event_obj = _event(event, data)
    input_obj = _parse_json_object(input, "--input") if input is not None else None
    machine_obj = load_machine(machine)

    async def run() -> StepOutcome:
        async with _opened(store, lock) as opened:
            return await apply_event(opened, machine_obj, id, event_obj, input=input_obj, lock_timeout=lock_timeout)

    outcome = asyncio.run(run())
    if as_json:
        typer.echo(_dumps(outcome.to_json()))
    else:
        render_step(_stdout(), outcome)
    if outcome.status == "error":
        raise CliError(f"actor {id!r} is in error status after {event_obj['type']}: {outcome.error!r}")


# ---------------------------------------------------------------------------------------------- show, list
@app.command()
@_friendly_errors
def show(
    id: Annotated[str, typer.Argument(metavar="ID", help="The actor's id.")],
    store: StoreOption = DEFAULT_STORE,
    lock: LockOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the stored record as JSON.")] = False,
) -> None:
    """Print the stored record of actor ID: state, context, timers with due times, outbox, revision."""

    async def run() -> tuple[StoredRecord | None, bytes | None]:
        async with _opened(store, lock) as opened:
            stored = await opened.read(_key(id))
            if stored is None:
                raise CliError(f"no actor {id!r} in {_redact(store)}")
            if as_json:
                return None, stored.data
            return StoredRecord.decode(stored.data, key=_key(id), version=stored.version), None

    record, raw = asyncio.run(run())
    if raw is not None:
        try:
            typer.echo(_dumps(json.loads(raw)))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise RecordError(_key(id), f"not a JSON record: {err}") from None
        return
    assert record is not None
    render_record(_stdout(), record)


@dataclass
class _Listed:
    actor_id: str
    record: StoredRecord | None
    problem: str | None = None


async def _all_records(store: LockableStorage) -> list[_Listed]:
    found: list[_Listed] = []
    keys = sorted([key async for key in store.list()])
    for key in keys:
        if not key.endswith(".json"):
            continue
        actor_id = key[: -len(".json")]
        try:
            stored = await store.read(key)
            if stored is None:  # deleted while we listed
                continue
            found.append(_Listed(actor_id, StoredRecord.decode(stored.data, key=key, version=stored.version)))
        except (RecordError, StoreUnavailable) as err:  # one bad value must not hide the others
            found.append(_Listed(actor_id, None, _one_line(err)))
    return found


@app.command("list")
@_friendly_errors
def list_(
    store: StoreOption = DEFAULT_STORE,
    lock: LockOption = None,
    as_json: JsonFlag = False,
) -> None:
    """List the actors in the store: machine, state, status, next due timer."""

    async def run() -> list[_Listed]:
        async with _opened(store, lock) as opened:
            return await _all_records(opened)

    listed = asyncio.run(run())
    now = time.time() * 1000
    if as_json:
        typer.echo(_dumps([_listed_json(item) for item in listed]))
        return
    console = _stdout()
    if not listed:
        console.print(Text(f"no actors in {_redact(store)}", style="dim"))
        return
    table = Table()
    for column in ("id", "machine", "state", "status", "rev", "next timer", "updated"):
        table.add_column(column, overflow="fold")
    for item in listed:
        record = item.record
        if record is None:
            table.add_row(Text(item.actor_id), Text("-"), Text(item.problem or "", style="red"),
                          Text("unreadable", style="bold red"), Text("-"), Text("-"), Text("-"))
            continue
        snapshot = record.snapshot or {}
        table.add_row(
            Text(item.actor_id),
            Text(_machine_name(record)),
            Text(format_value(snapshot.get("value"))),
            _status_text(snapshot.get("status", "-")),
            Text(str(record.revision)),
            Text("-" if record.next_due_at is None else _relative(record.next_due_at - now)),
            Text(str(record.updated_at or "-")),
        )
    console.print(table)


def _listed_json(item: _Listed) -> dict[str, Any]:
    record = item.record
    if record is None:
        return {"id": item.actor_id, "error": item.problem}
    snapshot = record.snapshot or {}
    return {
        "id": item.actor_id,
        "machine": {"id": record.machine_id, "version": record.machine_version},
        "value": snapshot.get("value"),
        "status": snapshot.get("status"),
        "revision": record.revision,
        "nextDueAt": record.next_due_at,
        "updatedAt": record.updated_at,
    }


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
            "deleted": self.deleted,
            "nextDue": None if self.next_due is None else {"id": self.next_due[0], "dueAt": self.next_due[1]},
        }


@contextlib.contextmanager
def _library_logging(level: int) -> Iterator[None]:
    """The library's log for the duration of a command: one line per message on stderr, no tracebacks."""
    logger = logging.getLogger("durable_xstate")
    saved = logger.level, logger.propagate
    handler = None
    if not any(isinstance(h, _OneLineHandler) for h in logger.handlers):
        handler = _OneLineHandler()
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield
    finally:
        if handler is not None:
            logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


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
    for item in await _all_records(store):
        record = item.record
        if record is None:
            report.unreadable.append((item.actor_id, item.problem or ""))
            continue
        next_due = record.next_due_at
        if next_due is None:
            continue
        if next_due > now:
            later.append((item.actor_id, next_due))
        elif resolve(record.machine_id, record.machine_version) is None:
            report.skipped.append((item.actor_id, f"machine {_machine_name(record)} was not given "
                                                  f"(--machine; given: {known})"))
        else:
            due[item.actor_id] = record
    fired = set(await run_due(store, resolve, now_ms=now)) if due else set()
    for actor_id, before in due.items():
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
    if later:
        report.next_due = min(later, key=lambda item: item[1])
    return report


def render_tick(console: Console, report: TickReport, *, indent: str = "") -> None:
    if not report.fired and not report.skipped and not report.busy and not report.deleted:
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
    for actor_id in report.deleted:
        console.print(Text(f"{indent}deleted expired actor {actor_id}"))
    if report.next_due is not None:
        console.print(Text(f"{indent}next timer: {report.next_due[0]} due {_when(report.next_due[1], time.time() * 1000)}",
                           style="dim"))


@app.command()
@_friendly_errors
def tick(
    machine: Annotated[list[str] | None, typer.Option(
        "--machine", "-m", metavar="MACHINE",
        help="A machine whose actors may be advanced (file or package.module:attribute); repeat for more.",
    )] = None,
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


# ---------------------------------------------------------------------------------------------- delete
@app.command()
@_friendly_errors
def delete(
    id: Annotated[str, typer.Argument(metavar="ID", help="The actor's id.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
    store: StoreOption = DEFAULT_STORE,
    lock: LockOption = None,
    lock_timeout: LockTimeoutOption = 5.0,
) -> None:
    """Delete the record of actor ID (asks first unless --yes; refuses without --yes when not interactive)."""
    key = _key(id)
    if not yes:
        if not sys.stdin.isatty():
            raise CliError(f"refusing to delete {id!r} without --yes")
        if not typer.confirm(f"Delete actor {id!r} from {_redact(store)}?"):
            raise CliError("not deleted")

    async def run() -> StoredRecord | None:
        async with _opened(store, lock) as opened:
            lease = None
            if opened.lock is not None:  # do not pull the record from under a process working on it
                lease = await opened.acquire(key, _OWNER, 30.0, lock_timeout)
            try:
                stored = await opened.read(key)
                if stored is None:
                    raise CliError(f"no actor {id!r} in {_redact(store)}")
                await opened.delete(key, stored.version, lease=lease)
                try:
                    return StoredRecord.decode(stored.data, key=key, version=stored.version)
                except RecordError:
                    return None  # a corrupt record can be deleted too
            finally:
                if lease is not None:
                    await opened.release(lease)

    record = asyncio.run(run())
    text = Text(f"deleted {id}")
    if record is not None:
        text.append(f" (machine {_machine_name(record)}, state "
                    f"{format_value((record.snapshot or {}).get('value'))}, revision {record.revision})", style="dim")
    _stdout().print(text)


# ---------------------------------------------------------------------------------------------- diagram
@app.command()
@_friendly_errors
def diagram(
    machine: Annotated[str, typer.Argument(metavar="MACHINE",
                                           help="A JSON/YAML machine config file, or package.module:attribute.")],
    id: Annotated[str | None, typer.Argument(metavar="ID", help="Mark this actor's active states.")] = None,
    store: StoreOption = DEFAULT_STORE,
    lock: LockOption = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Wrap it in a ```mermaid fence.")] = False,
) -> None:
    """Print a Mermaid stateDiagram-v2 of MACHINE, with actor ID's active state(s) highlighted."""
    machine_obj = load_machine(machine, check_implementations=False)
    active = None
    value: Any = None
    if id is not None:

        async def run() -> StoredRecord:
            async with _opened(store, lock) as opened:
                return await _require_record(opened, id, store)

        record = asyncio.run(run())
        if (record.machine_id, record.machine_version) != (machine_obj.id, machine_obj.version):
            raise MachineMismatch(
                _key(id),
                f"written by machine {record.machine_id!r} version {record.machine_version!r}, "
                f"but {machine} is {machine_obj.id!r} version {machine_obj.version!r}",
            )
        snapshot = machine_obj.restore_snapshot(record.snapshot or {}, None)
        active, value = snapshot.nodes, snapshot.value
    text = to_mermaid(machine_obj, active, active_value=value)
    typer.echo(f"```mermaid\n{text}```" if markdown else text, nl=False)
    if markdown:
        typer.echo()


# ---------------------------------------------------------------------------------------------- demo
_DEMO_SCENARIO: list[tuple[str, dict[str, Any], str]] = [
    ("CHECKOUT", {}, "checking out an empty cart: the guard hasItems fails, the fallback emits a rejection"),
    ("ADD_ITEM", {"sku": "book-42", "price": 25}, "add an item"),
    ("CHECKOUT", {}, "check out: a payment timeout (15 min) is stored with its due time"),
    ("PAY", {"amount": 25}, "pay: the payment timer is cancelled, fulfilment starts two parallel regions"),
    ("PICKED", {}, "packing done"),
    ("HOLD", {}, "put the order on hold (leaves the parallel state)"),
    ("RESUME", {}, "resume: deep history restores both regions where they were"),
    ("INVOICE_SENT", {}, "invoicing done: both regions final, onDone -> shipping, a 1.5 s shipping timer is stored"),
]


@app.command()
@_friendly_errors
def demo(
    store: Annotated[str | None, typer.Option(
        "--store", "-s", metavar="URL", help="Store URL (default: a temporary directory, removed afterwards).",
    )] = None,
    lock: LockOption = None,
) -> None:
    """Drive the packaged order machine through a scenario, one short-lived process per event.

    Each step is its own with_persistable_actor call on a freshly opened store, as a Lambda would
    run it; the shipping timer is stored and fires on a later run (tick), about 2 seconds in.
    """
    from .examples.order import machine as order_machine

    temporary = store is None
    url = store or f"file://{tempfile.mkdtemp(prefix='durable-xstate-demo-')}"
    console = _stdout()
    actor_id = f"order-{secrets.token_hex(3)}"
    try:
        asyncio.run(_demo(console, url, lock, order_machine, actor_id))
    finally:
        if temporary:
            shutil.rmtree(urlsplit(url).path, ignore_errors=True)
    if temporary:
        console.print(Text("\nThe temporary store was removed. To keep the actor: durable-xstate demo "
                           "--store file://.durable-xstate, then durable-xstate show ID.", style="dim"))
    else:
        console.print(Text(f"\nTry: durable-xstate show {actor_id} --store {_redact(url)}", style="dim"))


async def _demo(console: Console, url: str, lock: str | None, machine: StateMachine, actor_id: str) -> None:
    console.rule("durable-xstate demo: an order, one short-lived process per event")
    console.print(Text.assemble(("store   ", "bold"), _redact(url)))
    console.print(Text.assemble(("machine ", "bold"), "durable_xstate.examples.order:machine "
                                f"({machine.id}@{machine.version})"))
    console.print(Text.assemble(("actor   ", "bold"), actor_id))
    context: Any = None
    for number, (event_type, data, why) in enumerate(_DEMO_SCENARIO, start=1):
        event = {"type": event_type, **data}
        console.print()
        console.print(Text.assemble((f"run {number}: ", "bold"), (_event_text(event), "bold yellow"),
                                    ("  " + why, "dim")))
        async with _opened(url, lock) as store:  # a fresh "process": open, load, send, save, close
            outcome = await apply_event(store, machine, actor_id, event)
        render_step(console, outcome, indent="  ", previous_context=context)
        context = outcome.context
        if event_type == "CHECKOUT" and outcome.value == "awaitingPayment":
            console.print()
            console.rule("the stored record after checkout", style="dim")
            assert outcome.record is not None
            render_record(console, outcome.record)
    async with _opened(url, lock) as store:
        record = await _require_record(store, actor_id, url)
    due = record.next_due_at
    console.print()
    console.print(Text.assemble(("run 9: ", "bold"), ("tick", "bold yellow"),
                                ("  a scheduler runs right away: the shipping timer is not due yet", "dim")))
    async with _opened(url, lock) as store:
        render_tick(console, await tick_store(store, [machine]), indent="  ")
    if due is not None:
        wait = max(due - time.time() * 1000, 0) / 1000 + 0.1
        console.print()
        console.print(Text(f"... {wait:.1f} s later (no process runs in between) ...", style="dim italic"))
        await asyncio.sleep(wait)
    console.print()
    console.print(Text.assemble(("run 10: ", "bold"), ("tick", "bold yellow"),
                                ("  a later run: the stored timer fell due, it fires now", "dim")))
    async with _opened(url, lock) as store:
        render_tick(console, await tick_store(store, [machine]), indent="  ")
        final = await _require_record(store, actor_id, url)
    console.print()
    console.rule("the stored record at the end", style="dim")
    render_record(console, final)


def main() -> None:
    """Entry point of the ``durable-xstate`` console script."""
    app()


if __name__ == "__main__":
    main()
