"""``diagram`` and ``demo``."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.text import Text

from ..diagram import to_mermaid
from ..diagram_dot import render_dot, to_dot
from ..errors import (
    MachineMismatch,
)
from ..loader import load_machine
from ..machine.machine import StateMachine
from ..persistence import StoredRecord
from .app import (
    DEFAULT_STORE,
    CliError,
    LockOption,
    StoreOption,
    _friendly_errors,
    _key,
    _opened,
    _redact,
    _require_record,
    _stdout,
    actor_id_arg,
    app,
)
from .render import _event_text, render_record
from .step import apply_event, render_step
from .timers import render_tick, tick_store


# ---------------------------------------------------------------------------------------------- diagram
class DiagramFormat(StrEnum):
    mermaid = "mermaid"
    dot = "dot"
    svg = "svg"
    png = "png"


@app.command()
@_friendly_errors
def diagram(
    machine: Annotated[str, typer.Argument(metavar="MACHINE",
                                           help="A JSON/YAML machine config file, or package.module:attribute.")],
    id: Annotated[str | None, typer.Argument(metavar="ID", help="Mark this actor's active states.")] = None,
    store: StoreOption = DEFAULT_STORE,
    lock: LockOption = None,
    format: Annotated[DiagramFormat, typer.Option(
        "--format", "-f", case_sensitive=False,
        help="mermaid (text), dot (Graphviz text), svg or png (drawn by Graphviz's dot).",
    )] = DiagramFormat.mermaid,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="FILE", dir_okay=False, help="Write it to FILE (png needs one) instead of stdout.",
    )] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Wrap the Mermaid text in a ```mermaid fence.")] = False,
) -> None:
    """Draw MACHINE as a Mermaid stateDiagram-v2 (default), Graphviz DOT, SVG or PNG; ID's active states
    highlighted.

    SVG and PNG are drawn by Graphviz's dot (apt-get install graphviz): compound states as boxes around
    their children, parallel regions dashed, the active states filled. A PNG is written to --output FILE."""
    if markdown and format is not DiagramFormat.mermaid:
        raise CliError("--markdown wraps the Mermaid text; leave it out with --format " + format.value)
    if format is DiagramFormat.png and output is None:
        raise CliError("a PNG is binary: give --output FILE (or --format svg for stdout)")
    if id is not None:
        actor_id_arg(id)
    machine_obj = load_machine(machine, check_implementations=False)
    active = None
    value: Any = None
    if id is not None:

        async def run() -> StoredRecord:
            async with _opened(store, lock, must_exist=True) as opened:
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
    if format is DiagramFormat.mermaid:
        text = to_mermaid(machine_obj, active, active_value=value)
        data = (f"```mermaid\n{text}```\n" if markdown else text).encode("utf-8")
    elif format is DiagramFormat.dot:
        data = to_dot(machine_obj, active, active_value=value).encode("utf-8")
    else:
        data = render_dot(to_dot(machine_obj, active, active_value=value), format.value)
    if output is None:
        typer.echo(data.decode("utf-8"), nl=False)
        return
    try:
        output.write_bytes(data)
    except OSError as err:
        raise CliError(f"cannot write {output}: {err.strerror or err}") from None


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
    from ..examples.order import machine as order_machine

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


