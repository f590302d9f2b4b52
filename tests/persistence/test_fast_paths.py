"""The durable step's fast paths give exactly what the full computations give.

The common case skips work (a short text skips the nesting count, the index entry's due time is
picked without building a list, the memory store keeps its index as plain tuples); these properties
hold the shortcuts to the answers of the plain definitions, on both sides of every threshold."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_xstate.errors import RecordError
from durable_xstate.persistence import StoredRecord
from durable_xstate.persistence.index import index_entry, state_label
from durable_xstate.persistence.journal import _encode_entry, _encode_lenient, entry_line
from durable_xstate.persistence.record import (
    _encode_json,
    check_depth,
    decode_json,
    decode_json_fast,
    encode_json_fast,
)
from durable_xstate.stores import IndexEntry, MemoryStore

FAST = settings(max_examples=80)


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value by its definition: a scalar is 0, a container one more than its items."""
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


_text = st.text(alphabet='[]{}"\\ab', max_size=4)
_nested = st.recursive(
    st.none() | st.integers(-5, 5) | _text,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(_text, kids, max_size=2),
    max_leaves=12,
)


@FAST
@given(value=_nested, limit=st.integers(0, 6))
def test_check_depth_matches_the_nesting_of_the_value_whatever_the_length(value: Any, limit: int) -> None:
    data = json.dumps(value, separators=(",", ":")).encode()
    depth = _depth(value)
    found = check_depth(data, limit)
    assert (found is not None) == (depth > limit), (data, depth, found)


@given(limit=st.integers(0, 40))
def test_check_depth_at_the_length_threshold(limit: int) -> None:
    # the shortest text nested limit + 1 deep is 2 * limit + 2 bytes: one byte past what is skipped
    deep = b"[" * (limit + 1) + b"]" * (limit + 1)
    assert check_depth(deep, limit) == limit + 1
    assert check_depth(b"[" * limit + b"]" * limit, limit) is None


_times = st.none() | st.floats(allow_nan=True) | st.integers(-(10**6), 10**6)


@FAST
@given(next_due=_times, expires=_times, value=st.none() | st.text(max_size=5) | st.dictionaries(
    st.text(max_size=3), st.text(max_size=3), max_size=2))
def test_index_entry_due_is_the_earliest_finite_time(next_due: Any, expires: Any, value: Any) -> None:
    class Record:
        machine_id = "m"
        next_due_at = next_due
        expires_at = expires
        snapshot = {"status": "active", "value": value}

    entry = index_entry(Record())
    finite = [d for d in (next_due, expires) if d is not None and math.isfinite(d)]
    assert entry.due == (min(finite) if finite else None)
    assert entry.labels == {"machine": "m", "status": "active", "state": state_label(value)}


def test_a_record_with_no_timers_left_keeps_its_stored_next_due_time() -> None:
    # a stored record whose timers were all cancelled unparsed keeps its (early) nextDueAt: a later run
    # looks and finds nothing due; the fast path for "no timers" must not change that
    record = StoredRecord(id="a", machine_id="m", machine_version="1", snapshot={"status": "active", "value": "on"})
    record.timers = []
    assert record.next_due_at is None
    data = record.encode()
    head = data.replace(b'"nextDueAt":null', b'"nextDueAt":5')
    stored = StoredRecord.decode(head, key="a.json", version="1")
    assert not stored.timers
    assert stored.next_due_at == 5


def test_memory_store_keeps_its_own_copy_of_the_labels() -> None:
    async def run() -> None:
        store = MemoryStore()
        labels = {"machine": "m", "status": "active"}
        await store.write("a.json", b"{}", index=IndexEntry(7.0, labels))
        labels["status"] = "done"  # the caller's dict changes after the write
        assert (await store.find_page("", {"status": "active"})).keys == ["a.json"]
        assert (await store.find_page("", {"status": "done"})).keys == []
        assert (await store.due_page("", 7.0)).keys == ["a.json"]

    asyncio.run(run())


def _outcome(fn: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(value)
    except Exception as err:  # the same error, by type and message, is the property
        return type(err).__name__, str(err)


_json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids, max_size=3),
    max_leaves=10,
)

_storable = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids, max_size=3),
    max_leaves=10,
)


@FAST
@given(value=_json_like)
def test_fast_encoding_gives_the_checking_encoders_text_and_errors(value: Any) -> None:
    assert _outcome(encode_json_fast, value) == _outcome(_encode_json, value)


def test_fast_encoding_of_a_cycle_fails_as_the_checking_encoder_does() -> None:
    cyclic: dict[str, Any] = {"a": 1}
    cyclic["self"] = cyclic
    assert _outcome(encode_json_fast, cyclic) == _outcome(_encode_json, cyclic) == (
        "ValueError", "Circular reference detected")
    record = StoredRecord(id="a", machine_id="m", machine_version="1", snapshot={"context": cyclic})
    with pytest.raises(RecordError, match="not JSON-serialisable: 'Circular reference detected'"):
        record.encode()


@FAST
@given(value=_json_like, pad=st.sampled_from(["", " ", "\n", "x", " 1", "]"]), front=st.sampled_from(["", " "]))
def test_fast_decoding_gives_the_decoders_value_and_errors(value: Any, pad: str, front: str) -> None:
    text = front + json.dumps(value) + pad
    assert _outcome(decode_json_fast, text) == _outcome(decode_json, text)


@FAST
@given(context=_storable, life=st.none() | st.text(max_size=4))
def test_a_record_without_timers_is_written_in_the_one_layout(context: Any, life: Any) -> None:
    record = StoredRecord(id="a", machine_id="m", machine_version="1",
                          snapshot={"status": "active", "value": "on", "context": context}, life=life)
    fields = json.dumps(record._fields(), ensure_ascii=False, separators=(",", ":")).encode()
    assert record.encode() == b'{"format":"durable-xstate.record/1","timersBytes":2,"timers":[],' + fields[1:]
    back = StoredRecord.decode(record.encode(), key="a.json", version="1")
    assert (back.snapshot, back.life, list(back.timers)) == (record.snapshot, life, [])


@pytest.mark.parametrize(("path", "where"), [
    (("machine", "id"), "machine.id"), (("machine", "version"), "machine.version"),
    (("createdAt",), "createdAt"), (("updatedAt",), "updatedAt"),
])
@given(bad=st.integers() | st.lists(st.text(max_size=2), max_size=2) | st.booleans())
@settings(max_examples=15)
def test_each_text_field_is_named_when_it_is_not_text(path: tuple[str, ...], where: str, bad: Any) -> None:
    record = StoredRecord(id="a", machine_id="m", machine_version="1", snapshot={"status": "active", "value": "on"},
                          created_at="2026-01-01T00:00:00.000Z", updated_at="2026-01-01T00:00:00.000Z")
    raw = json.loads(record.encode())
    target = raw
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = bad
    data = json.dumps(raw).encode()
    with pytest.raises(RecordError) as caught:
        StoredRecord.decode(data, key="a.json", version="1")
    assert caught.value.where == f"a.json: {where}"
    if where.startswith("machine"):
        assert "must be a string or null" in str(caught.value)
    else:
        assert "must be an ISO-8601 string or null" in str(caught.value)


def test_stored_timers_without_a_next_due_time_are_refused() -> None:
    timer = {"id": "t", "source": [], "target": [], "event": {"type": "T"}, "delay": 5, "startedAt": 0, "dueAt": 5}
    timers = json.dumps([timer], separators=(",", ":")).encode()
    empty = StoredRecord(id="a", machine_id="m", machine_version="1", snapshot={"status": "active", "value": "on"})
    rest = empty.encode()[len(b'{"format":"durable-xstate.record/1","timersBytes":2,"timers":[],'):]
    data = b'{"format":"durable-xstate.record/1","timersBytes":%d,"timers":%s,%s' % (len(timers), timers, rest)
    with pytest.raises(RecordError) as caught:
        StoredRecord.decode(data, key="a.json", version="1")
    assert (caught.value.where, caught.value.problem) == ("a.json: nextDueAt", "missing, but the record has timers")
    # the same record with no timer is fine
    assert not StoredRecord.decode(empty.encode(), key="a.json", version="1").timers


_tricky_text = st.text(max_size=6) | st.sampled_from([',"snapshot":0,', '"snapshot":0', '\\",\\"snapshot\\":0,', ","])


@FAST
@given(context=_storable, id=_tricky_text, machine=st.none() | _tricky_text, version=st.none() | _tricky_text,
       journal=st.booleans())
def test_a_record_written_with_its_snapshot_encoded_beforehand_has_the_same_bytes(
    context: Any, id: str, machine: Any, version: Any, journal: bool,
) -> None:
    snapshot = {"status": "active", "value": {"a": "b"}, "context": context}
    record = StoredRecord(id=id, machine_id=machine, machine_version=version, snapshot=snapshot, revision=3,
                          journal=b'[\n{"revision":3}\n]' if journal else b"[]", journal_count=int(journal))
    assert record.encode(encode_json_fast(snapshot)) == record.encode()


@FAST
@given(snapshot=st.dictionaries(st.sampled_from(["value", "status", "context"]), _storable, max_size=3),
       events=st.lists(_json_like, max_size=2), checkpoint=st.booleans())
def test_a_journal_entry_from_the_snapshots_text_is_the_one_from_the_snapshot(
    snapshot: dict[str, Any], events: list[Any], checkpoint: bool,
) -> None:
    def line(snapshot_json: str | None) -> tuple[str, Any]:
        return _outcome(lambda e: entry_line(4, "2026-01-01T00:00:00.000Z", e, snapshot, emitted=[], keys=["k"],
                                             meta=None, checkpoint=checkpoint, snapshot_json=snapshot_json), events)

    assert line(encode_json_fast(snapshot)) == line(None)


@FAST
@given(value=_json_like)
def test_a_journal_entry_is_encoded_as_the_lenient_encoder_does(value: Any) -> None:
    entry = {"revision": 1, "events": [value], "emitted": [ValueError("x"), value]}
    assert _outcome(_encode_entry, entry) == _outcome(_encode_lenient, entry)


def test_a_cyclic_journal_entry_fails_as_the_lenient_encoder_does() -> None:
    cyclic: dict[str, Any] = {"a": 1}
    cyclic["self"] = cyclic
    entry = {"events": [cyclic]}
    assert _outcome(_encode_entry, entry) == _outcome(_encode_lenient, entry) == (
        "ValueError", "Circular reference detected")
