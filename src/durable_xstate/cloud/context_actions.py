"""The original's built-in context actions for orchestration machines, available by name in YAML machines.

- ``update_context`` (``updateContext``; the original's ``assignEventDataToContext``): merge the event's data
  into the context. Unlike the original it leaves out ``type`` *and* ``__cloudevent``, so the whole incoming
  CloudEvent is not copied into the context (and so into every stored snapshot).
- ``update_logs(limit)`` (``updateLogs``; the original's ``assignLogsToContext``): append one entry to the
  context's ``__machineLogs`` list, keeping only the last ``limit`` entries (the original's log grew without
  bound, and the original later stopped logging by default because of it). Each entry is
  ``{cloudeventId, event, context, timestamp, isoTime}``: the event without ``__cloudevent``, the context
  without ``__machineLogs`` and ``__cloudevent``, the time in epoch milliseconds and as ISO 8601 (UTC).
  The time comes from the actor system's clock when there is one (so simulated clocks give
  reproducible logs), else from the wall clock.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..errors import InvalidArgument
from ..machine.actions import BuiltinAction, assign

__all__ = ["CLOUDEVENT_KEY", "DEFAULT_LOG_LIMIT", "MACHINE_LOGS_KEY", "update_context", "update_logs"]

#: the key under which CloudOrchestrationActor puts the incoming CloudEvent into the xstate event
CLOUDEVENT_KEY = "__cloudevent"
#: the context key ``updateLogs`` writes
MACHINE_LOGS_KEY = "__machineLogs"
#: entries ``updateLogs`` keeps unless told otherwise
DEFAULT_LOG_LIMIT = 50


def _event_data(args: Any, params: Any) -> dict[str, Any]:
    event = args.event if isinstance(args.event, Mapping) else {}
    return {k: v for k, v in event.items() if k not in ("type", CLOUDEVENT_KEY)}


#: ``updateContext``: merge the event's data (minus ``type`` and ``__cloudevent``) into the context.
update_context: BuiltinAction = assign(_event_data)


def _now_ms(args: Any) -> int:
    now = getattr(getattr(getattr(args, "system", None), "clock", None), "now", None)
    value = now() if callable(now) else time.time() * 1000
    return int(value)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def update_logs(limit: int = DEFAULT_LOG_LIMIT) -> BuiltinAction:
    """``updateLogs``: append a log entry to ``context.__machineLogs``, keeping the last ``limit``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidArgument(f"the log limit must be a positive integer, got {limit!r}")

    def append(args: Any, params: Any) -> dict[str, Any]:
        context = args.context if isinstance(args.context, Mapping) else {}
        event = args.event if isinstance(args.event, Mapping) else {}
        cloudevent = event.get(CLOUDEVENT_KEY)
        ms = _now_ms(args)
        entry = {
            "cloudeventId": cloudevent.get("id") if isinstance(cloudevent, Mapping) else None,
            "event": {k: v for k, v in event.items() if k != CLOUDEVENT_KEY},
            "context": {k: v for k, v in context.items() if k not in (MACHINE_LOGS_KEY, CLOUDEVENT_KEY)},
            "timestamp": ms,
            "isoTime": _iso(ms),
        }
        old = context.get(MACHINE_LOGS_KEY)
        logs = list(old) if isinstance(old, list) else []
        logs.append(entry)
        return {MACHINE_LOGS_KEY: logs[-limit:]}

    return assign(append)
