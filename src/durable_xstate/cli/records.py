"""``show``, ``list`` and ``delete``: stored actors."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from ..errors import (
    RecordError,
    StoreUnavailable,
)
from ..persistence import StoredRecord
from ..persistence.index import index_entry, state_label
from ..persistence.index import reindex as reindex_store
from ..persistence.record import parse_json
from ..stores import LockableStorage
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
    app,
)
from .render import _dumps, _machine_name, _relative, _status_text, format_value, render_record


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
    if raw is not None:  # the stored JSON as it is (even a malformed record), unless it is not safe JSON
        typer.echo(_dumps(parse_json(raw, key=_key(id))))
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
        found.extend(await _read_listed(store, key))
    return found


async def _read_listed(store: LockableStorage, key: str) -> list[_Listed]:
    """The record at ``key`` as a listing row (none if it is not a record or was deleted meanwhile)."""
    if not key.endswith(".json"):
        return []
    actor_id = key[: -len(".json")]
    try:
        stored = await store.read(key)
        if stored is None:  # deleted while we listed
            return []
        return [_Listed(actor_id, StoredRecord.decode(stored.data, key=key, version=stored.version))]
    except (RecordError, StoreUnavailable) as err:  # one bad value must not hide the others
        return [_Listed(actor_id, None, _one_line(err))]


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

    async def run() -> tuple[list[_Listed], bool]:
        async with _opened(store, lock) as opened:
            return await _listing(opened, labels, prefix, after, limit)

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
    for column in ("id", "machine", "state", "status", "rev", "next timer", "updated"):
        table.add_column(column, overflow="fold")
    for item in listed:
        record = item.record
        if record is None:  # its problem goes on a line of its own below the table
            table.add_row(Text(item.actor_id), Text("-"), Text("-"),
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
    for item in listed:
        if item.record is None:
            console.print(Text(f"unreadable {item.actor_id}: {item.problem}", style="red"))
    if more:
        console.print(Text(f"more: --after {listed[-1].actor_id}", style="dim"))


def _labels_of(record: StoredRecord) -> dict[str, str]:
    return dict(index_entry(record).labels)


async def _listing(
    store: LockableStorage, labels: dict[str, str], prefix: str, after: str | None, limit: int
) -> tuple[list[_Listed], bool]:
    """Up to ``limit`` records (ids after ``after``) having ``labels``, and whether there are more."""
    cursor = None if after is None else f"{after}.json"
    found: list[_Listed] = []
    if labels and store.indexes:  # a page of the index: costs what it lists
        while len(found) <= limit:
            page = await store.find_page(prefix, labels, cursor, limit + 1 - len(found))
            for key in page.keys:
                found.extend(await _read_listed(store, key))
            if page.cursor is None:
                break
            cursor = page.cursor
        return found[:limit], len(found) > limit
    keys = sorted([key async for key in store.list(prefix)])  # no index to ask: read and filter
    for key in keys:
        if cursor is not None and key <= cursor:
            continue
        for item in await _read_listed(store, key):
            if labels and (item.record is None or not labels.items() <= _labels_of(item.record).items()):
                continue
            found.append(item)
        if len(found) > limit:
            break
    return found[:limit], len(found) > limit


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


