"""``show``, ``list`` and ``delete``: stored actors."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from ..errors import (
    RecordError,
)
from ..persistence import StoredRecord
from ..persistence.index import reindex as reindex_store
from ..persistence.index import state_label
from ..persistence.listing import ListedActor, list_actors
from ..persistence.record import parse_json
from .app import (
    _OWNER,
    DEFAULT_STORE,
    CliError,
    JsonFlag,
    LockOption,
    LockTimeoutOption,
    StoreOption,
    _friendly_errors,
    _key,
    _one_line,
    _opened,
    _redact,
    _stdout,
    actor_id_arg,
    app,
)
from .render import (
    _dumps,
    _machine_name,
    _relative,
    _status_text,
    format_value,
    print_table,
    render_record,
)


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
    actor_id_arg(id)

    async def run() -> tuple[StoredRecord | None, bytes | None]:
        async with _opened(store, lock, must_exist=True) as opened:
            stored = await opened.read(_key(id))
            if stored is None:
                raise CliError(f"no actor {id!r} in {_redact(store)}")
            if as_json:
                return None, stored.data
            return StoredRecord.decode(stored.data, key=_key(id), version=stored.version), None

    record, raw = asyncio.run(run())
    if raw is not None:  # the stored JSON as it is (even a malformed record), unless it is not safe JSON
        typer.echo(_dumps(parse_json(raw, key=_key(id))))
        return
    assert record is not None
    render_record(_stdout(), record)


@app.command("list")
@_friendly_errors
def list_(
    store: StoreOption = DEFAULT_STORE,
    lock: LockOption = None,
    as_json: JsonFlag = False,
    machine: Annotated[str | None, typer.Option("--machine", help="Only actors of this machine id.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only actors with this status (active, done, error).")] = None,
    state: Annotated[
        str | None, typer.Option("--state", help='Only actors in this state value ("cart", or JSON such as {"a":"b"}).')
    ] = None,
    prefix: Annotated[str, typer.Option("--prefix", help="Only actor ids starting with this.")] = "",
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many actors.")] = 1000,
    after: Annotated[str | None, typer.Option("--after", help="Start after this actor id (the last one listed).")] = None,
) -> None:
    """List the actors in the store: machine, state, status, next due timer.

    Filters are answered from the store's index where it keeps one (a page costs what it lists);
    otherwise every record is read and filtered."""
    labels = {k: v for k, v in (("machine", machine), ("status", status), ("state", state)) if v is not None}
    if state is not None and state.startswith(("{", "[")):
        try:
            labels["state"] = state_label(json.loads(state))
        except ValueError:
            raise CliError(f"--state {state!r} is neither a state name nor JSON") from None

    async def run() -> tuple[list[ListedActor], bool]:
        async with _opened(store, lock, must_exist=True) as opened:
            return await list_actors(opened, labels, prefix=prefix, after=after, limit=limit)

    listed, more = asyncio.run(run())
    now = time.time() * 1000
    if as_json:
        typer.echo(_dumps([_listed_json(item) for item in listed]))
        return
    console = _stdout()
    if not listed:
        console.print(Text(f"no actors in {_redact(store)}", style="dim"))
        return
    table = Table()
    for column in ("id", "machine", "state", "status", "rev", "next timer", "updated"):  # ids and times stay whole
        table.add_column(column, overflow="fold", no_wrap=column in ("id", "rev", "next timer", "updated"))
    for item in listed:
        record = item.record
        if record is None:  # its problem goes on a line of its own below the table
            table.add_row(Text(item.id), Text("-"), Text("-"),
                          Text("unreadable", style="bold red"), Text("-"), Text("-"), Text("-"))
            continue
        snapshot = record.snapshot or {}
        table.add_row(
            Text(item.id),
            Text(_machine_name(record)),
            Text(format_value(snapshot.get("value"))),
            _status_text(snapshot.get("status", "-")),
            Text(str(record.revision)),
            Text("-" if record.next_due_at is None else _relative(record.next_due_at - now)),
            Text(str(record.updated_at or "-")),
        )
    print_table(console, table)
    for item in listed:
        if item.record is None:
            console.print(Text(f"unreadable {item.id}: {_one_line(item.error) if item.error else '-'}", style="red"))
    if more:
        console.print(Text(f"more: --after {listed[-1].id}", style="dim"))


def _listed_json(item: ListedActor) -> dict[str, Any]:
    record = item.record
    if record is None:
        return {"id": item.id, "error": _one_line(item.error) if item.error else None}
    snapshot = record.snapshot or {}
    return {
        "id": item.id,
        "machine": {"id": record.machine_id, "version": record.machine_version},
        "value": snapshot.get("value"),
        "status": snapshot.get("status"),
        "revision": record.revision,
        "nextDueAt": record.next_due_at,
        "updatedAt": record.updated_at,
    }


# ---------------------------------------------------------------------------------------------- reindex
@app.command()
@_friendly_errors
def reindex(
    store: StoreOption = DEFAULT_STORE,
    lock: LockOption = None,
    prefix: Annotated[str, typer.Option("--prefix", help="Only actor ids starting with this.")] = "",
) -> None:
    """Write every actor's index entry again (once, after upgrading a store made by an earlier version)."""

    async def run() -> tuple[int, dict[str, BaseException]]:
        async with _opened(store, lock) as opened:
            return await reindex_store(opened, prefix)

    done, failed = asyncio.run(run())
    console = _stdout()
    console.print(Text(f"indexed {done} actor(s) in {_redact(store)}"))
    for key, err in failed.items():
        console.print(Text(f"unreadable {key[: -len('.json')]}: {_one_line(err)}", style="red"))


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
    actor_id_arg(id)
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


