"""The store contract: versioned bytes under a key, and leases with owners and fencing tokens.

Stores know nothing of machines. Every backend implements :class:`Storage` (compare-and-set writes,
create-only when no version is expected) and most also :class:`Lock`. Backends whose storage and lock
share one server implement both in one class and enforce fencing atomically inside ``write``: a write
carrying a lease is refused with :class:`LeaseLost` once a newer fencing token has been issued for the
key. :class:`LockableStorage` combines any storage with any lock (the original's ``LockableStorageManager``).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import re
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import (
    ImplementationMissing,
    InvalidArgument,
    InvalidArgumentType,
    InvalidKey,
    LeaseLost,
    LockTimeout,
    StoreConfigError,
    StoreNotConfigured,
    ValueTooLarge,
    short_repr,
)

__all__ = [
    "DEFAULT_MAX_VALUE_BYTES",
    "INDEX_LABELS",
    "MAX_KEY_LENGTH",
    "IndexEntry",
    "Lease",
    "Lock",
    "LockableStorage",
    "Page",
    "Storage",
    "Versioned",
    "check_labels",
    "check_limit",
    "due_cursor",
    "due_key_page",
    "key_page",
    "parse_due_cursor",
    "validate_key",
]

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
MAX_KEY_LENGTH = 512  # characters; also at most 1024 bytes of UTF-8 (S3's own key limit)
DEFAULT_MAX_VALUE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Versioned:
    """A stored value and its version token (opaque: compare for equality only)."""

    data: bytes
    version: str


@dataclass(frozen=True, slots=True)
class Lease:
    """A granted lock. ``token`` strictly increases per key across all holders (a fencing token)."""

    key: str
    owner: str
    token: int
    expires_at: float  # epoch seconds, as estimated when granted or renewed
    lease_seconds: float  # the duration asked for; renew() extends by it again unless told otherwise

    @property
    def remaining(self) -> float:
        return self.expires_at - time.time()


#: The labels an index entry may carry, the ones ``find_page`` filters on.
INDEX_LABELS = ("machine", "status", "state")
_LABEL_NAMES = frozenset(INDEX_LABELS)  # for the membership test of every write


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """What a store keeps beside a value so that it can be found without reading it (see
    docs/decisions/0008-index.md): when it is next due (epoch milliseconds; None: never) and labels to
    filter listings by (keys from :data:`INDEX_LABELS`, string values). Stores know nothing of
    machines: the persistence layer says what these mean."""

    due: float | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of keys from ``Storage.list_page``; ``cursor`` is None on the last page."""

    keys: list[str]
    cursor: str | None


def check_limit(limit: int) -> None:
    """InvalidArgument unless a page ``limit`` is at least 1."""
    if limit < 1:
        raise InvalidArgument(f"limit must be at least 1, got {limit!r}")


def key_page(keys: list[str], limit: int) -> Page:
    """The page of the first ``limit`` of ``keys`` (fetched ``limit + 1`` at most: one more means more)."""
    page = keys[:limit]
    return Page(page, page[-1] if len(keys) > limit else None)


def due_key_page(rows: list[Any], limit: int) -> Page:
    """The page of the first ``limit`` ``(due, key)`` rows, in due order (one more row means more)."""
    page = rows[:limit]
    return Page([str(row[1]) for row in page], due_cursor(page[-1][0], page[-1][1]) if len(rows) > limit else None)


def due_cursor(due: float, key: str) -> str:
    """The cursor after ``key`` due at ``due`` in a :meth:`Storage.due_page` listing (opaque to callers)."""
    return f"{float(due)!r} {key}"


def parse_due_cursor(cursor: str) -> tuple[float, str]:
    """``(due, key)`` of a cursor made by :func:`due_cursor`; InvalidArgument for anything else."""
    due, sep, key = cursor.partition(" ") if isinstance(cursor, str) else ("", "", "")
    try:
        value = float(due)
    except ValueError:
        value = math.nan
    if not sep or math.isnan(value):
        raise InvalidArgument(f"not a due_page cursor: {short_repr(cursor)}")
    return value, key


def foreign_version(blob: bytes) -> str:
    """The version of a value the backend did not write (no header, no version attribute: e.g. a record
    the original wrote): a hash of its bytes, so a compare-and-set against it (``import`` adopting the
    value) fails if anyone changed the value since it was read. Never equal to a version a store makes."""
    return "foreign-" + hashlib.sha256(blob).hexdigest()[:32]


def check_labels(labels: Mapping[str, str]) -> None:
    """InvalidArgument unless every label is one of :data:`INDEX_LABELS` with a string value."""
    for name, value in labels.items():
        if name not in _LABEL_NAMES or type(value) is not str:
            raise InvalidArgument(
                f"index labels are {', '.join(INDEX_LABELS)} with string values, got {short_repr(name)}={short_repr(value)}"
            )


def validate_key(key: object) -> str:
    """Return ``key`` if it is a safe relative key, else raise :class:`InvalidKey`.

    Keys are ``/``-separated segments. No segment may be empty or start with ``.`` (so no ``.``/``..``,
    and store-internal names such as ``.locks`` stay out of reach); no leading ``/``, no backslash, no
    control character; at most 512 characters and 1024 bytes of UTF-8.
    """
    if type(key) is str and key in _VALID_KEYS:
        return key
    if not isinstance(key, str):
        raise InvalidKey(key, f"a key must be a string, got {type(key).__name__}")
    if not key:
        raise InvalidKey(key, "empty key")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidKey(key, "not valid Unicode text (lone surrogate)") from None
    if len(key) > MAX_KEY_LENGTH or len(encoded) > 2 * MAX_KEY_LENGTH:
        raise InvalidKey(key, f"longer than {MAX_KEY_LENGTH} characters or {2 * MAX_KEY_LENGTH} bytes")
    if _CONTROL.search(key):
        raise InvalidKey(key, "control characters are not allowed")
    if "\\" in key:
        raise InvalidKey(key, "backslashes are not allowed")
    if key.startswith("/"):
        raise InvalidKey(key, "absolute keys are not allowed")
    for segment in key.split("/"):
        if segment == "":
            raise InvalidKey(key, "empty path segments are not allowed")
        if segment.startswith("."):
            raise InvalidKey(key, f"segment {short_repr(segment)} may not start with '.' (no '.', '..' or hidden names)")
    if len(_VALID_KEYS) >= _VALID_KEYS_MAX:
        _VALID_KEYS.clear()
    _VALID_KEYS[key] = None
    return key


# keys already checked (a process touches the same few keys again and again); bounded, cleared when full
_VALID_KEYS: dict[str, None] = {}
_VALID_KEYS_MAX = 4096


def validate_prefix(prefix: object) -> str:
    """A list prefix: empty, or a key-like string (it may end with '/'); else :class:`InvalidKey`."""
    if not isinstance(prefix, str):
        raise InvalidKey(prefix, f"a prefix must be a string, got {type(prefix).__name__}")
    if prefix == "":
        return prefix
    validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


#: how a backend with a blocking client (files, SQLite, boto3) runs its calls from async code:
#: ``thread`` (the default) hands each call to a worker thread, so the event loop keeps serving other
#: tasks while the disk or the network works; ``inline`` makes the call on the loop itself, saving the
#: thread hop (tens of microseconds, more on a busy machine) for processes that serve one actor at a time
#: (a Lambda handler, a CLI, a queue worker handling one message after another).
IO_MODES = ("thread", "inline")


def parse_io(url: str, options: dict[str, str]) -> str:
    """The ``io=`` option of a store URL (see :data:`IO_MODES`)."""
    mode = options.get("io", "thread").lower()
    if mode not in IO_MODES:
        raise StoreConfigError(f"{url!r}: io must be one of {', '.join(IO_MODES)}, not {mode!r}")
    return mode


def is_inline_io(io: str) -> bool:
    """Whether ``io`` is ``inline`` (False for ``thread``); StoreConfigError (a ValueError) for an unknown mode."""
    if io not in IO_MODES:
        raise StoreConfigError(f"io must be one of {', '.join(IO_MODES)}, not {io!r}")
    return io == "inline"


def check_size(key: str, data: bytes, limit: int) -> None:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidArgumentType(f"store values are bytes, got {type(data).__name__}")
    if len(data) > limit:
        raise ValueTooLarge(key, len(data), limit)


class Storage(ABC):
    """Versioned bytes under keys. Every write is atomic: a reader never sees a torn value."""

    backend: str = "storage"
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES
    #: True when ``write(..., lease=...)`` rejects a stale lease atomically on the server.
    fences_writes: bool = False
    #: the backend a wrapping storage (a CodecStore) passes its calls to; LockableStorage looks through it
    wraps: Storage | None = None

    @abstractmethod
    async def read(self, key: str) -> Versioned | None:
        """The value and its version, or None when the key is absent."""

    #: True when ``write(..., index=)`` keeps the entry and :meth:`due_page` / :meth:`find_page` answer
    #: from it; False: they are not available and callers read every value instead.
    indexes: bool = False

    @abstractmethod
    async def write(
        self,
        key: str,
        data: bytes,
        expected_version: str | None = None,
        *,
        lease: Lease | None = None,
        index: IndexEntry | None = None,
    ) -> str:
        """Compare-and-set: store ``data`` if the current version is ``expected_version`` (None: only if
        absent). Returns the new version; raises WriteConflict (or LeaseLost for a fenced stale lease).

        ``index``: the value's index entry, replacing the previous one (None: the value has none). On a
        store that :attr:`indexes`, a reader of the index never misses a written value's entry; it may see
        an entry a moment stale (where the backend cannot write both at once), so callers re-check the
        value itself."""

    @abstractmethod
    async def delete(self, key: str, expected_version: str | None = None, *, lease: Lease | None = None) -> None:
        """Delete ``key``. With ``expected_version`` only if it still has that version (else WriteConflict);
        without, unconditionally (deleting an absent key is not an error)."""

    async def exists(self, key: str) -> bool:
        return await self.read(key) is not None

    @abstractmethod
    async def list_page(self, prefix: str = "", cursor: str | None = None, limit: int = 1000) -> Page:
        """One page of keys starting with ``prefix`` (no order promised)."""

    async def due_page(self, prefix: str, until: float, cursor: str | None = None, limit: int = 1000) -> Page:
        """One page of keys starting with ``prefix`` whose index entry is due at or before ``until``
        (epoch ms), earliest first. Only on a store that :attr:`indexes`."""
        raise ImplementationMissing(f"the {self.backend} store keeps no index: read the values instead")

    async def find_page(
        self, prefix: str, labels: Mapping[str, str], cursor: str | None = None, limit: int = 1000
    ) -> Page:
        """One page of keys starting with ``prefix`` whose index entry has every label in ``labels``
        (in key order). Only on a store that :attr:`indexes`."""
        raise ImplementationMissing(f"the {self.backend} store keeps no index: read the values instead")

    async def list(self, prefix: str = "", *, page_size: int = 1000) -> AsyncIterator[str]:
        """Every key starting with ``prefix``, page by page."""
        cursor: str | None = None
        while True:
            page = await self.list_page(prefix, cursor, page_size)
            for key in page.keys:
                yield key
            if page.cursor is None:
                return
            cursor = page.cursor

    async def close(self) -> None:  # noqa: B027 - optional hook, a no-op unless a backend holds connections
        """Release connections. Idempotent."""


class Lock(ABC):
    """Leases on keys, with owners and fencing tokens. An expired lease is free to take at once."""

    backend: str = "lock"

    @abstractmethod
    async def try_acquire(self, key: str, owner: str, lease_seconds: float) -> Lease | None:
        """One attempt: a new lease with a fresh (higher) token, or None when someone else holds it."""

    @abstractmethod
    async def renew(self, lease: Lease, lease_seconds: float | None = None) -> Lease:
        """Extend a lease we still hold (same token); LeaseLost if it expired or was taken over."""

    @abstractmethod
    async def release(self, lease: Lease) -> None:
        """Give the lease back; LeaseLost if it is not held by ``lease.owner`` with ``lease.token``."""

    @abstractmethod
    async def is_locked(self, key: str) -> bool:
        """True while an unexpired lease exists on ``key``."""

    @abstractmethod
    async def check(self, lease: Lease) -> None:
        """Raise LeaseLost unless ``lease`` is still the newest lease on its key and not expired."""

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
        """Acquire ``key`` for ``owner``, retrying with exponential backoff and full jitter until ``timeout``.

        Raises LockTimeout (alias AcquireLockError) with the original's message when the time is up.
        Infrastructure faults propagate at once as StoreUnavailable: they are not contention.
        """
        validate_key(key)
        if lease_seconds <= 0:
            raise InvalidArgument(f"lease_seconds must be positive, got {lease_seconds!r}")
        deadline = time.monotonic() + max(timeout, 0.0)
        backoff = initial_backoff
        while True:
            lease = await self.try_acquire(key, owner, lease_seconds)
            if lease is not None:
                return lease
            left = deadline - time.monotonic()
            if left <= 0:
                raise LockTimeout(key)
            await asyncio.sleep(min(left, random.uniform(0, backoff)))
            backoff = min(backoff * 2, max_backoff)

    async def close(self) -> None:  # noqa: B027 - optional hook, a no-op unless a backend holds connections
        """Release connections. Idempotent."""


def check_lease_key(lease: Lease, key: str) -> None:
    if lease.key != key:
        raise LeaseLost(key, f"the lease is for {short_repr(lease.key)}, not for {short_repr(key)}")


class LockableStorage:
    """A storage and a lock used together (the original's ``LockableStorageManager``).

    A write carrying a lease is fenced: atomically by the backend when storage and lock share a
    server (``storage.fences_writes``), otherwise by checking the lease just before writing, which
    narrows but cannot close the window (see docs/decisions/0002-stores.md).
    """

    def __init__(self, storage: Storage | None = None, lock: Lock | None = None) -> None:
        self.storage = storage
        self.lock = lock

    def _storage(self, method: str) -> Storage:
        if self.storage is None:
            raise StoreNotConfigured(
                f"[LockableStorage][{method}] Trying to use storage manager which does not exist."
            )
        return self.storage

    def _lock(self, method: str) -> Lock:
        if self.lock is None:
            raise StoreNotConfigured(
                f"[LockableStorage][{method}] Trying to use locking manager which does not exist."
            )
        return self.lock

    @property
    def fenced_atomically(self) -> bool:
        storage = self.storage
        if storage is None:
            return False
        backend: object = storage.wraps or storage  # a CodecStore is fenced by the backend it wraps
        return backend is self.lock and storage.fences_writes

    # storage
    async def read(self, key: str) -> Versioned | None:
        return await self._storage("read").read(key)

    async def write(
        self,
        key: str,
        data: bytes,
        expected_version: str | None = None,
        *,
        lease: Lease | None = None,
        index: IndexEntry | None = None,
    ) -> str:
        storage = self._storage("write")
        if lease is not None and not self.fenced_atomically:
            await self._lock("write").check(lease)
            return await storage.write(key, data, expected_version, index=index)
        return await storage.write(key, data, expected_version, lease=lease, index=index)

    @property
    def indexes(self) -> bool:
        return self.storage is not None and self.storage.indexes

    async def due_page(self, prefix: str, until: float, cursor: str | None = None, limit: int = 1000) -> Page:
        return await self._storage("due_page").due_page(prefix, until, cursor, limit)

    async def find_page(
        self, prefix: str, labels: Mapping[str, str], cursor: str | None = None, limit: int = 1000
    ) -> Page:
        return await self._storage("find_page").find_page(prefix, labels, cursor, limit)

    async def delete(self, key: str, expected_version: str | None = None, *, lease: Lease | None = None) -> None:
        storage = self._storage("delete")
        if lease is not None and not self.fenced_atomically:
            await self._lock("delete").check(lease)
            return await storage.delete(key, expected_version)
        return await storage.delete(key, expected_version, lease=lease)

    async def exists(self, key: str) -> bool:
        return await self._storage("exists").exists(key)

    def list(self, prefix: str = "", *, page_size: int = 1000) -> AsyncIterator[str]:
        return self._storage("list").list(prefix, page_size=page_size)

    async def list_page(self, prefix: str = "", cursor: str | None = None, limit: int = 1000) -> Page:
        return await self._storage("list").list_page(prefix, cursor, limit)

    # lock
    async def acquire(self, key: str, owner: str, lease_seconds: float = 30.0, timeout: float = 5.0) -> Lease:
        return await self._lock("acquire").acquire(key, owner, lease_seconds, timeout)

    async def try_acquire(self, key: str, owner: str, lease_seconds: float = 30.0) -> Lease | None:
        return await self._lock("try_acquire").try_acquire(key, owner, lease_seconds)

    async def renew(self, lease: Lease, lease_seconds: float | None = None) -> Lease:
        return await self._lock("renew").renew(lease, lease_seconds)

    async def release(self, lease: Lease) -> None:
        await self._lock("release").release(lease)

    async def is_locked(self, key: str) -> bool:
        return await self._lock("is_locked").is_locked(key)

    async def check(self, lease: Lease) -> None:
        await self._lock("check").check(lease)

    async def close(self) -> None:
        closed: set[int] = set()
        for part in (self.storage, self.lock):
            if part is not None and id(part) not in closed:
                closed.add(id(part))
                closed.add(id(getattr(part, "wraps", None) or part))  # closing a wrapper closes its backend
                await part.close()

    async def __aenter__(self) -> LockableStorage:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
