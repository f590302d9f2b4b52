"""What the inspector's page shows, as JSON: pure functions of a stored record and the machines given.

Nothing here touches a store or the network; :mod:`.app` reads the records and serves these views.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..describe import state_text, timer_name
from ..diagram import to_mermaid
from ..errors import DurableXStateError
from ..machine.machine import StateMachine
from ..persistence import JournalEntry, ListedActor, ReplayReport, StoredRecord
from ..persistence.journal import entries

__all__ = ["Machines", "actor_detail", "actor_summary", "journal_view", "replay_view", "revision_view"]


@dataclass(frozen=True)
class Drawn:
    """A machine's diagram with some state marked active, or why there is none."""

    mermaid: str | None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"mermaid": self.mermaid, "note": self.note}


class Machines:
    """The machines the inspector was given, found by the machine id and version a record names."""

    def __init__(self, machines: Iterable[StateMachine] = ()) -> None:
        self._by_key: dict[tuple[str | None, str | None], StateMachine] = {(m.id, m.version): m for m in machines}

    def __bool__(self) -> bool:
        return bool(self._by_key)

    def names(self) -> list[dict[str, Any]]:
        return [{"id": i, "version": v} for i, v in self._by_key]

    def find(self, record: StoredRecord) -> tuple[StateMachine | None, str | None]:
        """The machine that wrote ``record``, or None and why not."""
        found = self._by_key.get((record.machine_id, record.machine_version))
        if found is not None:
            return found, None
        others = [f"{v!r}" for i, v in self._by_key if i == record.machine_id]
        if others:
            return None, (f"machine {record.machine_id!r} was given in version {', '.join(others)}; "
                          f"this actor was written by version {record.machine_version!r}")
        return None, f"machine {record.machine_id!r} was not given (serve -m MACHINE draws it)"

    def draw(self, record: StoredRecord, value: Any) -> Drawn:
        """The diagram of ``record``'s machine with the state ``value`` marked."""
        machine, why = self.find(record)
        if machine is None:
            return Drawn(None, why)
        try:
            nodes = machine.resolve_state(value).nodes
        except (DurableXStateError, LookupError, TypeError, ValueError) as err:  # a value the machine lacks
            return Drawn(to_mermaid(machine), f"state {state_text(value)!r} is not in this machine: {err}")
        return Drawn(to_mermaid(machine, nodes, active_value=value))


def _machine(record: StoredRecord) -> dict[str, Any]:
    return {"id": record.machine_id, "version": record.machine_version}


def actor_summary(item: ListedActor) -> dict[str, Any]:
    """A row of the actor list."""
    record = item.record
    if record is None:
        error = item.error
        return {"id": item.id, "error": f"{type(error).__name__}: {' '.join(str(error).split())}" if error else "unreadable"}
    snapshot = record.snapshot or {}
    return {
        "id": item.id,
        "machine": _machine(record),
        "state": snapshot.get("value"),
        "stateText": state_text(snapshot.get("value")),
        "status": snapshot.get("status"),
        "revision": record.revision,
        "nextDueAt": record.next_due_at,
        "updatedAt": record.updated_at,
    }


def actor_detail(record: StoredRecord, machines: Machines) -> dict[str, Any]:
    """Everything the actor panel shows: state, context, timers, outbox, the diagram with it marked."""
    snapshot = record.snapshot or {}
    value = snapshot.get("value")
    detail: dict[str, Any] = {
        "id": record.id,
        "version": record.version,
        "machine": _machine(record),
        "state": value,
        "stateText": state_text(value),
        "status": snapshot.get("status"),
        "context": snapshot.get("context"),
        "revision": record.revision,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
        "expiresAt": record.expires_at,
        "timers": [
            {"id": t.id, "name": timer_name(t, record.machine_id), "event": t.event, "delay": t.delay,
             "dueAt": t.due_at}
            for t in sorted(record.timers, key=lambda t: t.due_at)
        ],
        "outbox": [
            {"id": item.get("id"), "emittedAt": item.get("emittedAt"), "event": item.get("event")}
            for item in record.outbox
        ],
        "journalCount": record.journal_count,
        "diagram": machines.draw(record, value).to_json(),
        "canReplay": machines.find(record)[0] is not None,
    }
    for name in ("output", "error", "historyValue", "children"):
        if snapshot.get(name) not in (None, {}, []):
            detail[name] = snapshot[name]
    return detail


def _entry_json(entry: JournalEntry) -> dict[str, Any]:
    return {
        "revision": entry.revision,
        "at": entry.at,
        "events": entry.events,
        "state": entry.state,
        "stateText": state_text(entry.state),
        "status": entry.status,
        "emitted": entry.emitted,
        "meta": entry.meta,
        "checkpoint": entry.checkpoint,
    }


def journal_view(record: StoredRecord) -> list[dict[str, Any]]:
    """The journal, oldest first: one item per committed revision."""
    return [_entry_json(e) for e in entries(record)]


def revision_view(record: StoredRecord, revision: int, machines: Machines) -> dict[str, Any] | None:
    """The state at ``revision`` as the journal holds it (the full snapshot at checkpoints), with the
    diagram marked; None when the journal has no such revision."""
    entry = next((e for e in entries(record) if e.revision == revision), None)
    if entry is None:
        return None
    view = _entry_json(entry)
    if entry.snapshot is not None:
        view["context"] = entry.snapshot.get("context")
    view["diagram"] = machines.draw(record, entry.state).to_json()
    return view


def replay_view(report: ReplayReport) -> dict[str, Any]:
    """A replay's outcome: does the machine reproduce the journal up to ``to``, and the state there."""
    snapshot: Mapping[str, Any] = report.snapshot or {}
    return {
        "from": report.start,
        "to": report.end,
        "reproduces": report.reproduces,
        "checked": report.checked,
        "divergedAt": report.diverged_at,
        "expected": report.expected,
        "actual": report.actual,
        "state": snapshot.get("value"),
        "stateText": state_text(snapshot.get("value")),
        "status": snapshot.get("status"),
        "context": snapshot.get("context"),
    }
