"""The stored record of one actor: its persisted snapshot plus what xstate does not persist.

One JSON document per actor at key ``<id>.json`` (see docs/decisions/0003-record-format.md)::

    {
      "format": "durable-xstate.record/1",
      "id": "order-42",
      "machine": {"id": "order", "version": "1.2.0"},
      "snapshot": { ...exactly actor.get_persisted_snapshot()... },
      "timers": [{"id", "source", "target", "event", "delay", "startedAt", "dueAt"}],
      "nextDueAt": 1732800000000,
      "outbox": [{"id", "event", "emittedAt"}],
      "seen": ["idempotency-key", ...],
      "revision": 7,
      "createdAt": "...", "updatedAt": "...", "expiresAt": null
    }

``source``/``target`` are actor paths from the root: ``[]`` is the root, ``["kid"]`` its child ``kid``.
Times are epoch milliseconds (ISO strings for the human-facing created/updated stamps). JSON only:
no pickle, no code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..errors import RecordError

__all__ = ["RECORD_FORMAT", "StoredRecord", "Timer", "now_iso"]

RECORD_FORMAT = "durable-xstate.record/1"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Timer:
    """A pending delayed event with its absolute due time (epoch ms)."""

    id: str
    source: list[str]
    target: list[str]
    event: dict[str, Any]
    delay: float
    started_at: float

    @property
    def due_at(self) -> float:
        return self.started_at + self.delay

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "target": self.target,
            "event": self.event,
            "delay": self.delay,
            "startedAt": self.started_at,
            "dueAt": self.due_at,
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> Timer:
        if not isinstance(data, Mapping):
            raise RecordError(where, "a timer must be an object")
        try:
            return cls(
                id=str(data["id"]),
                source=[str(x) for x in data.get("source", [])],
                target=[str(x) for x in data.get("target", [])],
                event=dict(data["event"]),
                delay=float(data["delay"]),
                started_at=float(data["startedAt"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise RecordError(where, f"malformed timer: {err}") from None


@dataclass
class StoredRecord:
    """The parsed record. ``version`` is the store's version token (not part of the JSON)."""

    id: str
    machine_id: str | None
    machine_version: str | None
    snapshot: dict[str, Any] | None
    timers: list[Timer] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    revision: int = 0
    created_at: str | None = None
    updated_at: str | None = None
    expires_at: float | None = None
    version: str | None = None

    @property
    def next_due_at(self) -> float | None:
        return min((t.due_at for t in self.timers), default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": RECORD_FORMAT,
            "id": self.id,
            "machine": {"id": self.machine_id, "version": self.machine_version},
            "snapshot": self.snapshot,
            "timers": [t.to_json() for t in sorted(self.timers, key=lambda t: t.due_at)],
            "nextDueAt": self.next_due_at,
            "outbox": self.outbox,
            "seen": self.seen,
            "revision": self.revision,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "expiresAt": self.expires_at,
        }

    def encode(self) -> bytes:
        try:
            return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as err:
            raise RecordError("snapshot", f"the actor's state is not JSON-serialisable: {err}") from err

    @classmethod
    def decode(cls, data: bytes, *, key: str, version: str | None) -> StoredRecord:
        """Parse a stored record; RecordError (naming the key and the part) on anything that is not one."""
        try:
            raw = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise RecordError(key, f"not a JSON record: {err}") from None
        if not isinstance(raw, Mapping):
            raise RecordError(key, "a record must be a JSON object")
        fmt = raw.get("format")
        if fmt != RECORD_FORMAT:
            raise RecordError(f"{key}: format", f"unknown record format {fmt!r} (expected {RECORD_FORMAT!r})")
        machine = raw.get("machine") or {}
        snapshot = raw.get("snapshot")
        if snapshot is not None and not isinstance(snapshot, Mapping):
            raise RecordError(f"{key}: snapshot", "the snapshot must be an object")
        timers = raw.get("timers") or []
        if not isinstance(timers, list):
            raise RecordError(f"{key}: timers", "must be a list")
        outbox = raw.get("outbox") or []
        seen = raw.get("seen") or []
        if not isinstance(outbox, list) or not isinstance(seen, list):
            raise RecordError(f"{key}: outbox/seen", "must be lists")
        return cls(
            id=str(raw.get("id")),
            machine_id=machine.get("id") if isinstance(machine, Mapping) else None,
            machine_version=machine.get("version") if isinstance(machine, Mapping) else None,
            snapshot=dict(snapshot) if snapshot is not None else None,
            timers=[Timer.from_json(t, f"{key}: timers[{i}]") for i, t in enumerate(timers)],
            outbox=[dict(o) for o in outbox],
            seen=[str(s) for s in seen],
            revision=int(raw.get("revision") or 0),
            created_at=raw.get("createdAt"),
            updated_at=raw.get("updatedAt"),
            expires_at=raw.get("expiresAt"),
            version=version,
        )
