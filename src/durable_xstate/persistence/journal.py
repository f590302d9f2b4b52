"""The journal of a durable actor: what each committed revision did, kept inside its record.

Every save that commits a revision appends one entry to the record's ``journal`` (see
docs/decisions/0009-journal.md): the revision, the time, the events delivered to the actor in that
run (each with where it came from: ``send`` from outside, ``timer`` the actor scheduled, ``child``),
the idempotency keys applied, the caller's ``meta``, the resulting state value and status, and the
events emitted. The journal lives in the record, so an entry commits with its revision in the same
compare-and-set on every backend, and none exists for a revision that did not commit.

Entries are JSON lines of their own (one per line of the journal's array), appended and trimmed as
bytes: a save never parses the journal. Every ``checkpoint_every``-th entry (and the first) also holds
the full persisted snapshot: :func:`replay` restores the actor there and runs the later events again.
Retention keeps the newest ``max_entries`` entries and ``max_bytes`` of journal, cut at a checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from ..actors.clock import DurableClock
from ..errors import InvalidArgument, RecordError
from ..machine.machine import marking_default
from ..stores.base import LockableStorage
from .record import StoredRecord, parse_json

__all__ = ["JournalEntry", "JournalPolicy", "ReplayReport", "journal", "replay"]

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _as_json(value: Any) -> Any:
    """What the journal writes for a value JSON has no form for (an error, an actor in an event)."""
    if isinstance(value, BaseException):
        return {"error": type(value).__name__, "message": str(value)}
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    return repr(value)


# events may carry objects (errors of failed children, actor references): the journal records what it can
_encode_lenient = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_as_json).encode
# the C encoder behind _encode_lenient, made once instead of per call and without its circular-reference
# bookkeeping (see _encode_entry); None where the C accelerator is missing
_unchecked_lenient = (
    c_make_encoder(None, _as_json, encode_basestring, None, ":", ",", False, False, False)
    if c_make_encoder is not None
    else None
)
# a snapshot's contexts may come with their actor references in place (persisted_unmarked): written as
# xstate's marks, so the fingerprint is the marked snapshot's
_encode_snapshot = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=marking_default(_as_json)
).encode
_CHECKPOINT = b',"checkpoint":true'


@dataclass(frozen=True, slots=True)
class JournalPolicy:
    """How much journal a record keeps: the newest ``max_entries`` entries within ``max_bytes`` of JSON
    (defaults: 100 entries, 64 KiB: everything a small actor produces, well under DynamoDB's 400 KB item;
    the journal is rewritten with its record, so its size is paid on every save),
    a checkpoint (the full snapshot) every ``checkpoint_every`` entries."""

    max_entries: int = 100
    max_bytes: int = 64 * 1024
    checkpoint_every: int = 20

    def __post_init__(self) -> None:
        if self.max_entries < 1 or self.max_bytes < 1024 or self.checkpoint_every < 1:
            raise InvalidArgument(
                f"JournalPolicy needs max_entries >= 1, max_bytes >= 1024, checkpoint_every >= 1, got {self!r}"
            )


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One committed revision. ``events``: ``{"event": …, "from": "send" | "timer" | "child"}`` in the
    order they were delivered; ``snapshot``: the persisted snapshot after it, on checkpoints only."""

    revision: int
    at: str
    events: list[dict[str, Any]]
    state: Any
    status: str | None
    emitted: list[Any] = field(default_factory=list)
    idempotency_keys: list[str] = field(default_factory=list)
    meta: Any = None
    snapshot: dict[str, Any] | None = None
    digest: str | None = None

    @property
    def checkpoint(self) -> bool:
        return self.snapshot is not None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"revision": self.revision, "at": self.at, "events": self.events, "state": self.state,
                               "status": self.status, "emitted": self.emitted}
        if self.idempotency_keys:
            out["idempotencyKeys"] = self.idempotency_keys
        if self.meta is not None:
            out["meta"] = self.meta
        if self.digest is not None:
            out["digest"] = self.digest
        if self.snapshot is not None:
            out["snapshot"] = self.snapshot
        return out


def _encode_entry(entry: dict[str, Any]) -> str:
    """``_encode_lenient(entry)`` with less per-call work. A cyclic value recurses here until
    RecursionError and is then encoded the checking way, which raises what ``_encode_lenient`` raises:
    the same results and the same errors."""
    if _unchecked_lenient is None:
        return _encode_lenient(entry)
    try:
        return "".join(_unchecked_lenient(entry, 0))
    except RecursionError:
        return _encode_lenient(entry)


def entry_line(
    revision: int, at: str, events: list[dict[str, Any]], snapshot: Mapping[str, Any], *, emitted: list[Any],
    keys: list[str], meta: Any, checkpoint: bool, snapshot_json: str | None = None,
) -> bytes:
    """The JSON line of one entry (``"checkpoint":true`` right after the revision, so a trim finds it).

    ``snapshot_json``: the snapshot's JSON text as the record writes it, when the caller has it already
    (the digest is taken from it instead of encoding the snapshot again)."""
    entry: dict[str, Any] = {"revision": revision}
    if checkpoint:
        entry["checkpoint"] = True
    entry.update(at=at, events=events, state=snapshot.get("value"), status=snapshot.get("status"),
                 digest=digest(snapshot) if snapshot_json is None else _digest_text(snapshot_json), emitted=emitted)
    if keys:
        entry["idempotencyKeys"] = keys
    if meta is not None:
        entry["meta"] = meta
    if checkpoint:
        entry["snapshot"] = snapshot
    try:
        return _encode_entry(entry).encode()
    except ValueError:  # NaN or infinity in a payload: recorded as text rather than refusing the save
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=_as_json).replace(
            "NaN", '"NaN"').replace("Infinity", '"Infinity"').encode()


def digest(snapshot: Mapping[str, Any]) -> str:
    """A short fingerprint of a persisted snapshot (context included): replay compares it revision by
    revision, so a change anywhere in the state shows at the revision that made it."""
    return _digest_text(_encode_snapshot(snapshot))


def _digest_text(text: str) -> str:
    """:func:`digest` of a snapshot whose JSON text is ``text``."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def append(journal: bytes, count: int, line: bytes, policy: JournalPolicy) -> tuple[bytes, int]:
    """The journal with ``line`` appended. Past ``policy`` it is cut to half of it (so cuts are rare),
    from the oldest end, where a checkpoint begins (an entry that forces a cut is one: see
    :func:`is_checkpoint_due`)."""
    if count == 0:
        journal, count = b"[\n" + line + b"\n]", 1
    else:
        journal, count = b"".join((memoryview(journal)[:-2], b",\n", line, b"\n]")), count + 1
    if count <= policy.max_entries and len(journal) <= policy.max_bytes:
        return journal, count
    lines = journal[2:-2].split(b",\n")  # entries never hold a raw newline: JSON escapes it
    keep, size = len(lines), len(journal)
    while keep > 1 and (keep > policy.max_entries // 2 or size > policy.max_bytes // 2):
        size -= len(lines[len(lines) - keep]) + 2
        keep -= 1
    first = len(lines) - keep
    while first < len(lines) - 1 and _CHECKPOINT not in lines[first][:40]:
        first += 1  # replay starts at a checkpoint: cut where one begins
    kept = lines[first:]
    return b"[\n" + b",\n".join(kept) + b"\n]", len(kept)


def is_checkpoint_due(count: int, policy: JournalPolicy, journal: bytes) -> bool:
    """Whether the next entry holds the full snapshot: the first, every ``checkpoint_every``-th, and one
    whose append will cut the journal (what is kept must start at a checkpoint)."""
    return (
        count == 0
        or (count + 1) % policy.checkpoint_every == 0
        or count + 1 > policy.max_entries
        or len(journal) + _LINE_ALLOWANCE > policy.max_bytes
    )


_LINE_ALLOWANCE = 4096  # bytes: an entry bigger than this may cut the journal without being a checkpoint,
# in which case the cut keeps it alone (it is the newest) and replay starts at the next checkpoint


def entries(record: StoredRecord) -> list[JournalEntry]:
    """The journal of a record, parsed (RecordError for one that is not a journal)."""
    if not record.journal_count:
        return []
    raw = parse_json(record.journal, key=f"{record.id}.json: journal")
    if type(raw) is not list:
        raise RecordError(f"{record.id}.json: journal", "must be a list")
    out = []
    for i, e in enumerate(raw):
        try:
            out.append(JournalEntry(
                revision=int(e["revision"]), at=str(e["at"]), events=list(e["events"]), state=e.get("state"),
                status=e.get("status"), emitted=list(e.get("emitted") or []),
                idempotency_keys=list(e.get("idempotencyKeys") or []), meta=e.get("meta"), snapshot=e.get("snapshot"),
                digest=e.get("digest"),
            ))
        except (KeyError, TypeError, ValueError) as err:
            raise RecordError(f"{record.id}.json: journal[{i}]", f"not a journal entry: {err}") from None
    return out


async def journal(
    store: LockableStorage, id: str, *, since: int | None = None, limit: int | None = None
) -> list[JournalEntry]:
    """The journal entries of actor ``id``, oldest first: revisions ``>= since``, at most ``limit``.
    ``[]`` for an actor without a journal, and for a missing one."""
    key = f"{id}.json"
    stored = await store.read(key)
    if stored is None:
        return []
    found = entries(StoredRecord.decode(stored.data, key=key, version=stored.version))
    if since is not None:
        found = [e for e in found if e.revision >= since]
    return found[:limit] if limit is not None else found


@dataclass
class ReplayReport:
    """What :func:`replay` found: ``reproduces`` is True when every revision from ``start`` to ``end``
    came out as the journal says (state value, status and a fingerprint of the whole snapshot); otherwise ``diverged_at`` is the first revision that did not, with
    what the journal says (``expected``) and what the machine gave (``actual``). ``snapshot`` is the
    persisted snapshot at ``end`` as the machine rebuilt it (time travel)."""

    id: str
    start: int
    end: int
    reproduces: bool
    snapshot: dict[str, Any] | None
    diverged_at: int | None = None
    expected: Any = None
    actual: Any = None
    checked: int = 0


def replay(
    record: StoredRecord, actor_creator: Callable[[str, Any], Any], *, to: int | None = None
) -> ReplayReport:
    """Rebuild the actor of ``record`` revision by revision from the oldest checkpoint in its journal,
    re-running the journaled events on ``actor_creator(id, snapshot)``'s machine (its actions run
    again: use it where they do no harm), and compare each revision with the journal (state value and
    status; the full snapshot at checkpoints). Stops at revision ``to`` (default: the newest)."""
    found = entries(record)
    start_at = next((i for i, e in enumerate(found) if e.checkpoint), None)
    if start_at is None:
        raise RecordError(f"{record.id}.json: journal", "no checkpoint to replay from (the journal is empty)")
    base = found[start_at]
    end = found[-1].revision if to is None else to
    if end < base.revision or end > found[-1].revision:
        raise InvalidArgument(
            f"replay of {record.id!r}: revision {end} is not in the journal ({base.revision}..{found[-1].revision})"
        )
    actor = actor_creator(record.id, base.snapshot)
    actor.use_clock(DurableClock(lambda: 0.0))  # time stands still: journaled timer events are replayed as events
    actor.start()
    report = ReplayReport(record.id, base.revision, end, True, None)
    try:
        for entry in found[start_at + 1 :]:
            if entry.revision > end:
                break
            for delivered in entry.events:
                actor.send(delivered["event"])
            persisted = actor.get_persisted_snapshot()
            expected: Any = (entry.state, entry.status)
            actual: Any = (persisted.get("value"), persisted.get("status"))
            if expected == actual and entry.snapshot is not None:
                expected, actual = _comparable(entry.snapshot), _comparable(persisted)
            elif expected == actual and entry.digest is not None and entry.digest != digest(persisted):
                expected = {"state": entry.state, "status": entry.status, "digest": entry.digest}
                actual = {"state": actual[0], "status": actual[1], "digest": digest(persisted),
                          "context": persisted.get("context")}
            report.checked += 1
            if expected != actual:
                report.reproduces, report.diverged_at = False, entry.revision
                report.expected, report.actual = expected, actual
                break
        report.snapshot = actor.get_persisted_snapshot()
    finally:
        actor.stop()
    return report


def _comparable(snapshot: Mapping[str, Any]) -> Any:
    """A snapshot as JSON would give it back (tuples as lists), to compare stored with rebuilt."""
    return json.loads(_encode(snapshot))
