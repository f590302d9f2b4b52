"""DynamoDB storage and lock in one class, with fencing enforced atomically by DynamoDB.

``dynamodb://table?endpoint_url=http://127.0.0.1:5000&region=us-east-1&prefix=tenant-a``

Storage table ``<table>`` (hash key ``path`` S), one item per key, the original's shape plus a version::

    {path: "<prefix>/<key>", data: S (the bytes, when they are UTF-8) | B (otherwise),
     updatedAt: N (epoch seconds), version: N}

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

Versions are random 63-bit numbers chosen by the writer (never 0; ``"0"`` names an item written by the
original, which has no version), so a version read before a delete never matches a re-created item.

Conditional single-item writes are sent once (see ``_aws.AwsClient``): a write whose response is lost
is StoreUnavailable (outcome unknown), never a WriteConflict against itself. Transactions carry an
idempotency token and are retried by botocore.
"""

from __future__ import annotations

import asyncio
import random
import re
import secrets
import time
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
    IndexEntry,
    Lease,
    Lock,
    Page,
    Storage,
    Versioned,
    check_lease_key,
    check_size,
    validate_key,
    validate_prefix,
)

__all__ = ["ITEM_BUDGET_BYTES", "DynamoDBStore", "from_url", "max_value_bytes_for_prefix"]

#: DynamoDB's item limit is "400 KB". Counted as 400,000 bytes it is safe whether AWS means 409,600
#: (it does: names + values, see docs/stores/dynamodb.md) and it stays under moto's own 405,000.
ITEM_BUDGET_BYTES = 400_000
#: The largest key (validate_key allows 1024 bytes of UTF-8) and the largest number DynamoDB stores.
_MAX_KEY_BYTES = 1024
_MAX_NUMBER_BYTES = 21
_NAMES = ("path", "data", "updatedAt", "version")

_TABLE_RE = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_VERSION_RE = re.compile(r"[1-9][0-9]{0,37}")
_FENCE = ".fence/"
_OWN_OPTIONS = frozenset({"prefix", "locks_table", "create_tables"})

_TXN_CONFLICT = frozenset({"TransactionConflictException"})
_CONFLICT_RETRIES = 4
_CONDITION = frozenset({"ConditionalCheckFailedException"}) | _TXN_CONFLICT
_CANCELLED = frozenset({"TransactionCanceledException"})
_CONDITION_OR_SIZE = _CONDITION | {"ValidationException"}
_CANCELLED_OR_SIZE = frozenset({"TransactionCanceledException", "ValidationException"})


def max_value_bytes_for_prefix(prefix: str) -> int:
    """The largest ``data`` that fits one item whatever the key: the budget minus the attribute names,
    the longest possible ``path`` (prefix, '/', a 1024-byte key) and two numbers at DynamoDB's maximum."""
    path_bytes = (len(prefix.encode("utf-8")) + 1 if prefix else 0) + _MAX_KEY_BYTES
    overhead = sum(len(n) for n in _NAMES) + path_bytes + 2 * _MAX_NUMBER_BYTES
    return ITEM_BUDGET_BYTES - overhead


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
    return "0" if version is None else str(version["N"])


def _codes(err: ClientError) -> list[str]:
    return [str(r.get("Code", "None")) for r in err.response.get("CancellationReasons", [])]


def _is_size_error(err: ClientError) -> bool:
    return error_code(err) == "ValidationException" and "size" in error_message(err).lower()


class DynamoDBStore(Storage, Lock):
    """Storage table + lock table; fenced writes are transactions (``fences_writes = True``)."""

    backend = "dynamodb"
    fences_writes = True

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
                try:
                    client.create_table(
                        TableName=name,
                        KeySchema=[{"AttributeName": hash_key, "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": hash_key, "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST",
                    )
                except ClientError as err:
                    if error_code(err) != "ResourceInUseException":
                        raise
            for name in (self.table, self.locks_table):
                client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
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

    def _storage_item(self, path: str, data: bytes, version: int) -> dict[str, Any]:
        return {
            "path": {"S": path},
            "data": _encode(data),
            "updatedAt": {"N": str(int(time.time()))},
            "version": {"N": str(version)},
        }

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
        if expected == "0":  # an item written by the original: it has no version attribute
            return "attribute_exists(#p) AND attribute_not_exists(#v)", {"#p": "path", "#v": "version"}, {}
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

    async def _current_version(self, path: str, operation: str) -> str | None:
        got = await self._call(
            operation,
            "get_item",
            TableName=self.table,
            Key={"path": {"S": path}},
            ConsistentRead=True,
            ProjectionExpression="#p, #v",
            ExpressionAttributeNames={"#p": "path", "#v": "version"},
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
        if lease is not None:
            check_lease_key(lease, key)
        version = self._new_version(expected_version)
        condition, names, values = self._version_condition(expected_version)
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": self._storage_item(path, data, version),
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
            condition, names, values = self._version_condition(expected_version)
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
        if limit < 1:
            raise InvalidArgument(f"limit must be at least 1, got {limit!r}")
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
