"""What the contract cannot see of the SQLite backend: schema and WAL, versions that never repeat, tokens
that survive release, a locked database reported as a fault (not as a conflict), URL forms, listing
bounds, and exclusivity of leases across OS processes."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from harness import HELD, run_lock_race

from durable_xstate.errors import LeaseLost, StoreUnavailable, WriteConflict
from durable_xstate.stores import open_backend
from durable_xstate.stores.sqlite import SQLiteStore, _successor, from_url


def url_of(db: Path) -> str:
    return "sqlite://" + quote(str(db))


async def test_schema_and_wal(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    v = await store.write("a", b"1")
    await store.close()
    conn = sqlite3.connect(tmp_path / "s.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"store_values", "store_leases", "store_meta"} <= tables
        assert conn.execute("SELECT data, version FROM store_values").fetchall() == [(b"1", int(v))]
        assert dict(conn.execute("SELECT name, value FROM store_meta")) == {"version_seq": int(v), "schema": 1}
    finally:
        conn.close()


async def test_a_version_is_never_reused_after_delete(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    try:
        v1 = await store.write("k", b"1")
        await store.delete("k")
        v2 = await store.write("k", b"2")
        assert v2 != v1
        with pytest.raises(WriteConflict) as info:
            await store.write("k", b"stale", v1)  # no ABA: the stale version does not match the new row
        assert info.value.found == v2
        for odd in ("0" + v2, v2 + " ", "", "x"):
            with pytest.raises(WriteConflict) as info:
                await store.write("k", b"odd", odd)
            assert info.value.found == v2
            with pytest.raises(WriteConflict):
                await store.delete("k", odd)
    finally:
        await store.close()


async def test_tokens_survive_release_and_reopening(tmp_path: Path) -> None:
    first = SQLiteStore(tmp_path / "s.db")
    lease = await first.acquire("t", "a", HELD, HELD)
    await first.release(lease)
    await first.close()
    second = SQLiteStore(tmp_path / "s.db")
    try:
        again = await second.acquire("t", "b", HELD, HELD)
        assert again.token == lease.token + 1
        with pytest.raises(LeaseLost):
            await second.delete("t", lease=lease)
        await second.write("t", b"y", lease=again)
    finally:
        await second.close()


async def test_a_database_locked_past_the_timeout_is_unavailable_not_a_conflict(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db", busy_timeout=0.2)
    v = await store.write("k", b"1")
    blocker = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as info:
            await store.write("k", b"2", v)
        assert isinstance(info.value.cause, sqlite3.OperationalError)
        assert time.monotonic() - started >= 0.15
        with pytest.raises(StoreUnavailable):
            await store.try_acquire("k", "me", HELD)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    got = await store.read("k")  # the store's connection still works afterwards
    assert got is not None and got.version == v
    await store.write("k", b"2", v)
    await store.close()


async def test_not_a_database_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "junk.db").write_bytes(b"this is not an SQLite database file at all" * 100)
    store = SQLiteStore(tmp_path / "junk.db")
    with pytest.raises(StoreUnavailable) as info:
        await store.read("a")
    assert isinstance(info.value.cause, sqlite3.DatabaseError)
    await store.close()


async def test_listing_bounds_with_high_code_points(tmp_path: Path) -> None:
    assert _successor("") is None
    assert _successor("ab") == "ac"
    assert _successor("a\U0010ffff") == "b"
    assert _successor("\ud7ff") == "\ue000"
    store = SQLiteStore(tmp_path / "s.db")
    keys = ["a", "a\U0010ffff", "a\U0010ffff/x", "a\U0010ffffz", "b", "a/", "aa"]
    for k in keys:
        if not k.endswith("/"):
            await store.write(k, b"")
    listed = [k async for k in store.list("a\U0010ffff", page_size=1)]
    assert listed == ["a\U0010ffff", "a\U0010ffff/x", "a\U0010ffffz"]
    assert [k async for k in store.list("a")] == ["a", "aa", "a\U0010ffff", "a\U0010ffff/x", "a\U0010ffffz"]
    await store.close()


def test_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_backend("sqlite://./sub/x.db")
    assert isinstance(store, SQLiteStore) and store.path == str(tmp_path / "sub" / "x.db")
    store = open_backend(url_of(tmp_path / "with space é.db") + "?timeout=2.5&synchronous=normal")
    assert isinstance(store, SQLiteStore) and store.path == str(tmp_path / "with space é.db")
    assert store.busy_timeout == 2.5 and store.synchronous == "NORMAL"
    for bad in ("sqlite://host/x.db", "sqlite://", "sqlite:///tmp/", f"sqlite://{tmp_path}/x.db?prefix=p",
                f"sqlite://{tmp_path}/x.db?timeout=soon", f"sqlite://{tmp_path}/x.db?synchronous=off"):
        with pytest.raises(ValueError):
            from_url(bad, urlsplit(bad), dict(parse_qsl(urlsplit(bad).query)))


@pytest.mark.slow
def test_exactly_one_of_eight_processes_gets_the_lease(tmp_path: Path) -> None:
    results = run_lock_race(url_of(tmp_path / "s.db"), tmp_path)
    assert sorted(results) == ["-"] * 7 + ["1"]
