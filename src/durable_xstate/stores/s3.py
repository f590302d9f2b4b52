"""S3 storage: one object per key under a validated bucket prefix; the version is the object's ETag.

``s3://bucket/prefix/?endpoint_url=http://127.0.0.1:5000&region=us-east-1``

* create-only writes are ``PutObject`` with ``IfNoneMatch='*'``; compare-and-set writes are ``PutObject``
  with ``IfMatch=<etag>``; conditional deletes are ``DeleteObject`` with ``IfMatch=<etag>``. S3 answers
  412 ``PreconditionFailed`` (or 409 ``ConditionalRequestConflict`` while a concurrent conditional write
  to the same key is in flight, or 404 ``NoSuchKey`` for ``IfMatch`` on an absent key); each is a
  :class:`WriteConflict`, whose ``found`` is the ETag read just afterwards (``HeadObject``).
* S3 has no locks: pair it with a lock backend (``open_store(s3_url, lock=dynamodb_url)``, or the
  ``lock=<url-encoded lock URL>`` option of this URL). Such a pair cannot fence writes atomically
  (``fences_writes = False``); :class:`LockableStorage` checks the lease just before writing. See
  docs/stores/s3.md for the window that leaves.

Options: ``endpoint_url``, ``region``, ``profile``, ``aws_access_key_id``/``aws_secret_access_key``/
``aws_session_token``, ``max_attempts`` (3), ``connect_timeout`` (5 s), ``read_timeout`` (30 s),
``max_pool_connections`` (32), ``addressing_style`` (``path`` when ``endpoint_url`` is given, else
``auto``), ``create_bucket=1`` (create the bucket on first use), ``lock=<url>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import SplitResult

from ..errors import (
    InvalidKey,
    StoreConfigError,
    StoreNotConfigured,
    WriteConflict,
    short_repr,
)
from ._aws import AwsClient, ClientError, check_options, error_code, flag
from ._entries import INDEX_DIR
from ._s3_index import S3Index
from .base import (
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
    parse_due_cursor,
    validate_key,
    validate_prefix,
)

__all__ = ["S3LockedStorage", "S3Storage", "from_url", "validate_bucket_prefix"]

#: S3's own limit on an object key, in bytes of UTF-8 (the bucket prefix counts).
S3_MAX_KEY_BYTES = 1024

# The original's rule (unified-serverless-storage 0.1.x S3StorageManager): segments of [A-Za-z0-9_-],
# separated by '/', ending with '/', not starting with '/'. The empty prefix is the bucket's root.
_PREFIX_RE = re.compile(r"[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*/")
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# An ETag we may send in If-Match: visible ASCII, no list separator, not the wildcard.
_ETAG_RE = re.compile(r"[\x21-\x7e]+")

# HEAD answers a bare 404 (no body, so no code): missing key or missing bucket, see _etag().
_MISSING_HEAD = frozenset({"404", "NotFound", "NoSuchKey"})
# Responses with a body name what is missing: only NoSuchKey means "absent" (NoSuchBucket is a fault).
_MISSING = frozenset({"NoSuchKey"})
_CONFLICT = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}) | _MISSING

_OWN_OPTIONS = frozenset({"create_bucket", "addressing_style"})


def validate_bucket_prefix(prefix: object) -> str:
    """The original's check: ``''`` or ``'path/to/folder/'``; anything else raises StoreConfigError (a ValueError)."""
    if not isinstance(prefix, str) or (prefix and (prefix.startswith("/") or not _PREFIX_RE.fullmatch(prefix))):
        shown = prefix if isinstance(prefix, str) and len(prefix) <= 80 else short_repr(prefix)  # no 10 MB echo
        raise StoreConfigError(
            f"Invalid path format. Please use a valid path like 'path/to/folder/'. Provided is {shown}"
        )
    return prefix


def _sendable_etag(version: str) -> bool:
    return bool(_ETAG_RE.fullmatch(version)) and version != "*" and "," not in version


class S3Storage(Storage):
    """Versioned bytes in S3 objects ``<prefix><key>``; versions are ETags."""

    backend = "s3"
    fences_writes = False
    indexes = True

    def __init__(self, bucket: str, prefix: str = "", options: dict[str, str] | None = None) -> None:
        options = dict(options or {})
        check_options("s3", options, _OWN_OPTIONS)
        if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
            raise StoreConfigError(f"invalid S3 bucket name {bucket!r}")
        self.bucket = bucket
        self.prefix = validate_bucket_prefix(prefix)
        if len(self.prefix.encode("utf-8")) >= S3_MAX_KEY_BYTES:
            raise StoreConfigError(f"the bucket prefix {short_repr(prefix)} leaves no room for keys")
        style = options.pop("addressing_style", "path" if options.get("endpoint_url") else "auto")
        if style not in {"path", "auto", "virtual"}:
            raise StoreConfigError(f"addressing_style must be path, virtual or auto, not {style!r}")
        self._create_bucket = flag(options.pop("create_bucket", None))
        self._bucket_checked = not self._create_bucket
        self._aws = AwsClient(self.backend, "s3", options, s3_path_style=style == "path")
        self._index = S3Index(self._aws, bucket, self.prefix)

    # ------------------------------------------------------------------ helpers
    def _object_key(self, key: str) -> str:
        validate_key(key)
        full = self.prefix + key
        if len(full.encode("utf-8")) > S3_MAX_KEY_BYTES:
            raise InvalidKey(key, f"with the bucket prefix {short_repr(self.prefix)} it is longer than S3's {S3_MAX_KEY_BYTES} bytes")
        return full

    async def _ready(self) -> None:
        if not self._bucket_checked:
            await self.ensure_bucket()

    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (tests, the CLI). Idempotent."""

        def run() -> None:
            client = self._aws.client()
            try:
                client.head_bucket(Bucket=self.bucket)
                return
            except ClientError as err:
                if error_code(err) not in {"404", "NoSuchBucket", "NotFound"}:
                    raise
            region = client.meta.region_name
            kwargs: dict[str, Any] = {"Bucket": self.bucket}
            if region and region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
            try:
                client.create_bucket(**kwargs)
            except ClientError as err:
                if error_code(err) not in {"BucketAlreadyOwnedByYou"}:
                    raise

        await self._aws.run("ensure_bucket", run)
        self._bucket_checked = True

    async def _etag(self, object_key: str, operation: str) -> str | None:
        """The current ETag, or None when the object is absent.

        A HEAD response has no body, so its 404 does not say whether the key or the whole bucket is
        missing; a missing bucket is an infrastructure fault, never "absent", so a 404 is confirmed
        with HeadBucket."""

        def run() -> str | None:
            client = self._aws.client()
            try:
                return str(client.head_object(Bucket=self.bucket, Key=object_key)["ETag"])
            except ClientError as err:
                if error_code(err) not in _MISSING_HEAD:
                    raise
            client.head_bucket(Bucket=self.bucket)  # raises (-> StoreUnavailable) if the bucket is gone
            return None

        return await self._aws.run(operation, run)

    async def _fence(self, key: str, lease: Lease | None) -> None:
        if lease is None:
            return
        check_lease_key(lease, key)
        lock = self._lock()
        if lock is None:
            raise StoreNotConfigured(
                "[S3Storage] a write carrying a lease needs a lock: open the S3 store with lock=<url> "
                "or use it through LockableStorage"
            )
        await lock.check(lease)

    def _lock(self) -> Lock | None:
        return None

    # ------------------------------------------------------------------ storage
    async def read(self, key: str) -> Versioned | None:
        object_key = self._object_key(key)
        await self._ready()

        def run() -> Versioned | None:
            try:
                got = self._aws.client().get_object(Bucket=self.bucket, Key=object_key)
            except ClientError as err:
                if error_code(err) in _MISSING:
                    return None
                raise
            body = got["Body"]
            try:
                data = body.read()
            finally:
                body.close()
            return Versioned(data, str(got["ETag"]))

        return await self._aws.run("read", run)

    async def exists(self, key: str) -> bool:
        object_key = self._object_key(key)
        await self._ready()
        return await self._etag(object_key, "exists") is not None

    async def write(
        self,
        key: str,
        data: bytes,
        expected_version: str | None = None,
        *,
        lease: Lease | None = None,
        index: IndexEntry | None = None,
    ) -> str:
        object_key = self._object_key(key)
        check_size(key, data, self.max_value_bytes)
        if index is not None:
            check_labels(index.labels)
        await self._ready()
        await self._fence(key, lease)
        return await self._index.write(key, index, lambda: self._put_value(key, object_key, data, expected_version))

    async def _put_value(self, key: str, object_key: str, data: bytes, expected_version: str | None) -> str:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": object_key, "Body": bytes(data)}
        if expected_version is None:
            kwargs["IfNoneMatch"] = "*"
        elif _sendable_etag(expected_version):
            kwargs["IfMatch"] = expected_version
        else:  # not an ETag S3 could ever have produced: it cannot match
            raise WriteConflict(key, expected_version, await self._etag(object_key, "write"))
        try:
            put = await self._aws.call("write", "put_object", expected=_CONFLICT, once=True, **kwargs)
        except ClientError:
            raise WriteConflict(key, expected_version, await self._etag(object_key, "write")) from None
        return str(put["ETag"])

    async def delete(self, key: str, expected_version: str | None = None, *, lease: Lease | None = None) -> None:
        object_key = self._object_key(key)
        await self._ready()
        await self._fence(key, lease)
        seen = await self._index.live(key)  # the entries to drop once the value is gone (never before)
        await self._delete_value(key, object_key, expected_version)
        await self._index.forget(key, seen)

    async def _delete_value(self, key: str, object_key: str, expected_version: str | None) -> None:
        if expected_version is None:
            await self._aws.call("delete", "delete_object", Bucket=self.bucket, Key=object_key)
            return
        if not _sendable_etag(expected_version):
            raise WriteConflict(key, expected_version, await self._etag(object_key, "delete"))
        try:
            await self._aws.call(
                "delete",
                "delete_object",
                expected=_CONFLICT,
                once=True,
                Bucket=self.bucket,
                Key=object_key,
                IfMatch=expected_version,
            )
        except ClientError:
            raise WriteConflict(key, expected_version, await self._etag(object_key, "delete")) from None

    async def list_page(self, prefix: str = "", cursor: str | None = None, limit: int = 1000) -> Page:
        """Keys in key order; the cursor is the last key returned. The index's objects (``.index/``) are
        stepped over in one jump, so they cost no listing."""
        validate_prefix(prefix)
        check_limit(limit)
        await self._ready()
        index_dir = self.prefix + INDEX_DIR + "/"
        start = None if cursor is None else self.prefix + cursor
        keys: list[str] = []
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix + prefix, "MaxKeys": min(limit - len(keys) + 1, 1000)}
            if start is not None:
                kwargs["StartAfter"] = start
            listed = await self._aws.call("list", "list_objects_v2", **kwargs)
            contents = listed.get("Contents", [])
            for entry in contents:
                name = str(entry["Key"])
                start = name
                if name.startswith(index_dir):
                    start = self.prefix + INDEX_DIR + "0"  # '0' follows '/': past every index object
                    break
                try:
                    keys.append(validate_key(name[len(self.prefix) :]))
                except InvalidKey:
                    continue  # an object this API cannot address (written by another tool): not listed
                if len(keys) > limit:
                    return Page(keys[:limit], keys[limit - 1])
            else:
                if not listed.get("IsTruncated") or not contents:
                    return Page(keys, None)

    async def due_page(self, prefix: str, until: float, cursor: str | None = None, limit: int = 1000) -> Page:
        validate_prefix(prefix)
        check_limit(limit)
        after = parse_due_cursor(cursor) if cursor is not None else None
        await self._ready()
        found, more = await self._index.due(prefix, float(until), after, limit)
        return Page([key for _, key in found], due_cursor(*found[-1]) if more else None)

    async def find_page(
        self, prefix: str, labels: Mapping[str, str], cursor: str | None = None, limit: int = 1000
    ) -> Page:
        validate_prefix(prefix)
        check_labels(labels)
        check_limit(limit)
        await self._ready()
        keys, more = await self._index.find(prefix, dict(labels), cursor, limit)
        return Page(keys, keys[-1] if more else None)

    async def close(self) -> None:
        await self._aws.close()


class S3LockedStorage(S3Storage, Lock):
    """S3 storage with a lock from another backend, opened from one URL (``?lock=<url-encoded URL>``).

    Lock calls go to that backend. Writes carrying a lease are checked against it just before the
    write (not atomically: ``fences_writes`` stays False).
    """

    def __init__(self, bucket: str, prefix: str, options: dict[str, str], lock: Lock) -> None:
        super().__init__(bucket, prefix, options)
        self.lock = lock

    def _lock(self) -> Lock | None:
        return self.lock

    async def try_acquire(self, key: str, owner: str, lease_seconds: float) -> Lease | None:
        return await self.lock.try_acquire(key, owner, lease_seconds)

    async def acquire(
        self,
        key: str,
        owner: str,
        lease_seconds: float = 30.0,
        timeout: float = 5.0,
        *,
        initial_backoff: float = 0.005,
        max_backoff: float = 0.25,
    ) -> Lease:
        return await self.lock.acquire(
            key, owner, lease_seconds, timeout, initial_backoff=initial_backoff, max_backoff=max_backoff
        )

    async def renew(self, lease: Lease, lease_seconds: float | None = None) -> Lease:
        return await self.lock.renew(lease, lease_seconds)

    async def release(self, lease: Lease) -> None:
        await self.lock.release(lease)

    async def is_locked(self, key: str) -> bool:
        return await self.lock.is_locked(key)

    async def check(self, lease: Lease) -> None:
        await self.lock.check(lease)

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            await self.lock.close()


def from_url(url: str, parts: SplitResult, options: dict[str, str]) -> S3Storage:
    """``s3://bucket/prefix/?options``; with ``lock=<url-encoded lock URL>`` the store also locks."""
    options = dict(options)
    lock_url = options.pop("lock", None)
    if parts.path in ("", "/"):
        prefix = ""
    elif parts.path.startswith("/"):
        prefix = parts.path[1:]
    else:  # pragma: no cover - urlsplit always gives a path starting with '/' after a netloc
        prefix = parts.path
    if lock_url is None:
        return S3Storage(parts.netloc, prefix, options)
    from . import open_backend

    lock = open_backend(lock_url)
    if not isinstance(lock, Lock):
        raise StoreNotConfigured(f"{lock_url!r} does not provide locks")
    return S3LockedStorage(parts.netloc, prefix, options, lock)
