"""The index contract (issue 13): a value's index entry is written with it, and due / labelled listings
answer from the index, on every backend (each keeps one: ``store.indexes``), each on its real server.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from harness import HELD
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_xstate.errors import InvalidArgument, LeaseLost, WriteConflict
from durable_xstate.stores import IndexEntry, LockableStorage


async def all_due(store: LockableStorage, prefix: str, until: float, limit: int = 1000) -> list[str]:
    keys: list[str] = []
    cursor: str | None = None
    while True:
        page = await store.due_page(prefix, until, cursor, limit)
        keys += page.keys
        if page.cursor is None:
            return keys
        cursor = page.cursor


async def all_found(store: LockableStorage, prefix: str, labels: dict[str, str], limit: int = 1000) -> list[str]:
    keys: list[str] = []
    cursor: str | None = None
    while True:
        page = await store.find_page(prefix, labels, cursor, limit)
        keys += page.keys
        if page.cursor is None:
            return keys
        cursor = page.cursor


def entry(due: float | None, **labels: str) -> IndexEntry:
    return IndexEntry(due, labels)


async def test_every_backend_keeps_an_index(store: LockableStorage) -> None:
    assert store.indexes  # else run_due, tick and list read every record (the tests below would be moot)
    assert (await store.due_page("", 0.0)).keys == []
    assert (await store.find_page("", {"status": "active"})).keys == []


async def test_due_keys_come_earliest_first_and_only_up_to_until(store: LockableStorage) -> None:
    await store.write("a.json", b"a", index=entry(300.0, status="active"))
    await store.write("b.json", b"b", index=entry(100.0, status="active"))
    await store.write("c.json", b"c", index=entry(None, status="done"))
    await store.write("d.json", b"d")  # no entry at all
    await store.write("e.json", b"e", index=entry(200.0, status="active"))
    assert await all_due(store, "", 250.0) == ["b.json", "e.json"]
    assert await all_due(store, "", 300.0) == ["b.json", "e.json", "a.json"]
    assert await all_due(store, "", 99.0) == []
    assert await all_due(store, "", 1e15, limit=1) == ["b.json", "e.json", "a.json"]


async def test_the_entry_follows_every_write_and_delete(store: LockableStorage) -> None:
    v1 = await store.write("k.json", b"1", index=entry(100.0, machine="m", status="active", state="a"))
    assert await all_due(store, "", 150.0) == ["k.json"]
    v2 = await store.write("k.json", b"2", v1, index=entry(500.0, machine="m", status="active", state="b"))
    assert await all_due(store, "", 150.0) == []
    assert await all_due(store, "", 500.0) == ["k.json"]
    assert await all_found(store, "", {"state": "b"}) == ["k.json"]
    assert await all_found(store, "", {"state": "a"}) == []
    with pytest.raises(WriteConflict):
        await store.write("k.json", b"stale", v1, index=entry(1.0, state="z"))
    assert await all_due(store, "", 150.0) == []  # a refused write changes no entry
    assert await all_found(store, "", {"state": "z"}) == []
    v3 = await store.write("k.json", b"3", v2)  # a write without an entry removes it
    assert await all_due(store, "", 1e15) == []
    assert await all_found(store, "", {"machine": "m"}) == []
    await store.write("k.json", b"4", v3, index=entry(10.0, status="active"))
    await store.delete("k.json")
    assert await all_due(store, "", 1e15) == []
    assert await all_found(store, "", {"status": "active"}) == []


async def test_fenced_writes_carry_the_entry_and_a_stale_lease_changes_none(store: LockableStorage) -> None:
    old = await store.acquire("k.json", "a", HELD, HELD)
    v = await store.write("k.json", b"1", lease=old, index=IndexEntry(1.0, {"state": "one"}))
    await store.release(old)
    new = await store.acquire("k.json", "b", HELD, HELD)
    with pytest.raises(LeaseLost):
        await store.write("k.json", b"2", v, lease=old, index=IndexEntry(2.0, {"state": "two"}))
    assert (await store.due_page("", 1.0)).keys == ["k.json"]
    assert (await store.find_page("", {"state": "two"})).keys == []
    await store.write("k.json", b"3", v, lease=new, index=IndexEntry(3.0, {"state": "three"}))
    assert (await store.due_page("", 2.0)).keys == []
    assert (await store.find_page("", {"state": "three"})).keys == ["k.json"]
    await store.release(new)


async def test_listings_respect_the_prefix_and_every_label(store: LockableStorage) -> None:
    await store.write("orders/1.json", b"x", index=entry(1.0, machine="order", status="active", state="cart"))
    await store.write("orders/2.json", b"x", index=entry(2.0, machine="order", status="done", state="paid"))
    await store.write("users/1.json", b"x", index=entry(1.0, machine="user", status="active", state="new"))
    assert await all_due(store, "orders/", 10.0) == ["orders/1.json", "orders/2.json"]
    assert await all_found(store, "", {"status": "active"}) == ["orders/1.json", "users/1.json"]
    assert await all_found(store, "orders/", {"status": "active"}) == ["orders/1.json"]
    assert await all_found(store, "", {"machine": "order", "state": "paid"}) == ["orders/2.json"]
    assert await all_found(store, "", {"machine": "order", "state": "cart"}, limit=1) == ["orders/1.json"]


async def test_bad_labels_and_cursors_are_invalid_arguments(store: LockableStorage) -> None:
    with pytest.raises(InvalidArgument):
        await store.write("k.json", b"x", index=IndexEntry(1.0, {"colour": "red"}))
    assert await store.read("k.json") is None  # nothing written
    with pytest.raises(InvalidArgument):
        await store.find_page("", {"status": 3})  # type: ignore[dict-item]
    with pytest.raises(InvalidArgument):
        await store.due_page("", 1.0, "not a cursor")


_examples = itertools.count()
entries = st.one_of(
    st.none(),
    st.builds(
        lambda due, status: IndexEntry(due, {"status": status}),
        st.one_of(st.none(), st.integers(0, 50).map(float)),
        st.sampled_from(["active", "done"]),
    ),
)


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), entries), max_size=12),
       until=st.integers(0, 50), limit=st.integers(1, 3))
async def test_the_index_answers_what_the_last_writes_say(
    store: LockableStorage, writes: list[tuple[str, IndexEntry | None]], until: int, limit: int
) -> None:
    prefix = f"p{next(_examples)}/"  # the store lives across examples: each example its own keys
    last: dict[str, Any] = {}
    versions: dict[str, str] = {}
    for name, ent in writes:
        key = f"{prefix}{name}.json"
        versions[key] = await store.write(key, b"v", versions.get(key), index=ent)
        last[key] = ent
    expected = sorted(
        (e.due, k) for k, e in last.items() if e is not None and e.due is not None and e.due <= until
    )
    assert await all_due(store, prefix, float(until), limit) == [k for _, k in expected]
    active = sorted(k for k, e in last.items() if e is not None and e.labels.get("status") == "active")
    assert await all_found(store, prefix, {"status": "active"}, limit) == active
