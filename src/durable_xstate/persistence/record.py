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
      "createdAt": "...", "updatedAt": "...", "expiresAt": null,
      "life": "9f0c..."
    }

``source``/``target`` are actor paths from the root: ``[]`` is the root, ``["kid"]`` its child ``kid``.
``life`` is a random nonce made when the record is created and kept by every save: it tells two lives of
the same id apart (after a delete, ``cleanup`` or ``delete_when_done``). Records written before it existed
have none (``life`` is None) and keep working unchanged. Times are epoch milliseconds (ISO strings for the human-facing created/updated stamps). JSON only:
no pickle, no code.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import RecordError
from ..machine.snapshot import AdoptableSnapshot

__all__ = ["RECORD_FORMAT", "StoredRecord", "Timer", "now_iso"]

RECORD_FORMAT = "durable-xstate.record/1"


_ISO_SECOND: list[Any] = [None, ""]  # (whole second, its "YYYY-MM-DDTHH:MM:SS" text), reused within a second
_ACTOR_MARK = b'"xstate$$type"'
decode_json = json.JSONDecoder().decode  # one decoder object, shared (the persistence actor uses it too)
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def now_iso() -> str:
    """The current UTC time as ISO-8601 with milliseconds, e.g. ``2026-11-28T19:40:14.123Z``."""
    now = time.time()
    second = int(now)
    cached = _ISO_SECOND
    if cached[0] != second:
        cached[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        cached[0] = second
    return f"{cached[1]}.{int((now - second) * 1000):03d}Z"


@dataclass(slots=True)
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


def _due(timer: Timer) -> float:
    return timer.due_at


@dataclass(slots=True)
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
    #: random per life of the id, made at creation (None in records written before it existed)
    life: str | None = None

    @property
    def next_due_at(self) -> float | None:
        return min((t.due_at for t in self.timers), default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": RECORD_FORMAT,
            "id": self.id,
            "machine": {"id": self.machine_id, "version": self.machine_version},
            "snapshot": self.snapshot,
            "timers": [t.to_json() for t in sorted(self.timers, key=_due)] if self.timers else [],
            "nextDueAt": self.next_due_at if self.timers else None,
            "outbox": self.outbox,
            "seen": self.seen,
            "revision": self.revision,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "expiresAt": self.expires_at,
            **({"life": self.life} if self.life is not None else {}),
        }

    def encode(self) -> bytes:
        try:
            return _encode_json(self.to_json()).encode()
        except (TypeError, ValueError) as err:
            raise RecordError("snapshot", f"the actor's state is not JSON-serialisable: {err}") from err

    @classmethod
    def decode(cls, data: bytes, *, key: str, version: str | None) -> StoredRecord:
        """Parse a stored record; RecordError (naming the key and the part) on anything that is not one.

        The snapshot comes back as an :class:`AdoptableSnapshot`: nothing else holds it, so restoring
        an actor from it may adopt its context instead of copying it."""
        try:
            raw = decode_json(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise RecordError(key, f"not a JSON record: {err}") from None
        if type(raw) is not dict:
            raise RecordError(key, "a record must be a JSON object")
        fmt = raw.get("format")
        if fmt != RECORD_FORMAT:
            raise RecordError(f"{key}: format", f"unknown record format {fmt!r} (expected {RECORD_FORMAT!r})")
        machine = raw.get("machine")
        if type(machine) is not dict:
            machine = {}
        snapshot = raw.get("snapshot")
        if snapshot is not None:
            if type(snapshot) is not dict:
                raise RecordError(f"{key}: snapshot", "the snapshot must be an object")
            snapshot = AdoptableSnapshot(snapshot, has_refs=_ACTOR_MARK in data)
        timers = raw.get("timers") or []
        if type(timers) is not list:
            raise RecordError(f"{key}: timers", "must be a list")
        outbox = raw.get("outbox") or []
        seen = raw.get("seen") or []
        if type(outbox) is not list or type(seen) is not list:
            raise RecordError(f"{key}: outbox/seen", "must be lists")
        for i, o in enumerate(outbox):
            if type(o) is not dict:
                raise RecordError(f"{key}: outbox[{i}]", "must be an object")
        revision = raw.get("revision") or 0
        if type(revision) is not int:
            try:
                revision = int(revision)
            except (TypeError, ValueError):
                raise RecordError(f"{key}: revision", f"must be an integer, got {revision!r}") from None
        life = raw.get("life")
        if life is not None and type(life) is not str:
            raise RecordError(f"{key}: life", f"must be a string, got {life!r}")
        return cls(
            str(raw.get("id")),
            machine.get("id"),
            machine.get("version"),
            snapshot,
            [Timer.from_json(t, f"{key}: timers[{i}]") for i, t in enumerate(timers)] if timers else [],
            outbox,  # fresh from JSON: ours to keep
            seen if all(type(s) is str for s in seen) else [str(s) for s in seen],
            revision,
            raw.get("createdAt"),
            raw.get("updatedAt"),
            raw.get("expiresAt"),
            version,
            life,
        )
