"""``import``: adopt the records the original wrote (bare xstate snapshots under ``<id>.json``)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.text import Text

from ..loader import load_machine
from ..persistence.adopt import AdoptOutcome, adopt, adopt_all
from .app import (
    DEFAULT_STORE,
    CliError,
    JsonFlag,
    LockOption,
    StoreOption,
    _friendly_errors,
    _opened,
    _redact,
    _stdout,
    app,
)

_STYLE = {"adopted": "green", "would-adopt": "cyan", "already": "dim", "unusable": "red", "conflict": "yellow",
          "missing": "yellow", "failed": "bold red"}


@app.command("import")
@_friendly_errors
def import_(
    ids: Annotated[list[str] | None, typer.Argument(metavar="ID", help="Actor ids; none: every <id>.json in the store.")] = None,
    store: StoreOption = DEFAULT_STORE,
    lock: LockOption = None,
    machine: Annotated[str | None, typer.Option(
        "--machine", "-m", metavar="MACHINE",
        help="Check each snapshot restores on this machine (file or package.module:attribute); the records name it.",
    )] = None,
    prefix: Annotated[str, typer.Option("--prefix", help="Only actor ids starting with this.")] = "",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and report; write nothing.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Adopt records written by the original (persistable-xstate-actor): each bare xstate snapshot stored
    at <id>.json becomes revision 0 of a durable-xstate record, written with a compare-and-set (a value
    changed meanwhile is never overwritten). Reports each id: adopted, already a record, or unusable and
    why; exits 1 if any could not be adopted."""
    spec = load_machine(machine) if machine is not None else None
    if ids and prefix:
        raise CliError("give actor ids or --prefix, not both")

    async def run() -> list[AdoptOutcome]:
        async with _opened(store, lock) as opened:
            if ids:
                return [await adopt(opened, actor_id, machine=spec, dry_run=dry_run) for actor_id in ids]
            return await adopt_all(opened, prefix, machine=spec, dry_run=dry_run)

    outcomes = asyncio.run(run())
    if as_json:
        for o in outcomes:
            typer.echo(json.dumps({"id": o.id, "outcome": o.outcome, "reason": o.reason, "version": o.version},
                                  ensure_ascii=False))
    else:
        console = _stdout()
        for o in outcomes:
            line = Text(f"{o.outcome:<12} ", style=_STYLE[o.outcome])
            line.append(o.id)
            if o.reason and o.outcome != "already":
                line.append(f": {' '.join(o.reason.split())}", style="dim" if o.ok else "")
            console.print(line)
        counts: dict[str, int] = {}
        for o in outcomes:
            counts[o.outcome] = counts.get(o.outcome, 0) + 1
        summary = ", ".join(f"{n} {name}" for name, n in counts.items()) or "nothing to import"
        console.print(Text(f"{summary} in {_redact(store)}" + (" (dry run: nothing written)" if dry_run else ""), style="dim"))
    if not all(o.ok for o in outcomes):
        raise typer.Exit(1)
