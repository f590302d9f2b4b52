"""S3-specific behaviour, on the session's single-threaded moto server (see moto_support.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import boto3
import pytest
import pytest_asyncio
from harness import HELD
from moto_support import BUCKET, REGION, dead_endpoint, dynamodb_url

from durable_xstate.errors import (
    InvalidKey,
    LeaseLost,
    StoreNotConfigured,
    StoreUnavailable,
    ValueTooLarge,
    WriteConflict,
)
from durable_xstate.stores import open_store
from durable_xstate.stores.s3 import S3LockedStorage, S3Storage, validate_bucket_prefix


def _namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def _raw(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION)


@pytest_asyncio.fixture
async def s3(moto_server: str) -> AsyncIterator[S3Storage]:
    store = S3Storage(BUCKET, f"{_namespace()}/", {"endpoint_url": moto_server, "region": REGION})
    try:
        yield store
    finally:
        await store.close()


# ----------------------------------------------------------------------------- prefix and keys


@pytest.mark.parametrize("prefix", ["", "a/", "some_path/some_path_1/", "A-b_9/x/"])
def test_valid_bucket_prefixes(prefix: str) -> None:
    assert validate_bucket_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["a", "/a/", "a//b/", "a/../b/", "../", "a/b", "a b/", "é/", "a/./", "a\\b/"])
def test_invalid_bucket_prefixes_get_the_original_message(prefix: str) -> None:
    with pytest.raises(ValueError, match=r"Invalid path format\. Please use a valid path like 'path/to/folder/'"):
        validate_bucket_prefix(prefix)


def test_urls_are_checked_when_opened() -> None:
    with pytest.raises(ValueError, match="Invalid path format"):
        open_store("s3://bucket/no-trailing-slash?region=us-east-1")
    with pytest.raises(ValueError, match="invalid S3 bucket name"):
        open_store("s3://Bad_Bucket/x/")
    with pytest.raises(ValueError, match="unknown s3 URL option"):
        open_store("s3://bucket/x/?regoin=us-east-1")
    with pytest.raises(ValueError, match="max_attempts"):
        open_store("s3://bucket/x/?max_attempts=zero")
    store = open_store("s3://bucket/x/?region=us-east-1")  # lazy: nothing is contacted
    assert isinstance(store.storage, S3Storage) and store.lock is None


async def test_keys_stay_under_the_prefix(moto_server: str, s3: S3Storage) -> None:
    await s3.write("a/b.json", b"1")
    await s3.write("célèbre/ü.json", b"2")
    listed = _raw(moto_server).list_objects_v2(Bucket=BUCKET, Prefix=s3.prefix)
    assert sorted(o["Key"] for o in listed["Contents"]) == sorted([s3.prefix + "a/b.json", s3.prefix + "célèbre/ü.json"])
    for bad in ("../x", "a/../../x", "/abs", ".hidden"):
        with pytest.raises(InvalidKey):
            await s3.write(bad, b"x")


async def test_listing_sees_only_its_own_prefix(moto_server: str) -> None:
    ns = _namespace()
    options = {"endpoint_url": moto_server, "region": REGION}
    mine, sibling = S3Storage(BUCKET, f"{ns}/", options), S3Storage(BUCKET, f"{ns}-other/", options)
    try:
        await mine.write("k.json", b"1")
        await sibling.write("k2.json", b"2")
        assert [k async for k in mine.list("")] == ["k.json"]
        assert [k async for k in sibling.list("")] == ["k2.json"]
    finally:
        await mine.close()
        await sibling.close()


async def test_prefix_plus_key_past_s3s_1024_bytes_is_an_invalid_key_before_any_call() -> None:
    store = S3Storage(BUCKET, "p/", {"endpoint_url": dead_endpoint(), "region": REGION, "max_attempts": "1"})
    try:
        key = "k" * 510 + "/" + "é" * 256  # 1023 bytes: a valid key, but 1025 bytes with the prefix
        with pytest.raises(InvalidKey, match="1024 bytes"):
            await store.write(key, b"x")
        with pytest.raises(InvalidKey):
            await store.read(key)
    finally:
        await store.close()


async def test_value_too_large_is_raised_before_calling_s3() -> None:
    store = S3Storage(BUCKET, "p/", {"endpoint_url": dead_endpoint(), "region": REGION, "max_attempts": "1"})
    try:
        with pytest.raises(ValueTooLarge) as info:
            await store.write("big.bin", bytes(store.max_value_bytes + 1))
        assert info.value.limit == 16 * 1024 * 1024
        with pytest.raises(StoreUnavailable):  # the same store really is unreachable
            await store.read("big.bin")
    finally:
        await store.close()


# ----------------------------------------------------------------------------- conditional writes


async def test_version_is_the_etag_and_conflicts_name_the_current_one(moto_server: str, s3: S3Storage) -> None:
    v1 = await s3.write("e.json", b"one")
    head = _raw(moto_server).head_object(Bucket=BUCKET, Key=s3.prefix + "e.json")
    assert v1 == head["ETag"]
    v2 = await s3.write("e.json", b"two", v1)
    with pytest.raises(WriteConflict) as info:
        await s3.write("e.json", b"three", v1)
    assert info.value.expected == v1 and info.value.found == v2


@pytest.mark.parametrize("bogus", ["*", '"a", "b"', "not an etag", "", "\u00e9tag"])
async def test_expected_versions_that_are_no_etag_never_match(s3: S3Storage, bogus: str) -> None:
    v = await s3.write("w.json", b"x")
    with pytest.raises(WriteConflict) as info:  # "*" must not act as If-Match's wildcard
        await s3.write("w.json", b"y", bogus)
    assert info.value.found == v
    with pytest.raises(WriteConflict):
        await s3.delete("w.json", bogus)
    got = await s3.read("w.json")
    assert got is not None and got.data == b"x"


async def test_conditional_delete_uses_if_match(s3: S3Storage) -> None:
    v1 = await s3.write("d.json", b"1")
    v2 = await s3.write("d.json", b"2", v1)
    with pytest.raises(WriteConflict) as info:
        await s3.delete("d.json", v1)
    assert info.value.found == v2
    assert await s3.exists("d.json")
    await s3.delete("d.json", v2)
    assert not await s3.exists("d.json")
    with pytest.raises(WriteConflict) as info:
        await s3.delete("d.json", v2)
    assert info.value.found is None


async def test_racing_conditional_writes_have_exactly_one_winner(s3: S3Storage) -> None:
    """8 writers race from the same ETag, 25 rounds; bodies differ (the ETag is the MD5 of the body),
    so a double win could not hide behind an identical ETag."""
    version = await s3.write("race.json", b"start")
    for round_ in range(25):

        async def attempt(writer: int, expected: str = version, n: int = round_) -> str | None:
            try:
                return await s3.write("race.json", f"round {n} writer {writer}".encode(), expected)
            except WriteConflict:
                return None

        results = await asyncio.gather(*(attempt(w) for w in range(8)))
        winners = [r for r in results if r is not None]
        assert len(winners) == 1, f"round {round_}: {len(winners)} winners"
        got = await s3.read("race.json")
        assert got is not None and got.version == winners[0]
        version = winners[0]


async def test_racing_creates_have_exactly_one_winner(s3: S3Storage) -> None:
    for round_ in range(10):
        key = f"create-{round_}.json"

        async def attempt(writer: int, key: str = key) -> str | None:
            try:
                return await s3.write(key, f"writer {writer}".encode())
            except WriteConflict:
                return None

        results = await asyncio.gather(*(attempt(w) for w in range(8)))
        assert sum(r is not None for r in results) == 1


# ----------------------------------------------------------------------------- pairing with a lock


async def test_one_url_can_carry_its_lock(moto_server: str) -> None:
    ns = _namespace()
    lock_url = dynamodb_url(moto_server, ns)
    url = f"s3://{BUCKET}/{ns}/?endpoint_url={moto_server}&region={REGION}&lock={quote(lock_url, safe='')}"
    store = open_store(url)
    try:
        assert isinstance(store.storage, S3LockedStorage) and store.lock is store.storage
        assert not store.fenced_atomically  # S3 cannot fence: the lease is checked before the write
        v = await store.write("k.json", b"0")
        old = await store.acquire("k.json", "slow", 0.3, HELD)
        await asyncio.sleep(0.45)
        new = await store.acquire("k.json", "fast", HELD, HELD)
        assert new.token > old.token
        with pytest.raises(LeaseLost):
            await store.write("k.json", b"slow", v, lease=old)
        await store.write("k.json", b"fast", v, lease=new)
        await store.release(new)
    finally:
        await store.close()


async def test_a_lease_on_bare_s3_is_refused(s3: S3Storage) -> None:
    from durable_xstate.stores import Lease

    with pytest.raises(StoreNotConfigured):
        await s3.write("k.json", b"x", lease=Lease("k.json", "me", 1, 0.0, 1.0))


async def test_missing_bucket_is_unavailable_not_absent(moto_server: str) -> None:
    store = S3Storage("no-such-bucket-here", "", {"endpoint_url": moto_server, "region": REGION})
    try:
        with pytest.raises(StoreUnavailable):
            await store.read("x.json")
        with pytest.raises(StoreUnavailable):
            await store.write("x.json", b"1")
        with pytest.raises(StoreUnavailable):
            await store.exists("x.json")
    finally:
        await store.close()


async def test_create_bucket_option(moto_server: str) -> None:
    bucket = f"dx-{uuid.uuid4().hex[:12]}"
    store = open_store(f"s3://{bucket}/p/?endpoint_url={moto_server}&region={REGION}&create_bucket=1")
    try:
        v = await store.write("k.json", b"1")
        got = await store.read("k.json")
        assert got is not None and got.version == v
    finally:
        await store.close()


async def test_a_lost_response_is_unavailable_not_a_conflict(s3: S3Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    """The put took effect but its answer was lost. A blind retry would get 412 against its own write
    (and, ETags being MD5s, could not tell it from a twin writer's): it is sent once instead."""
    from botocore.exceptions import ConnectionClosedError

    from durable_xstate.stores._aws import AwsClient

    v1 = await s3.write("lost.json", b"1")
    real_build = AwsClient._build

    class LosesResponses:
        def __init__(self, client: Any) -> None:
            self.client = client

        def put_object(self, **kwargs: Any) -> Any:
            self.client.put_object(**kwargs)
            raise ConnectionClosedError(endpoint_url="http://moto")

    def build(self: AwsClient, retrying: bool = True) -> Any:
        client = real_build(self, retrying)
        return client if retrying else LosesResponses(client)

    monkeypatch.setattr(AwsClient, "_build", build)
    with pytest.raises(StoreUnavailable):
        await s3.write("lost.json", b"2", v1)
    got = await s3.read("lost.json")
    assert got is not None and got.data == b"2"


# ----------------------------------------------------------------------------- the index (issue 13)
_CRASH_CHILD = r"""
import asyncio, os, sys
sys.path.insert(0, {src!r})
from durable_xstate.stores import IndexEntry
from durable_xstate.stores._s3_index import S3Index
from durable_xstate.stores.s3 import S3Storage

def crash(*args, **kwargs):
    os._exit(17)  # the process dies here: no finally, no cleanup

if {window!r} == "before-value":
    S3Storage._put_value = crash
else:  # after the value, before the old entry is dropped
    S3Index._drop = crash
store = S3Storage({bucket!r}, {prefix!r}, {{"endpoint_url": {endpoint!r}, "region": {region!r}}})
asyncio.run(store.write("k.json", b"v2", {version!r}, index=IndexEntry(500.0, {{"state": "b"}})))
"""


def _index_objects(endpoint: str, prefix: str) -> list[str]:
    listed = _raw(endpoint).list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}.index/")
    return [str(o["Key"])[len(prefix) :] for o in listed.get("Contents", [])]


@pytest.mark.parametrize("window", ["before-value", "after-value"])
async def test_a_writer_killed_mid_write_leaves_the_stored_value_its_entry(
    s3: S3Storage, moto_server: str, window: str
) -> None:
    import subprocess
    import sys
    from pathlib import Path

    from durable_xstate.stores import IndexEntry

    v1 = await s3.write("k.json", b"v1", index=IndexEntry(100.0, {"state": "a"}))
    src = str(Path(__file__).resolve().parents[2] / "src")
    code = _CRASH_CHILD.format(
        src=src, window=window, bucket=BUCKET, prefix=s3.prefix, endpoint=moto_server, region=REGION, version=v1
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 17
    got = await s3.read("k.json")
    assert got is not None and got.data == (b"v1" if window == "before-value" else b"v2")
    # whichever value is stored, its entry is there (the other one is stale: listed, harmless)
    assert (await s3.due_page("", 150.0)).keys == ["k.json"]
    assert (await s3.due_page("", 500.0)).keys == ["k.json"]
    assert (await s3.find_page("", {"state": "a"})).keys == ["k.json"]
    assert (await s3.find_page("", {"state": "b"})).keys == ["k.json"]
    await s3.write("k.json", b"v3", got.version, index=IndexEntry(900.0, {"state": "c"}))
    assert (await s3.due_page("", 800.0)).keys == []
    assert (await s3.due_page("", 900.0)).keys == ["k.json"]
    assert (await s3.find_page("", {"state": "b"})).keys == []
    assert len([n for n in _index_objects(moto_server, s3.prefix) if n.startswith(".index/due/")]) == 1


async def test_a_refused_write_leaves_no_index_object_and_delete_removes_them(s3: S3Storage, moto_server: str) -> None:
    from durable_xstate.stores import IndexEntry

    v1 = await s3.write("k.json", b"v1", index=IndexEntry(1.0, {"status": "active"}))
    before = sorted(_index_objects(moto_server, s3.prefix))
    with pytest.raises(WriteConflict):
        await s3.write("k.json", b"v2", "\"not-the-etag\"", index=IndexEntry(2.0, {"status": "done"}))
    with pytest.raises(WriteConflict):
        await s3.write("k.json", b"v2", index=IndexEntry(2.0, {"status": "done"}))  # create-only on a present key
    assert sorted(_index_objects(moto_server, s3.prefix)) == before
    await s3.delete("k.json", v1)
    assert _index_objects(moto_server, s3.prefix) == []


async def test_listing_steps_over_the_index(s3: S3Storage) -> None:
    from durable_xstate.stores import IndexEntry

    keys = ["-first", "a", "z/1"]  # '-' sorts before '.index/', the others after
    for key in keys:
        await s3.write(key, b"x", index=IndexEntry(1.0, {"status": "active"}))
    assert [k async for k in s3.list()] == keys
    assert [k async for k in s3.list(page_size=1)] == keys
    page = await s3.list_page("", None, 2)
    assert page.keys == keys[:2] and page.cursor is not None
