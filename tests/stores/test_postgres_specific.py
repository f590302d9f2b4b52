"""PostgreSQL-only behaviour: namespaces, first-use table creation under concurrency, fencing that waits
for an acquire in flight, cancellation, and reconnecting after the server drops the connection."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import pytest_asyncio
from harness import HELD

from durable_xstate.errors import InvalidArgument, LeaseLost, StoreUnavailable, WriteConflict
from durable_xstate.stores import IndexEntry, SyncStore, open_store
from durable_xstate.stores.postgres import PostgresStore


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


# ---------------------------------------------------------------- the index (issue 13)
async def test_tables_of_an_earlier_version_are_upgraded_in_place_and_keep_their_data(postgres_server: str) -> None:
    table = f"dx_{uuid.uuid4().hex[:10]}"
    values = f'"{table}_values"'
    with psycopg.connect(postgres_server, autocommit=True) as conn:  # the tables as an earlier version made them
        conn.execute(
            f'CREATE TABLE {values} (ns text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL,'
            " data bytea NOT NULL, version bigint NOT NULL, PRIMARY KEY (ns, key))"
        )
        conn.execute(
            f'CREATE TABLE "{table}_leases" (ns text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL,'
            " owner text, token bigint NOT NULL, expires_at timestamptz, PRIMARY KEY (ns, key))"
        )
        conn.execute(f'CREATE SEQUENCE "{table}_version"')
        conn.execute(f"INSERT INTO {values} VALUES ('p', 'old/a.json', 'a', nextval('\"{table}_version\"')),"
                     f" ('p', 'old/b.json', 'b', nextval('\"{table}_version\"'))")
    store = open_store(_url(postgres_server, table=table, prefix="p"))
    try:
        a = await store.read("old/a.json")
        assert a is not None and (a.data, a.version) == (b"a", "1")
        assert [k async for k in store.list("old/")] == ["old/a.json", "old/b.json"]
        assert (await store.due_page("", 1e15)).keys == []  # written before the index: no entry yet
        assert (await store.find_page("", {})).keys == []
        v = await store.write("old/a.json", b"a2", "1", index=IndexEntry(5.0, {"status": "active"}))
        assert v == "3"
        assert (await store.due_page("", 10.0)).keys == ["old/a.json"]
        assert (await store.find_page("old/", {"status": "active"})).keys == ["old/a.json"]
        b = await store.read("old/b.json")
        assert b is not None and (b.data, b.version) == (b"b", "2")
    finally:
        await store.close()
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            indexes = {row[0] for row in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s",
                                                      [f"{table}_values"])}
            conn.execute(f'DROP TABLE IF EXISTS {values}, "{table}_leases"')
            conn.execute(f'DROP SEQUENCE IF EXISTS "{table}_version"')
    assert {f"{table}_values_{name}" for name in ("due", "machine", "status", "state")} <= indexes


@pytest.mark.parametrize("analyzed", [True, False], ids=["analyzed", "no-statistics"])
async def test_due_and_find_pages_are_index_scans(
    postgres_server: str, raw: psycopg.AsyncConnection[tuple[object, ...]], analyzed: bool
) -> None:
    table = f"dx_{uuid.uuid4().hex[:10]}"
    store = PostgresStore(postgres_server, "p", table)
    await store.write("seed.json", b"x")  # creates the tables
    # 20,000 rows, 40 of them due early and labelled "rare", straight into the table (seeding only)
    await raw.execute(
        f'INSERT INTO "{table}_values" (ns, key, data, version, indexed, due, status)'
        f" SELECT 'p', 'k/' || lpad(i::text, 6, '0') || '.json', '\\x', nextval('\"{table}_version\"'), true,"
        " CASE WHEN i % 500 = 0 THEN i ELSE 1e12 + i END, CASE WHEN i % 500 = 0 THEN 'rare' ELSE 'common' END"
        " FROM generate_series(1, 20000) AS i"
    )
    if analyzed:
        await raw.execute(f'ANALYZE "{table}_values"')
    seen: list[tuple[str, list[object]]] = []
    keys = store._keys

    async def spy(operation: str, query: str, params: list[object]) -> list[tuple[object, ...]]:
        seen.append((query, params))
        return await keys(operation, query, params)

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(store, "_keys", spy)
            first = await store.due_page("k/", 1e6, limit=10)
            assert len(first.keys) == 10 and first.cursor is not None
            assert len((await store.due_page("k/", 1e6, first.cursor, limit=100)).keys) == 30
            assert len((await store.find_page("k/", {"status": "rare"}, "k/000500.json", limit=100)).keys) == 39
        plans = []
        for query, params in seen:
            cur = await raw.execute("EXPLAIN ANALYZE " + query, params)
            plans.append("\n".join(str(row[0]) for row in await cur.fetchall()))
    finally:
        await store.close()
        await raw.execute(f'DROP TABLE IF EXISTS "{table}_values", "{table}_leases"')
        await raw.execute(f'DROP SEQUENCE IF EXISTS "{table}_version"')
    for plan in plans[:2]:  # the due index, and only the due rows: never every row under the prefix
        assert f"{table}_values_due" in plan, plan  # an index scan or a bitmap of it
        assert "Rows Removed by Filter" not in plan and "pkey" not in plan, plan
    assert "ROW(due, key) > ROW(" in plans[1], plans[1]  # the cursor seeks
    assert f"{table}_values_status" in plans[2] and "Seq Scan" not in plans[2], plans[2]
    assert "Rows Removed by Filter" not in plans[2] and "Sort" not in plans[2], plans[2]


async def test_long_labels_are_kept_and_labels_postgres_cannot_keep_are_refused(postgres_server: str) -> None:
    store = open_store(_url(postgres_server, prefix=f"l{uuid.uuid4().hex[:8]}"))
    state = '{"' + '":{"'.join(f"region{i}" for i in range(2000)) + '":"x"' + "}" * 1999  # ~20 kB of state
    try:
        v = await store.write("k.json", b"1", index=IndexEntry(1.0, {"state": state, "machine": "m" * 5000}))
        assert (await store.find_page("", {"state": state})).keys == ["k.json"]
        assert (await store.find_page("", {"machine": "m" * 5000, "state": state})).keys == ["k.json"]
        for label in ("nul\x00inside", "lone \ud800 surrogate"):
            with pytest.raises(InvalidArgument, match="cannot be stored"):
                await store.write("k.json", b"2", v, index=IndexEntry(2.0, {"state": label}))
            assert (await store.find_page("", {"state": label})).keys == []
        got = await store.read("k.json")
        assert got is not None and (got.data, got.version) == (b"1", v)  # nothing written
        assert (await store.due_page("", 1.0)).keys == ["k.json"]
    finally:
        await store.close()


async def test_nan_and_infinite_due_times(postgres_server: str) -> None:
    store = open_store(_url(postgres_server, prefix=f"n{uuid.uuid4().hex[:8]}"))
    try:
        await store.write("nan.json", b"x", index=IndexEntry(math.nan, {"status": "active"}))
        await store.write("inf.json", b"x", index=IndexEntry(math.inf))
        await store.write("low.json", b"x", index=IndexEntry(-math.inf))
        assert (await store.due_page("", 0.0)).keys == ["low.json"]
        assert (await store.due_page("", math.inf)).keys == ["low.json", "inf.json"]  # NaN is never due
        assert (await store.due_page("", math.nan)).keys == []  # PostgreSQL alone would call NaN >= everything
        assert (await store.find_page("", {"status": "active"})).keys == ["nan.json"]
        page = await store.due_page("", math.inf, limit=1)
        assert page.keys == ["low.json"] and page.cursor is not None
        assert (await store.due_page("", math.inf, page.cursor)).keys == ["inf.json"]
    finally:
        await store.close()


async def test_index_cursors_follow_byte_order(postgres_server: str) -> None:
    store = open_store(_url(postgres_server, prefix=f"o{uuid.uuid4().hex[:8]}"))
    keys = ["B", "a", "a/b", "a_", "a-", "ab", "aB", "Z", "é", "z", "a\U0010ffff"]
    try:
        for k in keys:
            await store.write(k, b"x", index=IndexEntry(7.0, {"status": "s"}))
        due: list[str] = []
        cursor: str | None = None
        while True:
            page = await store.due_page("", 7.0, cursor, 2)
            due += page.keys
            if page.cursor is None:
                break
            cursor = page.cursor
        assert due == sorted(keys)  # code point order, as the memory store's str comparison
        found: list[str] = []
        cursor = None
        while True:
            page = await store.find_page("a", {"status": "s"}, cursor, 2)
            found += page.keys
            if page.cursor is None:
                break
            cursor = page.cursor
        assert found == sorted(k for k in keys if k.startswith("a"))
    finally:
        await store.close()
