"""What the contract cannot see of the local-file backend: its layout on disk, symlinks, layout clashes,
foreign files, URL forms, and exclusivity of leases across OS processes."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from harness import HELD, TIME_FACTOR, run_lock_race

from durable_xstate.errors import InvalidKey, LeaseLost, StoreUnavailable, UnsafePath, WriteConflict
from durable_xstate.stores import Lease, SyncStore, Versioned, open_backend, open_store
from durable_xstate.stores.local import LOCK_DIR, MAGIC, LocalFileStore, from_url


def url_of(root: Path) -> str:
    return "file://" + quote(str(root))


async def test_value_file_carries_its_version_and_no_temp_file_is_left(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "root")
    v = await store.write("orders/42.json", b'{"a": 1}')
    path = tmp_path / "root" / "orders" / "42.json"
    assert path.read_bytes() == MAGIC + v.encode() + b"\n" + b'{"a": 1}'
    v2 = await store.write("orders/42.json", b"two", v)
    assert path.read_bytes() == MAGIC + v2.encode() + b"\n" + b"two"
    assert os.listdir(path.parent) == ["42.json"]  # no temp files
    locks = os.listdir(tmp_path / "root" / LOCK_DIR)
    assert len(locks) == 1 and locks[0].endswith(".lock")


async def test_readers_never_see_a_value_with_another_writes_version(tmp_path: Path) -> None:
    writer, reader = LocalFileStore(tmp_path), LocalFileStore(tmp_path)
    contents: dict[str, bytes] = {}
    version = await writer.write("k", b"0" * 100_000)
    contents[version] = b"0" * 100_000
    stop = False
    seen = 0

    async def read_loop() -> None:
        nonlocal seen
        while not stop:
            got = await reader.read("k")
            assert got is not None
            # the writer records a version right after its write returns; wait for that (no time budget:
            # on a loaded machine the writer's resumption can take long, and a cap only catches a hang)
            waited = 0
            while got.version not in contents and waited < 300_000:
                await asyncio.sleep(0.001)
                waited += 1
            assert contents[got.version] == got.data
            seen += 1

    task = asyncio.create_task(read_loop())
    for i in range(1, 60):
        data = str(i % 10).encode() * (100_000 + i)
        version = await writer.write("k", data, version)
        contents[version] = data
        await asyncio.sleep(0)
    stop = True
    await task
    assert seen > 0


async def test_a_symlink_cannot_lead_a_key_out_of_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    (outside / "secret.json").write_bytes(MAGIC + b"1\nsecret")
    store = LocalFileStore(root)
    with pytest.raises(InvalidKey):
        await store.write("link/x.json", b"x")
    with pytest.raises(InvalidKey):
        await store.read("link/secret.json")
    with pytest.raises(InvalidKey):
        await store.delete("link/secret.json")
    assert sorted(os.listdir(outside)) == ["secret.json"]
    assert [k async for k in store.list("")] == []  # symlinks are not listed
    # a link is refused even when it points inside the root: the store follows none (a check of where
    # it leads would be stale by the time the next component is opened)
    (root / "inner").mkdir()
    (root / "alias").symlink_to(root / "inner", target_is_directory=True)
    with pytest.raises(UnsafePath) as info:
        await store.write("alias/ok.json", b"inside the root")
    assert info.value.path == "alias" and "symbolic link" in info.value.found
    assert os.listdir(root / "inner") == []


async def test_a_key_cannot_be_both_a_value_and_a_directory(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    await store.write("a", b"value")
    with pytest.raises(InvalidKey, match="prefix of other keys"):
        await store.write("a/b", b"x")
    assert await store.read("a/b") is None
    assert not await store.exists("a/b")
    await store.delete("a/b")  # absent: fine
    await store.delete("a")
    await store.write("a/b/c", b"x")
    with pytest.raises(InvalidKey):
        await store.write("a", b"x")
    with pytest.raises(InvalidKey):
        await store.write("a/b", b"x")
    assert await store.read("a") is None
    await store.delete("a/b/c")
    assert os.listdir(tmp_path) == [LOCK_DIR]  # empty directories are pruned
    await store.write("a", b"value again")


async def test_temp_hidden_and_foreign_files(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    await store.write("x/ok.json", b"1")
    (tmp_path / "x" / ".tmp-deadbeef").write_bytes(b"left by a crash")
    (tmp_path / ".hidden").write_bytes(b"")
    (tmp_path / "x" / "foreign.json").write_bytes(b"written by someone else")
    assert sorted([k async for k in store.list("")]) == ["x/foreign.json", "x/ok.json"]
    # a file without the header (e.g. the original's bare JSON): its bytes, versioned by their hash
    foreign = await store.read("x/foreign.json")
    assert foreign is not None and foreign.data == b"written by someone else"
    assert foreign.version.startswith("foreign-") and await store.exists("x/foreign.json")
    with pytest.raises(WriteConflict):
        await store.write("x/foreign.json", b"2", "whatever")
    (tmp_path / "x" / "foreign.json").write_bytes(b"written by someone else, again")
    with pytest.raises(WriteConflict) as info:  # changed since it was read: never overwritten blindly
        await store.write("x/foreign.json", b"2", foreign.version)
    assert info.value.found is not None and info.value.found != foreign.version
    assert (tmp_path / "x" / "foreign.json").read_bytes() == b"written by someone else, again"
    version = await store.write("x/foreign.json", b"2", info.value.found)
    assert await store.read("x/foreign.json") == Versioned(b"2", version)


async def test_a_segment_too_long_for_a_file_name_is_an_invalid_key(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    with pytest.raises(InvalidKey, match="file name limit"):
        await store.write("y" * 300, b"x")
    await store.write("/".join(["z" * 200] * 2), b"ok")


async def test_tokens_survive_release_and_new_store_objects(tmp_path: Path) -> None:
    first = LocalFileStore(tmp_path)
    lease = await first.acquire("t", "a", HELD, HELD)
    await first.release(lease)
    await first.write("t", b"x")
    await first.delete("t")
    second = LocalFileStore(tmp_path)
    again = await second.acquire("t", "b", HELD, HELD)
    assert again.token == lease.token + 1
    with pytest.raises(LeaseLost):
        await second.write("t", b"y", lease=lease)
    await second.write("t", b"y", lease=again)


def test_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_backend("file://./rel/dir")
    assert isinstance(store, LocalFileStore) and store.root == str(tmp_path / "rel" / "dir")
    spaced = tmp_path / "with space é"
    store = open_backend(url_of(spaced))
    assert isinstance(store, LocalFileStore) and store.root == str(spaced)
    store = open_backend(f"file://localhost{tmp_path}?fsync=false")
    assert isinstance(store, LocalFileStore) and store.root == str(tmp_path) and not store.fsync
    store = open_backend("file://.durable-xstate")  # the CLI's default: a directory relative to the current one
    assert isinstance(store, LocalFileStore) and store.root == str(tmp_path / ".durable-xstate")
    for bad in ("file://", f"file://{tmp_path}?prefix=x", f"file://{tmp_path}?fsync=maybe"):
        with pytest.raises(ValueError):
            from_url(bad, urlsplit(bad), dict(parse_qsl(urlsplit(bad).query)))


def test_sync_use_with_fsync_off(tmp_path: Path) -> None:
    with SyncStore(open_store(url_of(tmp_path) + "?fsync=false")) as s:
        v = s.write("a.json", b"1")
        with pytest.raises(WriteConflict):
            s.write("a.json", b"2")
        got = s.read("a.json")
        assert got is not None and got.data == b"1" and got.version == v


def test_threads_with_separate_store_objects_exclude_each_other(tmp_path: Path) -> None:
    """flock belongs to the open file description, so threads of one process exclude each other too."""

    def worker() -> None:
        with SyncStore(open_store(url_of(tmp_path))) as s:
            done = 0
            while done < 50:
                cur = s.read("n")
                try:
                    s.write("n", str(int(cur.data) + 1 if cur else 1).encode(), cur.version if cur else None)
                    done += 1
                except WriteConflict:
                    pass

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with SyncStore(open_store(url_of(tmp_path))) as s:
        got = s.read("n")
        assert got is not None and got.data == b"200"


@pytest.mark.slow
def test_exactly_one_of_eight_processes_gets_the_lease(tmp_path: Path) -> None:
    results = run_lock_race(url_of(tmp_path / "root"), tmp_path)
    assert sorted(results) == ["-"] * 7 + ["1"]


async def test_dead_root_is_unavailable_for_every_operation(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"x")
    store = LocalFileStore(not_a_dir)
    for call in (
        store.read("a"),
        store.exists("a"),
        store.write("a", b"x"),
        store.delete("a"),
        store.list_page(""),
        store.try_acquire("a", "me", 1),
        store.is_locked("a"),
    ):
        with pytest.raises(StoreUnavailable) as info:
            await call
        assert info.value.backend == "file" and isinstance(info.value.cause, OSError)


async def test_a_value_file_replaced_by_a_symlink_is_refused_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_bytes(MAGIC + b"1\nsecret")
    root = tmp_path / "root"
    store = LocalFileStore(root)
    version = await store.write("k.json", b"mine")
    assert (await store.read("k.json")) is not None  # the key's path is now checked and remembered
    (root / "k.json").unlink()
    (root / "k.json").symlink_to(outside)
    with pytest.raises(InvalidKey):
        await store.read("k.json")
    with pytest.raises(InvalidKey):
        await store.write("k.json", b"over", version)
    assert outside.read_bytes() == MAGIC + b"1\nsecret"


def _tree_snapshot(top: Path) -> dict[str, bytes | None]:
    """Every entry under ``top`` (not following links) with a regular file's bytes."""
    found: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            found[str(path.relative_to(top))] = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    return found


async def test_a_directory_swapped_for_a_symlink_after_first_use_is_refused(tmp_path: Path) -> None:
    """Regression: the store checked a key's path once and remembered it, so the same store object later
    wrote through a directory swapped for a link to outside the root."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "k.json").write_bytes(MAGIC + b"1\nsecret")
    root = tmp_path / "root"
    store = LocalFileStore(root)
    version = await store.write("d/k.json", b"mine")
    assert await store.read("d/k.json") is not None
    (root / "d" / "k.json").unlink()
    (root / "d").rmdir()
    (root / "d").symlink_to(outside, target_is_directory=True)
    before = _tree_snapshot(outside)
    for call in (
        store.read("d/k.json"),
        store.exists("d/k.json"),
        store.write("d/k.json", b"over", version),
        store.write("d/k.json", b"over", "1"),
        store.write("d/new.json", b"new"),
        store.delete("d/k.json"),
        store.delete("d/k.json", "1"),
        store.list_page("d/"),
    ):
        with pytest.raises(UnsafePath) as info:
            await call
        assert info.value.path == "d"
    assert isinstance(info.value, InvalidKey) and isinstance(info.value, ValueError)
    assert _tree_snapshot(outside) == before


@pytest.mark.parametrize("planted", ["lock-dir", "lock-file", "lease-file"])
async def test_symlinked_lock_directory_or_lock_files_are_refused(tmp_path: Path, planted: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    store = LocalFileStore(root)
    lease = await store.acquire("k", "me", HELD, HELD)
    await store.write("k", b"v", lease=lease)
    locks = root / LOCK_DIR
    if planted == "lock-dir":
        for entry in locks.iterdir():
            (outside / entry.name).write_bytes(entry.read_bytes())
            entry.unlink()
        locks.rmdir()
        locks.symlink_to(outside, target_is_directory=True)
    else:
        suffix = ".lock" if planted == "lock-file" else ".lease"
        (victim,) = [p for p in locks.iterdir() if p.name.endswith(suffix)]
        (outside / victim.name).write_bytes(victim.read_bytes())
        victim.unlink()
        victim.symlink_to(outside / victim.name)
    before = _tree_snapshot(outside)
    calls = [
        store.write("k", b"w", lease=lease),
        store.delete("k", lease=lease),
        store.try_acquire("k", "other", HELD),
        store.renew(lease),
        store.release(lease),
    ]
    if planted != "lock-file":  # these read the lease without taking the flock
        calls += [store.is_locked("k"), store.check(lease)]
    for call in calls:
        with pytest.raises(UnsafePath) as info:
            await call
        assert info.value.path.startswith(LOCK_DIR)
    assert _tree_snapshot(outside) == before
    got = await store.read("k")  # reads take no lock: the value itself is fine
    assert got is not None and got.data == b"v"


def _finishes(call: Callable[[], Awaitable[object]], seconds: float = 10.0 * TIME_FACTOR) -> BaseException | object:
    """Run ``call`` in its own event loop on a daemon thread; fail if it has not finished in ``seconds``
    (a read blocked on a FIFO blocks its whole loop, so a timeout inside that loop could never fire)."""
    outcome: list[BaseException | object] = []

    def run() -> None:
        try:
            outcome.append(asyncio.run(call()))  # type: ignore[arg-type]
        except BaseException as err:  # handed to the test to check
            outcome.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"still blocked after {seconds}s"
    return outcome[0]


def _make_socket(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    return sock


@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_a_fifo_or_socket_in_a_values_place_is_refused_without_blocking(tmp_path: Path, kind: str) -> None:
    """Regression: reads run on the loop, and opening a FIFO for reading waited for a writer for ever."""
    root = tmp_path / "root"
    store = LocalFileStore(root, io="inline")
    assert _finishes(lambda: store.write("d/k", b"v")) is not None
    (root / "d" / "k").unlink()
    sock = None
    if kind == "fifo":
        os.mkfifo(root / "d" / "k")
    else:
        sock = _make_socket(root / "d" / "k")
    try:
        for call in (
            lambda: store.read("d/k"),
            lambda: store.exists("d/k"),
            lambda: store.write("d/k", b"over"),
            lambda: store.write("d/k", b"over", "1"),
            lambda: store.delete("d/k", "1"),
            lambda: store.delete("d/k"),
        ):
            err = _finishes(call)
            assert isinstance(err, UnsafePath), err
            assert err.path == "d/k" and kind.upper() in err.found.upper()
        keys = _finishes(lambda: _collect(store.list("")))
        assert keys == []  # not listed either
        assert kind == "socket" or stat.S_ISFIFO(os.lstat(root / "d" / "k").st_mode)  # left as it was
    finally:
        if sock is not None:
            sock.close()


async def _collect(keys: AsyncIterator[str]) -> list[str]:
    return [k async for k in keys]


@pytest.mark.parametrize("suffix", [".lock", ".lease"])
def test_a_fifo_in_place_of_a_lock_or_lease_file_is_refused_without_blocking(tmp_path: Path, suffix: str) -> None:
    root = tmp_path / "root"
    store = LocalFileStore(root, io="inline")
    lease = _finishes(lambda: store.acquire("k", "me", HELD, HELD))
    assert isinstance(lease, Lease)
    (victim,) = [p for p in (root / LOCK_DIR).iterdir() if p.name.endswith(suffix)]
    victim.unlink()
    os.mkfifo(victim)
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: store.write("k", b"v", lease=lease),
        lambda: store.try_acquire("k", "other", HELD),
        lambda: store.renew(lease),
        lambda: store.release(lease),
    ]
    if suffix == ".lease":
        calls += [lambda: store.is_locked("k"), lambda: store.check(lease)]
    for call in calls:
        err = _finishes(call)
        assert isinstance(err, UnsafePath), err
        assert err.path == f"{LOCK_DIR}/{victim.name}" and "FIFO" in err.found


# ---------------------------------------------------------------------------------------- the index (issue 13)
_CRASH_CHILD = r"""
import asyncio, os, sys
sys.path.insert(0, {src!r})
from durable_xstate.stores import IndexEntry
from durable_xstate.stores._file_index import FileIndex
from durable_xstate.stores.local import LocalFileStore

def crash(*args, **kwargs):
    os._exit(17)  # the process dies here: no finally, no cleanup

if {window!r} == "before-value":
    LocalFileStore._put_value = crash
else:  # after the value, before the old entry is dropped
    FileIndex.finish = crash
store = LocalFileStore({root!r}, io="inline")
asyncio.run(store.write("k.json", b"v2", {version!r}, index=IndexEntry(500.0, {{"state": "b"}})))
"""


def _crash_write(root: Path, version: str, window: str) -> None:
    import subprocess
    import sys

    src = str(Path(__file__).resolve().parents[2] / "src")
    code = _CRASH_CHILD.format(src=src, window=window, root=str(root), version=version)
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 17


async def _due(store: LocalFileStore, until: float) -> list[str]:
    return (await store.due_page("", until)).keys


@pytest.mark.parametrize("window", ["before-value", "after-value"])
async def test_a_writer_killed_mid_write_leaves_the_stored_value_its_entry(tmp_path: Path, window: str) -> None:
    from durable_xstate.stores import IndexEntry

    store = LocalFileStore(tmp_path / "root", io="inline")
    v1 = await store.write("k.json", b"v1", index=IndexEntry(100.0, {"state": "a"}))
    _crash_write(tmp_path / "root", v1, window)
    got = await store.read("k.json")
    assert got is not None and got.data == (b"v1" if window == "before-value" else b"v2")
    # whichever value is on disk, its entry is there (the other one is stale: listed, harmless)
    assert await _due(store, 150.0) == ["k.json"]
    assert await _due(store, 500.0) == ["k.json"]  # listed once, at its earlier entry
    assert (await store.find_page("", {"state": "a"})).keys == ["k.json"]
    assert (await store.find_page("", {"state": "b"})).keys == ["k.json"]
    # the next write of the key leaves its own entry alone
    await store.write("k.json", b"v3", got.version, index=IndexEntry(900.0, {"state": "c"}))
    assert await _due(store, 800.0) == []
    assert await _due(store, 900.0) == ["k.json"]
    assert (await store.find_page("", {"state": "a"})).keys == []
    assert (await store.find_page("", {"state": "b"})).keys == []
    assert len(os.listdir(tmp_path / "root" / ".index" / "due")) == 1


async def test_a_store_from_before_the_index_opens_and_keeps_its_data(tmp_path: Path) -> None:
    from durable_xstate.stores import IndexEntry

    root = tmp_path / "root"
    old = LocalFileStore(root)
    v = await old.write("orders/1.json", b"old")  # no entry: what an earlier version wrote
    assert not (root / ".index").exists()
    store = LocalFileStore(root)
    assert await _due(store, 1e15) == []  # not indexed until written again (persistence's reindex)
    assert (await store.find_page("", {})).keys == []
    await store.write("orders/1.json", b"new", v, index=IndexEntry(5.0, {"status": "active"}))
    assert await _due(store, 10.0) == ["orders/1.json"]
    assert [k async for k in store.list()] == ["orders/1.json"]  # the index is never listed as keys
    got = await store.read("orders/1.json")
    assert got is not None and got.data == b"new"


async def test_a_symbolic_link_in_place_of_the_index_is_refused(tmp_path: Path) -> None:
    from durable_xstate.stores import IndexEntry

    root = tmp_path / "root"
    store = LocalFileStore(root, io="inline")
    await store.write("k", b"v", index=IndexEntry(1.0, {}))
    outside = tmp_path / "outside"
    outside.mkdir()
    os.rename(root / ".index", tmp_path / "moved")
    os.symlink(outside, root / ".index")
    with pytest.raises(UnsafePath):
        await store.due_page("", 10.0)
    with pytest.raises(UnsafePath):
        await store.write("j", b"v", index=IndexEntry(1.0, {}))
    assert os.listdir(outside) == []
    assert await store.read("j") is None  # refused before the value was written
