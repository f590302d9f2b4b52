"""Storage and locks: versioned bytes under keys, leases with owners and fencing tokens.

``open_store(url, lock=None)`` opens any backend from a URL and returns a :class:`LockableStorage`:

==================================  ======================================================
``memory://name``                   in-process (shared per name within the process)
``file:///abs/dir``, ``file://./d`` local files, the embedded default
``sqlite:///path/to/db``            SQLite
``s3://bucket/prefix/``             S3 (storage only: pair it with ``lock=`` a DynamoDB,
                                    Redis or PostgreSQL URL)
``dynamodb://table``                DynamoDB (storage table + ``<table>-locks``)
``redis://host:port/0``             Redis
``postgresql://user@host:port/db``  PostgreSQL
``azure://account/container/pre/``  Azure Blob Storage (``azure+http://127.0.0.1:10000/
                                    devstoreaccount1/container/`` for Azurite)
==================================  ======================================================

Query parameters are passed to the backend (e.g. ``?endpoint_url=http://127.0.0.1:5000&region=us-east-1``
for S3 and DynamoDB). The backends whose client blocks (file, SQLite, S3, DynamoDB) take ``?io=thread``
(the default: each call in a worker thread, the event loop stays free) or ``?io=inline`` (each call on the
loop: no thread hop, for processes that serve one actor at a time). Backends connect lazily, on first use. Their client libraries are optional
extras: ``pip install 'durable-xstate[redis]'`` and so on.
"""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..errors import (
    AcquireLockError,
    CorruptValue,
    InvalidKey,
    LeaseLost,
    LockTimeout,
    MissingDependency,
    StoreConfigError,
    StoreError,
    StoreNotConfigured,
    StoreUnavailable,
    UnsafePath,
    ValueTooLarge,
    WriteConflict,
)
from .base import (
    DEFAULT_MAX_VALUE_BYTES,
    INDEX_LABELS,
    MAX_KEY_LENGTH,
    IndexEntry,
    Lease,
    Lock,
    LockableStorage,
    Page,
    Storage,
    Versioned,
    validate_key,
)
from .codec import AesGcmCodec, CodecStore, GzipCodec, RecordCodec, ZlibCodec
from .memory import MemoryStore
from .sync import SyncStore

__all__ = [
    "DEFAULT_MAX_VALUE_BYTES",
    "INDEX_LABELS",
    "MAX_KEY_LENGTH",
    "AcquireLockError",
    "AesGcmCodec",
    "CodecStore",
    "CorruptValue",
    "GzipCodec",
    "IndexEntry",
    "InvalidKey",
    "Lease",
    "LeaseLost",
    "Lock",
    "LockTimeout",
    "LockableStorage",
    "MemoryStore",
    "Page",
    "RecordCodec",
    "Storage",
    "StoreConfigError",
    "StoreError",
    "StoreNotConfigured",
    "StoreUnavailable",
    "SyncStore",
    "UnsafePath",
    "ValueTooLarge",
    "Versioned",
    "WriteConflict",
    "ZlibCodec",
    "open_backend",
    "open_store",
    "validate_key",
]

# scheme -> (module, factory function). Each factory takes (url, parts, options) and returns a
# Storage, a Lock, or one object that is both.
_BACKENDS: dict[str, tuple[str, str]] = {
    "memory": ("durable_xstate.stores.memory", "from_url"),
    "file": ("durable_xstate.stores.local", "from_url"),
    "sqlite": ("durable_xstate.stores.sqlite", "from_url"),
    "s3": ("durable_xstate.stores.s3", "from_url"),
    "dynamodb": ("durable_xstate.stores.dynamodb", "from_url"),
    "redis": ("durable_xstate.stores.redis", "from_url"),
    "rediss": ("durable_xstate.stores.redis", "from_url"),
    "postgresql": ("durable_xstate.stores.postgres", "from_url"),
    "postgres": ("durable_xstate.stores.postgres", "from_url"),
    "azure": ("durable_xstate.stores.azure", "from_url"),
    "azure+http": ("durable_xstate.stores.azure", "from_url"),
    "azure+https": ("durable_xstate.stores.azure", "from_url"),
}


# scheme -> the extra of pyproject.toml that installs its client (tests/stores/test_install_hints.py checks them)
_EXTRAS: dict[str, str] = {
    "redis": "redis", "rediss": "redis", "postgresql": "postgres", "postgres": "postgres", "s3": "aws",
    "dynamodb": "aws", "azure": "azure", "azure+http": "azure", "azure+https": "azure",
}


def open_backend(url: str) -> Any:
    """The backend object (storage, lock, or both) for ``url``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _BACKENDS:
        raise StoreConfigError(f"unknown store URL scheme {scheme!r} in {url!r}; known: {', '.join(sorted(_BACKENDS))}")
    module_name, factory = _BACKENDS[scheme]
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        extra = _EXTRAS.get(scheme, "all")
        raise MissingDependency(
            f"the {scheme} backend needs an optional dependency ({err.name}): pip install 'durable-xstate[{extra}]'",
            extra=extra, name=err.name,
        ) from err
    options = dict(parse_qsl(parts.query))
    return getattr(module, factory)(url, parts, options)


def open_store(url: str, lock: str | None = None, *, codec: Any = None) -> LockableStorage:
    """Open a store from a URL; ``lock`` names a lock backend for storages without one (e.g. S3).

    ``codec``: record codecs every value is encoded with (compression, encryption; see
    :mod:`durable_xstate.stores.codec`): a codec, a list of them, or names such as ``"gzip,aes-gcm"``."""
    backend = open_backend(url)
    storage = backend if isinstance(backend, Storage) else None
    lock_backend = backend if isinstance(backend, Lock) else None
    if lock is not None:
        lock_backend = open_backend(lock)
        if not isinstance(lock_backend, Lock):
            raise StoreNotConfigured(f"{lock!r} does not provide locks")
    if storage is None:
        raise StoreNotConfigured(f"{url!r} does not provide storage")
    if codec is not None:
        from .codec import CodecStore, codecs_from_spec

        storage = CodecStore(storage, codecs_from_spec(codec) if isinstance(codec, str) else codec)
    return LockableStorage(storage=storage, lock=lock_backend)
