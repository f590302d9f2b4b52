"""Property tests: any key (text with '..', '/', '\\', NUL, control characters, unicode, huge, or not a
string at all) against every backend, and a file store whose tree is tampered with between operations.

Every operation either succeeds or raises a typed error of our tree; nothing is written outside the
store's root (or namespace); other stored keys never change."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from harness import HELD, BackendUnderTest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_xstate.errors import (
    DurableXStateError,
    InvalidKey,
    LeaseLost,
    StoreError,
    StoreUnavailable,
    WriteConflict,
)
from durable_xstate.stores import Lease, Page, Versioned, validate_key
from durable_xstate.stores.base import validate_prefix
from durable_xstate.stores.local import LocalFileStore

FRAGMENTS = [
    "a", "b", "é", "\U0001f600", "..", ".", "/", "\\", "\x00", "\x1f", "\x7f", "\x85", "\ud800", " ",
    ".locks", "~", ":", "{", "}", "%", "*", "\n",
]
NOT_STRINGS = st.one_of(
    st.none(), st.integers(), st.floats(), st.binary(max_size=8), st.lists(st.integers(), max_size=2),
    st.tuples(st.text(max_size=2)),
)
#: keys that are mostly valid (so operations reach the backend), with characters some backends treat specially
PLAIN_KEYS = st.lists(st.text(alphabet="abé\U0001f600-_ {}%:~*", min_size=1, max_size=8), min_size=1, max_size=3).map(
    "/".join
)
KEYS = st.one_of(
    PLAIN_KEYS,
    PLAIN_KEYS,
    st.text(max_size=30),
    st.lists(st.sampled_from(FRAGMENTS), max_size=8).map("".join),
    st.builds(lambda c, n: c * n, st.sampled_from(["x", "é", "/", "\U0001f600", "a/"]), st.integers(200, 5000)),
    st.just("k" * 1_000_000),
    NOT_STRINGS,
)
OPERATIONS = ["read", "exists", "write", "write_cas", "delete", "delete_cas", "list", "lock"]
#: what a valid call may raise besides InvalidKey / ValueTooLarge: contention and ownership
EXPECTED = (InvalidKey, WriteConflict, LeaseLost)
SENTINELS = {"sentinel/a.json": b"first", "sentinel-b": b"second"}
PROPERTY = settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _is_valid(key: object) -> bool:
    try:
        validate_key(key)
    except InvalidKey:
        return False
    return True


def _is_valid_prefix(prefix: object) -> bool:
    """A list prefix may be empty or end with '/' (a folder), unlike a key."""
    try:
        validate_prefix(prefix)
    except InvalidKey:
        return False
    return True


async def _apply(store: Any, operation: str, key: Any) -> object:
    if operation == "read":
        return await store.read(key)
    if operation == "exists":
        return await store.exists(key)
    if operation == "write":
        return await store.write(key, b"written")
    if operation == "write_cas":
        return await store.write(key, b"written", "no-such-version")
    if operation == "delete":
        return await store.delete(key)
    if operation == "delete_cas":
        return await store.delete(key, "no-such-version")
    if operation == "list":
        return await store.list_page(key, None, 50)
    lease = await store.try_acquire(key, "prop", HELD)
    if lease is not None:
        await store.release(lease)
    return await store.is_locked(key)


def _outside_root(tmp_path: Path, root: Path) -> dict[str, bytes | None]:
    found: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(tmp_path):
        if Path(dirpath) == tmp_path and root.name in dirnames:
            dirnames.remove(root.name)
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            found[str(path)] = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    return found


def test_any_key_succeeds_or_raises_a_typed_error_and_touches_nothing_else(
    backend: BackendUnderTest, tmp_path: Path
) -> None:
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    store = backend.open()
    file_root = Path(store.storage.root) if isinstance(store.storage, LocalFileStore) else None
    try:
        versions = {key: run(store.write(key, data)) for key, data in SENTINELS.items()}
        outside = _outside_root(tmp_path, file_root) if file_root else None

        @PROPERTY
        @given(key=KEYS, operation=st.sampled_from(OPERATIONS))
        def check(key: Any, operation: str) -> None:
            if isinstance(key, str) and key.rstrip("/") in SENTINELS:
                return  # only other keys are generated (a write there is the sentinel changing, legitimately)
            try:
                result = run(_apply(store, operation, key))
            except EXPECTED as err:
                assert len(str(err)) < 2000  # no huge echo
            except StoreUnavailable as err:  # a key must never reach the backend as a fault
                raise AssertionError(f"{operation}({key!r}) reached the backend as a fault: {err}") from err
            else:
                valid = _is_valid_prefix(key) if operation == "list" else _is_valid(key)
                assert valid, f"{operation} accepted {key!r}"
                if operation == "write":
                    got = run(store.read(key))
                    assert got is not None and got.data == b"written" and got.version == result
                    assert key in run(store.list_page(key, None, 50)).keys  # stored under that very key
                    run(store.delete(key))
                elif operation == "read":
                    assert result is None or isinstance(result, Versioned)
                elif operation == "list":
                    assert isinstance(result, Page) and all(_is_valid(k) for k in result.keys)
            for name, data in SENTINELS.items():
                got = run(store.read(name))
                assert got is not None and (got.data, got.version) == (data, versions[name])
            if file_root is not None:
                assert _outside_root(tmp_path, file_root) == outside

        check()
    finally:
        run(store.close())
        loop.close()


# ----------------------------------------------------------------------------- a tampered file store

TREE_KEYS = ["a", "b/c", "b/d/e", "f/g"]
FILE_OPERATIONS = [*OPERATIONS, "list_b", "renew", "release", "check"]
REPLACEMENTS = ["link-outside-dir", "link-outside-file", "link-dangling", "fifo", "directory"]


def _entries(root: Path) -> list[Path]:
    """Every entry of the store's tree (not following links), the lock directory's included."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        found.extend(Path(dirpath) / name for name in sorted(dirnames) + sorted(filenames))
    return found


def _replace(entry: Path, replacement: str, outside: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry)
    else:
        entry.unlink()
    if replacement == "link-outside-dir":
        entry.symlink_to(outside / "dir", target_is_directory=True)
    elif replacement == "link-outside-file":
        entry.symlink_to(outside / "victim")
    elif replacement == "link-dangling":
        entry.symlink_to(outside / f"new-{entry.name}")
    elif replacement == "fifo":
        os.mkfifo(entry)
    else:
        entry.mkdir()


def _snapshot(top: Path) -> dict[str, tuple[int, bytes | None]]:
    found: dict[str, tuple[int, bytes | None]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            mode = os.lstat(path).st_mode
            found[str(path.relative_to(top))] = (mode, path.read_bytes() if stat.S_ISREG(mode) else None)
    return found


async def _file_operation(store: LocalFileStore, operation: str, key: str, leases: dict[str, Lease]) -> object:
    if operation == "list_b":
        return await store.list_page("b/")
    if operation in ("renew", "release", "check"):
        lease = leases.get(key)
        if lease is None:
            return None
        call: Coroutine[Any, Any, object] = getattr(store, operation)(lease)
        return await call
    if operation == "lock":
        lease = await store.try_acquire(key, "prop", HELD)
        if lease is not None:
            leases[key] = lease
        return lease
    return await _apply(store, operation, key)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_tampered_file_tree_never_leads_outside_and_errors_stay_typed(tmp_path_factory: Any, data: Any) -> None:
    base: Path = tmp_path_factory.mktemp("tamper")
    root, outside = base / "root", base / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "victim").write_bytes(b"outside the root")
    (outside / "dir" / "inner").write_bytes(b"also outside")
    before = _snapshot(outside)
    store = LocalFileStore(root, fsync=False, io="inline")
    leases: dict[str, Lease] = {}
    loop = asyncio.new_event_loop()
    try:
        for key in TREE_KEYS:
            leases[key] = loop.run_until_complete(store.acquire(key, "prop", HELD, HELD))
            loop.run_until_complete(store.write(key, b"v", lease=leases[key]))
        for _ in range(data.draw(st.integers(1, 12), label="steps")):
            if data.draw(st.booleans(), label="tamper?"):
                entries = _entries(root)
                if entries:
                    entry = data.draw(st.sampled_from(entries), label="entry")
                    _replace(entry, data.draw(st.sampled_from(REPLACEMENTS), label="replacement"), outside)
            operation = data.draw(st.sampled_from(FILE_OPERATIONS), label="operation")
            key = data.draw(st.sampled_from(TREE_KEYS), label="key")
            try:
                loop.run_until_complete(_file_operation(store, operation, key, leases))
            except DurableXStateError as err:  # anything else (a bare OSError, a hang) fails the test
                assert isinstance(err, StoreError), err
            assert _snapshot(outside) == before, f"{operation}({key!r}) changed something outside the root"
    finally:
        loop.close()
