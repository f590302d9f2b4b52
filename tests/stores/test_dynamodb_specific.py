"""DynamoDB-specific behaviour, on the session's single-threaded moto server (see moto_support.py)."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from unittest.mock import patch

import boto3
import pytest
import pytest_asyncio
from harness import HELD
from hypothesis import given, settings
from hypothesis import strategies as st
from moto_support import REGION, TABLE, dead_endpoint

from durable_xstate.errors import (
    CorruptValue,
    InvalidKey,
    LeaseLost,
    StoreUnavailable,
    ValueTooLarge,
    WriteConflict,
)
from durable_xstate.stores import INDEX_LABELS, IndexEntry, Storage, open_store
from durable_xstate.stores.dynamodb import (
    ITEM_BUDGET_BYTES,
    MAX_INDEXED_KEY_BYTES,
    DynamoDBStore,
    max_value_bytes_for_prefix,
)
from durable_xstate.stores.memory import MemoryStore

LOCKS = f"{TABLE}-locks"


def _namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def _raw(endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)


@pytest_asyncio.fixture
async def ddb(moto_server: str) -> AsyncIterator[DynamoDBStore]:
    store = DynamoDBStore(TABLE, {"endpoint_url": moto_server, "region": REGION, "prefix": _namespace()})
    try:
        yield store
    finally:
        await store.close()


def aws_item_size(item: dict[str, Any]) -> int:
    """DynamoDB's documented item size: UTF-8 names + values (S: UTF-8 bytes, B: raw bytes,
    N: 1 byte per two significant digits + 1)."""
    size = 0
    for name, attr in item.items():
        size += len(name.encode())
        ((kind, value),) = attr.items()
        if kind == "S":
            size += len(value.encode())
        elif kind == "B":
            size += len(value)
        elif kind == "N":
            digits = str(Decimal(value).normalize()).replace("-", "").replace(".", "").lstrip("0")
            size += (len(digits) + 1) // 2 + 1
        else:  # pragma: no cover
            raise AssertionError(kind)
    return size


# ----------------------------------------------------------------------------- size limit


def test_max_value_is_the_budget_minus_the_worst_case_overhead() -> None:
    # names: path 4 + data 4 + updatedAt 9 + version 7 + the entry's xe xp xd xk xm xs xt 14 = 38;
    # path: prefix + '/' + 1024; numbers: 3 x 21; the entry: xp "63#" + prefix, xd 16 digits + 1008,
    # xk 1008, three labels "63:0:" + prefix + "=" + 512 bytes
    entry = 3 + (16 + 1008) + 1008 + 3 * (6 + 512)
    assert max_value_bytes_for_prefix("") == 400_000 - 38 - 1024 - 63 - entry == 395_286
    # 13 more bytes in the path (and its '/'), in xp, and in each label (and a second length digit)
    assert max_value_bytes_for_prefix("t0123456789ab") == 395_286 - 14 - 13 - 3 * 14
    assert ITEM_BUDGET_BYTES == 400_000  # 400 KB read as 400,000 bytes: under AWS's 409,600 and moto's 405,000


async def test_largest_value_with_the_longest_key_fits_exactly(moto_server: str, ddb: DynamoDBStore) -> None:
    key = "é" * 512  # the longest key validate_key allows: 512 characters, 1024 bytes of UTF-8
    assert len(key.encode()) == 1024
    limit = ddb.max_value_bytes
    value = bytes(65 + i % 26 for i in range(limit))  # ASCII: stored as S, as the original stored strings
    v = await ddb.write(key, value)
    got = await ddb.read(key)
    assert got is not None and got.data == value and got.version == v
    raw = _raw(moto_server).get_item(TableName=TABLE, Key={"path": {"S": f"{ddb.prefix}/{key}"}}, ConsistentRead=True)
    assert aws_item_size(raw["Item"]) <= ITEM_BUDGET_BYTES
    # the longest key an index entry allows, with the largest entry: a due time, three labels of 512
    # bytes (longer ones are hashed)
    indexed = "é" * (MAX_INDEXED_KEY_BYTES // 2)
    entry = IndexEntry(1.0, {name: "é" * 256 for name in INDEX_LABELS})
    v = await ddb.write(indexed, value, index=entry)
    raw = _raw(moto_server).get_item(TableName=TABLE, Key={"path": {"S": f"{ddb.prefix}/{indexed}"}}, ConsistentRead=True)
    assert aws_item_size(raw["Item"]) <= ITEM_BUDGET_BYTES
    assert (await ddb.find_page("", {"state": "é" * 256})).keys == [indexed]
    assert (await ddb.due_page("", 1.0)).keys == [indexed]
    with pytest.raises(InvalidKey, match="at most 1008 bytes"):
        await ddb.write(key, b"x", v, index=entry)  # a longer key cannot carry an entry ...
    got = await ddb.read(key)
    assert got is not None and got.data == value  # ... and nothing was written
    await ddb.write(key, b"x", got.version)  # without an entry it is fine
    with pytest.raises(ValueTooLarge) as info:
        await ddb.write(key, value + b"!", v)
    assert info.value.limit == limit and info.value.size == limit + 1


async def test_value_too_large_is_raised_before_calling_aws() -> None:
    store = DynamoDBStore(TABLE, {"endpoint_url": dead_endpoint(), "region": REGION, "max_attempts": "1", "prefix": "p"})
    try:
        with pytest.raises(ValueTooLarge):
            await store.write("big.bin", bytes(store.max_value_bytes + 1))
        with pytest.raises(StoreUnavailable):  # the same store really is unreachable
            await store.write("big.bin", b"small")
    finally:
        await store.close()


async def test_binary_values_are_stored_as_binary(moto_server: str, ddb: DynamoDBStore) -> None:
    value = bytes(range(256)) * 400  # not UTF-8
    v = await ddb.write("bin.dat", value)
    raw = _raw(moto_server).get_item(TableName=TABLE, Key={"path": {"S": f"{ddb.prefix}/bin.dat"}}, ConsistentRead=True)
    assert set(raw["Item"]) == {"path", "data", "updatedAt", "version"}
    assert raw["Item"]["data"] == {"B": value} and raw["Item"]["version"] == {"N": v}
    got = await ddb.read("bin.dat")
    assert got is not None and got.data == value


async def test_a_binary_value_at_the_limit_fits_too(ddb: DynamoDBStore) -> None:
    value = b"\xff" * ddb.max_value_bytes  # not UTF-8: stored as B, counted by its raw size
    v = await ddb.write("bin-max.dat", value)
    got = await ddb.read("bin-max.dat")
    assert got is not None and got.data == value and got.version == v


async def test_a_size_refusal_by_the_server_is_value_too_large(ddb: DynamoDBStore) -> None:
    """Past our own limit nothing is sent; if the server still finds an item too large (a budget
    lowered by hand here), the answer is ValueTooLarge, not an infrastructure fault."""
    ddb.max_value_bytes = 500_000
    with pytest.raises(ValueTooLarge) as info:
        await ddb.write("huge.txt", b"a" * 450_000)
    assert info.value.size == 450_000
    lease = await ddb.acquire("huge.txt", "me", HELD, HELD)
    with pytest.raises(ValueTooLarge):
        await ddb.write("huge.txt", b"a" * 450_000, lease=lease)
    assert await ddb.read("huge.txt") is None


# ----------------------------------------------------------------------------- item shapes, compatibility with the original


async def test_storage_item_has_the_originals_shape_plus_a_version(moto_server: str, ddb: DynamoDBStore) -> None:
    before = int(time.time())
    v = await ddb.write("orders/42.json", b'{"status":"active"}')
    raw = _raw(moto_server).get_item(TableName=TABLE, Key={"path": {"S": f"{ddb.prefix}/orders/42.json"}}, ConsistentRead=True)
    item = raw["Item"]
    assert item["path"] == {"S": f"{ddb.prefix}/orders/42.json"}
    assert item["data"] == {"S": '{"status":"active"}'}
    assert before <= int(item["updatedAt"]["N"]) <= int(time.time())
    assert item["version"] == {"N": v}


async def test_a_foreign_item_is_a_corrupt_value_naming_the_key(moto_server: str, ddb: DynamoDBStore) -> None:
    """It used to be a bare ValueError without the key."""
    _raw(moto_server).put_item(TableName=TABLE, Item={"path": {"S": f"{ddb.prefix}/foreign.json"}, "data": {"N": "1"}})
    with pytest.raises(CorruptValue) as info:
        await ddb.read("foreign.json")
    assert isinstance(info.value, ValueError) and info.value.key == "foreign.json"
    assert "'foreign.json'" in str(info.value) and "['N']" in str(info.value)
    assert _raw(moto_server).get_item(TableName=TABLE, Key={"path": {"S": f"{ddb.prefix}/foreign.json"}})["Item"]["data"] == {"N": "1"}  # untouched


async def test_an_item_written_by_the_original_is_versioned_by_its_data_and_can_be_updated(
    moto_server: str, ddb: DynamoDBStore
) -> None:
    path = f"{ddb.prefix}/legacy.json"
    original = {"path": {"S": path}, "data": {"S": "{}"}, "updatedAt": {"N": "1700000000"}, "someProps": {"S": "saad"}}
    _raw(moto_server).put_item(TableName=TABLE, Item=original)
    got = await ddb.read("legacy.json")
    assert got is not None and got.data == b"{}" and got.version.startswith("foreign-")
    with pytest.raises(WriteConflict):
        await ddb.write("legacy.json", b"x")  # create-only: it exists
    # the original writes again (unconditionally, no version): the version read no longer matches
    _raw(moto_server).put_item(TableName=TABLE, Item={**original, "data": {"S": '{"n":2}'}})
    with pytest.raises(WriteConflict) as info:
        await ddb.write("legacy.json", b"lost update", got.version)
    again = await ddb.read("legacy.json")
    assert again is not None and again.data == b'{"n":2}' and info.value.found == again.version != got.version
    v = await ddb.write("legacy.json", b'{"a":1}', again.version)
    with pytest.raises(WriteConflict) as info:
        await ddb.write("legacy.json", b"stale", again.version)
    assert info.value.found == v


async def test_an_original_write_between_the_check_and_the_put_is_not_overwritten(
    moto_server: str, ddb: DynamoDBStore
) -> None:
    """The compare-and-set on an item without a version is the put's condition that ``data`` is still what
    was read: the original writing in the window after the re-read still makes it fail."""
    path = f"{ddb.prefix}/window.json"
    raw = _raw(moto_server)
    raw.put_item(TableName=TABLE, Item={"path": {"S": path}, "data": {"S": '{"n":1}'}, "updatedAt": {"N": "1700000000"}})
    got = await ddb.read("window.json")
    assert got is not None
    checked = ddb._condition

    async def then_the_original_writes(*args: Any) -> Any:
        condition = await checked(*args)
        raw.put_item(TableName=TABLE, Item={"path": {"S": path}, "data": {"S": '{"n":2}'}, "updatedAt": {"N": "1700000000"}})
        return condition

    with patch.object(ddb, "_condition", then_the_original_writes), pytest.raises(WriteConflict):
        await ddb.write("window.json", b"adopted", got.version)
    assert raw.get_item(TableName=TABLE, Key={"path": {"S": path}})["Item"]["data"] == {"S": '{"n":2}'}


@pytest.mark.parametrize("bogus", ["abc", "007", "0x10", "1e3", " 5", "-1", "*", "9" * 60])
async def test_expected_versions_this_backend_never_wrote_conflict(ddb: DynamoDBStore, bogus: str) -> None:
    v = await ddb.write("b.json", b"1")
    with pytest.raises(WriteConflict) as info:
        await ddb.write("b.json", b"2", bogus)
    assert info.value.found == v
    with pytest.raises(WriteConflict):
        await ddb.delete("b.json", bogus)
    got = await ddb.read("b.json")
    assert got is not None and got.data == b"1"


async def test_a_recreated_key_gets_a_fresh_version(ddb: DynamoDBStore) -> None:
    versions = set()
    for _ in range(20):
        versions.add(await ddb.write("again.json", b"same bytes"))
        await ddb.delete("again.json")
    assert len(versions) == 20  # random 63-bit versions: an old version never matches a re-created item


async def test_a_lost_response_is_unavailable_not_a_conflict(ddb: DynamoDBStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A conditional put that took effect but whose response was lost: a blind retry would fail its own
    condition and report a conflict. It is sent once, so the caller hears "outcome unknown"."""
    from botocore.exceptions import ReadTimeoutError

    from durable_xstate.stores._aws import AwsClient

    v1 = await ddb.write("lost.json", b"1")
    real_build = AwsClient._build

    class LosesResponses:
        def __init__(self, client: Any) -> None:
            self.client = client

        def put_item(self, **kwargs: Any) -> Any:
            self.client.put_item(**kwargs)  # it lands ...
            raise ReadTimeoutError(endpoint_url="http://moto")  # ... and the answer is lost

    def build(self: AwsClient, retrying: bool = True) -> Any:
        client = real_build(self, retrying)
        return client if retrying else LosesResponses(client)

    monkeypatch.setattr(AwsClient, "_build", build)
    with pytest.raises(StoreUnavailable) as info:
        await ddb.write("lost.json", b"2", v1)
    assert isinstance(info.value.cause, ReadTimeoutError)
    got = await ddb.read("lost.json")
    assert got is not None and got.data == b"2"  # it did land: "conflict" would have been a lie


async def test_a_write_that_never_left_is_repeated(ddb: DynamoDBStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import EndpointConnectionError

    from durable_xstate.stores._aws import AwsClient

    real_build = AwsClient._build
    refusals = {"n": 2}

    class RefusesTwice:
        def __init__(self, client: Any) -> None:
            self.client = client

        def put_item(self, **kwargs: Any) -> Any:
            if refusals["n"]:
                refusals["n"] -= 1
                raise EndpointConnectionError(endpoint_url="http://moto")
            return self.client.put_item(**kwargs)

    def build(self: AwsClient, retrying: bool = True) -> Any:
        client = real_build(self, retrying)
        return client if retrying else RefusesTwice(client)

    monkeypatch.setattr(AwsClient, "_build", build)
    v = await ddb.write("refused.json", b"1")
    got = await ddb.read("refused.json")
    assert got is not None and got.version == v and refusals["n"] == 0


async def test_prefixes_isolate_namespaces(moto_server: str) -> None:
    options = {"endpoint_url": moto_server, "region": REGION}
    a = DynamoDBStore(TABLE, {**options, "prefix": _namespace()})
    b = DynamoDBStore(TABLE, {**options, "prefix": a.prefix + "x"})  # a string prefix of the other
    try:
        await a.write("k.json", b"a")
        await b.write("k.json", b"b")
        assert [k async for k in a.list("")] == ["k.json"]
        assert [k async for k in b.list("")] == ["k.json"]
        got = await a.read("k.json")
        assert got is not None and got.data == b"a"
        la = await a.acquire("k.json", "x", HELD, HELD)
        assert not await b.is_locked("k.json")
        await a.release(la)
    finally:
        await a.close()
        await b.close()


async def test_listing_pages_resume_in_the_middle_of_a_scan_page(ddb: DynamoDBStore) -> None:
    keys = {f"p/{i:03d}" for i in range(40)}
    for k in keys:
        await ddb.write(k, b"")
    seen: list[str] = []
    cursor = None
    while True:
        page = await ddb.list_page("p/", cursor, 7)
        assert len(page.keys) <= 7
        seen += page.keys
        if page.cursor is None:
            break
        cursor = page.cursor
    assert sorted(seen) == sorted(keys)


# ----------------------------------------------------------------------------- locks and fencing


async def test_lock_items_are_compatible_with_the_original_and_the_fence_survives(moto_server: str, ddb: DynamoDBStore) -> None:
    raw = _raw(moto_server)
    lease = await ddb.acquire("job.json", "worker-1", HELD, HELD)
    lock_id = f"{ddb.prefix}/job.json"
    item = raw.get_item(TableName=LOCKS, Key={"id": {"S": lock_id}}, ConsistentRead=True)["Item"]
    assert item["owner"] == {"S": "worker-1"} and item["token"] == {"N": str(lease.token)}
    assert abs(float(item["expireAt"]["N"]) - lease.expires_at) < 0.01 and "createdAt" in item
    fence = raw.get_item(TableName=LOCKS, Key={"id": {"S": f".fence/{lock_id}"}}, ConsistentRead=True)["Item"]
    assert fence == {"id": {"S": f".fence/{lock_id}"}, "token": {"N": str(lease.token)}}  # no expireAt: no TTL
    ttl = raw.describe_time_to_live(TableName=LOCKS)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expireAt" and ttl["TimeToLiveStatus"] == "ENABLED"
    await ddb.release(lease)
    assert "Item" not in raw.get_item(TableName=LOCKS, Key={"id": {"S": lock_id}}, ConsistentRead=True)
    # TTL (or anyone) deleting a lease item cannot reset the counter: it lives in the fence
    again = await ddb.acquire("job.json", "worker-2", HELD, HELD)
    raw.delete_item(TableName=LOCKS, Key={"id": {"S": lock_id}})
    third = await ddb.acquire("job.json", "worker-3", HELD, HELD)
    assert lease.token < again.token < third.token
    with pytest.raises(LeaseLost):
        await ddb.write("job.json", b"x", lease=again)
    await ddb.write("job.json", b"x", lease=third)


async def test_a_lock_item_of_the_original_blocks_until_its_expiry(moto_server: str, ddb: DynamoDBStore) -> None:
    """A lock item written by the original (no owner, no token) blocks while its ``expireAt`` is ahead, and
    is free to take at once when it is behind, though still there (TTL deletes lazily). The item's expiry
    is set far in the future, then far in the past: the test does not race the clock."""
    raw = _raw(moto_server)
    lock_id = f"{ddb.prefix}/theirs.json"
    now = time.time()
    raw.put_item(TableName=LOCKS, Item={"id": {"S": lock_id}, "createdAt": {"N": str(int(now))}, "expireAt": {"N": f"{now + HELD:.3f}"}})
    assert await ddb.is_locked("theirs.json")
    assert await ddb.try_acquire("theirs.json", "me", HELD) is None
    raw.put_item(TableName=LOCKS, Item={"id": {"S": lock_id}, "createdAt": {"N": str(int(now))}, "expireAt": {"N": f"{now - HELD:.3f}"}})
    assert not await ddb.is_locked("theirs.json")  # expired but not deleted: free to take at once
    lease = await ddb.acquire("theirs.json", "me", HELD, HELD)
    assert lease.token == 1
    await ddb.release(lease)


async def test_stale_write_is_rejected_by_dynamodb_itself(ddb: DynamoDBStore) -> None:
    """The store is used directly (no LockableStorage check before it): the ConditionCheck on the fence
    inside the transaction is what refuses the stale lease, and nothing is written."""
    assert ddb.fences_writes
    v = await ddb.write("f.json", b"0")
    old = await ddb.acquire("f.json", "slow", 0.3, HELD)
    v_old = await ddb.write("f.json", b"by-old", v, lease=old)
    await asyncio.sleep(0.45)
    new = await ddb.acquire("f.json", "fast", HELD, HELD)
    with pytest.raises(LeaseLost):
        await ddb.write("f.json", b"stale", v_old, lease=old)
    with pytest.raises(LeaseLost):  # a stale lease AND a wrong version: the lease is reported first
        await ddb.write("f.json", b"stale", "12345", lease=old)
    with pytest.raises(LeaseLost):
        await ddb.delete("f.json", lease=old)
    got = await ddb.read("f.json")
    assert got is not None and got.data == b"by-old" and got.version == v_old
    with pytest.raises(WriteConflict) as info:  # a current lease with a wrong version: a conflict
        await ddb.write("f.json", b"x", v, lease=new)
    assert info.value.found == v_old
    with pytest.raises(WriteConflict):
        await ddb.delete("f.json", v, lease=new)
    await ddb.delete("f.json", v_old, lease=new)
    with pytest.raises(LeaseLost):  # a lease for another key
        await ddb.write("other.json", b"x", lease=new)
    await ddb.release(new)


async def test_an_expired_lease_that_nobody_took_still_fences_like_memory(ddb: DynamoDBStore) -> None:
    lease = await ddb.acquire("e.json", "me", 0.2, 1)
    await asyncio.sleep(0.3)
    await ddb.write("e.json", b"still the newest token", lease=lease)  # as memory: only a newer token fences
    with pytest.raises(LeaseLost, match="expired"):
        await ddb.renew(lease)
    with pytest.raises(LeaseLost, match="expired"):
        await ddb.check(lease)
    await ddb.release(lease)  # as memory: the owner may still give it back


async def test_racing_acquires_grant_exactly_one_lease(ddb: DynamoDBStore) -> None:
    last = 0
    for round_ in range(15):
        key = f"race-{round_ % 3}.json"
        results = await asyncio.gather(*(ddb.try_acquire(key, f"w{i}", HELD) for i in range(8)))
        leases = [r for r in results if r is not None]
        assert len(leases) == 1, f"round {round_}: {len(leases)} leases"
        await ddb.release(leases[0])
        if round_ % 3 == 0:
            assert leases[0].token > last
            last = leases[0].token


async def test_racing_conditional_writes_have_exactly_one_winner(ddb: DynamoDBStore) -> None:
    version = await ddb.write("cas.json", b"0")
    for round_ in range(25):

        async def attempt(writer: int, expected: str = version, n: int = round_) -> str | None:
            try:
                return await ddb.write("cas.json", f"{n}:{writer}".encode(), expected)
            except WriteConflict:
                return None

        winners = [r for r in await asyncio.gather(*(attempt(w) for w in range(8))) if r is not None]
        assert len(winners) == 1, f"round {round_}: {len(winners)} winners"
        version = winners[0]


# ----------------------------------------------------------------------------- tables, URLs, faults


async def test_create_tables_option_makes_both_tables(moto_server: str) -> None:
    table = f"dx-{uuid.uuid4().hex[:10]}"
    store = open_store(f"dynamodb://{table}?endpoint_url={moto_server}&region={REGION}&create_tables=1")
    try:
        v = await store.write("k.json", b"1")
        lease = await store.acquire("k.json", "me", HELD, HELD)
        await store.write("k.json", b"2", v, lease=lease)
        await store.release(lease)
    finally:
        await store.close()
    raw = _raw(moto_server)
    assert raw.describe_table(TableName=table)["Table"]["KeySchema"] == [{"AttributeName": "path", "KeyType": "HASH"}]
    assert raw.describe_table(TableName=f"{table}-locks")["Table"]["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]


async def test_a_missing_table_is_unavailable_not_absent_nor_busy(moto_server: str) -> None:
    store = DynamoDBStore("no-such-table", {"endpoint_url": moto_server, "region": REGION})
    try:
        with pytest.raises(StoreUnavailable):
            await store.read("x.json")
        with pytest.raises(StoreUnavailable):
            await store.write("x.json", b"1")
        with pytest.raises(StoreUnavailable):
            await store.acquire("x.json", "me", HELD, 0.2)
        with pytest.raises(StoreUnavailable):
            await store.is_locked("x.json")
    finally:
        await store.close()


def test_urls_are_checked_when_opened() -> None:
    with pytest.raises(ValueError, match="unknown dynamodb URL option"):
        open_store("dynamodb://table?prefx=a")
    with pytest.raises(ValueError, match="table name"):
        open_store("dynamodb://t!")
    with pytest.raises(ValueError, match="names a table only"):
        open_store("dynamodb://table/extra")
    with pytest.raises(InvalidKey):
        open_store("dynamodb://table?prefix=../x")
    store = open_store("dynamodb://table?region=us-east-1&locks_table=my-locks")
    assert store.storage is store.lock and store.fenced_atomically
    assert isinstance(store.storage, DynamoDBStore) and store.storage.locks_table == "my-locks"


async def test_transaction_conflicts_are_contention_not_faults(ddb: DynamoDBStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A single-item write colliding with a transaction in flight gets TransactionConflictException
    (moto, serving one request at a time, never sends it, so it is injected here): it is retried,
    then reported as contention (WriteConflict / LeaseLost), never as StoreUnavailable."""
    from botocore.exceptions import ClientError

    from durable_xstate.stores._aws import AwsClient

    v = await ddb.write("c.json", b"1")
    lease = await ddb.acquire("c.json", "me", HELD, HELD)
    real_call = AwsClient.call
    failures = {"n": 0}

    async def flaky(self: AwsClient, operation: str, method: str, /, **kwargs: Any) -> Any:
        if method in {"put_item", "delete_item", "update_item"} and failures["n"] > 0:
            failures["n"] -= 1
            raise ClientError({"Error": {"Code": "TransactionConflictException", "Message": "busy"}}, method)
        return await real_call(self, operation, method, **kwargs)

    monkeypatch.setattr(AwsClient, "call", flaky)
    failures["n"] = 2  # transient: retried, then it goes through
    v2 = await ddb.write("c.json", b"2", v)
    failures["n"] = 100  # persistent
    with pytest.raises(WriteConflict) as info:
        await ddb.write("c.json", b"3", v2)
    assert info.value.found == v2
    with pytest.raises(WriteConflict):
        await ddb.delete("c.json", v2)
    with pytest.raises(LeaseLost, match="busy"):
        await ddb.renew(lease)
    with pytest.raises(LeaseLost):
        await ddb.release(lease)
    failures["n"] = 0
    await ddb.release(lease)


# ----------------------------------------------------------------------------- the index (issue 13)


async def test_the_entry_lives_in_the_item_and_goes_with_a_write_without_one(moto_server: str, ddb: DynamoDBStore) -> None:
    raw = _raw(moto_server)
    path = f"{ddb.prefix}/k.json"
    v = await ddb.write("k.json", b"1", index=IndexEntry(5.0, {"status": "active", "state": "a"}))
    item = raw.get_item(TableName=TABLE, Key={"path": {"S": path}}, ConsistentRead=True)["Item"]
    assert {"xe", "xp", "xd", "xs", "xt"} <= item.keys() and "xm" not in item
    assert item["xd"]["S"].endswith("k.json") and item["xs"]["S"].endswith("=active") and item["xk"]["S"] == "k.json"
    await ddb.write("k.json", b"2", v)
    item = raw.get_item(TableName=TABLE, Key={"path": {"S": path}}, ConsistentRead=True)["Item"]
    assert not {"xe", "xp", "xd", "xk", "xm", "xs", "xt"} & item.keys()


async def test_a_long_label_value_is_found_by_its_hash_and_not_confused(ddb: DynamoDBStore) -> None:
    long_a, long_b = "a" * 600, "a" * 599 + "b"
    await ddb.write("a.json", b"x", index=IndexEntry(None, {"state": long_a}))
    await ddb.write("b.json", b"x", index=IndexEntry(None, {"state": long_b}))
    assert (await ddb.find_page("", {"state": long_a})).keys == ["a.json"]
    assert (await ddb.find_page("", {"state": long_b})).keys == ["b.json"]
    assert (await ddb.find_page("", {})).keys == ["a.json", "b.json"]
    await ddb.write("c.json", b"x", index=IndexEntry(None, {"state": "\ud800"}))  # a lone surrogate: hashed too
    assert (await ddb.find_page("", {"state": "\ud800"})).keys == ["c.json"]


async def test_an_old_table_gets_its_indexes_on_open_and_keeps_its_data(moto_server: str) -> None:
    # a storage table made before issue 13: the hash key only, no secondary index
    raw = _raw(moto_server)
    table = f"dx-old-{uuid.uuid4().hex[:8]}"
    raw.create_table(
        TableName=table, KeySchema=[{"AttributeName": "path", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "path", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    raw.put_item(TableName=table, Item={"path": {"S": "old.json"}, "data": {"S": "kept"}, "version": {"N": "42"}})
    store = open_store(f"dynamodb://{table}?endpoint_url={moto_server}&region={REGION}&create_tables=1")
    try:
        got = await store.read("old.json")
        assert got is not None and got.data == b"kept" and got.version == "42"
        indexes = {g["IndexName"] for g in raw.describe_table(TableName=table)["Table"]["GlobalSecondaryIndexes"]}
        assert indexes == {"due", *INDEX_LABELS}
        assert (await store.due_page("", math.inf)).keys == []  # no entry until written again
        await store.write("old.json", b"new", "42", index=IndexEntry(1.0, {"status": "active"}))
        assert (await store.due_page("", 2.0)).keys == ["old.json"]
        assert (await store.find_page("", {"status": "active"})).keys == ["old.json"]
    finally:
        await store.close()


async def test_a_table_without_the_indexes_is_a_fault_naming_it(moto_server: str) -> None:
    raw = _raw(moto_server)
    table = f"dx-noidx-{uuid.uuid4().hex[:8]}"
    raw.create_table(
        TableName=table, KeySchema=[{"AttributeName": "path", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "path", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    store = DynamoDBStore(table, {"endpoint_url": moto_server, "region": REGION})
    try:
        await store.write("k.json", b"x", index=IndexEntry(1.0, {"status": "active"}))  # writes work
        with pytest.raises(StoreUnavailable) as info:
            await store.due_page("", 2.0)
        assert "index" in str(info.value).lower()
    finally:
        await store.close()


def test_index_shards_are_checked() -> None:
    for bad in ("0", "65", "x", "-1"):
        with pytest.raises(ValueError, match="index_shards"):
            DynamoDBStore(TABLE, {"index_shards": bad})


_keys = st.sampled_from(["a.json", "b/c.json", "b/d.json", "\u00e9.json", "b\U0010ffff.json", "z*[x].json", "b"])
_labels = st.fixed_dictionaries({}, optional={
    "machine": st.sampled_from(["m", "m=x"]),
    "status": st.sampled_from(["active", "done"]),
    "state": st.sampled_from(["a", "", "a" * 513]),
})
_entries = st.one_of(st.none(), st.builds(
    IndexEntry, st.one_of(st.none(), st.sampled_from([-5.0, -0.0, 0.0, 1.5, 1e13, math.inf, math.nan])), _labels
))
_QUERIES: list[dict[str, str]] = [
    {}, {"status": "active"}, {"machine": "m=x"}, {"state": "a"}, {"state": "", "status": "done"},
    {"machine": "m", "status": "active", "state": "a" * 513},
]


@settings(max_examples=12)
@given(ops=st.lists(st.tuples(st.sampled_from(["write", "write", "write", "delete"]), _keys, _entries), max_size=10),
       limit=st.integers(1, 3), budget=st.sampled_from([2, 5000]), shards=st.sampled_from(["1", "3"]))
def test_the_index_agrees_with_the_reference_store(
    moto_server: str, ops: list[tuple[str, str, IndexEntry | None]], limit: int, budget: int, shards: str
) -> None:
    # every page walk, however small the page, the scan budget or the number of shards, gives what the
    # memory store gives
    async def run() -> None:
        store = DynamoDBStore(
            TABLE, {"endpoint_url": moto_server, "region": REGION, "prefix": _namespace(), "index_shards": shards}
        )
        reference = MemoryStore()
        try:
            for op, key, ent in ops:
                for s in (store, reference):
                    if op == "write":
                        current = await s.read(key)
                        await s.write(key, b"v", current.version if current else None, index=ent)
                    else:
                        await s.delete(key)
            with patch("durable_xstate.stores.dynamodb.SCAN_BUDGET", budget):
                for prefix in ("", "b/", "b"):
                    for until in (-1.0, 0.0, 1e15, math.inf):
                        due = [await _walk(s, "due", prefix, until, limit) for s in (store, reference)]
                        assert due[0] == due[1], (prefix, until)
                    for query in _QUERIES:
                        found = [await _walk(s, "find", prefix, query, limit) for s in (store, reference)]
                        assert found[0] == found[1], (prefix, query)
        finally:
            await store.close()

    asyncio.run(run())


async def _walk(store: Storage, kind: str, prefix: str, what: Any, limit: int) -> list[str]:
    keys: list[str] = []
    cursor: str | None = None
    for _ in range(200):
        if kind == "due":
            page = await store.due_page(prefix, what, cursor, limit)
        else:
            page = await store.find_page(prefix, what, cursor, limit)
        assert len(page.keys) <= limit
        keys += page.keys
        if page.cursor is None:
            return keys
        cursor = page.cursor
    raise AssertionError("the walk never ended")
