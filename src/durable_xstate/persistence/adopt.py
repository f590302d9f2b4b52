"""Adopting what the original wrote: a bare xstate persisted snapshot under ``<id>.json`` becomes
revision 0 of a durable-xstate record, in place.

The original's ``PersistableActor`` stores ``JSON.stringify(actor.getPersistedSnapshot())`` at
``<id>.json``: a file under the root (``LocalFileStorageManager``), an object ``<prefix><id>.json``
(``S3StorageManager``), an item ``{path: "<id>.json", data, updatedAt}`` (``DynamoStorageManager``).
Each of our backends reads those as a value with a version (the file store: a hash of the bytes; S3: the
ETag; DynamoDB: ``"0"``, an item without a version attribute), so adopting one is a compare-and-set
against the version read: a writer that changed the value in between is never overwritten (the
outcome says ``conflict``; run again).

The snapshot inside is kept byte for byte what xstate wrote (see docs/decisions/0003-record-format.md);
with ``machine`` given, it must also restore on that machine, and the record names the machine.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..actors.actor import create_actor
from ..errors import (
    RecordError,
    SnapshotError,
    StoreError,
    UnusableSnapshot,
    WriteConflict,
    _capped,
)
from ..stores.base import LockableStorage, validate_key
from .index import RECORD_SUFFIX, index_entry
from .record import RECORD_FORMAT, StoredRecord, now_iso, parse_json

__all__ = ["AdoptOutcome", "Outcome", "adopt", "adopt_all", "check_snapshot"]

Outcome = Literal["adopted", "would-adopt", "already", "unusable", "conflict", "missing", "failed"]
_STATUSES = ("active", "done", "error", "stopped")


@dataclass(frozen=True)
class AdoptOutcome:
    """What adopting one id did.

    ``outcome``: ``adopted`` (written as revision 0), ``would-adopt`` (a dry run: nothing written),
    ``already`` (a durable-xstate record: left alone), ``unusable`` (not a snapshot, or it does not fit
    the machine: left alone, ``reason`` says why), ``conflict`` (changed while we adopted it: nothing
    overwritten), ``missing`` (no value), ``failed`` (the store failed: ``reason``).
    ``version`` is the store's version after the write (``adopted``), else the one read."""

    id: str
    outcome: Outcome
    reason: str | None = None
    version: str | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """Adopted, would be, or nothing to do (already a record)."""
        return self.outcome in ("adopted", "would-adopt", "already")


def check_snapshot(snapshot: Any, *, key: str, machine: Any = None) -> dict[str, Any]:
    """``snapshot`` if it is an xstate persisted snapshot (an object with a known ``status`` and a
    ``value``) that restores on ``machine`` when one is given; else RecordError, UnusableSnapshot
    (the machine's refusal) naming ``key``."""
    if type(snapshot) is not dict:
        raise RecordError(key, f"not an xstate persisted snapshot: a JSON {type(snapshot).__name__}, not an object")
    status = snapshot.get("status")
    if status not in _STATUSES:
        raise RecordError(f"{key}: status", f"not an xstate persisted snapshot: status {_capped(repr(status))} "
                                            f"is none of {', '.join(_STATUSES)}")
    if "value" not in snapshot:
        raise RecordError(f"{key}: value", "not an xstate persisted snapshot: it has no state value")
    if machine is not None:
        try:
            create_actor(machine, snapshot=snapshot)  # restored, never started: no action runs
        except SnapshotError as err:
            raise UnusableSnapshot(key, err.path, err.problem) from err
        except (ValueError, TypeError, LookupError, AttributeError, RecursionError) as err:
            raise UnusableSnapshot(key, "", f"{type(err).__name__}: {_capped(str(err))}") from err
    return snapshot


def _record(actor_id: str, snapshot: dict[str, Any], machine: Any) -> StoredRecord:
    now = now_iso()
    return StoredRecord(
        id=actor_id,
        machine_id=getattr(machine, "id", None) if machine is not None else None,
        machine_version=getattr(machine, "version", None) if machine is not None else None,
        snapshot=snapshot,
        revision=0,
        created_at=now,
        updated_at=now,
        life=uuid.uuid4().hex,
    )


async def adopt(store: LockableStorage, id: str, *, machine: Any = None, dry_run: bool = False) -> AdoptOutcome:
    """Adopt the original's snapshot of actor ``id`` as revision 0 of a durable-xstate record.

    Never raises for what is stored: every case is an :class:`AdoptOutcome` (an invalid id is
    InvalidKey, raised). ``machine``: the snapshot must restore on it (``unusable`` otherwise), and
    the record names it, as if that machine had written it. ``dry_run``: check, write nothing."""
    key = validate_key(f"{id}.json")
    try:
        stored = await store.read(key)
    except RecordError as err:  # e.g. a record codec that cannot decode it
        return AdoptOutcome(id, "unusable", str(err), error=err)
    except StoreError as err:
        return AdoptOutcome(id, "failed", f"{type(err).__name__}: {err}", error=err)
    if stored is None:
        return AdoptOutcome(id, "missing", f"no value at {key}")
    try:
        value = parse_json(stored.data, key=key) if stored.data.strip() else None
        if type(value) is dict and "format" in value:
            if value["format"] == RECORD_FORMAT:
                return AdoptOutcome(id, "already", "a durable-xstate record", stored.version)
            raise RecordError(f"{key}: format", f"a record of unknown format {_capped(repr(value['format']))}")
        if value is None:
            raise RecordError(key, "empty: the original reads that as no snapshot at all")
        snapshot = check_snapshot(value, key=key, machine=machine)
        record = _record(id, snapshot, machine)
        data = record.encode()
    except RecordError as err:  # UnusableSnapshot included
        return AdoptOutcome(id, "unusable", str(err), stored.version, err)
    if dry_run:
        return AdoptOutcome(id, "would-adopt", None, stored.version)
    try:
        version = await store.write(key, data, stored.version, index=index_entry(record))
    except WriteConflict as err:
        return AdoptOutcome(id, "conflict", "changed while it was being adopted: nothing overwritten, run again",
                            stored.version, err)
    except StoreError as err:
        return AdoptOutcome(id, "failed", f"{type(err).__name__}: {err}", stored.version, err)
    return AdoptOutcome(id, "adopted", None, version)


async def adopt_all(
    store: LockableStorage,
    prefix: str = "",
    *,
    machine: Any = None,
    dry_run: bool = False,
    on_outcome: Callable[[AdoptOutcome], None] | None = None,
) -> list[AdoptOutcome]:
    """:func:`adopt` every ``<id>.json`` whose id starts with ``prefix``, in key order; one bad value never
    stops the others. ``on_outcome`` is called with each outcome as it comes (progress)."""
    keys = sorted([key async for key in store.list(prefix) if key.endswith(RECORD_SUFFIX)])
    outcomes: list[AdoptOutcome] = []
    for key in keys:
        outcome = await adopt(store, key[: -len(RECORD_SUFFIX)], machine=machine, dry_run=dry_run)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes
