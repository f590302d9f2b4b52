"""Azure Blob Storage: one block blob per key under a container prefix; the version is the blob's ETag;
locks are lock blobs held with Azure blob leases. See docs/stores/azure.md and
docs/decisions/0014-azure-blob.md.

``azure://ACCOUNT/CONTAINER/prefix/`` (``https://ACCOUNT.blob.core.windows.net``), or with the account in
the path, for Azurite and other endpoints: ``azure+http://127.0.0.1:10000/devstoreaccount1/CONTAINER/prefix/``.

* create-only writes are Put Blob with ``If-None-Match: *``; compare-and-set writes Put Blob with
  ``If-Match: <etag>``; conditional deletes Delete Blob with ``If-Match``. A refusal (412, 409, or 404 for
  ``If-Match`` on an absent blob) is a :class:`WriteConflict` whose ``found`` is the ETag read just after.
* a lock is the blob ``<prefix>.locks/<sha256 of the key>``: a small JSON record (key, owner, fencing token,
  expiry) that only the holder of its Azure lease can change. Azure leases last 15-60 s or forever, leases
  here any time: the Azure lease is taken for ever and the record's expiry decides; whoever finds the
  record expired breaks the old Azure lease (conditioned on the record's ETag) and takes a new one. The
  lease id is derived from (key, owner, token), so Azure itself refuses a renewal, a release or a record
  write by anyone else.
* writes carrying a lease are checked against the lock record just before the value is written (not
  atomically: ``fences_writes`` is False, as for S3 with a lock); see the decision record for the window.

Credentials, first found: the ``account_key`` option; the ``AZURE_STORAGE_CONNECTION_STRING`` variable
(its ``AccountKey`` or ``SharedAccessSignature``, when its ``AccountName`` is this account); for
``devstoreaccount1`` (Azurite) the emulator's published key; the ``AZURE_STORAGE_KEY`` variable (when
``AZURE_STORAGE_ACCOUNT`` is unset or names this account).

Options: ``create_container=1``, ``account_key``, ``endpoint_suffix`` (``core.windows.net``),
``max_attempts`` (3), ``connect_timeout`` (5 s), ``read_timeout`` (30 s).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import SplitResult

from ..errors import (
    InvalidKey,
    LeaseLost,
    StoreConfigError,
    StoreUnavailable,
    WriteConflict,
    short_repr,
)
from ._azure_blobs import BACKEND, Blobs
from ._azure_index import AzureIndex
from ._entries import INDEX_DIR
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

__all__ = ["AZURITE_ACCOUNT", "AZURITE_KEY", "AzureBlobStore", "from_url"]

#: Azure's limits on a blob name: characters, and path segments.
MAX_BLOB_NAME = 1024
MAX_SEGMENTS = 254
#: Azurite's development account and its key, published in Microsoft's documentation (not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
LOCK_DIR = ".locks"

_PREFIX_RE = re.compile(r"[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*/")
_CONTAINER_RE = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
_ACCOUNT_RE = re.compile(r"[a-z0-9]{3,24}")
_OPTIONS = frozenset({"create_container", "account_key", "endpoint_suffix", "max_attempts", "connect_timeout", "read_timeout"})
# An ETag we may send in If-Match: visible ASCII, no list separator, not the wildcard.
_ETAG_RE = re.compile(r"[\x21-\x7e]+")
_LEASE_NAMESPACE = uuid.UUID("5b0e7f9c-2d61-4c1e-9a51-6a3e2f0b8d17")


def lease_id(key: str, owner: str, token: int) -> str:
    """The Azure lease id of the lease (key, owner, token): a GUID only that holder uses."""
    return str(uuid.uuid5(_LEASE_NAMESPACE, f"{key}\0{owner}\0{token}"))


def _sendable(version: str) -> bool:
    return bool(_ETAG_RE.fullmatch(version)) and version != "*" and "," not in version


def _positive(name: str, value: str, kind: type) -> Any:
    try:
        number = kind(value)
    except ValueError:
        number = 0
    if not number > 0:
        raise StoreConfigError(f"azure URL option {name}={value!r} must be a positive {kind.__name__}")
    return number


def _connection_string() -> dict[str, str]:
    raw = os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "")
    parts = (item.partition("=") for item in raw.split(";") if "=" in item)
    return {name.strip().lower(): value.strip() for name, _, value in parts}


def credential_for(account: str, options: Mapping[str, str]) -> Any:
    """The credential for ``account`` (see the module docstring for the order); StoreConfigError if none."""
    if options.get("account_key"):
        return {"account_name": account, "account_key": options["account_key"]}
    conn = _connection_string()
    if conn.get("accountname") == account:
        if conn.get("accountkey"):
            return {"account_name": account, "account_key": conn["accountkey"]}
        if conn.get("sharedaccesssignature"):
            return conn["sharedaccesssignature"]
    if account == AZURITE_ACCOUNT:
        return {"account_name": account, "account_key": AZURITE_KEY}
    if os.environ.get("AZURE_STORAGE_KEY") and os.environ.get("AZURE_STORAGE_ACCOUNT", account) == account:
        return {"account_name": account, "account_key": os.environ["AZURE_STORAGE_KEY"]}
    raise StoreConfigError(
        f"no credential for the Azure storage account {account!r}: set AZURE_STORAGE_CONNECTION_STRING "
        "(with AccountName and AccountKey or SharedAccessSignature) or AZURE_STORAGE_KEY"
    )


class AzureBlobStore(Storage, Lock):
    """Versioned bytes in block blobs ``<prefix><key>`` (versions are ETags), and leases on lock blobs."""

    backend = BACKEND
    fences_writes = False
    indexes = True

    def __init__(self, account_url: str, account: str, container: str, prefix: str = "",
                 options: Mapping[str, str] | None = None) -> None:
        options = dict(options or {})
        unknown = set(options) - _OPTIONS
        if unknown:
            raise StoreConfigError(f"unknown azure URL option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_OPTIONS))}")
        if not _ACCOUNT_RE.fullmatch(account):
            raise StoreConfigError(f"invalid Azure storage account name {short_repr(account)} (3-24 lower-case letters and digits)")
        if not _CONTAINER_RE.fullmatch(container):
            raise StoreConfigError(f"invalid Azure container name {short_repr(container)} (3-63 of a-z, 0-9 and single hyphens)")
        if prefix and not _PREFIX_RE.fullmatch(prefix):
            shown = prefix if len(prefix) <= 80 else short_repr(prefix)
            raise StoreConfigError(f"Invalid path format. Please use a valid path like 'path/to/folder/'. Provided is {shown}")
        if len(prefix) >= MAX_BLOB_NAME - 100:
            raise StoreConfigError(f"the container prefix {short_repr(prefix)} leaves no room for keys")
        self.account = account
        self.container = container
        self.prefix = prefix
        attempts = int(_positive("max_attempts", options.get("max_attempts", "3"), int))
        client_options: dict[str, Any] = {
            "retry_total": attempts - 1,
            "initial_backoff": 0.2,
            "increment_base": 2,
            "connection_timeout": _positive("connect_timeout", options.get("connect_timeout", "5"), float),
            "read_timeout": _positive("read_timeout", options.get("read_timeout", "30"), float),
        }
        self._create_container = options.get("create_container", "").strip().lower() in {"1", "true", "yes", "on"}
        self._blobs = Blobs(account_url, container, credential_for(account, options), client_options)
        self._index = AzureIndex(self._blobs, prefix)

    # ------------------------------------------------------------------ helpers
    def _blob_name(self, key: str) -> str:
        validate_key(key)
        name = self.prefix + key
        if len(name) > MAX_BLOB_NAME or name.count("/") + 1 > MAX_SEGMENTS:
            raise InvalidKey(key, f"with the container prefix it is longer than Azure's {MAX_BLOB_NAME} characters or {MAX_SEGMENTS} segments")
        return name

    def _lock_name(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}{LOCK_DIR}/{hashlib.sha256(key.encode('utf-8')).hexdigest()}"

    async def _ready(self) -> None:
        if self._create_container:
            await self.ensure_container()

    async def ensure_container(self) -> None:
        """Create the container if it does not exist (tests, the CLI, ``create_container=1``). Idempotent."""
        await self._blobs.ensure_container()
        self._create_container = False

    async def _fence(self, key: str, lease: Lease | None) -> None:
        if lease is not None:
            check_lease_key(lease, key)
            await self.check(lease)

    # ------------------------------------------------------------------ storage
    async def read(self, key: str) -> Versioned | None:
        name = self._blob_name(key)
        await self._ready()
        blob = await self._blobs.get(name, "read")
        return None if blob is None else Versioned(blob.data, blob.etag)

    async def exists(self, key: str) -> bool:
        name = self._blob_name(key)
        await self._ready()
        return await self._blobs.etag(name, "exists") is not None

    async def write(
        self,
        key: str,
        data: bytes,
        expected_version: str | None = None,
        *,
        lease: Lease | None = None,
        index: IndexEntry | None = None,
    ) -> str:
        name = self._blob_name(key)
        check_size(key, data, self.max_value_bytes)
        if index is not None:
            check_labels(index.labels)
        await self._ready()
        await self._fence(key, lease)
        return await self._index.write(key, index, lambda: self._put_value(key, name, data, expected_version))

    async def _put_value(self, key: str, name: str, data: bytes, expected_version: str | None) -> str:
        if expected_version is not None and not _sendable(expected_version):
            raise WriteConflict(key, expected_version, await self._blobs.etag(name, "write"))  # no ETag looks like that
        etag = await self._blobs.put(name, bytes(data), "write", if_match=expected_version, create=expected_version is None)
        if etag is None:
            raise WriteConflict(key, expected_version, await self._blobs.etag(name, "write"))
        return etag

    async def delete(self, key: str, expected_version: str | None = None, *, lease: Lease | None = None) -> None:
        name = self._blob_name(key)
        await self._ready()
        await self._fence(key, lease)
        seen = await self._index.live(key)
        if expected_version is not None and not _sendable(expected_version):
            raise WriteConflict(key, expected_version, await self._blobs.etag(name, "delete"))
        if not await self._blobs.delete(name, "delete", if_match=expected_version):
            raise WriteConflict(key, expected_version, await self._blobs.etag(name, "delete"))
        await self._index.forget(key, seen)

    async def list_page(self, prefix: str = "", cursor: str | None = None, limit: int = 1000) -> Page:
        """Keys in key order. The cursor is the last key and the List Blobs marker of its page (List Blobs
        cannot start after a name). The store's own blobs (``.index/``, ``.locks/``) are not listed."""
        validate_prefix(prefix)
        check_limit(limit)
        await self._ready()
        last, marker = None, None
        if cursor is not None:
            last, _, rest = cursor.partition("\n")
            marker = rest or None
        reserved = (self.prefix + INDEX_DIR + "/", self.prefix + LOCK_DIR + "/")
        keys: list[str] = []
        markers: list[str | None] = []
        async for name, page_marker in self._blobs.scan(self.prefix + prefix, marker, "list", min(limit + 1, 5000)):
            if name.startswith(reserved) or (last is not None and name <= self.prefix + last):
                continue
            try:
                keys.append(validate_key(name[len(self.prefix):]))
            except InvalidKey:
                continue  # a blob this API cannot address (written by another tool): not listed
            markers.append(page_marker)
            if len(keys) > limit:
                return Page(keys[:limit], f"{keys[limit - 1]}\n{markers[limit - 1] or ''}")
        return Page(keys, None)

    async def due_page(self, prefix: str, until: float, cursor: str | None = None, limit: int = 1000) -> Page:
        validate_prefix(prefix)
        check_limit(limit)
        after, marker = None, None
        if cursor is not None:
            head, _, rest = cursor.partition("\n")
            after, marker = parse_due_cursor(head), rest or None
        await self._ready()
        found, next_marker, more = await self._index.due(prefix, float(until), after, marker, limit)
        if not more:
            return Page([key for _, key in found], None)
        return Page([key for _, key in found], f"{due_cursor(*found[-1])}\n{next_marker or ''}")

    async def find_page(
        self, prefix: str, labels: Mapping[str, str], cursor: str | None = None, limit: int = 1000
    ) -> Page:
        validate_prefix(prefix)
        check_labels(labels)
        check_limit(limit)
        await self._ready()
        keys, more = await self._index.find(prefix, dict(labels), cursor, limit)
        return Page(keys, keys[-1] if more else None)

    # ------------------------------------------------------------------ locks
    async def _lock_record(self, key: str, name: str, operation: str) -> tuple[dict[str, Any], str, bool] | None:
        """(record, ETag, whether an Azure lease is on it), or None when the key was never locked."""
        blob = await self._blobs.get(name, operation)
        if blob is None:
            return None
        try:
            record: Any = json.loads(blob.data)
            parsed = {"key": str(record["key"]), "owner": str(record["owner"]), "token": int(record["token"]),
                      "expires": float(record["expires"])}
        except (ValueError, KeyError, TypeError) as err:
            raise StoreUnavailable(BACKEND, operation, ValueError(f"lock record {name} is unreadable: {err}")) from err
        return parsed, blob.etag, blob.leased

    @staticmethod
    def _body(key: str, owner: str, token: int, expires: float) -> bytes:
        return json.dumps({"key": key, "owner": owner, "token": token, "expires": expires}, ensure_ascii=False).encode("utf-8")

    async def try_acquire(self, key: str, owner: str, lease_seconds: float) -> Lease | None:
        name = self._lock_name(key)
        await self._ready()
        got = await self._lock_record(key, name, "acquire")
        if got is None:  # never locked: a free record with token 0 (a racer may create it first: fine)
            await self._blobs.put(name, self._body(key, "", 0, 0.0), "acquire", create=True)
            got = await self._lock_record(key, name, "acquire")
            if got is None:
                return None
        record, etag, leased = got
        if record["owner"] and record["expires"] > time.time():
            return None  # held
        # Free or expired: break the Azure lease left on it (only if the record is still what we read),
        # take a new one under our own lease id, then write the record under it. Racers that read the
        # same record lose one of these three compare-and-sets.
        token = record["token"] + 1
        mine = lease_id(key, owner, token)
        if leased and not await self._blobs.lease(name, mine, "break", "acquire", if_match=etag):
            return None
        if not await self._blobs.lease(name, mine, "acquire", "acquire", if_match=etag):
            return None
        expires = time.time() + lease_seconds
        if await self._blobs.put(name, self._body(key, owner, token, expires), "acquire", if_match=etag, lease=mine) is None:
            return None
        return Lease(key, owner, token, expires, lease_seconds)

    async def _held(self, lease: Lease, operation: str) -> tuple[dict[str, Any], str]:
        got = await self._lock_record(lease.key, self._lock_name(lease.key), operation)
        if got is None or got[0]["owner"] != lease.owner or got[0]["token"] != lease.token:
            raise LeaseLost(lease.key, "not held by this owner and token")
        return got[0], got[1]

    async def renew(self, lease: Lease, lease_seconds: float | None = None) -> Lease:
        record, etag = await self._held(lease, "renew")
        if record["expires"] <= time.time():
            raise LeaseLost(lease.key, "expired")
        duration = lease.lease_seconds if lease_seconds is None else lease_seconds
        expires = time.time() + duration
        body = self._body(lease.key, lease.owner, lease.token, expires)
        mine = lease_id(lease.key, lease.owner, lease.token)
        if await self._blobs.put(self._lock_name(lease.key), body, "renew", if_match=etag, lease=mine) is None:
            raise LeaseLost(lease.key, "taken over while renewing")
        return Lease(lease.key, lease.owner, lease.token, expires, duration)

    async def release(self, lease: Lease) -> None:
        _, etag = await self._held(lease, "release")
        name = self._lock_name(lease.key)
        mine = lease_id(lease.key, lease.owner, lease.token)
        # the record says free (keeping the token, so tokens keep rising); then the Azure lease goes
        if await self._blobs.put(name, self._body(lease.key, "", lease.token, 0.0), "release", if_match=etag, lease=mine) is None:
            raise LeaseLost(lease.key, "taken over while releasing")
        await self._blobs.lease(name, mine, "release", "release")  # refused only if already broken: fine

    async def is_locked(self, key: str) -> bool:
        name = self._lock_name(key)
        await self._ready()
        got = await self._lock_record(key, name, "is_locked")
        return got is not None and bool(got[0]["owner"]) and got[0]["expires"] > time.time()

    async def check(self, lease: Lease) -> None:
        record, _ = await self._held(lease, "check")
        if record["expires"] <= time.time():
            raise LeaseLost(lease.key, "expired")

    async def close(self) -> None:
        await self._blobs.close()


def from_url(url: str, parts: SplitResult, options: dict[str, str]) -> AzureBlobStore:
    """``azure://ACCOUNT/CONTAINER/prefix/`` or ``azure+http(s)://HOST[:PORT]/ACCOUNT/CONTAINER/prefix/``."""
    scheme = parts.scheme.lower()
    segments = parts.path.lstrip("/").split("/")
    if scheme == "azure":
        account = parts.netloc
        suffix = options.get("endpoint_suffix", "core.windows.net")
        if not re.fullmatch(r"[a-z0-9.-]+", suffix):
            raise StoreConfigError(f"invalid endpoint_suffix {suffix!r}")
        account_url = f"https://{account}.blob.{suffix}"
    elif scheme in ("azure+http", "azure+https"):
        if not segments or not segments[0]:
            raise StoreConfigError(f"{url!r}: the account comes first in the path (azure+http://host:port/ACCOUNT/CONTAINER/)")
        account = segments.pop(0)
        account_url = f"{scheme.partition('+')[2]}://{parts.netloc}/{account}"
    else:  # pragma: no cover - only registered for these schemes
        raise StoreConfigError(f"not an azure URL: {url!r}")
    if not segments or not segments[0]:
        raise StoreConfigError(f"{url!r} names no container")
    container = segments[0]
    prefix = "/".join(segments[1:])
    options = {k: v for k, v in options.items() if k != "endpoint_suffix"}
    return AzureBlobStore(account_url, account, container, prefix, options)
