"""What a stored record says about itself in the store's index, and reading the index back.

Every record write carries an :class:`~durable_xstate.stores.IndexEntry` (see
docs/decisions/0008-index.md): ``due`` is the earliest time something must happen to the record
(its next timer, or its expiry for ``cleanup``), and the labels are its machine id, its status and
its state value (a string value as is, any other as compact JSON with sorted keys). ``run_due``,
``cleanup``, ``tick`` and the CLI's ``list`` then cost what is due or matches, not what is stored, on
every store that keeps an index; on one that does not, they read every record, as before.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from typing import Any

from ..errors import RecordError, WriteConflict
from ..stores.base import IndexEntry, LockableStorage, due_cursor
from .record import StoredRecord

__all__ = ["RECORD_SUFFIX", "due_keys", "index_entry", "next_due", "next_due_key", "reindex", "state_label"]

RECORD_SUFFIX = ".json"
_NO_VALUE = object()  # a snapshot without a "value"
_LAST = "\U0010ffff"  # after every key: a cursor (due, _LAST) starts strictly after that due time


def state_label(value: Any) -> str:
    """The ``state`` label of a state value: ``"cart"``, or ``{"a":"b"}`` as compact sorted JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def index_entry(record: Any) -> IndexEntry:
    """The index entry of a :class:`~durable_xstate.persistence.record.StoredRecord` about to be written."""
    due = record.next_due_at
    expires = record.expires_at
    if due is not None or expires is not None:  # else (the usual case) never due
        if due is not None and not math.isfinite(due):
            due = None
        if expires is not None and math.isfinite(expires) and (due is None or expires < due):
            due = expires  # the earlier of the two finite ones
    machine = record.machine_id
    labels: dict[str, str] = {} if machine is None else {"machine": str(machine)}
    snapshot = record.snapshot
    if isinstance(snapshot, dict):
        status = snapshot.get("status")
        if isinstance(status, str):
            labels["status"] = status
        value = snapshot.get("value", _NO_VALUE)
        if value is not _NO_VALUE:
            labels["state"] = value if isinstance(value, str) else state_label(value)
    return IndexEntry(due, labels)


async def due_keys(store: LockableStorage, prefix: str, now: float, *, page_size: int = 1000) -> AsyncIterator[str]:
    """The record keys that may be due at ``now`` (epoch ms): from the index when the store keeps one
    (earliest first; a stale entry may name a record that is not due: callers re-check), else every key."""
    if not store.indexes:
        async for key in store.list(prefix, page_size=page_size):
            if key.endswith(RECORD_SUFFIX):
                yield key
        return
    cursor: str | None = None
    while True:
        page = await store.due_page(prefix, now, cursor, page_size)
        for key in page.keys:
            if key.endswith(RECORD_SUFFIX):
                yield key
        if page.cursor is None:
            return
        cursor = page.cursor


async def next_due_key(store: LockableStorage, prefix: str, after: float) -> str | None:
    """The key whose index entry is due first strictly after ``after`` (None: none, or no index)."""
    if not store.indexes:
        return None
    page = await store.due_page(prefix, math.inf, due_cursor(after, _LAST), 1)
    return page.keys[0] if page.keys else None


async def next_due(store: LockableStorage, prefix: str, after: float) -> tuple[str, float] | None:
    """(actor id, due time) of the actor due first strictly after ``after`` (epoch ms), as its record says;
    None when nothing is, when the store keeps no index, or when the entry is stale or its record
    unreadable (no guess rather than a wrong one: the next pass sees the truth, run_due reports poison)."""
    key = await next_due_key(store, prefix, after)
    stored = await store.read(key) if key is not None else None
    if key is None or stored is None:
        return None
    try:
        due = index_entry(StoredRecord.decode(stored.data, key=key, version=stored.version)).due
    except RecordError:
        return None
    if due is None or due <= after:
        return None
    return key[: -len(RECORD_SUFFIX)], due


async def reindex(store: LockableStorage, prefix: str = "") -> tuple[int, dict[str, BaseException]]:
    """Write every record's index entry again (after upgrading a store made before it kept an index).

    Each record is rewritten with its own bytes and a compare-and-set (a record changed meanwhile got
    its entry from that write). Returns (records indexed, key -> error for the ones that could not be
    read); one bad record never stops the others."""
    done = 0
    failed: dict[str, BaseException] = {}
    async for key in store.list(prefix):
        if not key.endswith(RECORD_SUFFIX):
            continue
        stored = await store.read(key)
        if stored is None:
            continue
        try:
            record = StoredRecord.decode(stored.data, key=key, version=stored.version)
            await store.write(key, stored.data, stored.version, index=index_entry(record))
            done += 1
        except WriteConflict:
            done += 1  # written meanwhile, by a writer that wrote its entry too
        except RecordError as err:
            failed[key] = err
    return done, failed
