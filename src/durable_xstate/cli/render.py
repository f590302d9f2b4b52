"""How the command line shows records, timers and values (rich)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.json import JSON
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from ..describe import duration_text, state_text, timer_name
from ..persistence import StoredRecord

# ---------------------------------------------------------------------------------------------- formatting
format_value = state_text


def _iso(ms: float) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    except (OverflowError, ValueError, OSError):  # a record may hold any number: show it as it is
        return f"{ms:g} ms since 1970"


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


_timer_name = timer_name


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` without wrapping what must stay whole (ids, times: ``no_wrap`` columns): on a
    terminal at least as wide as the table's narrowest rendering; into a pipe or file, one line per row."""
    needed = Measurement.get(console, console.options.update_width(1 << 16), table)
    width = max(console.width, needed.minimum if console.is_terminal else needed.maximum)
    if width <= console.width:
        console.print(table)
        return
    wide = Console(file=console.file, width=width, highlight=False, soft_wrap=True,
                   force_terminal=console.is_terminal, color_system=console.color_system,  # type: ignore[arg-type]
                   no_color=console.no_color)
    wide.print(table)


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


def _history_text(history: Any) -> str:
    """``node -> a + b`` per history node; any other shape (a record may hold anything) as JSON."""
    if isinstance(history, Mapping) and all(isinstance(v, list) for v in history.values()):
        return ", ".join(
            f"{k} -> {' + '.join(str(i.get('id') if isinstance(i, Mapping) else i) for i in v)}"
            for k, v in history.items()
        )
    return json.dumps(history, ensure_ascii=False, default=str)


def _children_text(children: Any) -> str:
    """``id (src)`` per child; any other shape as JSON."""
    if isinstance(children, Mapping):
        return ", ".join(f"{k} ({v.get('src') if isinstance(v, Mapping) else v})" for k, v in children.items())
    return json.dumps(children, ensure_ascii=False, default=str)


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
        grid.add_row("history", Text(_history_text(history)))
    children = snapshot.get("children") or {}
    if children:
        grid.add_row("children", Text(_children_text(children)))
    if record.seen:
        grid.add_row("idempotency", Text(f"{len(record.seen)} applied key(s) remembered"))
    console.print(grid)
    console.print(Text("context", style="bold"))
    console.print(JSON.from_data(snapshot.get("context"), default=str))
    if record.timers:
        table = Table(title="timers", title_justify="left", title_style="bold")
        table.add_column("due", no_wrap=True)
        table.add_column("event", overflow="fold")
        table.add_column("delay", justify="right", no_wrap=True)
        for timer in sorted(record.timers, key=lambda t: t.due_at):
            table.add_row(Text(_when(timer.due_at, now)), Text(_timer_name(timer, record.machine_id)),
                          Text(duration_text(timer.delay)))
        print_table(console, table)
    else:
        console.print(Text("timers: none", style="dim"))
    if record.outbox:
        table = Table(title="outbox (emitted, not yet handed over)", title_justify="left", title_style="bold")
        table.add_column("id", no_wrap=True)
        table.add_column("emitted at", no_wrap=True)
        table.add_column("event", overflow="fold")
        for item in record.outbox:
            event = item.get("event")
            table.add_row(Text(str(item.get("id"))), Text(str(item.get("emittedAt", "-"))),
                          Text(_event_text(event) if isinstance(event, Mapping) else str(event)))
        print_table(console, table)
    else:
        console.print(Text("outbox: empty", style="dim"))


