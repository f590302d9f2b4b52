"""Property tests: whatever bytes sit under an actor's key (a valid record mutated field by field,
random JSON, random bytes, deep nesting, huge integers), loading it, ``run_due`` and the CLI's
``show`` give a typed error or success, never another exception; the other actors are unaffected
and still advanced."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hardening import COUNTER, creator
from typer.testing import CliRunner

from durable_xstate import PersistableActor, SimulatedClock, with_persistable_actor
from durable_xstate.cli import app
from durable_xstate.errors import DurableXStateError
from durable_xstate.persistence import StoredRecord, run_due
from durable_xstate.persistence.record import check_depth
from durable_xstate.stores import LockableStorage, MemoryStore, open_store

PROPERTY = settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
    max_leaves=8,
)


async def _valid_record() -> bytes:
    s = MemoryStore()
    store = LockableStorage(s, s)
    pa = PersistableActor(id="p", storage=store, actor_creator=creator, clock=SimulatedClock(now=0))
    await pa.init()
    pa.actor.send({"type": "INC"})
    pa.actor.send({"type": "WAIT"})
    pa.add_to_outbox({"type": "hello"}, id="p/1/x")
    pa.mark_seen("key-1")
    await pa.save()
    stored = await store.read("p.json")
    assert stored is not None
    return stored.data


VALID = json.loads(asyncio.run(_valid_record()))
PATHS = [
    ("format",), ("id",), ("machine",), ("machine", "id"), ("machine", "version"), ("snapshot",),
    ("snapshot", "value"), ("snapshot", "status"), ("snapshot", "context"), ("snapshot", "children"),
    ("snapshot", "historyValue"), ("snapshot", "error"), ("timers",), ("timers", 0), ("timers", 0, "id"),
    ("timers", 0, "source"), ("timers", 0, "target"), ("timers", 0, "event"), ("timers", 0, "delay"),
    ("timers", 0, "startedAt"), ("nextDueAt",), ("outbox",), ("outbox", 0), ("outbox", 0, "id"),
    ("seen",), ("seen", 0), ("revision",), ("createdAt",), ("updatedAt",), ("expiresAt",),
]


def _replace(record: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(record, dict):
        return {**record, head: _replace(record.get(head), rest, value)}
    if isinstance(record, list) and isinstance(head, int) and head < len(record):
        return [*record[:head], _replace(record[head], rest, value), *record[head + 1:]]
    return record


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@st.composite
def poison(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["field", "field-raw", "bytes", "json", "flip"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    valid = json.dumps(VALID).encode()
    if kind == "flip":
        at = draw(st.integers(0, len(valid) - 1))
        return valid[:at] + bytes([draw(st.integers(0, 255))]) + valid[at + 1:]
    path = draw(st.sampled_from(PATHS))
    if kind == "field":
        return json.dumps(_replace(VALID, path, draw(json_values))).encode()
    # raw text no json.dumps would write: deep nesting, huge integers, NaN and friends
    marker = "__RAW__"
    raw = draw(st.sampled_from([_deep(300), _deep(5000), "9" * 5000, "-" + "1" * 4400, "NaN", "Infinity",
                                "-Infinity", "1e999", '{"type": ' + _deep(2000) + "}"]))
    return json.dumps(_replace(VALID, path, marker)).replace(f'"{marker}"', raw).encode()


def _store() -> LockableStorage:
    s = MemoryStore()
    return LockableStorage(s, s)


@PROPERTY
@given(data=poison())
def test_decoding_any_bytes_is_a_record_or_a_record_error(data: bytes) -> None:
    try:
        record = StoredRecord.decode(data, key="p.json", version="1")
    except DurableXStateError as err:
        assert isinstance(err, ValueError) and "p.json" in str(err) and len(str(err)) < 500
    else:
        record.encode()  # whatever loads can be written back (or refuses with a typed error)


async def _good_actors(store: LockableStorage) -> None:
    for actor_id in ("a", "z"):
        pa = PersistableActor(id=actor_id, storage=store, actor_creator=creator, clock=SimulatedClock(now=0))
        await pa.init()
        pa.actor.send({"type": "WAIT"})
        await pa.save()
        await pa.close()


@PROPERTY
@given(data=poison())
def test_loading_and_run_due_never_raise_another_exception_and_the_others_advance(data: bytes) -> None:
    async def scenario() -> None:
        store = _store()
        await _good_actors(store)
        await store.write("p.json", data)
        try:
            await with_persistable_actor(lambda a: a.send({"type": "INC"}), id="p", storage=store,
                                         actor_creator=creator, locking="read-write")
        except DurableXStateError:
            stored = await store.read("p.json")
            assert stored is not None and stored.data == data  # refused: left as it was
        assert not await store.is_locked("p.json")
        await store.write("p.json", data, (await store.read("p.json")).version)  # type: ignore[union-attr]
        result = await run_due(store, {"counter": COUNTER}, now_ms=10_000_000)
        assert {"a", "z"} <= set(result)
        assert set(result) | set(result.failed) | set(result.skipped) | set(result.busy) <= {"a", "z", "p"}
        for actor_id in ("a", "z"):
            stored = await store.read(f"{actor_id}.json")
            assert stored is not None and json.loads(stored.data)["snapshot"]["value"] == "rang"

    asyncio.run(scenario())


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(data=poison())
def test_cli_show_and_list_print_a_record_or_one_error_line(data: bytes) -> None:
    url = f"memory://poison-{uuid.uuid4().hex}"

    async def put() -> None:
        store = open_store(url)
        await store.write("p.json", data)
        await store.write("ok.json", json.dumps(VALID).encode())

    asyncio.run(put())
    runner = CliRunner()
    for args in (["show", "p"], ["show", "p", "--json"], ["list"], ["list", "--json"]):
        result = runner.invoke(app, [*args, "--store", url], catch_exceptions=False)
        assert "Traceback" not in result.output
        if result.exit_code != 0:
            assert result.exit_code == 1 and args[0] == "show"
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            assert len(lines) == 1 and lines[0].startswith("error: ") and "RecordError" in lines[0]
        elif args[0] == "list":
            assert "ok" in result.stdout


def _depth(value: Any) -> int:
    """Nesting depth by walking the parsed value (the reference for check_depth)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (list, dict)):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


tricky_text = st.text(alphabet='[]{}"\\ab\n', max_size=6)
tricky_json = st.recursive(
    st.none() | st.integers() | tricky_text,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(tricky_text, kids, max_size=3),
    max_leaves=12,
)


@PROPERTY
@given(value=tricky_json, limit=st.integers(0, 6), ascii_only=st.booleans())
def test_check_depth_agrees_with_the_parsed_depth(value: Any, limit: int, ascii_only: bool) -> None:
    data = json.dumps(value, ensure_ascii=ascii_only).encode()
    found = check_depth(data, limit)
    depth = _depth(value)
    assert (found is None) == (depth <= limit)
    if found is not None:
        assert found == limit + 1
