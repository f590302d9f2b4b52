"""``send``: apply one event to a stored actor, creating it when absent."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from ..actors.actor import Actor, create_actor
from ..errors import EventNotHandled
from ..loader import load_machine
from ..machine.machine import StateMachine
from ..persistence import StoredRecord, with_persistable_actor
from ..stores import LockableStorage
from .app import (
    DEFAULT_STORE,
    CliError,
    JsonFlag,
    LockOption,
    LockTimeoutOption,
    StoreOption,
    _event,
    _friendly_errors,
    _opened,
    _parse_json_object,
    _read_record,
    _stdout,
    actor_id_arg,
    app,
)
from .render import _dumps, _event_text, _status_text, _timer_name, _when, format_value


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
    allow_unhandled: bool = True,
) -> StepOutcome:
    """One durable step: lock, load (or create) ``actor_id``, fire due timers, send ``event``, save, release.

    With ``allow_unhandled=False`` an event the actor does not handle in its state (or an actor that is
    no longer active) raises :class:`EventNotHandled` and nothing is written: not the actor when it would
    have been created, not the timers that fell due on load (they fire on the next run)."""
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
        if not handled and not allow_unhandled:
            raise EventNotHandled(_unhandled_message(event, before.value, before.status, loaded.get("created")))
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


def _unhandled_message(event: dict[str, Any], value: Any, status: str, created: Any) -> str:
    why = "" if status == "active" else f"; the actor is {status}"
    not_created = ", the actor was not created" if created else ""
    return (f"{event['type']} was not handled in state {format_value(value)} (nothing changed{not_created}{why}); "
            "--allow-unhandled sends it anyway")


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
    allow_unhandled: Annotated[bool, typer.Option(
        "--allow-unhandled",
        help="Accept an event the actor does not handle in its state: a note instead of an error, exit 0.",
    )] = False,
    as_json: JsonFlag = False,
) -> None:
    """Apply EVENT to actor ID durably (created when absent): lock, load, fire due timers, send, save.

    An event the actor does not handle in its current state (no transition takes it, or the actor is
    done) changes nothing: "EVENT was not handled in state X (nothing changed)" on stderr and exit
    status 2; nothing is written, not even a new actor. --allow-unhandled sends it anyway: a note, exit
    0 (the actor is created, and timers that fell due are saved). Exit status 1 for any other error, or
    when the actor ends in error status."""
    actor_id_arg(id)
    event_obj = _event(event, data)
    input_obj = _parse_json_object(input, "--input") if input is not None else None
    machine_obj = load_machine(machine)

    async def run() -> StepOutcome:
        async with _opened(store, lock) as opened:
            return await apply_event(opened, machine_obj, id, event_obj, input=input_obj, lock_timeout=lock_timeout,
                                     allow_unhandled=allow_unhandled)

    outcome = asyncio.run(run())
    if as_json:
        typer.echo(_dumps(outcome.to_json()))
    else:
        render_step(_stdout(), outcome)
    if outcome.status == "error":
        raise CliError(f"actor {id!r} is in error status after {event_obj['type']}: {outcome.error!r}")


