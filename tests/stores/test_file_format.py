"""The file store's value files are the value's own bytes (a record is plain JSON), with the version
derived from the file (docs/decisions/0010-plain-value-files.md): records readable by ``jq``, files of the
previous format (a header line) still read and rewritten plainly, files written by other programs read as
values with a version compare-and-set works with, and a write interrupted at any step leaving the old or
the new value, each with its own version."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable_xstate import assign, create_actor, setup, with_persistable_actor
from durable_xstate.errors import StoreUnavailable, WriteConflict
from durable_xstate.stores import open_store
from durable_xstate.stores.local import MAGIC, LocalFileStore, file_version

FIXTURES = Path(__file__).parent / "fixtures"
#: ``order-1.json`` as the previous code wrote it (a header line, then the record): one ADD applied
PREVIOUS = FIXTURES / "previous-format-order-1.bin"
PREVIOUS_VERSION = "18eebcc1dda89e0e-c7db72a9214c"

ORDER = setup(actions={"count": assign({"n": lambda a, p: a.context["n"] + 1})}).create_machine(
    {"id": "order", "version": "1.0.0", "initial": "open", "context": {"n": 0},
     "states": {"open": {"on": {"ADD": {"actions": "count"}, "PAY": "paid"}}, "paid": {}}}
)


def creator(id: str, snapshot: Any) -> Any:
    return create_actor(ORDER, id=id, snapshot=snapshot)


async def add(actor: Any) -> None:
    actor.send({"type": "ADD"})


def read_json(path: Path) -> Any:
    """The file as a JSON reader outside Python sees it: ``jq`` when installed, and Python's json."""
    parsed = json.loads(path.read_text(encoding="utf-8"))
    jq = shutil.which("jq")
    if jq is not None:
        out = subprocess.run([jq, "-c", "."], stdin=path.open("rb"), capture_output=True, check=True, timeout=60)
        assert json.loads(out.stdout) == parsed
    return parsed


async def test_a_durable_step_leaves_a_plain_json_record(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}")
    try:
        await with_persistable_actor(add, id="order-1", storage=store, actor_creator=creator)
        path = tmp_path / "order-1.json"
        record = read_json(path)
        assert record["format"] == "durable-xstate.record/1"
        stored = await store.read("order-1.json")
        assert stored is not None and stored.data == path.read_bytes()
        assert json.loads(stored.data) == record
        await with_persistable_actor(add, id="order-1", storage=store, actor_creator=creator)
        assert read_json(path) != record  # the next step is plain JSON too
    finally:
        await store.close()


async def test_a_record_of_the_previous_format_loads_and_is_rewritten_plainly(tmp_path: Path) -> None:
    old = PREVIOUS.read_bytes()
    assert old.startswith(MAGIC + PREVIOUS_VERSION.encode() + b"\n")
    (tmp_path / "order-1.json").write_bytes(old)
    store = open_store(f"file://{tmp_path}")
    try:
        got = await store.read("order-1.json")
        assert got is not None and got.version == PREVIOUS_VERSION  # the version it was written with
        assert got.data == old[old.index(b"\n") + 1 :] and json.loads(got.data)["format"] == "durable-xstate.record/1"
        with pytest.raises(WriteConflict) as info:  # compare-and-set against the header's version
            await store.write("order-1.json", b"{}", "stale")
        assert info.value.found == PREVIOUS_VERSION
        snapshots: list[Any] = []

        async def add_and_look(actor: Any) -> None:
            actor.send({"type": "ADD"})
            snapshots.append(actor.get_snapshot())

        await with_persistable_actor(add_and_look, id="order-1", storage=store, actor_creator=creator)
        assert snapshots[0].context == {"n": 2}  # the old record was restored, then advanced
        record = read_json(tmp_path / "order-1.json")  # rewritten in the new format
        assert record["format"] == "durable-xstate.record/1"
        again = await store.read("order-1.json")
        assert again is not None and again.version != PREVIOUS_VERSION
    finally:
        await store.close()


async def test_a_foreign_json_file_is_a_value_that_can_be_overwritten_with_its_version(tmp_path: Path) -> None:
    # what the original writes under <id>.json: a bare xstate snapshot, no header, nothing beside it
    snapshot = {"status": "active", "value": "open", "context": {"n": 3}, "historyValue": {}, "children": {}}
    path = tmp_path / "ts-7.json"
    path.write_text(json.dumps(snapshot))
    store = LocalFileStore(tmp_path)
    got = await store.read("ts-7.json")
    assert got is not None and json.loads(got.data) == snapshot
    assert await store.exists("ts-7.json")
    assert got.version == (await store.read("ts-7.json")).version  # type: ignore[union-attr]  # stable
    with pytest.raises(WriteConflict) as info:  # create-only: it exists
        await store.write("ts-7.json", b'{"adopted": true}')
    assert info.value.found == got.version
    # the other program rewrites it in place (same inode, same size, same modification time): the
    # version still changes, so a compare-and-set against what was read first is refused
    before = os.stat(path)
    path.write_text(json.dumps({**snapshot, "value": "shut"}))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_ino == before.st_ino and os.stat(path).st_size == before.st_size
    with pytest.raises(WriteConflict):
        await store.write("ts-7.json", b'{"adopted": true}', got.version)
    now = await store.read("ts-7.json")
    assert now is not None and now.version != got.version
    version = await store.write("ts-7.json", b'{"adopted": true}', now.version)  # the adopting import
    assert json.loads(path.read_bytes()) == {"adopted": True}
    await store.delete("ts-7.json", version)
    assert not path.exists()


async def test_a_value_that_begins_like_the_previous_header_reads_back_exactly(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    for data in (MAGIC + b"abc\nrest", MAGIC, MAGIC + b"x" * 100, b"durable-xstate/1", MAGIC + b"\n"):
        got = await store.read("k")
        v = await store.write("k", data, got.version if got else None)
        again = await store.read("k")
        assert again is not None and again.data == data and again.version == v
    # a foreign file that merely looks like a header is the value itself
    (tmp_path / "odd").write_bytes(MAGIC + b"not a version\n")
    got = await store.read("odd")
    assert got is not None and got.data == MAGIC + b"not a version\n"


# ---------------------------------------------------------------------------------------- interrupted writes
class Crash(Exception):
    pass


@pytest.mark.parametrize("step", ["write", "fsync", "rename", "directory fsync"])
@pytest.mark.parametrize("previous", ["plain", "previous format"])
async def test_a_write_interrupted_at_any_step_leaves_a_consistent_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, previous: str
) -> None:
    store = LocalFileStore(tmp_path, io="inline")
    if previous == "plain":
        v1 = await store.write("k.json", b'{"v": 1}')
    else:
        (tmp_path / "k.json").write_bytes(MAGIC + b"old-1\n" + b'{"v": 1}')
        v1 = "old-1"
    real = {"write": os.write, "fsync": os.fsync, "rename": os.replace}
    if step == "write":
        monkeypatch.setattr(os, "write", lambda fd, data: (real["write"](fd, bytes(data)[:3]), _raise())[0])
    elif step == "fsync":
        monkeypatch.setattr(os, "fsync", lambda fd: _raise())
    elif step == "rename":
        monkeypatch.setattr(os, "replace", lambda *a, **k: _raise())
    else:  # the rename happened; the directory's fsync fails (as if the machine stopped there)
        calls = {"n": 0}

        def fsync(fd: int) -> None:
            calls["n"] += 1
            if calls["n"] == 2:  # the first is the temp file's
                _raise()
            real["fsync"](fd)

        monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises((Crash, StoreUnavailable)):
        await store.write("k.json", b'{"v": 2}', v1)
    monkeypatch.undo()
    got = await store.read("k.json")
    assert got is not None
    if step != "directory fsync":  # not renamed: the old value, with the old version
        assert got.data == b'{"v": 1}' and got.version == v1
    else:  # renamed: the new value, with a version of its own (the old one no longer matches)
        assert got.data == b'{"v": 2}' and got.version != v1
        with pytest.raises(WriteConflict):
            await store.write("k.json", b'{"v": 3}', v1)
    assert [k async for k in store.list("")] == ["k.json"]  # a temp file left behind is not a key
    await store.write("k.json", b'{"v": 3}', got.version)  # and the store goes on
    assert json.loads((tmp_path / "k.json").read_bytes()) == {"v": 3}


def _raise() -> None:
    raise Crash("simulated crash")


_KILLED_CHILD = r"""
import asyncio, os, sys
sys.path.insert(0, {src!r})
from durable_xstate.stores.local import LocalFileStore

real = os.replace
def replace_then_die(*args, **kwargs):
    if {after!r}:
        real(*args, **kwargs)
    os._exit(17)  # the process dies here: no finally, no cleanup
os.replace = replace_then_die
store = LocalFileStore({root!r}, io="inline")
asyncio.run(store.write("k.json", b'{{"v": 2}}', {version!r}))
"""


@pytest.mark.parametrize("after", [False, True], ids=["killed-before-rename", "killed-after-rename"])
async def test_a_writer_killed_around_the_rename(tmp_path: Path, after: bool) -> None:
    store = LocalFileStore(tmp_path / "root", io="inline")
    v1 = await store.write("k.json", b'{"v": 1}')
    src = str(Path(__file__).resolve().parents[2] / "src")
    code = _KILLED_CHILD.format(src=src, after=after, root=str(tmp_path / "root"), version=v1)
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 17
    got = await store.read("k.json")
    assert got is not None
    assert (got.data, got.version == v1) == ((b'{"v": 2}', False) if after else (b'{"v": 1}', True))
    if after:
        with pytest.raises(WriteConflict):
            await store.write("k.json", b"stale", v1)
    await store.write("k.json", b'{"v": 3}', got.version)


# ---------------------------------------------------------------------------------------- random histories
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.sampled_from([b"{}", b'{"a": 1}', b"[1, 2]", b""])),  # with the current version
        st.tuples(st.just("stale"), st.integers(0, 30)),  # with a version from earlier in the history
        st.tuples(st.just("create"), st.sampled_from([b"{}", b'{"a": 1}'])),  # create-only
        st.tuples(st.just("delete"), st.booleans()),  # conditional (True) or not
        st.tuples(st.just("foreign"), st.sampled_from([b"{}", b'{"b": 2}', b'{"a": 1}'])),  # another program, in place
    ),
    max_size=25,
)


@given(OPS)
def test_random_histories_of_writes_conflicts_and_foreign_rewrites_match_a_model(ops: list[tuple[str, Any]]) -> None:
    """Compare-and-set succeeds exactly when the expected version is the current one; every version a
    write returns is new (a rewrite of the same bytes included); reads give the model's bytes."""
    with tempfile.TemporaryDirectory() as root:
        asyncio.run(_history(Path(root), ops))


async def _history(root: Path, ops: list[tuple[str, Any]]) -> None:
    store = LocalFileStore(root, fsync=False, io="inline")
    path = root / "k.json"
    data: bytes | None = None  # the model
    current: str | None = None
    seen: list[str] = []
    for op, arg in ops:
        if op == "foreign":
            if path.exists():
                with path.open("r+b") as f:  # in place: same inode
                    f.truncate(0)
                    f.write(arg)
            else:
                path.write_bytes(arg)
            got = await store.read("k.json")
            assert got is not None and got.data == arg
            if arg != data:  # (the same bytes again within one tick of the kernel's clock: the same version)
                assert got.version != current and got.version not in seen
            data, current = arg, got.version
            seen.append(current)
            continue
        if op == "delete":
            expected = current if arg else None
            if arg and current is None:
                with pytest.raises(WriteConflict):
                    await store.delete("k.json", "none-such")
            else:
                await store.delete("k.json", expected)
            data, current = None, None
        else:
            if op == "write":
                expected = current
            elif op == "create":
                expected = None
            else:
                expected = seen[arg % len(seen)] if seen else "never-issued"
            value = arg if op != "stale" else b'{"stale": true}'
            if expected == current:
                version = await store.write("k.json", value, expected)
                assert version not in seen  # new, even for the same bytes again
                seen.append(version)
                data, current = value, version
            else:
                with pytest.raises(WriteConflict) as info:
                    await store.write("k.json", value, expected)
                assert info.value.found == current
        got = await store.read("k.json")
        assert (None if got is None else (got.data, got.version)) == (None if data is None else (data, current))
        if data is not None:
            assert path.read_bytes() == data  # the file is the value itself
            assert current == file_version(os.stat(path), data)
