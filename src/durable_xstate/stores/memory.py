"""The in-memory backend: storage and lock in one process (tests, demos, single-process tools).

It is also the reference for the contract: every other backend must behave exactly like it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from ..errors import LeaseLost, WriteConflict
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
    due_key_page,
    key_page,
    parse_due_cursor,
    validate_key,
    validate_prefix,
)

__all__ = ["MemoryStore"]


class MemoryStore(Storage, Lock):
    """Storage and lock in one dict; fencing is atomic (one lock guards both).

    ``clock`` gives the time in epoch seconds that leases expire by (``time.time`` by default); a test
    passes one it moves itself, so what it proves about leases does not depend on the machine's speed.
    """

    backend = "memory"
    fences_writes = True
    indexes = True

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._values: dict[str, tuple[bytes, int]] = {}
        # key -> (due, a copy of the labels): an IndexEntry's fields, kept as a plain tuple (cheaper to make);
        # written with the value, under the same mutex
        self._index: dict[str, tuple[float | None, dict[str, str]]] = {}
        self._leases: dict[str, tuple[str, int, float]] = {}  # key -> (owner, token, expires_at)
        self._tokens: dict[str, int] = {}  # key -> highest token ever issued
        self._counter = 0
        self._mutex = asyncio.Lock()

    # ------------------------------------------------------------------ storage
    async def read(self, key: str) -> Versioned | None:
        validate_key(key)
        item = self._values.get(key)
        return None if item is None else Versioned(item[0], str(item[1]))

    def _fence(self, key: str, lease: Lease | None) -> None:
        if lease is None:
            return
        check_lease_key(lease, key)
        newest = self._tokens.get(key, 0)
        if newest != lease.token:
            raise LeaseLost(key, f"fencing token {lease.token} is stale (newest is {newest})")

    async def write(
        self,
        key: str,
        data: bytes,
        expected_version: str | None = None,
        *,
        lease: Lease | None = None,
        index: IndexEntry | None = None,
    ) -> str:
        validate_key(key)
        check_size(key, data, self.max_value_bytes)
        if index is not None:
            labels = dict(index.labels)  # our copy: the caller may change its dict later
            check_labels(labels)
        async with self._mutex:
            self._fence(key, lease)
            current = self._values.get(key)
            found = None if current is None else str(current[1])
            if found != expected_version:
                raise WriteConflict(key, expected_version, found)
            self._counter += 1
            self._values[key] = (bytes(data), self._counter)
            if index is None:
                self._index.pop(key, None)
            else:
                self._index[key] = (index.due, labels)
            return str(self._counter)

    async def delete(self, key: str, expected_version: str | None = None, *, lease: Lease | None = None) -> None:
        validate_key(key)
        async with self._mutex:
            self._fence(key, lease)
            if expected_version is not None:
                current = self._values.get(key)
                found = None if current is None else str(current[1])
                if found != expected_version:
                    raise WriteConflict(key, expected_version, found)
            self._values.pop(key, None)
            self._index.pop(key, None)

    async def due_page(self, prefix: str, until: float, cursor: str | None = None, limit: int = 1000) -> Page:
        validate_prefix(prefix)
        check_limit(limit)
        after = parse_due_cursor(cursor) if cursor is not None else None
        due = sorted(
            (d, k) for k, (d, _) in self._index.items()
            if d is not None and d <= until and k.startswith(prefix) and (after is None or (d, k) > after)
        )
        return due_key_page(due, limit)

    async def find_page(
        self, prefix: str, labels: Mapping[str, str], cursor: str | None = None, limit: int = 1000
    ) -> Page:
        validate_prefix(prefix)
        check_labels(labels)
        check_limit(limit)
        keys = sorted(
            k for k, (_, kept) in self._index.items()
            if k.startswith(prefix) and (cursor is None or k > cursor)
            and all(kept.get(n) == v for n, v in labels.items())
        )
        return key_page(keys, limit)

    async def list_page(self, prefix: str = "", cursor: str | None = None, limit: int = 1000) -> Page:
        validate_prefix(prefix)
        check_limit(limit)
        keys = sorted(k for k in self._values if k.startswith(prefix) and (cursor is None or k > cursor))
        return key_page(keys, limit)

    # ------------------------------------------------------------------ lock
    async def try_acquire(self, key: str, owner: str, lease_seconds: float) -> Lease | None:
        validate_key(key)
        async with self._mutex:
            now = self._clock()
            held = self._leases.get(key)
            if held is not None and held[2] > now:
                return None
            token = self._tokens.get(key, 0) + 1
            self._tokens[key] = token
            expires = now + lease_seconds
            self._leases[key] = (owner, token, expires)
            return Lease(key, owner, token, expires, lease_seconds)

    def _held(self, lease: Lease, now: float) -> tuple[str, int, float]:
        held = self._leases.get(lease.key)
        if held is None or held[0] != lease.owner or held[1] != lease.token:
            raise LeaseLost(lease.key, "not held by this owner and token")
        return held

    async def renew(self, lease: Lease, lease_seconds: float | None = None) -> Lease:
        async with self._mutex:
            now = self._clock()
            held = self._held(lease, now)
            if held[2] <= now:
                raise LeaseLost(lease.key, "expired")
            duration = lease.lease_seconds if lease_seconds is None else lease_seconds
            expires = now + duration
            self._leases[lease.key] = (lease.owner, lease.token, expires)
            return Lease(lease.key, lease.owner, lease.token, expires, duration)

    async def release(self, lease: Lease) -> None:
        async with self._mutex:
            self._held(lease, self._clock())
            del self._leases[lease.key]

    async def is_locked(self, key: str) -> bool:
        validate_key(key)
        held = self._leases.get(key)
        return held is not None and held[2] > self._clock()

    async def check(self, lease: Lease) -> None:
        now = self._clock()
        held = self._held(lease, now)
        if held[2] <= now:
            raise LeaseLost(lease.key, "expired")
        if self._tokens.get(lease.key, 0) != lease.token:
            raise LeaseLost(lease.key, "a newer lease was granted")


_NAMED: dict[str, MemoryStore] = {}


def from_url(url: str, parts: object, options: dict[str, str]) -> MemoryStore:
    """``memory://name``: one store per name in this process (``memory://`` alone is always new)."""
    name = getattr(parts, "netloc", "") + getattr(parts, "path", "")
    if not name:
        return MemoryStore()
    store = _NAMED.get(name)
    if store is None:
        store = _NAMED[name] = MemoryStore()
    return store
