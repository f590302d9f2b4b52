"""DynamoDB storage and lock in one class, with fencing enforced atomically by DynamoDB.

``dynamodb://table?endpoint_url=http://127.0.0.1:5000&region=us-east-1&prefix=tenant-a``

Storage table ``<table>`` (hash key ``path`` S), one item per key, the original's shape plus a version::

    {path: "<prefix>/<key>", data: S (the bytes, when they are UTF-8) | B (otherwise),
     updatedAt: N (epoch seconds), version: N,
     xe: N 1, xp: "<shard>#<prefix>", xd: "<due as 16 sortable hex digits><key>", xk: "<key>",
     xm / xs / xt: "<shard>:<prefix bytes>:<prefix>=<label value>" (or "#<sha256>" for a long value)}

The index entry lives in the value's own item, so the one ``PutItem`` (or the transaction) that writes
the value writes its entry, and a delete takes it with it. Sparse global secondary indexes make
``due_page`` and ``find_page`` queries: ``due`` (``xp``, ``xd``) and ``machine`` / ``status`` /
``state`` (``xm`` / ``xs`` / ``xt``, ``xk``), each spread over ``index_shards`` partitions (default 4)
that a listing queries and merges. See docs/decisions/0008-index-redis-dynamodb.md.

Lock table ``<table>-locks`` (hash key ``id`` S, TTL attribute ``expireAt``), compatible with the original's
``DynamoLockingManager`` table. Two kinds of item:

* the lease ``{id: "<prefix>/<key>", owner, token: N, createdAt: N, expireAt: N}`` (``expireAt`` in epoch
  seconds with a millisecond fraction), deleted on release and free to take once ``expireAt`` has
  passed: it is put with ``attribute_not_exists(id) OR expireAt < :now``;
* the fence ``{id: ".fence/<prefix>/<key>", token: N}``, which has no ``expireAt`` (so TTL never deletes
  it) and is never deleted: the newest fencing token ever issued for the key. Validated keys never start
  with ``.``, so no key's lease id can collide with a fence id.

Acquiring writes both in one ``TransactWriteItems`` (the fence moves from t to t+1 on condition that it
is still t, the lease is put on condition that it is free), so tokens strictly increase across all
holders and survive release, expiry and TTL. A write or delete carrying a lease is a
``TransactWriteItems`` of a ``ConditionCheck`` (fence token = lease token) and the conditional
``Put``/``Delete``: a stale lease is rejected atomically with the write (``fences_writes = True``).

Versions are random 63-bit numbers chosen by the writer, so a version read before a delete never matches
a re-created item. An item written by the original has no version attribute: its version is
``foreign-<hash of its data>`` (as for the file store's header-less files), and a compare-and-set against
it re-reads the item and puts on condition that ``data`` is still what was read (``import``).

Conditional single-item writes are sent once (see ``_aws.AwsClient``): a write whose response is lost
is StoreUnavailable (outcome unknown), never a WriteConflict against itself. Transactions carry an
idempotency token and are retried by botocore.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import re
import secrets
import struct
import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import SplitResult

from ..errors import (
    CorruptValue,
    InvalidArgument,
    InvalidKey,
    LeaseLost,
    StoreConfigError,
    StoreUnavailable,
    ValueTooLarge,
    WriteConflict,
)
from ._aws import AwsClient, ClientError, check_options, error_code, error_message, flag
from .base import (
    INDEX_LABELS,
    IndexEntry,
    Lease,
    Lock,
    Page,
    Storage,
    Versioned,
    check_labels,
    check_lease_key,
    check_limit,
    check_size,
    due_cursor,
    foreign_version,
    parse_due_cursor,
    validate_key,
    validate_prefix,
)

__all__ = ["ITEM_BUDGET_BYTES", "MAX_INDEXED_KEY_BYTES", "DynamoDBStore", "from_url", "max_value_bytes_for_prefix"]

#: DynamoDB's item limit is "400 KB". Counted as 400,000 bytes it is safe whether AWS means 409,600
#: (it does: names + values, see docs/stores/dynamodb.md) and it stays under moto's own 405,000.
ITEM_BUDGET_BYTES = 400_000
#: The largest key (validate_key allows 1024 bytes of UTF-8) and the largest number DynamoDB stores.
_MAX_KEY_BYTES = 1024
_MAX_NUMBER_BYTES = 21
_NAMES = ("path", "data", "updatedAt", "version")
#: the index entry's attributes (xe: has an entry; xp/xd: due partition and sort key; labels)
_ENTRY_NAMES = ("xe", "xp", "xd", "xk", "xm", "xs", "xt")
#: a sort key is at most 1024 bytes: ``xd`` is 16 digits and the key, so an indexed key is at most this
MAX_INDEXED_KEY_BYTES = 1024 - 16
_LABEL_ATTRS = dict(zip(INDEX_LABELS, ("xm", "xs", "xt"), strict=True))
_DUE_INDEX = "due"
#: a label value longer than this (UTF-8 bytes) is stored as its SHA-256: index keys are small
_LABEL_MAX_BYTES = 512
_MAX_SHARDS = 64
#: at most this many index items are looked at by one due_page / find_page call (all shards together);
#: past it the page comes back short, with a cursor to go on from
SCAN_BUDGET = 5000

_TABLE_RE = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_VERSION_RE = re.compile(r"[1-9][0-9]{0,37}")
_FENCE = ".fence/"
_FOREIGN_VERSION = "foreign-"
_OWN_OPTIONS = frozenset({"prefix", "locks_table", "create_tables", "index_shards"})

_TXN_CONFLICT = frozenset({"TransactionConflictException"})
_CONFLICT_RETRIES = 4
_CONDITION = frozenset({"ConditionalCheckFailedException"}) | _TXN_CONFLICT
_CANCELLED = frozenset({"TransactionCanceledException"})
_CONDITION_OR_SIZE = _CONDITION | {"ValidationException"}
_CANCELLED_OR_SIZE = frozenset({"TransactionCanceledException", "ValidationException"})


def max_value_bytes_for_prefix(prefix: str) -> int:
    """The largest ``data`` that fits one item whatever the key and its index entry: the budget minus the
    attribute names, the longest possible ``path`` (prefix, '/', a 1024-byte key), three numbers at
    DynamoDB's maximum and the longest index entry (its shard, prefix, due and key, three labels)."""
    prefix_bytes = len(prefix.encode("utf-8"))
    path_bytes = (prefix_bytes + 1 if prefix else 0) + _MAX_KEY_BYTES
    shard = len(str(_MAX_SHARDS - 1))
    label_part = shard + 1 + len(str(prefix_bytes)) + 1 + prefix_bytes + 1 + _LABEL_MAX_BYTES
    entry_bytes = (shard + 1 + prefix_bytes) + (16 + MAX_INDEXED_KEY_BYTES) + MAX_INDEXED_KEY_BYTES + 3 * label_part
    names = sum(len(n) for n in _NAMES) + sum(len(n) for n in _ENTRY_NAMES)
    overhead = names + path_bytes + 3 * _MAX_NUMBER_BYTES + entry_bytes
    return ITEM_BUDGET_BYTES - overhead


def _sortable_due(due: float) -> str:
    """16 hex digits whose order is the numeric order of ``due`` (the IEEE 754 bits, sign-flipped)."""
    bits: int = struct.unpack(">Q", struct.pack(">d", due + 0.0))[0]  # + 0.0: -0.0 is 0.0
    bits = bits ^ 0xFFFF_FFFF_FFFF_FFFF if bits >> 63 else bits | 1 << 63
    return f"{bits:016x}"


def _due_of(digits: str) -> float:
    bits = int(digits, 16)
    bits = bits ^ 1 << 63 if bits >> 63 else bits ^ 0xFFFF_FFFF_FFFF_FFFF
    value: float = struct.unpack(">d", struct.pack(">Q", bits))[0]
    return value


def _is_text(value: str, raw: bytes) -> bool:
    """Short and valid Unicode (a lone surrogate cannot be sent as a DynamoDB string: it is hashed)."""
    if len(raw) > _LABEL_MAX_BYTES:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _label_part(shard: int, prefix: str, value: str) -> str:
    """A label index partition: the shard, the store prefix (its length first, so it cannot run into the
    value), then ``=`` and the value, or ``#`` and the SHA-256 of a value too long for an index key."""
    raw = value.encode("utf-8", "surrogatepass")
    head = f"{shard}:{len(prefix.encode())}:{prefix}"
    if (len(raw) <= _LABEL_MAX_BYTES and value.isascii()) or _is_text(value, raw):
        return f"{head}={value}"
    return f"{head}#{hashlib.sha256(raw).hexdigest()}"


def _encode(data: bytes) -> dict[str, Any]:
    raw = bytes(data)
    try:
        return {"S": raw.decode("utf-8")}  # the original stored strings: keep text readable by it
    except UnicodeDecodeError:
        return {"B": raw}


def _decode(attr: dict[str, Any] | None, key: str) -> bytes:
    if attr is None:
        return b""
    if "S" in attr:
        return str(attr["S"]).encode("utf-8")
    if "B" in attr:
        return bytes(attr["B"])
    raise CorruptValue(key, f"its 'data' attribute is of DynamoDB type {sorted(attr)}, not S or B")


def _version_of(item: dict[str, Any] | None) -> str | None:
    if not item:
        return None
    version = item.get("version")
    if version is None:  # written by the original (or another tool): versioned by its content
        data = item.get("data")
        if data is None or "S" in data or "B" in data:
            return foreign_version(_decode(data, ""))
        return foreign_version(repr(sorted(data.items())).encode())
    return str(version["N"])


def _codes(err: ClientError) -> list[str]:
    return [str(r.get("Code", "None")) for r in err.response.get("CancellationReasons", [])]


def _is_size_error(err: ClientError) -> bool:
    return error_code(err) == "ValidationException" and "size" in error_message(err).lower()


class DynamoDBStore(Storage, Lock):
    """Storage table + lock table; fenced writes are transactions (``fences_writes = True``)."""

    backend = "dynamodb"
    fences_writes = True
    indexes = True

    def __init__(self, table: str, options: dict[str, str] | None = None) -> None:
        options = dict(options or {})
        check_options("dynamodb", options, _OWN_OPTIONS)
        prefix = options.pop("prefix", "")
        if prefix.endswith("/"):
            prefix = prefix[:-1]
        if prefix:
            validate_key(prefix)
            if len(prefix.encode("utf-8")) > 512:
                raise StoreConfigError("the DynamoDB key prefix may be at most 512 bytes")
        self.prefix = prefix
        self.table = table
        self.locks_table = options.pop("locks_table", f"{table}-locks")
        for name in (self.table, self.locks_table):
            if not _TABLE_RE.fullmatch(name):
                raise StoreConfigError(f"invalid DynamoDB table name {name!r}")
        if self.locks_table == self.table:
            raise StoreConfigError("the lock table must differ from the storage table")
        shards = options.pop("index_shards", "4")
        if not shards.isdigit() or not 1 <= int(shards) <= _MAX_SHARDS:
            raise StoreConfigError(f"index_shards must be a whole number from 1 to {_MAX_SHARDS}, got {shards!r}")
        self.index_shards = int(shards)
        self._create_tables = flag(options.pop("create_tables", None))
        self._tables_checked = not self._create_tables
        self.max_value_bytes = max_value_bytes_for_prefix(prefix)
        self._aws = AwsClient(self.backend, "dynamodb", options)

    # ------------------------------------------------------------------ helpers
    def _path(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fence_id(self, key: str) -> str:
        return _FENCE + self._path(key)

    def _strip(self, path: str) -> str | None:
        if not self.prefix:
            return path
        head = self.prefix + "/"
        return path[len(head) :] if path.startswith(head) else None

    async def _ready(self) -> None:
        if not self._tables_checked:
            await self.ensure_tables()

    async def _call(
        self, operation: str, method: str, /, *, expected: frozenset[str] = frozenset(), once: bool = False, **kwargs: Any
    ) -> Any:
        """One request. A single-item write that collides with a transaction in flight on the same item
        (``TransactionConflictException``, which botocore does not retry) is contention: it is retried
        a few times with jittered backoff, then re-raised when the caller expects it (and maps it to
        WriteConflict or LeaseLost), else reported as StoreUnavailable."""
        await self._ready()
        for attempt in range(_CONFLICT_RETRIES + 1):
            try:
                return await self._aws.call(operation, method, expected=expected | _TXN_CONFLICT, once=once, **kwargs)
            except ClientError as err:
                if error_code(err) not in _TXN_CONFLICT:
                    raise
                if attempt == _CONFLICT_RETRIES:
                    if expected & _TXN_CONFLICT:
                        raise
                    raise _unavailable(operation, err) from err
            await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def ensure_tables(self) -> None:
        """Create the storage and lock tables if missing (on-demand billing), wait until they are
        active, and turn on TTL (``expireAt``) for the lock table. Idempotent; for tests and the CLI."""

        def run() -> None:
            client = self._aws.client()
            for name, hash_key in ((self.table, "path"), (self.locks_table, "id")):
                extra: dict[str, Any] = {}
                definitions = [hash_key]
                if name == self.table:
                    extra["GlobalSecondaryIndexes"] = [index for _, index in _INDEXES]
                    definitions += ["xp", "xd", "xk", *_LABEL_ATTRS.values()]
                try:
                    client.create_table(
                        TableName=name,
                        KeySchema=[{"AttributeName": hash_key, "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in definitions],
                        BillingMode="PAY_PER_REQUEST",
                        **extra,
                    )
                except ClientError as err:
                    if error_code(err) != "ResourceInUseException":
                        raise
            for name in (self.table, self.locks_table):
                client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
            _add_missing_indexes(client, self.table)
            try:
                client.update_time_to_live(
                    TableName=self.locks_table,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": "expireAt"},
                )
            except ClientError as err:  # "TimeToLive is already enabled"
                if error_code(err) != "ValidationException":
                    raise

        await self._aws.run("ensure_tables", run)
        self._tables_checked = True

    def _storage_item(self, path: str, data: bytes, version: int, index: IndexEntry | None = None) -> dict[str, Any]:
        item = {
            "path": {"S": path},
            "data": _encode(data),
            "updatedAt": {"N": str(int(time.time()))},
            "version": {"N": str(version)},
        }
        if index is not None:
            shard = self._shard(path)
            key = path[len(self._head) :]
            item["xe"] = {"N": "1"}
            item["xk"] = {"S": key}
            due = index.due
            if due is not None and not math.isnan(due):
                item["xp"] = {"S": self._due_part(shard)}
                item["xd"] = {"S": _sortable_due(due) + key}
            for name, attr in _LABEL_ATTRS.items():
                value = index.labels.get(name)
                if value is not None:
                    item[attr] = {"S": _label_part(shard, self.prefix, value)}
        return item

    @property
    def _head(self) -> str:
        """What a path starts with before the key."""
        return f"{self.prefix}/" if self.prefix else ""

    def _shard(self, path: str) -> int:
        return zlib.crc32(path.encode("utf-8", "surrogatepass")) % self.index_shards

    def _due_part(self, shard: int) -> str:
        return f"{shard}#{self.prefix}"

    @staticmethod
    def _new_version(expected: str | None) -> int:
        while True:
            version = secrets.randbits(63)
            if version and str(version) != expected:
                return version

    @staticmethod
    def _version_condition(expected: str | None) -> tuple[str, dict[str, str], dict[str, Any]]:
        """The condition expression for "the current version is ``expected``"."""
        if expected is None:
            return "attribute_not_exists(#p)", {"#p": "path"}, {}
        if _VERSION_RE.fullmatch(expected):
            return "#v = :v", {"#v": "version"}, {":v": {"N": expected}}
        # not a version this backend writes: compare with a string, which never equals a number
        return "#v = :v", {"#v": "version"}, {":v": {"S": expected[:256]}}

    def _fence_check(self, lease: Lease) -> dict[str, Any]:
        return {
            "ConditionCheck": {
                "TableName": self.locks_table,
                "Key": {"id": {"S": self._fence_id(lease.key)}},
                "ConditionExpression": "#t = :t",
                "ExpressionAttributeNames": {"#t": "token"},
                "ExpressionAttributeValues": {":t": {"N": str(lease.token)}},
            }
        }

    async def _condition(self, key: str, path: str, expected: str | None, operation: str) -> tuple[str, dict[str, str], dict[str, Any]]:
        """The condition for "the current version is ``expected``". For a foreign version (an item without
        a version attribute) the item is read again: WriteConflict unless its data still hashes to
        ``expected``, else the condition that ``data`` is unchanged when the write lands."""
        if expected is None or not expected.startswith(_FOREIGN_VERSION):
            return self._version_condition(expected)
        got = await self._call(operation, "get_item", TableName=self.table, Key={"path": {"S": path}}, ConsistentRead=True)
        item = got.get("Item")
        found = _version_of(item)
        if found != expected or item is None:
            raise WriteConflict(key, expected, found)
        names = {"#p": "path", "#v": "version", "#d": "data"}
        if "data" not in item:
            return "attribute_exists(#p) AND attribute_not_exists(#v) AND attribute_not_exists(#d)", names, {}
        return "attribute_exists(#p) AND attribute_not_exists(#v) AND #d = :d", names, {":d": item["data"]}

    async def _current_version(self, path: str, operation: str) -> str | None:
        got = await self._call(
            operation,
            "get_item",
            TableName=self.table,
            Key={"path": {"S": path}},
            ConsistentRead=True,
            ProjectionExpression="#p, #v, #d",  # the data: the version of an item without one
            ExpressionAttributeNames={"#p": "path", "#v": "version", "#d": "data"},
        )
        return _version_of(got.get("Item"))

    async def _transact(
        self, operation: str, key: str, items: list[dict[str, Any]], lease: Lease
    ) -> list[dict[str, Any]] | None:
        """Run a fenced transaction (the fence check first). None on success; LeaseLost for a stale fence;
        else the cancellation reasons of a failed condition. A transaction conflict (a concurrent
        transaction on the same item) is retried briefly, then reported like a failed condition."""
        for attempt in range(5):
            try:
                await self._call(operation, "transact_write_items", expected=_CANCELLED_OR_SIZE, TransactItems=items)
                return None
            except ClientError as err:
                if error_code(err) == "ValidationException":
                    raise
                reasons: list[dict[str, Any]] = list(err.response.get("CancellationReasons", []))
            codes = [str(r.get("Code", "None")) for r in reasons]
            if codes and codes[0] == "ConditionalCheckFailed":
                raise LeaseLost(key, f"fencing token {lease.token} is stale (a newer lease was granted)")
            if "ConditionalCheckFailed" in codes:
                return reasons
            if "TransactionConflict" not in codes:
                raise _unavailable(operation, codes)
            if attempt < 4:
                await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))
        return reasons

    @staticmethod
    def _found_in(reasons: list[dict[str, Any]]) -> tuple[bool, str | None]:
        """(True, version) when the storage operation's condition failed and DynamoDB returned the item."""
        if len(reasons) > 1 and reasons[1].get("Code") == "ConditionalCheckFailed":
            return True, _version_of(reasons[1].get("Item"))
        return False, None

    # ------------------------------------------------------------------ storage
    async def read(self, key: str) -> Versioned | None:
        path = self._path(key)
        got = await self._call("read", "get_item", TableName=self.table, Key={"path": {"S": path}}, ConsistentRead=True)
        item = got.get("Item")
        if not item:
            return None
        version = _version_of(item)
        assert version is not None
        return Versioned(_decode(item.get("data"), key), version)

    async def exists(self, key: str) -> bool:
        return await self._current_version(self._path(key), "exists") is not None

    async def write(
        self,
        key: str,
        data: bytes,
        expected_version: str | None = None,
        *,
        lease: Lease | None = None,
        index: IndexEntry | None = None,
    ) -> str:
        path = self._path(key)
        check_size(key, data, self.max_value_bytes)
        if index is not None:
            check_labels(index.labels)
            if len(key.encode()) > MAX_INDEXED_KEY_BYTES:
                raise InvalidKey(
                    key, f"a key with an index entry may be at most {MAX_INDEXED_KEY_BYTES} bytes on DynamoDB "
                    "(an index sort key holds at most 1024 bytes); nothing was written",
                )
        if lease is not None:
            check_lease_key(lease, key)
        version = self._new_version(expected_version)
        condition, names, values = await self._condition(key, path, expected_version, "write")
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": self._storage_item(path, data, version, index),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if values:
            put["ExpressionAttributeValues"] = values
        try:
            if lease is None:
                try:
                    await self._call("write", "put_item", expected=_CONDITION_OR_SIZE, once=True, **put)
                    return str(version)
                except ClientError as err:
                    if error_code(err) == "ValidationException":
                        raise
                    if error_code(err) in _TXN_CONFLICT:
                        found = await self._current_version(path, "write")
                    else:
                        found = _version_of(err.response.get("Item"))
            else:
                reasons = await self._transact("write", key, [self._fence_check(lease), {"Put": put}], lease)
                if reasons is None:
                    return str(version)
                known, found = self._found_in(reasons)
                if not known:
                    found = await self._current_version(path, "write")
        except ClientError as err:
            if _is_size_error(err):  # the server counts otherwise than we do: still the value's size
                raise ValueTooLarge(key, len(data), self.max_value_bytes) from err
            raise _unavailable("write", err) from err
        raise WriteConflict(key, expected_version, found)

    async def delete(self, key: str, expected_version: str | None = None, *, lease: Lease | None = None) -> None:
        path = self._path(key)
        if lease is not None:
            check_lease_key(lease, key)
        request: dict[str, Any] = {"TableName": self.table, "Key": {"path": {"S": path}}}
        if expected_version is not None:
            condition, names, values = await self._condition(key, path, expected_version, "delete")
            request.update(
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            if values:
                request["ExpressionAttributeValues"] = values
        if lease is not None:
            reasons = await self._transact("delete", key, [self._fence_check(lease), {"Delete": request}], lease)
            if reasons is not None:
                known, found = self._found_in(reasons)
                if not known:
                    found = await self._current_version(path, "delete")
                raise WriteConflict(key, expected_version, found)
            return
        try:
            await self._call("delete", "delete_item", expected=_CONDITION, once=expected_version is not None, **request)
        except ClientError as err:
            if error_code(err) in _TXN_CONFLICT:  # kept busy by concurrent transactions
                found = await self._current_version(path, "delete")
            else:
                found = _version_of(err.response.get("Item"))
            raise WriteConflict(key, expected_version, found) from None

    async def list_page(self, prefix: str = "", cursor: str | None = None, limit: int = 1000) -> Page:
        """A Scan filtered on ``begins_with(path, ...)``: it reads the whole table, so it is for tools
        and clean-up, not hot paths. The cursor is the last path returned."""
        validate_prefix(prefix)
        check_limit(limit)
        full_prefix = (f"{self.prefix}/" if self.prefix else "") + prefix
        keys: list[str] = []
        start = cursor
        while True:
            request: dict[str, Any] = {
                "TableName": self.table,
                "ConsistentRead": True,
                "ProjectionExpression": "#p",
                "ExpressionAttributeNames": {"#p": "path"},
                "Limit": 1000,
            }
            if full_prefix:
                request["FilterExpression"] = "begins_with(#p, :pre)"
                request["ExpressionAttributeValues"] = {":pre": {"S": full_prefix}}
            if start is not None:
                request["ExclusiveStartKey"] = {"path": {"S": start}}
            scanned = await self._call("list", "scan", **request)
            items = scanned.get("Items", [])
            more = "LastEvaluatedKey" in scanned
            for i, item in enumerate(items):
                path = str(item["path"]["S"])
                key = self._strip(path)
                if key is None:
                    continue
                try:
                    keys.append(validate_key(key))
                except InvalidKey:
                    continue  # an item this API cannot address (written by another tool): not listed
                if len(keys) == limit:
                    return Page(keys, path if (more or i < len(items) - 1) else None)
            if not more:
                return Page(keys, None)
            start = str(scanned["LastEvaluatedKey"]["path"]["S"])

    # ------------------------------------------------------------------ the index
    async def _walk_shard(
        self, index: str, part: str, sort: tuple[str, str], low: tuple[str, bool] | None, high: str | None,
        take: Callable[[dict[str, Any]], str | None], need: int, budget: int,
    ) -> tuple[list[tuple[str, str]], str | None, int]:
        """Query one shard of ``index`` in sort order from ``low`` (a value, and whether it is excluded)
        to ``high`` (inclusive). ``take(item)`` gives the key of an item that matches, None for one that
        does not, or returns PAST_RANGE past the end of the range. Returns ((sort value, key) of up to ``need`` matches,
        the sort value it stopped at when it stopped early (else None), items looked at)."""
        attr, value_attr = sort
        names = {"#h": _INDEX_HASH[index], "#s": value_attr}
        values: dict[str, Any] = {":h": {"S": part}}
        condition = "#h = :h"
        skip = low[0] if low is not None and low[1] else None
        if low is not None and high is not None:
            if low[0] > high:
                return [], None, 0
            condition += " AND #s BETWEEN :lo AND :hi"
            values.update({":lo": {"S": low[0]}, ":hi": {"S": high}})
        elif low is not None:
            condition += " AND #s >= :lo"
            values[":lo"] = {"S": low[0]}
        elif high is not None:
            condition += " AND #s <= :hi"
            values[":hi"] = {"S": high}
        if "#s" not in condition:
            del names["#s"]  # DynamoDB refuses a name the expressions do not use
        found: list[tuple[str, str]] = []
        seen = 0
        start: dict[str, Any] | None = None
        while True:
            request: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": index,
                "KeyConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
                "Limit": max(1, min(need - len(found) + 16, budget - seen, 1000)),
            }
            if start is not None:
                request["ExclusiveStartKey"] = start
            got = await self._call(attr, "query", **request)
            for item in got.get("Items", []):
                position = str(item[value_attr]["S"])
                if position == skip:
                    continue  # the cursor itself (BETWEEN and >= are inclusive)
                seen += 1
                key = take(item)
                if key == PAST_RANGE:
                    return found, None, seen
                if key is not None:
                    found.append((position, key))
                    if len(found) == need:
                        return found, position, seen
                if seen >= budget:
                    return found, position, seen
            start = got.get("LastEvaluatedKey")
            if start is None:
                return found, None, seen

    async def _merged(
        self, operation: str, index: str, parts: list[str], sort: str, low: tuple[str, bool] | None, high: str | None,
        take: Callable[[dict[str, Any]], str | None], limit: int,
    ) -> tuple[list[tuple[str, str]], str | None]:
        """Up to ``limit`` matches over every shard in sort order, and the sort value to go on from (None:
        nothing is left). Each shard gives its first limit + 1 matches (or stops at its share of the
        budget); only matches up to the lowest place a shard stopped at are sure to be complete."""
        check_limit(limit)
        share = max(1, SCAN_BUDGET // len(parts))
        walks = await asyncio.gather(
            *(self._walk_shard(index, part, (operation, sort), low, high, take, limit + 1, share) for part in parts)
        )
        stops = [stop for _, stop, _ in walks if stop is not None]
        bound = min(stops) if stops else None
        merged = sorted(m for found, _, _ in walks for m in found if bound is None or m[0] <= bound)
        if len(merged) > limit:
            return merged[:limit], merged[limit - 1][0]
        return merged, bound

    async def due_page(self, prefix: str, until: float, cursor: str | None = None, limit: int = 1000) -> Page:
        validate_prefix(prefix)
        after = parse_due_cursor(cursor) if cursor is not None else None
        check_limit(limit)
        if math.isnan(until):
            return Page([], None)
        low = None if after is None else (_sortable_due(after[0]) + after[1], True)
        # every entry due at ``until`` sorts below the next due time's digits (a key is never empty)
        high = None if until == math.inf else _sortable_due(math.nextafter(until, math.inf))
        def take(item: dict[str, Any]) -> str | None:
            key = str(item["xd"]["S"])[16:]
            return key if key.startswith(prefix) else None

        parts = [self._due_part(shard) for shard in range(self.index_shards)]
        found, last = await self._merged("due_page", _DUE_INDEX, parts, "xd", low, high, take, limit)

        def cursor_of(position: str) -> str:
            return due_cursor(_due_of(position[:16]), position[16:])

        return Page([key for _, key in found], None if last is None else cursor_of(last))

    async def find_page(
        self, prefix: str, labels: Mapping[str, str], cursor: str | None = None, limit: int = 1000
    ) -> Page:
        validate_prefix(prefix)
        check_labels(labels)
        check_limit(limit)
        if not labels:
            return await self._find_any(prefix, cursor, limit)
        low: tuple[str, bool] | None = None
        if cursor is not None and cursor >= prefix:
            if not cursor.startswith(prefix):
                return Page([], None)  # past every key with the prefix
            low = (cursor, True)
        elif prefix:
            low = (prefix, False)  # the first key with the prefix, or after it
        # walk the first asked label's index in key order, check the others on the projected item
        first, *rest = sorted(labels)
        head = self._head

        def take(item: dict[str, Any]) -> str | None:
            key = str(item["xk"]["S"])
            if not key.startswith(prefix):
                return PAST_RANGE  # past the prefix (the walk is in key order)
            shard = self._shard(head + key)
            for name in rest:
                if item.get(_LABEL_ATTRS[name], {}).get("S") != _label_part(shard, self.prefix, labels[name]):
                    return None
            return key

        parts = [_label_part(shard, self.prefix, labels[first]) for shard in range(self.index_shards)]
        found, last = await self._merged("find_page", first, parts, "xk", low, None, take, limit)
        return Page([key for _, key in found], last)

    async def _find_any(self, prefix: str, cursor: str | None, limit: int) -> Page:
        """Every key with an entry, in key order: a Scan (like ``list_page``, for tools, not hot paths)."""
        keys: list[str] = []
        after: str | None = None
        while True:
            page = await self.list_page(prefix, after, 1000)
            paths = [self._path(k) for k in page.keys]
            if paths:
                for key, has in zip(page.keys, await self._have_entries(paths), strict=True):
                    if has and (cursor is None or key > cursor):
                        keys.append(key)
            if page.cursor is None:
                break
            after = page.cursor  # list_page's cursor is the last path it read
        keys.sort()
        return Page(keys[:limit], keys[limit - 1] if len(keys) > limit else None)

    async def _have_entries(self, paths: list[str]) -> list[bool]:
        found: set[str] = set()
        for i in range(0, len(paths), 100):
            chunk = paths[i : i + 100]
            request = {self.table: {
                "Keys": [{"path": {"S": p}} for p in chunk], "ProjectionExpression": "#p, xe",
                "ExpressionAttributeNames": {"#p": "path"}, "ConsistentRead": True,
            }}
            while request:
                got = await self._call("find_page", "batch_get_item", RequestItems=request)
                found.update(str(i["path"]["S"]) for i in got.get("Responses", {}).get(self.table, []) if "xe" in i)
                request = got.get("UnprocessedKeys") or {}
        return [p in found for p in paths]

    # ------------------------------------------------------------------ lock
    async def try_acquire(self, key: str, owner: str, lease_seconds: float) -> Lease | None:
        lock_id = self._path(key)
        fence_id = _FENCE + lock_id
        if lease_seconds <= 0:
            raise InvalidArgument(f"lease_seconds must be positive, got {lease_seconds!r}")
        for _ in range(3):
            try:
                got = await self._call(
                    "acquire",
                    "transact_get_items",
                    expected=_CANCELLED,
                    TransactItems=[
                        {"Get": {"TableName": self.locks_table, "Key": {"id": {"S": lock_id}}}},
                        {"Get": {"TableName": self.locks_table, "Key": {"id": {"S": fence_id}}}},
                    ],
                )
            except ClientError as err:
                if "TransactionConflict" in _codes(err):
                    continue  # another acquirer's transaction is in flight on these items
                raise _unavailable("acquire", _codes(err)) from err
            responses = got.get("Responses", [{}, {}])
            held, fence = responses[0].get("Item"), responses[1].get("Item")
            now = time.time()
            if held and _expires(held) > now:
                return None
            current = int(fence["token"]["N"]) if fence and "token" in fence else 0
            token = current + 1
            expires = round(now + lease_seconds, 3)
            fence_update: dict[str, Any] = {
                "TableName": self.locks_table,
                "Key": {"id": {"S": fence_id}},
                "UpdateExpression": "SET #t = :n",
                "ExpressionAttributeNames": {"#t": "token"},
                "ExpressionAttributeValues": {":n": {"N": str(token)}},
            }
            if current == 0:
                fence_update["ConditionExpression"] = "attribute_not_exists(#t)"
            else:
                fence_update["ConditionExpression"] = "#t = :c"
                fence_update["ExpressionAttributeValues"][":c"] = {"N": str(current)}
            lease_put = {
                "TableName": self.locks_table,
                "Item": {
                    "id": {"S": lock_id},
                    "owner": {"S": owner},
                    "token": {"N": str(token)},
                    "createdAt": {"N": str(int(now))},
                    "expireAt": {"N": f"{expires:.3f}"},
                },
                "ConditionExpression": "attribute_not_exists(#id) OR #e < :now",
                "ExpressionAttributeNames": {"#id": "id", "#e": "expireAt"},
                "ExpressionAttributeValues": {":now": {"N": f"{now:.3f}"}},
            }
            try:
                await self._call(
                    "acquire",
                    "transact_write_items",
                    expected=_CANCELLED,
                    TransactItems=[{"Update": fence_update}, {"Put": lease_put}],
                )
                return Lease(key, owner, token, expires, lease_seconds)
            except ClientError as err:
                codes = _codes(err)
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                return None  # held by someone else
            if "ConditionalCheckFailed" in codes or "TransactionConflict" in codes:
                continue  # another acquirer moved the fence meanwhile: look again
            raise _unavailable("acquire", codes)
        return None

    async def _lease_item(self, lease: Lease, operation: str) -> dict[str, Any] | None:
        got = await self._call(
            operation, "get_item", TableName=self.locks_table, Key={"id": {"S": self._path(lease.key)}}, ConsistentRead=True
        )
        item: dict[str, Any] | None = got.get("Item")
        return item

    @staticmethod
    def _why_lost(lease: Lease, item: dict[str, Any] | None, now: float) -> str:
        if not item or item.get("owner", {}).get("S") != lease.owner or item.get("token", {}).get("N") != str(lease.token):
            return "not held by this owner and token"
        if _expires(item) <= now:
            return "expired"
        return "not held by this owner and token"

    def _held_condition(self, lease: Lease) -> dict[str, Any]:
        return {
            "ConditionExpression": "#o = :o AND #t = :t",
            "ExpressionAttributeNames": {"#o": "owner", "#t": "token"},
            "ExpressionAttributeValues": {":o": {"S": lease.owner}, ":t": {"N": str(lease.token)}},
        }

    async def renew(self, lease: Lease, lease_seconds: float | None = None) -> Lease:
        lock_id = self._path(lease.key)
        duration = lease.lease_seconds if lease_seconds is None else lease_seconds
        if duration <= 0:
            raise InvalidArgument(f"lease_seconds must be positive, got {duration!r}")
        now = time.time()
        expires = round(now + duration, 3)
        held = self._held_condition(lease)
        held["ConditionExpression"] += " AND #e > :now"
        held["ExpressionAttributeNames"]["#e"] = "expireAt"
        held["ExpressionAttributeValues"].update({":now": {"N": f"{now:.3f}"}, ":e": {"N": f"{expires:.3f}"}})
        try:
            await self._call(
                "renew",
                "update_item",
                expected=_CONDITION,
                TableName=self.locks_table,
                Key={"id": {"S": lock_id}},
                UpdateExpression="SET #e = :e",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **held,
            )
        except ClientError as err:
            if error_code(err) in _TXN_CONFLICT:
                raise LeaseLost(lease.key, "kept busy by concurrent acquisitions; treat it as lost") from None
            raise LeaseLost(lease.key, self._why_lost(lease, err.response.get("Item"), now)) from None
        return Lease(lease.key, lease.owner, lease.token, expires, duration)

    async def release(self, lease: Lease) -> None:
        try:
            await self._call(
                "release",
                "delete_item",
                expected=_CONDITION,
                once=True,
                TableName=self.locks_table,
                Key={"id": {"S": self._path(lease.key)}},
                **self._held_condition(lease),
            )
        except ClientError as err:
            if error_code(err) in _TXN_CONFLICT:
                raise LeaseLost(lease.key, "kept busy by concurrent acquisitions; treat it as lost") from None
            raise LeaseLost(lease.key, "not held by this owner and token") from None

    async def is_locked(self, key: str) -> bool:
        got = await self._call(
            "is_locked", "get_item", TableName=self.locks_table, Key={"id": {"S": self._path(key)}}, ConsistentRead=True
        )
        item = got.get("Item")
        return bool(item) and _expires(item) > time.time()

    async def check(self, lease: Lease) -> None:
        item = await self._lease_item(lease, "check")
        now = time.time()
        if (
            not item
            or item.get("owner", {}).get("S") != lease.owner
            or item.get("token", {}).get("N") != str(lease.token)
            or _expires(item) <= now
        ):
            raise LeaseLost(lease.key, self._why_lost(lease, item, now))

    async def close(self) -> None:
        await self._aws.close()


#: what a walk's ``take`` returns for an item past the range it walks (the rest are past it too); no key
#: is empty (validate_key refuses it), so the empty string cannot be a key
PAST_RANGE = ""


#: the storage table's global secondary indexes: due times, and one per label (keys in path order)
_INDEXES: list[tuple[str, dict[str, Any]]] = [
    (_DUE_INDEX, {
        "IndexName": _DUE_INDEX,
        "KeySchema": [{"AttributeName": "xp", "KeyType": "HASH"}, {"AttributeName": "xd", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }),
    *((name, {
        "IndexName": name,
        "KeySchema": [{"AttributeName": attr, "KeyType": "HASH"}, {"AttributeName": "xk", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": [a for a in _LABEL_ATTRS.values() if a != attr]},
    }) for name, attr in _LABEL_ATTRS.items()),
]
_INDEX_HASH = {name: index["KeySchema"][0]["AttributeName"] for name, index in _INDEXES}


def _add_missing_indexes(client: Any, table: str) -> None:
    """Upgrade a storage table made before the index (issue 13): add each missing index, one
    ``UpdateTable`` at a time, and wait until it is active (DynamoDB backfills it from the items)."""
    for name, index in _INDEXES:
        described = client.describe_table(TableName=table)["Table"]
        if any(g["IndexName"] == name for g in described.get("GlobalSecondaryIndexes", [])):
            continue
        attrs = [k["AttributeName"] for k in index["KeySchema"]]
        client.update_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in attrs],
            GlobalSecondaryIndexUpdates=[{"Create": index}],
        )
        for _ in range(600):
            described = client.describe_table(TableName=table)["Table"]
            states = {g["IndexName"]: g.get("IndexStatus") for g in described.get("GlobalSecondaryIndexes", [])}
            if states.get(name) == "ACTIVE" and described.get("TableStatus") == "ACTIVE":
                break
            time.sleep(1)


def _expires(item: dict[str, Any]) -> float:
    """A lease item's expiry; one without ``expireAt`` never expires (the acquire condition agrees)."""
    attr = item.get("expireAt")
    return float(attr["N"]) if attr and "N" in attr else float("inf")


def _unavailable(operation: str, cause: ClientError | list[str]) -> StoreUnavailable:
    if isinstance(cause, list):
        return StoreUnavailable("dynamodb", operation, RuntimeError(f"transaction cancelled: {cause}"))
    return StoreUnavailable("dynamodb", operation, cause)


def from_url(url: str, parts: SplitResult, options: dict[str, str]) -> DynamoDBStore:
    """``dynamodb://table?options``: storage in ``table``, leases in ``table-locks``."""
    if parts.path not in ("", "/"):
        raise StoreConfigError(f"a DynamoDB URL names a table only (dynamodb://table?...), got path {parts.path!r}")
    return DynamoDBStore(parts.netloc, options)
