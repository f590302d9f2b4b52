"""Redis-only behaviour: key layout, namespaces, faults and recovery on a server that goes away."""

from __future__ import annotations

import asyncio
import math
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from unittest.mock import patch

import pytest
import pytest_asyncio
from harness import HELD, wait_until_ready
from hypothesis import given, settings
from hypothesis import strategies as st
from provider_redis import _free_port, _ping, _redis_server_binary

from durable_xstate.errors import LeaseLost, StoreUnavailable, WriteConflict
from durable_xstate.stores import IndexEntry, Storage, open_store
from durable_xstate.stores.memory import MemoryStore
from durable_xstate.stores.redis import RedisStore, _due_of, _label_head, _sortable_due


def _url(base: str, prefix: str) -> str:
    return f"{base}{'&' if '?' in base else '?'}prefix={prefix}"


@pytest_asyncio.fixture
async def raw(redis_server: str) -> AsyncIterator[object]:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_server)
    try:
        yield client
    finally:
        await client.aclose()


async def test_namespaces_are_isolated(redis_server: str) -> None:
    a = open_store(_url(redis_server, f"a{uuid.uuid4().hex[:8]}"))
    b = open_store(_url(redis_server, f"b{uuid.uuid4().hex[:8]}"))
    try:
        await a.write("k.json", b"from a")
        assert await b.read("k.json") is None
        await b.write("k.json", b"from b")
        got = await a.read("k.json")
        assert got is not None and got.data == b"from a"
        la = await a.acquire("k.json", "x", HELD, HELD)
        lb = await b.acquire("k.json", "x", HELD, HELD)  # separate lock spaces
        assert la.token >= 1 and lb.token >= 1
        assert [k async for k in a.list("")] == ["k.json"]
    finally:
        await a.close()
        await b.close()


async def test_layout_fence_counter_survives_release(redis_server: str, raw: object) -> None:
    import redis.asyncio

    assert isinstance(raw, redis.asyncio.Redis)
    prefix = f"p{uuid.uuid4().hex[:8]}"
    store = open_store(_url(redis_server, prefix))
    try:
        v = await store.write("orders/1.json", b"data")
        assert await raw.hgetall(f"{{{prefix}}}:v:orders/1.json") == {b"d": b"data", b"v": v.encode()}
        lease = await store.acquire("orders/1.json", "me", HELD, HELD)
        assert 0 < await raw.pttl(f"{{{prefix}}}:l:orders/1.json") <= HELD * 1000
        await store.release(lease)
        assert await raw.exists(f"{{{prefix}}}:l:orders/1.json") == 0
        assert await raw.hgetall(f"{{{prefix}}}:f:orders/1.json") == {b"t": str(lease.token).encode()}
        again = await store.acquire("orders/1.json", "you", HELD, HELD)
        assert again.token == lease.token + 1
        await store.delete("orders/1.json")
        assert await raw.zcard(f"{{{prefix}}}:idx") == 0
        await store.release(again)
    finally:
        await store.close()


async def test_counters_start_at_the_server_clock_so_a_reset_cannot_repeat_them(
    redis_server: str, raw: object
) -> None:
    import redis.asyncio

    assert isinstance(raw, redis.asyncio.Redis)
    prefix = f"s{uuid.uuid4().hex[:8]}"
    store = open_store(_url(redis_server, prefix))
    try:
        seconds, micros = await raw.time()
        v1 = await store.write("k.json", b"1")
        lease = await store.acquire("k.json", "me", HELD, HELD)
        assert int(v1) >= seconds * 1_000_000 + micros and lease.token >= int(v1)
        got = await store.read("k.json")
        assert got is not None and got.version == v1  # stored exactly as returned (no float formatting)
        # The data is lost (no persistence, FLUSHDB, a failover) ...
        for name in await raw.keys(f"{{{prefix}}}:*"):
            await raw.delete(name)
        # ... and an old writer's version and an old holder's token still cannot match the new ones.
        v2 = await store.write("k.json", b"2")
        assert int(v2) > int(v1)
        with pytest.raises(WriteConflict):
            await store.write("k.json", b"stale", v1)
        new = await store.acquire("k.json", "other", HELD, HELD)
        assert new.token > lease.token
        with pytest.raises(LeaseLost):
            await store.write("k.json", b"stale", v2, lease=lease)
        await store.write("k.json", b"3", v2, lease=new)
    finally:
        await store.close()


async def test_listing_keys_with_glob_and_sort_characters(redis_server: str) -> None:
    store = open_store(_url(redis_server, f"g{uuid.uuid4().hex[:8]}"))
    keys = ["a*b/1", "a?/x", "[x]/y", "a/b", "a%/c", "a_/d", "ab", "a\U0010ffff/z", "a\U0010ffff"]
    try:
        for k in keys:
            await store.write(k, b"1")
        for prefix in ["a*", "a?", "[x]", "a/", "a%", "a_", "a", "a\U0010ffff", ""]:
            listed = [k async for k in store.list(prefix, page_size=2)]
            assert sorted(listed) == sorted(k for k in keys if k.startswith(prefix)), prefix
            assert len(listed) == len(set(listed))
    finally:
        await store.close()


async def test_a_foreign_value_is_a_fault_not_a_conflict(redis_server: str, raw: object) -> None:
    import redis.asyncio

    assert isinstance(raw, redis.asyncio.Redis)
    prefix = f"w{uuid.uuid4().hex[:8]}"
    await raw.set(f"{{{prefix}}}:v:k.json", b"not a hash")
    store = open_store(_url(redis_server, prefix))
    try:
        with pytest.raises(StoreUnavailable) as info:
            await store.read("k.json")
        assert "WRONGTYPE" in str(info.value.cause)
        with pytest.raises(StoreUnavailable):
            await store.write("k.json", b"x", "1")
    finally:
        await store.close()


def test_one_store_across_event_loops(redis_server: str) -> None:
    store = open_store(_url(redis_server, f"l{uuid.uuid4().hex[:8]}"))

    async def bump() -> None:
        cur = await store.read("n")
        await store.write("n", str(int(cur.data) + 1 if cur else 1).encode(), cur.version if cur else None)

    asyncio.run(bump())
    asyncio.run(bump())  # a new loop: the store makes a new client for it
    got = asyncio.run(store.read("n"))
    assert got is not None and got.data == b"2"
    asyncio.run(store.close())


def test_bad_prefixes_are_refused() -> None:
    with pytest.raises(ValueError):
        RedisStore("redis://127.0.0.1:1/0", prefix="a{b}")
    with pytest.raises(ValueError):
        open_store("redis://127.0.0.1:1/0?prefix=../x")


@pytest.fixture
def private_redis() -> Iterator[tuple[int, Path, str]]:
    binary = _redis_server_binary()
    if binary is None:
        pytest.fail("no redis-server binary")
    workdir = Path(tempfile.mkdtemp(prefix="durable-xstate-redis-private-"))
    yield _free_port(), workdir, binary
    shutil.rmtree(workdir, ignore_errors=True)


def _start(binary: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--logfile", str(workdir / "redis.log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    if not wait_until_ready(proc, lambda: _ping(port), poll_seconds=0.01):
        proc.kill()
        pytest.fail(f"private redis-server did not start on {port}")
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(timeout=10)


@pytest.mark.servers  # starts its own redis-server
async def test_server_gone_then_back(private_redis: tuple[int, Path, str]) -> None:
    port, workdir, binary = private_redis
    proc = _start(binary, port, workdir)
    store = open_store(f"redis://127.0.0.1:{port}/0?prefix=r&socket_connect_timeout=2")
    try:
        v = await store.write("k.json", b"1")
        lease = await store.acquire("k.json", "me", HELD, HELD)
        _stop(proc)
        # Every operation reports the fault; none pretends "absent", "conflict" or "busy".
        for call in (
            store.read("k.json"),
            store.exists("k.json"),
            store.write("k.json", b"2", v),
            store.write("new.json", b"2"),
            store.delete("k.json", v),
            store.try_acquire("k.json", "other", HELD),
            store.acquire("k.json", "other", HELD, 0.2),
            store.renew(lease),
            store.release(lease),
            store.check(lease),
            store.is_locked("k.json"),
            store.list_page(""),
        ):
            with pytest.raises(StoreUnavailable) as info:
                await call
            assert info.value.backend == "redis" and info.value.cause is not None
        proc = _start(binary, port, workdir)  # an empty server (no persistence): the store just works again
        assert await store.read("k.json") is None
        with pytest.raises(WriteConflict) as conflict:
            await store.write("k.json", b"3", v)
        assert conflict.value.found is None
        v2 = await store.write("k.json", b"3")
        got = await store.read("k.json")
        assert got is not None and got.version == v2
        with pytest.raises(LeaseLost):
            await store.check(lease)
    finally:
        await store.close()
        _stop(proc)


# ---------------------------------------------------------------------- the index (issue 13)

_odd_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)


@settings(max_examples=200)
@given(a=st.floats(allow_nan=False), b=st.floats(allow_nan=False))
def test_due_digits_sort_like_the_numbers_and_read_back(a: float, b: float) -> None:
    da, db = _sortable_due(a), _sortable_due(b)
    assert len(da) == 16
    assert (da < db) == (a < b) and (da == db) == (a == b)
    assert _due_of(da) == a


@settings(max_examples=200)
@given(a=_odd_text, b=_odd_text)
def test_one_label_value_never_runs_into_another(a: str, b: str) -> None:
    # a head holds no NUL, ends with one, and differs for different values: no member of one value's
    # range (head + key) can fall in another's
    ha, hb = _label_head(a), _label_head(b)
    assert b"\x00" not in ha[:-1] and ha.endswith(b"\x00")
    assert (ha == hb) == (a == b)
    assert a == b or not hb.startswith(ha)


_keys = st.sampled_from(["a.json", "b/c.json", "b/d.json", "é.json", "b\U0010ffff.json", "z*[x].json"])
_labels = st.fixed_dictionaries({}, optional={
    "machine": st.sampled_from(["m", "m\x00x"]),
    "status": st.sampled_from(["active", "done"]),
    "state": st.sampled_from(["a", "a\x01", '{"b":"c"}', ""]),
})
_entries = st.one_of(st.none(), st.builds(
    IndexEntry, st.one_of(st.none(), st.sampled_from([-5.0, -0.0, 0.0, 1.5, 1e13, math.inf, math.nan])), _labels
))
_ops = st.lists(st.tuples(st.sampled_from(["write", "write", "write", "delete"]), _keys, _entries), max_size=14)


_QUERIES: list[dict[str, str]] = [
    {}, {"status": "active"}, {"machine": "m\x00x"}, {"state": "a"}, {"state": "a", "status": "done"},
    {"machine": "m", "status": "active", "state": "a\x01"},
]


@settings(max_examples=40)
@given(ops=_ops, limit=st.integers(1, 3), budget=st.sampled_from([1, 2, 5000]))
def test_the_index_agrees_with_the_reference_store(
    redis_server: str, ops: list[tuple[str, str, IndexEntry | None]], limit: int, budget: int
) -> None:
    # every page walk, however small the page or the scan budget, gives what the memory store gives
    async def run() -> None:
        store = RedisStore(redis_server, prefix=f"h{uuid.uuid4().hex[:8]}")
        reference = MemoryStore()
        try:
            for op, key, ent in ops:
                for s in (store, reference):
                    if op == "write":
                        current = await s.read(key)
                        await s.write(key, b"v", current.version if current else None, index=ent)
                    else:
                        await s.delete(key)
            with patch("durable_xstate.stores.redis.SCAN_BUDGET", budget):
                for prefix in ("", "b/", "b", "\u00e9"):
                    for until in (-1.0, 0.0, 2.0, 1e15, math.inf):
                        due = [await _walk_due(s, prefix, until, limit) for s in (store, reference)]
                        assert due[0] == due[1], (prefix, until)
                    for query in _QUERIES:
                        found = [await _walk_found(s, prefix, query, limit) for s in (store, reference)]
                        assert found[0] == found[1], (prefix, query)
        finally:
            await store.close()

    asyncio.run(run())


async def _walk_due(store: Storage, prefix: str, until: float, limit: int) -> list[str]:
    keys: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        page = await store.due_page(prefix, until, cursor, limit)
        assert len(page.keys) <= limit
        keys += page.keys
        if page.cursor is None:
            return keys
        cursor = page.cursor
    raise AssertionError("due_page never ended")


async def _walk_found(store: Storage, prefix: str, labels: dict[str, str], limit: int) -> list[str]:
    keys: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        page = await store.find_page(prefix, labels, cursor, limit)
        assert len(page.keys) <= limit
        keys += page.keys
        if page.cursor is None:
            return keys
        cursor = page.cursor
    raise AssertionError("find_page never ended")


async def test_a_refused_fenced_write_changes_no_entry(redis_server: str) -> None:
    store = RedisStore(redis_server, prefix=f"f{uuid.uuid4().hex[:8]}")
    try:
        old = await store.acquire("k.json", "a", HELD, HELD)
        v = await store.write("k.json", b"1", lease=old, index=IndexEntry(5.0, {"status": "active"}))
        await store.release(old)
        await store.acquire("k.json", "b", HELD, HELD)
        with pytest.raises(LeaseLost):
            await store.write("k.json", b"2", v, lease=old, index=IndexEntry(1.0, {"status": "done"}))
        assert (await store.due_page("", 10.0)).keys == ["k.json"]
        assert (await store.due_page("", 2.0)).keys == []
        assert (await store.find_page("", {"status": "done"})).keys == []
        assert (await store.find_page("", {"status": "active"})).keys == ["k.json"]
    finally:
        await store.close()


async def test_values_written_before_the_index_get_an_entry_when_written_again(redis_server: str, raw: object) -> None:
    # a store of an earlier version: value hashes with d and v only, no entry sets at all
    import redis.asyncio

    assert isinstance(raw, redis.asyncio.Redis)
    prefix = f"o{uuid.uuid4().hex[:8]}"
    root = f"{{{prefix}}}:"
    for name in ("a.json", "b.json"):
        await raw.hset(f"{root}v:{name}", mapping={"d": b"old " + name.encode(), "v": "7"})
        await raw.zadd(f"{root}idx", {name: 0})
    store = RedisStore(redis_server, prefix=prefix)
    try:
        got = await store.read("a.json")
        assert got is not None and got.data == b"old a.json" and got.version == "7"
        assert (await store.due_page("", math.inf)).keys == []  # no entry until written again
        await store.write("a.json", b"new", "7", index=IndexEntry(3.0, {"status": "active"}))
        assert (await store.due_page("", 5.0)).keys == ["a.json"]
        assert (await store.find_page("", {"status": "active"})).keys == ["a.json"]
        assert (await store.find_page("", {})).keys == ["a.json"]
        await store.delete("b.json")  # a value without an entry deletes cleanly
        assert [k async for k in store.list("")] == ["a.json"]
        await store.delete("a.json")
        assert (await store.due_page("", math.inf)).keys == []
        for name in ("due", "x", "x:status"):
            assert await raw.zcard(f"{root}{name}") == 0  # nothing left behind
    finally:
        await store.close()
