"""SQLite: storage and lock in one database file (``sqlite:///abs/path.db``, ``sqlite://./rel.db``).

Tables (created on first use)::

    store_values (key TEXT PRIMARY KEY, data BLOB, version INTEGER,
                  indexed INTEGER, due REAL NULL, machine TEXT NULL, status TEXT NULL, state TEXT NULL)
    store_leases (key TEXT PRIMARY KEY, owner TEXT NULL, token INTEGER, expires_at REAL NULL)
    store_meta   (name TEXT PRIMARY KEY, value INTEGER)   -- 'version_seq', 'schema'

A value's index entry lives in its own row (``indexed`` = 1, ``due``, the labels), written by the same
statement; partial indexes on ``(due, key)`` and ``(<label>, key)`` make ``due_page`` / ``find_page``
index range scans (docs/decisions/0008-index.md). A database of schema 1 gets the columns on open.

Every write runs in one ``BEGIN IMMEDIATE`` transaction (SQLite's single writer lock, so across threads
and processes): the fencing check against ``store_leases.token``, then ``INSERT ... ON CONFLICT DO
NOTHING`` (create-only) or ``UPDATE ... WHERE key = ? AND version = ?`` (compare-and-set), with the new
version drawn from one database-wide sequence, so a key deleted and created again never reuses a version
(no ABA). A released lease keeps its row with ``owner = NULL`` and its token: the next holder gets a
higher one. WAL mode and a busy timeout let many processes share the file. Details: docs/stores/sqlite.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import SplitResult, unquote

from ..errors import (
    InvalidArgument,
    LeaseLost,
    StoreConfigError,
    StoreError,
    StoreUnavailable,
    WriteConflict,
)
from ._sqlindex import ENTRY_COLUMNS, due_limit, entry_params, storable_text
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
    due_key_page,
    is_inline_io,
    key_page,
    parse_due_cursor,
    parse_io,
    validate_key,
    validate_prefix,
)

__all__ = ["SQLiteStore", "from_url"]

T = TypeVar("T")

SCHEMA_VERSION = 2  # 2: the index entry's columns and indexes (issue 13)
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS store_values (
        key TEXT PRIMARY KEY NOT NULL,
        data BLOB NOT NULL,
        version INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS store_leases (
        key TEXT PRIMARY KEY NOT NULL,
        owner TEXT,
        token INTEGER NOT NULL,
        expires_at REAL
    )""",
    """CREATE TABLE IF NOT EXISTS store_meta (
        name TEXT PRIMARY KEY NOT NULL,
        value INTEGER NOT NULL
    )""",
    "INSERT OR IGNORE INTO store_meta (name, value) VALUES ('version_seq', 0)",
    "INSERT OR IGNORE INTO store_meta (name, value) VALUES ('schema', 1)",
)
# schema 1 -> 2, run on every open of an older file (and after _SCHEMA on a new one): the columns an
# index entry is kept in (added only where missing), then the indexes that answer due_page / find_page
_ENTRY_TYPES = {"indexed": "INTEGER NOT NULL DEFAULT 0", "due": "REAL", **{name: "TEXT" for name in INDEX_LABELS}}
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS store_values_due ON store_values (due, key) WHERE due IS NOT NULL",
    *(
        f"CREATE INDEX IF NOT EXISTS store_values_{name} ON store_values ({name}, key) WHERE {name} IS NOT NULL"
        for name in INDEX_LABELS
    ),
)
_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


class SQLiteStore(Storage, Lock):
    """Storage and lock in one SQLite file; fencing is atomic (same transaction as the write)."""

    backend = "sqlite"
    fences_writes = True
    indexes = True

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0, synchronous: str = "FULL", io: str = "thread"
    ) -> None:
        self.path = os.path.abspath(os.fspath(path))
        #: every call on the event loop instead of a worker thread (``io=inline``; a write waiting for
        #: another process's lock then holds the loop up to ``busy_timeout``)
        self.inline = is_inline_io(io)
        #: seconds a statement waits for another connection's write lock before failing
        self.busy_timeout = busy_timeout
        #: PRAGMA synchronous: FULL (default: a committed write survives power loss) or NORMAL
        self.synchronous = synchronous.upper()
        self._conn: sqlite3.Connection | None = None
        self._guard = threading.Lock()  # one connection per store object, used by one thread at a time

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # ------------------------------------------------------------------ plumbing
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            deadline = time.monotonic() + self.busy_timeout
            delay = 0.005
            while True:
                try:
                    self._init(conn)
                    return conn
                except sqlite3.OperationalError as err:
                    # Switching a new file to WAL can report "locked" without waiting when several
                    # processes open it at once; that is contention on first use, so try again.
                    if _code(err) not in _BUSY or time.monotonic() > deadline:
                        raise
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    time.sleep(random.uniform(0, delay))
                    delay = min(delay * 2, 0.25)
        except BaseException:
            conn.close()
            raise

    def _init(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        if self._schema(conn) >= SCHEMA_VERSION:
            return
        with _immediate(conn):  # another process may be doing the same: everything below is idempotent
            for statement in _SCHEMA:
                conn.execute(statement)
            present = {row[1] for row in conn.execute("PRAGMA table_info(store_values)")}
            for column in ENTRY_COLUMNS:
                if column not in present:
                    conn.execute(f"ALTER TABLE store_values ADD COLUMN {column} {_ENTRY_TYPES[column]}")
            for statement in _INDEXES:
                conn.execute(statement)
            conn.execute(
                "UPDATE store_meta SET value = max(value, ?) WHERE name = 'schema'", (SCHEMA_VERSION,)
            )

    @staticmethod
    def _schema(conn: sqlite3.Connection) -> int:
        """The file's schema version (0: the tables are not all there yet)."""
        exists = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
            "('store_values', 'store_leases', 'store_meta')"
        ).fetchone()[0]
        if exists != 3:
            return 0
        row = conn.execute("SELECT value FROM store_meta WHERE name = 'schema'").fetchone()
        return 0 if row is None else int(row[0])

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._guard:
            if self._conn is None:
                self._conn = self._connect()
            conn = self._conn
            try:
                return fn(conn)
            except sqlite3.Error:
                if conn.in_transaction:  # a failed ROLLBACK: start afresh next time
                    self._conn = None
                    with contextlib.suppress(sqlite3.Error):
                        conn.close()
                raise

    async def _run(
        self, operation: str, fn: Callable[[sqlite3.Connection], T], *, inline: bool = False
    ) -> T:
        try:
            if self.inline:  # io=inline: everything on the loop
                result = self._call(fn)
                await asyncio.sleep(0)  # still a suspension point
                return result
            # a read on an open, idle connection runs on the loop (WAL readers never wait for writers);
            # anything else, or a busy connection, goes to a worker thread
            if inline and self._conn is not None and self._guard.acquire(blocking=False):
                try:
                    conn = self._conn
                    result = fn(conn) if conn is not None else None
                finally:
                    self._guard.release()
                if conn is not None:
                    await asyncio.sleep(0)  # still a suspension point, as a threaded call would be
                    return result
            return await asyncio.to_thread(self._call, fn)
        except StoreError:
            raise
        except (sqlite3.Error, OSError) as err:  # including "database is locked" past the busy timeout
            raise StoreUnavailable(self.backend, operation, err) from err

    async def close(self) -> None:
        def close_sync() -> None:
            with self._guard:
                conn, self._conn = self._conn, None
                if conn is not None:
                    conn.close()

        try:
            if self.inline:
                close_sync()
            else:
                await asyncio.to_thread(close_sync)
        except sqlite3.Error as err:
            raise StoreUnavailable(self.backend, "close", err) from err

    @staticmethod
    def _found(conn: sqlite3.Connection, key: str) -> str | None:
        row = conn.execute("SELECT version FROM store_values WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def _next_version(conn: sqlite3.Connection) -> int:
        row = conn.execute(
            "UPDATE store_meta SET value = value + 1 WHERE name = 'version_seq' RETURNING value"
        ).fetchone()
        if row is None:
            raise sqlite3.DatabaseError("store_meta has no version_seq row")
        return int(row[0])

    @staticmethod
    def _fence(conn: sqlite3.Connection, key: str, lease: Lease | None) -> None:
        if lease is None:
            return
        row = conn.execute("SELECT token FROM store_leases WHERE key = ?", (key,)).fetchone()
        newest = 0 if row is None else int(row[0])
        if newest != lease.token:
            raise LeaseLost(key, f"fencing token {lease.token} is stale (newest is {newest})")

    # ------------------------------------------------------------------ storage
    async def read(self, key: str) -> Versioned | None:
        validate_key(key)

        def op(conn: sqlite3.Connection) -> Versioned | None:
            row = conn.execute("SELECT data, version FROM store_values WHERE key = ?", (key,)).fetchone()
            return None if row is None else Versioned(bytes(row[0]), str(row[1]))

        return await self._run("read", op, inline=True)

    async def exists(self, key: str) -> bool:
        validate_key(key)

        def op(conn: sqlite3.Connection) -> bool:
            return conn.execute("SELECT 1 FROM store_values WHERE key = ?", (key,)).fetchone() is not None

        return await self._run("exists", op, inline=True)

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
        if lease is not None:
            check_lease_key(lease, key)
        payload = data if isinstance(data, bytes) else bytes(data)
        expected = _as_version(expected_version)
        entry = entry_params(index)

        def op(conn: sqlite3.Connection) -> str:
            with _immediate(conn):
                self._fence(conn, key, lease)
                if expected_version is None:
                    version = self._next_version(conn)
                    cursor = conn.execute(_SQL_CREATE, (key, payload, version, *entry))
                elif expected is None:  # not a version this backend ever issued
                    raise WriteConflict(key, expected_version, self._found(conn, key))
                else:
                    version = self._next_version(conn)
                    cursor = conn.execute(_SQL_UPDATE, (payload, version, *entry, key, expected))
                if cursor.rowcount != 1:
                    raise WriteConflict(key, expected_version, self._found(conn, key))
                return str(version)

        return await self._run("write", op)

    async def delete(self, key: str, expected_version: str | None = None, *, lease: Lease | None = None) -> None:
        validate_key(key)
        if lease is not None:
            check_lease_key(lease, key)
        expected = _as_version(expected_version)

        def op(conn: sqlite3.Connection) -> None:
            with _immediate(conn):
                self._fence(conn, key, lease)
                if expected_version is None:
                    conn.execute("DELETE FROM store_values WHERE key = ?", (key,))
                    return
                if expected is not None:
                    cursor = conn.execute(
                        "DELETE FROM store_values WHERE key = ? AND version = ?", (key, expected)
                    )
                    if cursor.rowcount == 1:
                        return
                raise WriteConflict(key, expected_version, self._found(conn, key))

        await self._run("delete", op)

    async def list_page(self, prefix: str = "", cursor: str | None = None, limit: int = 1000) -> Page:
        validate_prefix(prefix)
        check_limit(limit)
        clauses, params = _prefix_range(prefix)
        return await self._run("list", _keys_after(clauses, params, cursor, limit))

    async def due_page(self, prefix: str, until: float, cursor: str | None = None, limit: int = 1000) -> Page:
        validate_prefix(prefix)
        check_limit(limit)
        after = parse_due_cursor(cursor) if cursor is not None else None
        until_ms = due_limit(until)
        if until_ms is None or (after is not None and not storable_text(after[1])):
            if until_ms is None:
                return Page([], None)
            raise InvalidArgument(f"not a due_page cursor: {cursor!r}")
        # a range scan of store_values_due from the cursor up to ``until``; the prefix filters that range
        clauses, params = _prefix_range(prefix)
        clauses[:0] = ["due IS NOT NULL", "due <= ?"]
        params[:0] = [until_ms]
        if after is not None:
            clauses.append("(due, key) > (?, ?)")
            params.extend(after)
        sql = f"SELECT due, key FROM store_values WHERE {' AND '.join(clauses)} ORDER BY due, key LIMIT ?"

        def op(conn: sqlite3.Connection) -> Page:
            rows = conn.execute(sql, (*params, limit + 1)).fetchall()
            return due_key_page(rows, limit)

        return await self._run("due_page", op, inline=True)

    async def find_page(
        self, prefix: str, labels: Mapping[str, str], cursor: str | None = None, limit: int = 1000
    ) -> Page:
        validate_prefix(prefix)
        check_labels(labels)
        check_limit(limit)
        if not all(storable_text(value) for value in labels.values()):
            return Page([], None)  # no entry can carry such a label (write refuses it)
        # with a label, a range scan of store_values_<label> in key order (SQLite picks the label)
        clauses, params = _prefix_range(prefix)
        if not labels:  # every key with an entry: the primary key's order, filtered
            clauses.insert(0, "indexed = 1")
        for name in INDEX_LABELS:
            if name in labels:
                clauses.append(f"{name} = ?")
                params.append(labels[name])
        return await self._run("find_page", _keys_after(clauses, params, cursor, limit), inline=True)

    # ------------------------------------------------------------------ lock
    async def try_acquire(self, key: str, owner: str, lease_seconds: float) -> Lease | None:
        validate_key(key)

        def op(conn: sqlite3.Connection) -> Lease | None:
            with _immediate(conn):
                now = time.time()  # read under the write lock
                row = conn.execute(
                    "SELECT owner, token, expires_at FROM store_leases WHERE key = ?", (key,)
                ).fetchone()
                if row is not None and row[0] is not None and row[2] > now:
                    return None
                token = (0 if row is None else int(row[1])) + 1
                expires = now + lease_seconds
                conn.execute(
                    "INSERT INTO store_leases (key, owner, token, expires_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, token = excluded.token, "
                    "expires_at = excluded.expires_at",
                    (key, owner, token, expires),
                )
                return Lease(key, owner, token, expires, lease_seconds)

        return await self._run("try_acquire", op)

    @staticmethod
    def _held(conn: sqlite3.Connection, lease: Lease) -> float:
        row = conn.execute(
            "SELECT expires_at FROM store_leases WHERE key = ? AND owner = ? AND token = ?",
            (lease.key, lease.owner, lease.token),
        ).fetchone()
        if row is None:
            raise LeaseLost(lease.key, "not held by this owner and token")
        return float(row[0])

    async def renew(self, lease: Lease, lease_seconds: float | None = None) -> Lease:
        validate_key(lease.key)

        def op(conn: sqlite3.Connection) -> Lease:
            with _immediate(conn):
                now = time.time()
                if self._held(conn, lease) <= now:
                    raise LeaseLost(lease.key, "expired")
                duration = lease.lease_seconds if lease_seconds is None else lease_seconds
                expires = now + duration
                conn.execute(
                    "UPDATE store_leases SET expires_at = ? WHERE key = ? AND owner = ? AND token = ?",
                    (expires, lease.key, lease.owner, lease.token),
                )
                return Lease(lease.key, lease.owner, lease.token, expires, duration)

        return await self._run("renew", op)

    async def release(self, lease: Lease) -> None:
        validate_key(lease.key)

        def op(conn: sqlite3.Connection) -> None:
            with _immediate(conn):
                # the row and its token stay: the next holder gets a higher token
                cursor = conn.execute(
                    "UPDATE store_leases SET owner = NULL, expires_at = NULL "
                    "WHERE key = ? AND owner = ? AND token = ?",
                    (lease.key, lease.owner, lease.token),
                )
                if cursor.rowcount != 1:
                    raise LeaseLost(lease.key, "not held by this owner and token")

        await self._run("release", op)

    async def is_locked(self, key: str) -> bool:
        validate_key(key)

        def op(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT 1 FROM store_leases WHERE key = ? AND owner IS NOT NULL AND expires_at > ?",
                (key, time.time()),
            ).fetchone()
            return row is not None

        return await self._run("is_locked", op)

    async def check(self, lease: Lease) -> None:
        validate_key(lease.key)

        def op(conn: sqlite3.Connection) -> None:
            # the row holds the newest lease granted, so matching owner and token means "newest"
            if self._held(conn, lease) <= time.time():
                raise LeaseLost(lease.key, "expired")

        await self._run("check", op)


@contextlib.contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: BEGIN IMMEDIATE takes the database's write lock up front (waiting up to
    the busy timeout), so the reads inside it see what the write will be based on."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


_SQL_CREATE = (
    f"INSERT INTO store_values (key, data, version, {', '.join(ENTRY_COLUMNS)})"
    f" VALUES (?, ?, ?, {', '.join('?' for _ in ENTRY_COLUMNS)}) ON CONFLICT (key) DO NOTHING"
)
_SQL_UPDATE = (
    f"UPDATE store_values SET data = ?, version = ?, {', '.join(f'{c} = ?' for c in ENTRY_COLUMNS)}"
    " WHERE key = ? AND version = ?"
)


def _keys_after(
    clauses: list[str], params: list[Any], cursor: str | None, limit: int
) -> Callable[[sqlite3.Connection], Page]:
    """The work of one page of keys matching ``clauses``, in key order, after ``cursor``."""
    if cursor is not None:
        clauses = [*clauses, "key > ?"]
        params = [*params, cursor]
    sql = f"SELECT key FROM store_values WHERE {' AND '.join(clauses)} ORDER BY key LIMIT ?"

    def op(conn: sqlite3.Connection) -> Page:
        return key_page([row[0] for row in conn.execute(sql, (*params, limit + 1))], limit)

    return op


def _prefix_range(prefix: str) -> tuple[list[str], list[Any]]:
    """WHERE clauses and parameters for keys starting with ``prefix``: exactly the keys in
    [prefix, successor(prefix)) in code-point order, which is SQLite's BINARY (UTF-8 memcmp) order, so
    an index on key (or on (label, key)) serves the range."""
    clauses, params = ["key >= ?"], [prefix]
    upper = _successor(prefix)
    if upper is not None:
        clauses.append("key < ?")
        params.append(upper)
    return clauses, params


def _code(err: sqlite3.Error) -> int | None:
    code: Any = getattr(err, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF  # primary result code


def _as_version(version: str | None) -> int | None:
    """The integer behind a version string this backend issued, or None (no such version)."""
    if version is None:
        return None
    try:
        number = int(version)
    except ValueError:
        return None
    return number if str(number) == version else None


def _successor(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None: no bound)."""
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last < 0x10FFFF:
            nxt = last + 1
            if 0xD800 <= nxt <= 0xDFFF:  # surrogates cannot be encoded: skip them
                nxt = 0xE000
            return "".join(chars) + chr(nxt)
    return None


_SYNCHRONOUS = {"FULL", "NORMAL", "EXTRA"}


def from_url(url: str, parts: SplitResult, options: dict[str, str]) -> SQLiteStore:
    """``sqlite:///abs/path.db`` (like ``file:///``: three slashes and an absolute path) or
    ``sqlite://./relative/path.db``. Options: ``?timeout=30`` (busy timeout, seconds),
    ``?synchronous=full|normal`` and ``?io=thread|inline`` (see ``IO_MODES``)."""
    host, path = parts.netloc, unquote(parts.path)
    if host in ("", "localhost"):
        db = path
    elif host in (".", ".."):
        db = host + path
    else:
        raise StoreConfigError(
            f"{url!r}: a SQLite URL names a database file: sqlite:///abs/path.db or sqlite://./relative.db"
        )
    if not db or db.endswith("/"):
        raise StoreConfigError(f"{url!r}: no database file given")
    unknown = set(options) - {"timeout", "synchronous", "io"}
    if unknown:
        raise StoreConfigError(f"{url!r}: unknown option(s) {', '.join(sorted(unknown))}; known: io, synchronous, timeout")
    try:
        timeout = float(options.get("timeout", "30"))
    except ValueError:
        raise StoreConfigError(f"{url!r}: timeout must be a number of seconds") from None
    synchronous = options.get("synchronous", "full").upper()
    if synchronous not in _SYNCHRONOUS:
        raise StoreConfigError(f"{url!r}: synchronous must be one of full, normal, extra")
    return SQLiteStore(db, busy_timeout=timeout, synchronous=synchronous, io=parse_io(url, options))
