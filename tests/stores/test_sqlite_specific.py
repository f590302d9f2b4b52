"""What the contract cannot see of the SQLite backend: schema and WAL, versions that never repeat, tokens
that survive release, a locked database reported as a fault (not as a conflict), URL forms, listing
bounds, and exclusivity of leases across OS processes."""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from harness import HELD, run_lock_race

from durable_xstate.errors import InvalidArgument, LeaseLost, StoreUnavailable, WriteConflict
from durable_xstate.stores import IndexEntry, open_backend
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
        assert dict(conn.execute("SELECT name, value FROM store_meta")) == {"version_seq": int(v), "schema": 2}
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


# ---------------------------------------------------------------- the index (issue 13)
_SCHEMA_1 = (  # the tables as an earlier version created them
    "CREATE TABLE store_values (key TEXT PRIMARY KEY NOT NULL, data BLOB NOT NULL, version INTEGER NOT NULL)",
    "CREATE TABLE store_leases (key TEXT PRIMARY KEY NOT NULL, owner TEXT, token INTEGER NOT NULL, expires_at REAL)",
    "CREATE TABLE store_meta (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL)",
    "INSERT INTO store_meta (name, value) VALUES ('version_seq', 2), ('schema', 1)",
    "INSERT INTO store_values (key, data, version) VALUES ('old/a.json', X'61', 1), ('old/b.json', X'62', 2)",
)


async def test_a_schema_1_file_is_upgraded_in_place_and_keeps_its_data(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "old.db")
    for statement in _SCHEMA_1:
        conn.execute(statement)
    conn.commit()
    conn.close()
    store = SQLiteStore(tmp_path / "old.db")
    try:
        a = await store.read("old/a.json")
        assert a is not None and (a.data, a.version) == (b"a", "1")
        assert [k async for k in store.list("old/")] == ["old/a.json", "old/b.json"]
        # written before the index existed: no entry until written again
        assert (await store.due_page("", 1e15)).keys == []
        assert (await store.find_page("", {})).keys == []
        v = await store.write("old/a.json", b"a2", "1", index=IndexEntry(5.0, {"status": "active"}))
        assert v == "3"  # the version sequence carries on
        assert (await store.due_page("", 10.0)).keys == ["old/a.json"]
        assert (await store.find_page("old/", {"status": "active"})).keys == ["old/a.json"]
    finally:
        await store.close()
    conn = sqlite3.connect(tmp_path / "old.db")
    try:
        assert dict(conn.execute("SELECT name, value FROM store_meta"))["schema"] == 2
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"store_values_due", "store_values_machine", "store_values_status", "store_values_state"} <= indexes
    finally:
        conn.close()
    again = SQLiteStore(tmp_path / "old.db")  # opening an upgraded file again changes nothing
    try:
        b = await again.read("old/b.json")
        assert b is not None and b.data == b"b"
        assert (await again.due_page("", 10.0)).keys == ["old/a.json"]
    finally:
        await again.close()


def _plan(db: Path, sql: str, params: tuple[object, ...]) -> str:
    conn = sqlite3.connect(db)
    try:
        return " | ".join(str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    finally:
        conn.close()


async def test_due_and_find_pages_are_index_range_scans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    seen: list[tuple[str, tuple[object, ...]]] = []
    try:
        await store.write("a/1.json", b"x", index=IndexEntry(1.0, {"machine": "m", "status": "active"}))
        original = sqlite3.Connection.execute

        class Spy(sqlite3.Connection):
            def execute(self, sql: str, params: tuple[object, ...] = (), /) -> sqlite3.Cursor:  # type: ignore[override]
                if sql.startswith("SELECT") and "store_values" in sql:
                    seen.append((sql, tuple(params)))
                return original(self, sql, params)

        await store.close()
        monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: Spy(*a, **k))
        await store.due_page("a/", 10.0, "0.5 a/0.json", 5)
        await store.find_page("a/", {"status": "active"}, "a/0.json", 5)
        await store.find_page("", {"machine": "m"})
    finally:
        await store.close()
    monkeypatch.undo()
    plans = [_plan(tmp_path / "s.db", sql, params) for sql, params in seen if "LIMIT" in sql]
    assert len(plans) == 3, seen
    assert "INDEX store_values_due (" in plans[0] and "TEMP B-TREE" not in plans[0], plans[0]
    assert "INDEX store_values_status (status=? AND key>? AND key<?)" in plans[1], plans[1]
    assert "INDEX store_values_machine (machine=? AND key>?" in plans[2], plans[2]
    assert all("TEMP B-TREE" not in plan for plan in plans), plans  # already in order: no sort


@pytest.mark.parametrize("label", ["nul\x00inside", "lone \ud800 surrogate"])
async def test_a_label_sql_cannot_keep_is_refused_and_nothing_is_written(tmp_path: Path, label: str) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    try:
        v = await store.write("k.json", b"1", index=IndexEntry(1.0, {"state": "a"}))
        with pytest.raises(InvalidArgument, match="cannot be stored"):
            await store.write("k.json", b"2", v, index=IndexEntry(2.0, {"state": label}))
        got = await store.read("k.json")
        assert got is not None and (got.data, got.version) == (b"1", v)
        assert (await store.find_page("", {"state": "a"})).keys == ["k.json"]
        assert (await store.find_page("", {"state": label})).keys == []
    finally:
        await store.close()


async def test_nan_and_infinite_due_times(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    try:
        await store.write("nan.json", b"x", index=IndexEntry(math.nan, {"status": "active"}))
        await store.write("inf.json", b"x", index=IndexEntry(math.inf))
        await store.write("low.json", b"x", index=IndexEntry(-math.inf))
        assert (await store.due_page("", 0.0)).keys == ["low.json"]
        assert (await store.due_page("", math.inf)).keys == ["low.json", "inf.json"]  # NaN is never due
        assert (await store.due_page("", math.nan)).keys == []
        assert (await store.find_page("", {"status": "active"})).keys == ["nan.json"]  # still labelled
        page = await store.due_page("", math.inf, limit=1)
        assert page.keys == ["low.json"] and page.cursor is not None
        assert (await store.due_page("", math.inf, page.cursor)).keys == ["inf.json"]
    finally:
        await store.close()
