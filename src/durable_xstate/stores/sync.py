"""Using the async stores from synchronous code, without writing any backend twice.

``SyncStore(store)`` runs the store on a private event loop in a daemon thread and exposes the same
methods as plain calls. Exceptions are the same objects the async store raises.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from .base import IndexEntry, Lease, LockableStorage, Page, Versioned

__all__ = ["LoopThread", "SyncStore", "background_loop"]

T = TypeVar("T")


class LoopThread:
    """An event loop running forever in a daemon thread; ``run(coro)`` blocks for the result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="durable-xstate-store", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


_shared: LoopThread | None = None
_shared_lock = threading.Lock()


def background_loop() -> LoopThread:
    """The one loop thread that runs every synchronous facade of this process.

    Async clients (redis, psycopg) bind to the loop they first ran on, so all synchronous use of a
    store goes through the same loop. Do not use one store object both from ``async`` code and through
    a synchronous facade.
    """
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.thread.is_alive():
            _shared = LoopThread()
        return _shared


class SyncStore:
    """Blocking facade over a :class:`LockableStorage` (or any storage/lock with the same methods)."""

    def __init__(self, store: LockableStorage) -> None:
        self.store = store
        self._runner = background_loop()

    def read(self, key: str) -> Versioned | None:
        return self._runner.run(self.store.read(key))

    def write(
        self,
        key: str,
        data: bytes,
        expected_version: str | None = None,
        *,
        lease: Lease | None = None,
        index: IndexEntry | None = None,
    ) -> str:
        return self._runner.run(self.store.write(key, data, expected_version, lease=lease, index=index))

    def due_page(self, prefix: str, until: float, cursor: str | None = None, limit: int = 1000) -> Page:
        return self._runner.run(self.store.due_page(prefix, until, cursor, limit))

    def find_page(self, prefix: str, labels: Mapping[str, str], cursor: str | None = None, limit: int = 1000) -> Page:
        return self._runner.run(self.store.find_page(prefix, labels, cursor, limit))

    def delete(self, key: str, expected_version: str | None = None, *, lease: Lease | None = None) -> None:
        self._runner.run(self.store.delete(key, expected_version, lease=lease))

    def exists(self, key: str) -> bool:
        return self._runner.run(self.store.exists(key))

    def list_page(self, prefix: str = "", cursor: str | None = None, limit: int = 1000) -> Page:
        return self._runner.run(self.store.list_page(prefix, cursor, limit))

    def list(self, prefix: str = "", *, page_size: int = 1000) -> list[str]:
        async def collect() -> list[str]:
            return [k async for k in self.store.list(prefix, page_size=page_size)]

        return self._runner.run(collect())

    def acquire(self, key: str, owner: str, lease_seconds: float = 30.0, timeout: float = 5.0) -> Lease:
        return self._runner.run(self.store.acquire(key, owner, lease_seconds, timeout))

    def try_acquire(self, key: str, owner: str, lease_seconds: float = 30.0) -> Lease | None:
        return self._runner.run(self.store.try_acquire(key, owner, lease_seconds))

    def renew(self, lease: Lease, lease_seconds: float | None = None) -> Lease:
        return self._runner.run(self.store.renew(lease, lease_seconds))

    def release(self, lease: Lease) -> None:
        self._runner.run(self.store.release(lease))

    def is_locked(self, key: str) -> bool:
        return self._runner.run(self.store.is_locked(key))

    def close(self) -> None:
        self._runner.run(self.store.close())

    def __enter__(self) -> SyncStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
