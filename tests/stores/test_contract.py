"""One contract, every backend, each on its real server (see conftest.py and provider_*.py)."""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from harness import (
    BLOCKING,
    HELD,
    STORE_BACKENDS,
    BackendUnderTest,
    race_size,
    spawn_scripts,
    start_together,
    wait_for_processes,
)

from durable_xstate.errors import (
    AcquireLockError,
    InvalidKey,
    LeaseLost,
    LockTimeout,
    StoreError,
    ValueTooLarge,
    WriteConflict,
)
from durable_xstate.stores import LockableStorage, SyncStore

# ----------------------------------------------------------------------------- storage


async def test_read_of_absent_key_is_none(store: LockableStorage) -> None:
    assert await store.read("nothing/here.json") is None
    assert not await store.exists("nothing/here.json")


async def test_create_only_then_compare_and_set(store: LockableStorage) -> None:
    v1 = await store.write("order-42.json", b"one")
    got = await store.read("order-42.json")
    assert got is not None and got.data == b"one" and got.version == v1
    with pytest.raises(WriteConflict) as info:
        await store.write("order-42.json", b"again")  # create-only: it exists
    assert info.value.key == "order-42.json" and info.value.expected is None and info.value.found == v1
    v2 = await store.write("order-42.json", b"two", v1)
    assert v2 != v1
    with pytest.raises(WriteConflict) as info:
        await store.write("order-42.json", b"stale", v1)
    assert info.value.expected == v1 and info.value.found == v2
    got = await store.read("order-42.json")
    assert got is not None and got.data == b"two" and got.version == v2


async def test_expected_version_on_absent_key_conflicts(store: LockableStorage) -> None:
    v = await store.write("a.json", b"x")
    await store.delete("a.json")
    with pytest.raises(WriteConflict) as info:
        await store.write("a.json", b"y", v)
    assert info.value.found is None
    assert await store.read("a.json") is None


async def test_conflicting_write_leaves_data_intact(store: LockableStorage) -> None:
    v = await store.write("k.json", b"original")
    with pytest.raises(WriteConflict):
        await store.write("k.json", b"intruder", v + "x" if v else "bogus")
    got = await store.read("k.json")
    assert got is not None and got.data == b"original" and got.version == v


async def test_deletes(store: LockableStorage) -> None:
    v = await store.write("d.json", b"1")
    await store.delete("missing.json")  # unconditional delete of an absent key is fine
    with pytest.raises(WriteConflict):
        await store.delete("d.json", v + "0")
    assert await store.exists("d.json")
    await store.delete("d.json", v)
    assert not await store.exists("d.json")
    with pytest.raises(WriteConflict):
        await store.delete("d.json", v)  # conditional delete of an absent key conflicts
    v2 = await store.write("d.json", b"2")
    await store.delete("d.json")
    assert await store.read("d.json") is None
    assert v2


async def test_listing_by_prefix_and_pages(store: LockableStorage) -> None:
    keys = [f"orders/{i:03d}.json" for i in range(25)] + ["other/x.json", "orders-not/y.json"]
    for k in keys:
        await store.write(k, k.encode())
    listed = {k async for k in store.list("orders/", page_size=7)}
    assert listed == {k for k in keys if k.startswith("orders/")}
    page = await store.list_page("orders/", None, 10)
    assert len(page.keys) <= 10 and page.cursor is not None
    everything = {k async for k in store.list("")}
    assert set(keys) <= everything


async def test_unicode_keys_and_binary_values(store: LockableStorage) -> None:
    key = "célèbre/订单-ü.json"
    value = "snapshot ✓ ünïcödé 🚀".encode() + bytes(range(256))
    v = await store.write(key, value)
    got = await store.read(key)
    assert got is not None and got.data == value and got.version == v
    assert key in {k async for k in store.list("célèbre/")}


async def test_empty_value(store: LockableStorage) -> None:
    await store.write("empty.json", b"")
    got = await store.read("empty.json")
    assert got is not None and got.data == b""


async def test_largest_value_and_a_clear_error_past_it(store: LockableStorage) -> None:
    assert store.storage is not None
    limit = store.storage.max_value_bytes
    big = bytes([65 + i % 26 for i in range(limit)])
    v = await store.write("big.bin", big)
    got = await store.read("big.bin")
    assert got is not None and got.data == big and got.version == v
    with pytest.raises(ValueTooLarge) as info:
        await store.write("big.bin", big + b"!", v)
    assert info.value.limit == limit
    got = await store.read("big.bin")
    assert got is not None and got.version == v  # nothing was written


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "../escape", "a/../../b", "a/./b", "a//b", ".hidden", "a/.locks/x", "back\\slash",
     "nul\x00byte", "new\nline", "x" * 600, "é" * 520],
)
async def test_bad_keys_are_refused_everywhere(store: LockableStorage, key: str) -> None:
    with pytest.raises(InvalidKey):
        await store.write(key, b"x")
    with pytest.raises(InvalidKey):
        await store.read(key)
    with pytest.raises(InvalidKey):
        await store.delete(key)
    with pytest.raises(InvalidKey):
        await store.acquire(key, "me", 5, 0.1)


async def test_errors_form_one_tree() -> None:
    for cls in (WriteConflict, LockTimeout, LeaseLost, InvalidKey, ValueTooLarge):
        assert issubclass(cls, StoreError)
    assert AcquireLockError is LockTimeout
    assert str(LockTimeout("order-42.json")) == "Could not acquire lock on path order-42.json."


# ----------------------------------------------------------------------------- locks


async def test_acquire_renew_release(store: LockableStorage) -> None:
    lease = await store.acquire("r.json", "worker-1", lease_seconds=HELD, timeout=HELD)
    assert lease.owner == "worker-1" and lease.key == "r.json" and lease.token >= 1
    assert await store.is_locked("r.json")
    assert await store.try_acquire("r.json", "worker-2", HELD) is None
    renewed = await store.renew(lease, 2 * HELD)
    assert renewed.token == lease.token and renewed.expires_at > lease.expires_at
    await store.release(renewed)
    assert not await store.is_locked("r.json")
    again = await store.acquire("r.json", "worker-2", HELD, HELD)
    assert again.token > lease.token
    await store.release(again)


async def test_contention_times_out_with_the_original_message(store: LockableStorage) -> None:
    lease = await store.acquire("busy.json", "a", HELD, HELD)
    started = time.monotonic()
    with pytest.raises(AcquireLockError) as info:
        await store.acquire("busy.json", "b", HELD, 0.3)
    assert str(info.value) == "Could not acquire lock on path busy.json."
    assert 0.25 <= time.monotonic() - started < 120  # it gave up: no wait past its timeout's order
    await store.release(lease)


async def test_expired_lease_is_free_to_take_without_cleanup(store: LockableStorage) -> None:
    old = await store.acquire("exp.json", "a", lease_seconds=0.3, timeout=HELD)
    await asyncio.sleep(0.45)
    assert not await store.is_locked("exp.json")
    new = await store.acquire("exp.json", "b", HELD, HELD)
    assert new.token > old.token and new.owner == "b"
    with pytest.raises(LeaseLost):
        await store.renew(old)
    with pytest.raises(LeaseLost):
        await store.release(old)  # the old holder cannot release the new holder's lease
    assert await store.is_locked("exp.json")
    await store.release(new)


async def test_release_by_a_non_owner_is_refused(store: LockableStorage) -> None:
    lease = await store.acquire("own.json", "alice", HELD, HELD)
    from durable_xstate.stores import Lease

    forged = Lease(lease.key, "mallory", lease.token, lease.expires_at, lease.lease_seconds)
    with pytest.raises(LeaseLost):
        await store.release(forged)
    assert await store.is_locked("own.json")
    await store.release(lease)
    with pytest.raises(LeaseLost):
        await store.release(lease)  # released twice


async def test_tokens_strictly_increase_across_holders(store: LockableStorage) -> None:
    tokens = []
    for i in range(5):
        lease = await store.acquire("tok.json", f"w{i}", HELD, HELD)
        tokens.append(lease.token)
        await store.release(lease)
    assert tokens == sorted(tokens) and len(set(tokens)) == 5


async def test_fenced_stale_write_is_rejected(store: LockableStorage) -> None:
    v = await store.write("fenced.json", b"0")
    old = await store.acquire("fenced.json", "slow-worker", lease_seconds=0.3, timeout=HELD)
    await asyncio.sleep(0.45)  # the slow worker's lease expires ...
    new = await store.acquire("fenced.json", "fast-worker", HELD, HELD)  # ... and someone else takes it
    v2 = await store.write("fenced.json", b"fast", v, lease=new)
    with pytest.raises(LeaseLost):
        await store.write("fenced.json", b"slow", v2, lease=old)
    with pytest.raises(LeaseLost):
        await store.delete("fenced.json", v2, lease=old)
    got = await store.read("fenced.json")
    assert got is not None and got.data == b"fast"
    await store.release(new)


async def test_write_with_a_current_lease_succeeds(store: LockableStorage) -> None:
    """The holder of a current lease creates, updates and deletes; each write lands and keeps the lease."""
    lease = await store.acquire("w.json", "me", HELD, HELD)
    v1 = await store.write("w.json", b"1", None, lease=lease)
    got = await store.read("w.json")
    assert got is not None and got.data == b"1" and got.version == v1
    v2 = await store.write("w.json", b"2", v1, lease=lease)
    assert v2 != v1
    got = await store.read("w.json")
    assert got is not None and got.data == b"2" and got.version == v2
    assert await store.is_locked("w.json")  # writing under the lease does not give it up
    await store.delete("w.json", v2, lease=lease)
    assert await store.read("w.json") is None
    await store.release(lease)
    assert not await store.is_locked("w.json")


# ----------------------------------------------------------------------------- races

RACE_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from durable_xstate.errors import WriteConflict
    from durable_xstate.stores import open_store

    async def main(url, lock_url, key, target):
        store = open_store(url, lock=lock_url or None)
        await store.read(key)  # connected and warm: now wait for the others
        print("ready", flush=True)
        sys.stdin.readline()
        done = 0
        while True:  # increment the shared counter by compare-and-set until it reaches the target
            cur = await store.read(key)
            value = int(cur.data) if cur else 0
            if value >= target:
                break
            try:
                await store.write(key, str(value + 1).encode(), cur.version if cur else None)
                done += 1
            except WriteConflict:
                await asyncio.sleep(0)
        await store.close()
        print(done, flush=True)

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
    """
)


@pytest.mark.slow
def test_race_of_eight_processes_doing_cas_increments(backend: BackendUnderTest, tmp_path: Path) -> None:
    """Eight racers increment one counter by compare-and-set until it reaches the target: every
    increment that a racer saw succeed is in the counter, none twice. The race ends when the counter
    is reached (a wait on progress, however loaded the machine), not when a time budget runs out."""
    workers = 8
    target = workers * race_size(backend, 200)
    key = "race/counter.json"
    check = SyncStore(backend.open())
    try:
        if backend.shared_across_processes:
            argv = [backend.url, backend.lock_url or "", key, str(target)]
            procs = spawn_scripts(tmp_path, "race.py", RACE_SCRIPT, [argv] * workers, stdin=True)
            start_together(procs)

            def counter() -> int:
                cur = check.read(key)
                return int(cur.data) if cur else 0

            wait_for_processes(procs, counter)
            done = [int(p.communicate()[0].split()[-1]) for p in procs]
        else:  # the in-process backend: 8 threads, each with its own event loop
            sync = SyncStore(backend.open())

            def worker() -> int:
                done = 0
                while True:
                    cur = sync.read(key)
                    value = int(cur.data) if cur else 0
                    if value >= target:
                        return done
                    try:
                        sync.write(key, str(value + 1).encode(), cur.version if cur else None)
                        done += 1
                    except WriteConflict:
                        pass

            with ThreadPoolExecutor(workers) as pool:
                done = list(pool.map(lambda _: worker(), range(workers)))
            sync.close()
        final = check.read(key)
        assert final is not None and int(final.data) == target
        assert sum(done) == target  # each success counted once: no lost and no doubled update
        assert sum(1 for d in done if d) >= 2  # they really raced
    finally:
        check.close()


async def test_lock_mutual_exclusion_under_contention(store: LockableStorage) -> None:
    holders: list[str] = []
    overlaps = 0

    async def worker(name: str) -> None:
        nonlocal overlaps
        for _ in range(5):
            lease = await store.acquire("mutex.json", name, HELD, timeout=HELD)
            holders.append(name)
            if len(holders) > 1:
                overlaps += 1
            await asyncio.sleep(0.002)
            holders.remove(name)
            await store.release(lease)

    await asyncio.gather(*(worker(f"w{i}") for i in range(4)))
    assert overlaps == 0


def test_sync_facade(backend: BackendUnderTest) -> None:
    with SyncStore(backend.open()) as s:
        v = s.write("sync.json", b"1")
        got = s.read("sync.json")
        assert got is not None and got.version == v
        lease = s.acquire("sync.json", "me", HELD, HELD)
        v2 = s.write("sync.json", b"2", v, lease=lease)
        s.release(lease)
        assert not s.is_locked("sync.json")
        with pytest.raises(WriteConflict):
            s.write("sync.json", b"stale", v)
        got = s.read("sync.json")
        assert got is not None and got.data == b"2" and got.version == v2
        assert s.list("") == ["sync.json"]  # a fresh namespace: exactly what this test wrote


# the in-memory backend has no infrastructure to fail: every other backend is tested on a dead server
@pytest.mark.parametrize("backend", [b for b in STORE_BACKENDS if b != "memory"], indirect=True)
async def test_infrastructure_fault_is_store_unavailable_not_contention(backend: BackendUnderTest) -> None:
    from durable_xstate.errors import StoreUnavailable
    from durable_xstate.stores import open_store

    assert backend.dead_url is not None, backend.name
    dead = open_store(backend.dead_url, lock=backend.dead_url if backend.lock_url else None)
    try:
        with pytest.raises(StoreUnavailable) as info:
            await dead.read("x.json")
        assert info.value.cause is not None
        with pytest.raises(StoreUnavailable):
            await dead.write("x.json", b"1")
        with pytest.raises(StoreUnavailable):
            await dead.acquire("x.json", "me", 5, 0.2)
    finally:
        with contextlib.suppress(StoreUnavailable):
            await dead.close()


async def test_io_mode_decides_where_blocking_calls_run(
    backend: BackendUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``io=inline``: no call goes to a worker thread. Default (``thread``): a blocking client's writes do."""
    name, _, io = backend.name.partition("+")
    hops: list[str] = []
    real = asyncio.to_thread

    async def counting(fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        hops.append(getattr(fn, "__name__", repr(fn)))
        return await real(fn, *args, **kwargs)

    store = backend.open()
    try:
        await store.write("io/warm.json", b"0", None)  # first use: connect, create tables
        monkeypatch.setattr(asyncio, "to_thread", counting)
        v = await store.write("io/k.json", b"1", None)
        got = await store.read("io/k.json")
        assert got is not None and got.data == b"1"
        await store.write("io/k.json", b"2", v)
        if store.lock is not None:
            lease = await store.acquire("io/k.json", "me", HELD, HELD)
            await store.release(lease)
        await store.delete("io/k.json")
    finally:
        monkeypatch.setattr(asyncio, "to_thread", real)
        await store.close()
    if io == "inline":
        assert hops == [], f"{backend.name}: calls went to a thread: {hops}"
    elif name in BLOCKING:
        assert hops, f"{backend.name}: writes of a blocking client should run in a worker thread"
    else:
        assert hops == [], f"{backend.name} has an async client and should not use threads: {hops}"
