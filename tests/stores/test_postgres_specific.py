"""PostgreSQL-only behaviour: namespaces, first-use table creation under concurrency, fencing that waits
for an acquire in flight, cancellation, and reconnecting after the server drops the connection."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import pytest_asyncio
from harness import HELD

from durable_xstate.errors import LeaseLost, StoreUnavailable, WriteConflict
from durable_xstate.stores import SyncStore, open_store


def _url(base: str, **options: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return f"{base}{'&' if '?' in base else '?'}{query}"


@pytest_asyncio.fixture
async def raw(postgres_server: str) -> AsyncIterator[psycopg.AsyncConnection[tuple[object, ...]]]:
    conn = await psycopg.AsyncConnection.connect(postgres_server, autocommit=True)
    try:
        yield conn
    finally:
        await conn.close()


async def test_namespaces_are_isolated(postgres_server: str) -> None:
    a = open_store(_url(postgres_server, prefix=f"a{uuid.uuid4().hex[:8]}"))
    b = open_store(_url(postgres_server, prefix=f"b{uuid.uuid4().hex[:8]}"))
    try:
        await a.write("k.json", b"from a")
        assert await b.read("k.json") is None
        await b.write("k.json", b"from b")
        got = await a.read("k.json")
        assert got is not None and got.data == b"from a"
        la = await a.acquire("k.json", "x", HELD, HELD)
        lb = await b.acquire("k.json", "x", HELD, HELD)
        assert la.token == lb.token == 1
        assert [k async for k in a.list("")] == ["k.json"]
    finally:
        await a.close()
        await b.close()


async def test_listing_keys_with_like_and_sort_characters(postgres_server: str) -> None:
    store = open_store(_url(postgres_server, prefix=f"g{uuid.uuid4().hex[:8]}"))
    keys = ["a*b/1", "a?/x", "[x]/y", "a/b", "a%/c", "a_/d", "ab", "aB", "a\U0010ffff/z", "a\U0010ffff", "é/1", "z"]
    try:
        for k in keys:
            await store.write(k, b"1")
        for prefix in ["a*", "a?", "[x]", "a/", "a%", "a_", "a", "a\U0010ffff", "é", ""]:
            listed = [k async for k in store.list(prefix, page_size=2)]
            assert listed == sorted(k for k in keys if k.startswith(prefix)), prefix  # code point order
    finally:
        await store.close()


def test_concurrent_first_use_creates_the_tables_once(postgres_server: str) -> None:
    table = f"dx_{uuid.uuid4().hex[:10]}"

    def first_use(i: int) -> str:
        with SyncStore(open_store(_url(postgres_server, table=table, prefix="p"))) as store:
            return store.write(f"k{i}.json", b"x")

    try:
        with ThreadPoolExecutor(8) as pool:
            versions = list(pool.map(first_use, range(8)))
        assert len(set(versions)) == 8
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'DROP TABLE IF EXISTS "{table}_values", "{table}_leases"')
            conn.execute(f'DROP SEQUENCE IF EXISTS "{table}_version"')


async def test_a_fenced_write_waits_for_an_acquire_in_flight_and_then_loses(
    postgres_server: str, raw: psycopg.AsyncConnection[tuple[object, ...]]
) -> None:
    prefix = f"f{uuid.uuid4().hex[:8]}"
    store = open_store(_url(postgres_server, prefix=prefix))
    try:
        v = await store.write("k.json", b"0")
        lease = await store.acquire("k.json", "slow", HELD, HELD)
        # Another client is granting a newer token (its transaction is not committed yet) ...
        async with raw.transaction():
            await raw.execute(
                "UPDATE durable_xstate_leases SET token = token + 1, owner = 'fast' WHERE ns = %s AND key = %s",
                [prefix, "k.json"],
            )
            write = asyncio.create_task(store.write("k.json", b"slow", v, lease=lease))
            await asyncio.sleep(0.3)
            assert not write.done()  # ... so the fenced write waits on the lease row,
        with pytest.raises(LeaseLost):  # ... and sees the newer token once it commits.
            await write
        got = await store.read("k.json")
        assert got is not None and got.data == b"0" and got.version == v
    finally:
        await store.close()


async def test_a_cancelled_write_leaves_the_store_usable(
    postgres_server: str, raw: psycopg.AsyncConnection[tuple[object, ...]]
) -> None:
    prefix = f"c{uuid.uuid4().hex[:8]}"
    store = open_store(_url(postgres_server, prefix=prefix))
    try:
        v = await store.write("k.json", b"0")
        lease = await store.acquire("k.json", "me", HELD, HELD)
        async with raw.transaction():
            await raw.execute(
                "SELECT 1 FROM durable_xstate_leases WHERE ns = %s AND key = %s FOR UPDATE", [prefix, "k.json"]
            )
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(store.write("k.json", b"1", v, lease=lease), 0.3)
        got = await store.read("k.json")
        assert got is not None and got.version == v  # the cancelled write did not land
        v2 = await store.write("k.json", b"2", v, lease=lease)
        got = await store.read("k.json")
        assert got is not None and got.version == v2 and got.data == b"2"
    finally:
        await store.close()


async def _terminate(raw: psycopg.AsyncConnection[tuple[object, ...]], application_name: str) -> None:
    await raw.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", [application_name]
    )
    deadline = time.monotonic() + 300  # only catches a hang: a loaded server may take a while
    while time.monotonic() < deadline:
        cur = await raw.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [application_name])
        row = await cur.fetchone()
        if row is not None and row[0] == 0:
            return
        await asyncio.sleep(0.02)
    pytest.fail("the backend was not terminated")


async def test_reconnects_after_the_server_drops_the_connection(
    postgres_server: str, raw: psycopg.AsyncConnection[tuple[object, ...]]
) -> None:
    name = f"dx{uuid.uuid4().hex[:8]}"
    store = open_store(_url(postgres_server, prefix=name, application_name=name))
    try:
        v = await store.write("k.json", b"1")
        await _terminate(raw, name)
        got = await store.read("k.json")  # reads retry once on a fresh connection
        assert got is not None and got.version == v
        await _terminate(raw, name)
        with pytest.raises(StoreUnavailable) as info:  # writes never retry blindly: the fault is reported
            await store.write("k.json", b"2", v)
        assert isinstance(info.value.cause, psycopg.OperationalError)
        v2 = await store.write("k.json", b"2", v)  # ... and the next call reconnects
        with pytest.raises(WriteConflict):
            await store.write("k.json", b"3", v)
        assert v2 != v
    finally:
        await store.close()


def test_one_store_across_event_loops(postgres_server: str) -> None:
    store = open_store(_url(postgres_server, prefix=f"l{uuid.uuid4().hex[:8]}"))

    async def bump() -> None:
        cur = await store.read("n")
        await store.write("n", str(int(cur.data) + 1 if cur else 1).encode(), cur.version if cur else None)

    asyncio.run(bump())
    asyncio.run(bump())
    got = asyncio.run(store.read("n"))
    assert got is not None and got.data == b"2"
    asyncio.run(store.close())


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError):
        open_store("postgresql://u@127.0.0.1:1/db?table=Robert'); DROP TABLE x;--")
    with pytest.raises(ValueError):
        open_store("postgresql://u@127.0.0.1:1/db?prefix=../x")
