"""PostgreSQL: storage and lock in two tables on one server, fencing inside the write's transaction.

URL: ``postgresql://user[:password]@host:port/dbname?prefix=NAME&table=durable_xstate``. ``prefix``
namespaces rows (a ``ns`` column in both tables, default empty); ``table`` names the tables
(``<table>_values``, ``<table>_leases``) and the version sequence (``<table>_version``); every other
query option goes to libpq (``connect_timeout``, ``sslmode``, ``options=-csearch_path%3Dmyschema``, ...).

The tables are created idempotently on first use. A value's index entry lives in its own row (columns
``indexed``, ``due``, ``machine``, ``status``, ``state``), written by the same statement as the value;
partial indexes on ``(ns, due, key)`` and ``(ns, md5(<label>), key)`` make ``due_page`` / ``find_page``
index range scans (docs/decisions/0008-index.md). Tables of an earlier version get the columns and
indexes on first use. Time for leases is the server's
(``clock_timestamp()``), so clients with skewed clocks still agree on who holds a lease.
See docs/stores/postgres.md.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import SplitResult, parse_qsl, urlencode, urlunsplit

from ..errors import (
    InvalidArgument,
    LeaseLost,
    MissingDependency,
    StoreConfigError,
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
    key_page,
    parse_due_cursor,
    validate_key,
    validate_prefix,
)

if TYPE_CHECKING:
    from psycopg import AsyncConnection

__all__ = ["DEFAULT_TABLE", "PostgresStore", "from_url"]

DEFAULT_TABLE = "durable_xstate"
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,40}")
T = TypeVar("T")


def _successor(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None: no bound)."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if code == 0xD800:  # skip the surrogates, which cannot be stored
            code = 0xE000
        if code <= sys.maxunicode:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


#: which label's index find_page seeks in when several are asked for (the likeliest to be selective first)
_SEEK_ORDER = ("state", "status", "machine")


def _label_key(name: str) -> str:
    """The indexed expression of a label: its md5, '/', then the key (so one label's keys sort by key)."""
    return f"(md5({name}) || '/' || key)"


def _as_version(expected: str) -> int | None:
    """The stored version an expected-version string can match, or None when it cannot match any."""
    if not expected.isascii() or not expected.isdigit() or len(expected) > 18:
        return None
    return int(expected)



def _require_psycopg() -> None:
    """MissingDependency naming the extra that installs psycopg when it is not there (one line, no traceback)."""
    try:
        import psycopg  # noqa: F401
    except ImportError as err:
        raise MissingDependency(
            "the postgres backend needs psycopg 3: pip install 'durable-xstate[postgres]'", extra="postgres",
            name=err.name,
        ) from err

class PostgresStore(Storage, Lock):
    """Storage and lock on one PostgreSQL database; fencing is atomic (same transaction as the write)."""

    backend = "postgres"
    fences_writes = True
    indexes = True

    def __init__(
        self,
        conninfo: str,
        prefix: str = "",
        table: str = DEFAULT_TABLE,
        connect_timeout: int = 5,
        prepare_threshold: int | None = 5,
    ) -> None:
        if prefix:
            validate_key(prefix)
        if not _IDENTIFIER.fullmatch(table):
            raise StoreConfigError(f"a postgres table name must match {_IDENTIFIER.pattern}, got {table!r}")
        self.conninfo = conninfo
        self.prefix = prefix
        self.table = table
        self.connect_timeout = connect_timeout
        self.prepare_threshold = prepare_threshold
        values, leases, seq = f'"{table}_values"', f'"{table}_leases"', f"{table}_version"
        # the last index the DDL creates: when it exists, so does everything before it
        self._names = (f"{table}_values", f"{table}_leases", seq, f"{table}_values_{INDEX_LABELS[-1]}")
        self._conn: AsyncConnection[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mutex: asyncio.Lock | None = None
        self._errors: tuple[type[BaseException], ...] | None = None
        where = "ns = %s AND key = %s"
        self._sql_ddl = [
            f"""CREATE TABLE IF NOT EXISTS {values} (
                  ns text COLLATE "C" NOT NULL,
                  key text COLLATE "C" NOT NULL,
                  data bytea NOT NULL,
                  version bigint NOT NULL,
                  PRIMARY KEY (ns, key))""",
            f"""CREATE TABLE IF NOT EXISTS {leases} (
                  ns text COLLATE "C" NOT NULL,
                  key text COLLATE "C" NOT NULL,
                  owner text,
                  token bigint NOT NULL,
                  expires_at timestamptz,
                  PRIMARY KEY (ns, key))""",
            f'CREATE SEQUENCE IF NOT EXISTS "{seq}"',
            # the index entry (issue 13): added in place to tables an earlier version created
            f"ALTER TABLE {values} ADD COLUMN IF NOT EXISTS indexed boolean NOT NULL DEFAULT false,"
            " ADD COLUMN IF NOT EXISTS due double precision,"
            + ",".join(f' ADD COLUMN IF NOT EXISTS {name} text COLLATE "C"' for name in INDEX_LABELS),
            f'CREATE INDEX IF NOT EXISTS "{table}_values_due" ON {values} (ns, due, key) WHERE due IS NOT NULL',
            # one expression per label, md5(label) || '/' || key: the label hashed (a long label, e.g. a
            # big state value, must not hit btree's ~2.7 kB entry limit) and then the key, so that a
            # label's keys are one range in key order that the cursor and the prefix narrow, and that
            # the primary key cannot serve (the planner would otherwise walk it on a misestimate)
            *(
                f'CREATE INDEX IF NOT EXISTS "{table}_values_{name}" ON {values} (ns, {_label_key(name)})'
                f" WHERE {name} IS NOT NULL"
                for name in INDEX_LABELS
            ),
        ]
        self._sql_read = f"SELECT data, version FROM {values} WHERE {where}"
        self._sql_version = f"SELECT version FROM {values} WHERE {where}"
        self._sql_exists = f"SELECT 1 FROM {values} WHERE {where}"
        # A write carrying a lease is fenced inside its own statement: the sub-select locks the lease row
        # FOR SHARE (so no new token can be issued until the write commits) and requires its token to be
        # the lease's. In READ COMMITTED the lock follows the row to its newest committed version.
        fence = f" AND EXISTS (SELECT 1 FROM {leases} WHERE {where} AND token = %s FOR SHARE)"
        nextval = f"nextval('\"{seq}\"')"
        # the entry's columns are set by the statement that writes the value (see _sqlindex)
        columns = ", ".join(ENTRY_COLUMNS)
        entry = "%s::boolean, %s::double precision, " + ", ".join("%s::text" for _ in INDEX_LABELS)
        assign = ", ".join(f"{c} = %s" for c in ENTRY_COLUMNS)
        self._sql_create = (
            f"INSERT INTO {values} (ns, key, data, version, {columns}) VALUES (%s, %s, %b, {nextval}, {entry})"
            " ON CONFLICT (ns, key) DO NOTHING RETURNING version"
        )
        self._sql_create_fenced = (
            f"INSERT INTO {values} (ns, key, data, version, {columns})"
            f" SELECT %s, %s, %b, {nextval}, {entry} WHERE TRUE{fence}"
            " ON CONFLICT (ns, key) DO NOTHING RETURNING version"
        )
        self._sql_update = (
            f"UPDATE {values} SET data = %b, version = {nextval}, {assign}"
            f" WHERE {where} AND version = %s RETURNING version"
        )
        self._sql_update_fenced = (
            f"UPDATE {values} SET data = %b, version = {nextval}, {assign}"
            f" WHERE {where} AND version = %s{fence} RETURNING version"
        )
        self._sql_due = f"SELECT due, key FROM {values} WHERE ns = %s AND due IS NOT NULL AND due <= %s"
        self._sql_find = f"SELECT key FROM {values} WHERE ns = %s AND key >= %s"
        self._sql_find_label = f"SELECT key FROM {values} WHERE ns = %s"
        self._sql_delete = f"DELETE FROM {values} WHERE {where}"
        self._sql_delete_fenced = f"DELETE FROM {values} WHERE {where}{fence} RETURNING version"
        self._sql_delete_version = f"DELETE FROM {values} WHERE {where} AND version = %s RETURNING version"
        self._sql_delete_version_fenced = (
            f"DELETE FROM {values} WHERE {where} AND version = %s{fence} RETURNING version"
        )
        # Why a fenced statement changed nothing: the newest token and the current version.
        self._sql_diagnose = (
            f"SELECT (SELECT token FROM {leases} WHERE {where}), (SELECT version FROM {values} WHERE {where})"
        )
        self._sql_list = f"SELECT key FROM {values} WHERE ns = %s AND key >= %s"
        self._sql_acquire = (
            f"INSERT INTO {leases} AS l (ns, key, owner, token, expires_at)"
            " VALUES (%s, %s, %s, 1, clock_timestamp() + make_interval(secs => %s))"
            " ON CONFLICT (ns, key) DO UPDATE"
            " SET owner = excluded.owner, token = l.token + 1, expires_at = excluded.expires_at"
            " WHERE l.owner IS NULL OR l.expires_at <= clock_timestamp()"
            " RETURNING token"
        )
        self._sql_renew = (
            f"UPDATE {leases} SET expires_at = clock_timestamp() + make_interval(secs => %s)"
            f" WHERE {where} AND owner = %s AND token = %s AND expires_at > clock_timestamp() RETURNING token"
        )
        self._sql_release = (
            f"UPDATE {leases} SET owner = NULL, expires_at = NULL"
            f" WHERE {where} AND owner = %s AND token = %s RETURNING token"
        )
        self._sql_is_locked = (
            f"SELECT 1 FROM {leases} WHERE {where} AND owner IS NOT NULL AND expires_at > clock_timestamp()"
        )
        self._sql_check = (
            f"SELECT 1 FROM {leases} WHERE {where} AND owner = %s AND token = %s AND expires_at > clock_timestamp()"
        )

    # ------------------------------------------------------------------ plumbing
    async def _connection(self) -> AsyncConnection[Any]:
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        _require_psycopg()
        import psycopg

        conn = await psycopg.AsyncConnection.connect(
            self.conninfo,
            autocommit=True,
            connect_timeout=self.connect_timeout,
            prepare_threshold=self.prepare_threshold,
        )
        try:
            await self._ensure_tables(conn)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        return conn

    async def _ensure_tables(self, conn: AsyncConnection[Any]) -> None:
        cur = await conn.execute(
            "SELECT " + " AND ".join("to_regclass(%s) IS NOT NULL" for _ in self._names),
            [f'"{name}"' for name in self._names],
        )
        row = await cur.fetchone()
        if row is not None and row[0]:
            return
        # Concurrent CREATE ... IF NOT EXISTS can still collide in the catalogs (a unique violation on
        # pg_type), so first-time creation is serialized with a transaction-scoped advisory lock.
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('durable_xstate.stores.postgres ddl'))")
            for statement in self._sql_ddl:
                await conn.execute(statement)

    async def _run(
        self, operation: str, work: Callable[[AsyncConnection[Any]], Awaitable[T]], *, read_only: bool = False
    ) -> T:
        """Run ``work`` on the store's connection, one operation at a time; faults -> StoreUnavailable.

        A read-only operation that finds its (reused) connection dead is retried once on a fresh one, so
        a server restart costs readers nothing. Writes are never retried: a lost reply leaves the outcome
        unknown, and a retried compare-and-set would report our own write as a conflict.
        """
        errors = self._errors
        if errors is None:
            _require_psycopg()
            import psycopg

            errors = self._errors = (psycopg.Error, OSError)
        loop = asyncio.get_running_loop()
        if self._mutex is None or self._loop is not loop:
            # psycopg's async connection and asyncio.Lock belong to the loop that created them.
            stale, self._mutex, self._loop, self._conn = self._conn, asyncio.Lock(), loop, None
            if stale is not None:
                stale.pgconn.finish()  # synchronous: the old loop may be gone
        async with self._mutex:
            attempts = 2 if read_only else 1
            while True:
                attempts -= 1
                conn: AsyncConnection[Any] | None = None
                reused = self._conn is not None
                try:
                    conn = self._conn
                    if conn is None or conn.closed:
                        conn = await self._connection()
                    return await work(conn)
                except errors as err:
                    self._discard_if_unusable(conn)
                    if attempts > 0 and reused and conn is not None and conn.closed:
                        continue
                    raise StoreUnavailable(self.backend, operation, err) from err
                except BaseException:
                    self._discard_if_unusable(conn)
                    raise

    def _discard_if_unusable(self, conn: AsyncConnection[Any] | None) -> None:
        """Drop a connection that is broken or was left inside a statement or transaction (e.g. cancelled)."""
        from psycopg.pq import TransactionStatus

        if conn is None:
            return
        if conn.closed or conn.info.transaction_status != TransactionStatus.IDLE:
            if self._conn is conn:
                self._conn = None
            conn.pgconn.finish()  # synchronous, so it also works while a cancellation is propagating

    async def _fetch(self, conn: AsyncConnection[Any], query: str, params: list[Any]) -> tuple[Any, ...] | None:
        cur = await conn.execute(query, params, binary=True)
        row: tuple[Any, ...] | None = await cur.fetchone()
        return row

    async def _found(self, conn: AsyncConnection[Any], key: str) -> str | None:
        row = await self._fetch(conn, self._sql_version, [self.prefix, key])
        return None if row is None else str(row[0])

    async def _diagnose(self, conn: AsyncConnection[Any], key: str, lease: Lease | None) -> str | None:
        """After a write or delete changed nothing: raise LeaseLost if the lease is stale (the fence comes
        first, as in the reference), else return the version found (None: absent)."""
        if lease is None:
            return await self._found(conn, key)
        row = await self._fetch(conn, self._sql_diagnose, [self.prefix, key, self.prefix, key])
        newest = 0 if row is None or row[0] is None else int(row[0])
        if newest != lease.token:
            raise LeaseLost(key, f"fencing token {lease.token} is stale (newest is {newest})")
        return None if row is None or row[1] is None else str(row[1])

    # ------------------------------------------------------------------ storage
    async def read(self, key: str) -> Versioned | None:
        validate_key(key)

        async def work(conn: AsyncConnection[Any]) -> Versioned | None:
            row = await self._fetch(conn, self._sql_read, [self.prefix, key])
            return None if row is None else Versioned(bytes(row[0]), str(row[1]))

        return await self._run("read", work, read_only=True)

    async def exists(self, key: str) -> bool:
        validate_key(key)

        async def work(conn: AsyncConnection[Any]) -> bool:
            return await self._fetch(conn, self._sql_exists, [self.prefix, key]) is not None

        return await self._run("exists", work, read_only=True)

    async def _write(
        self,
        conn: AsyncConnection[Any],
        key: str,
        data: bytes,
        expected: str | None,
        lease: Lease | None,
        entry: tuple[Any, ...],
    ) -> str:
        fence = [] if lease is None else [self.prefix, key, lease.token]
        if expected is None:
            create = self._sql_create if lease is None else self._sql_create_fenced
            while True:
                row = await self._fetch(conn, create, [self.prefix, key, data, *entry, *fence])
                if row is not None:
                    return str(row[0])
                found = await self._diagnose(conn, key, lease)
                if found is not None:
                    raise WriteConflict(key, None, found)
                # deleted between our insert and our look: try the insert again
        number = _as_version(expected)
        if number is not None:
            update = self._sql_update if lease is None else self._sql_update_fenced
            row = await self._fetch(conn, update, [data, *entry, self.prefix, key, number, *fence])
            if row is not None:
                return str(row[0])
        raise WriteConflict(key, expected, await self._diagnose(conn, key, lease))

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
        payload = bytes(data)
        entry = entry_params(index)

        async def work(conn: AsyncConnection[Any]) -> str:
            return await self._write(conn, key, payload, expected_version, lease, entry)

        return await self._run("write", work)

    async def _delete(
        self, conn: AsyncConnection[Any], key: str, expected: str | None, lease: Lease | None
    ) -> None:
        fence = [] if lease is None else [self.prefix, key, lease.token]
        if expected is None:
            if lease is None:
                await conn.execute(self._sql_delete, [self.prefix, key])
            elif await self._fetch(conn, self._sql_delete_fenced, [self.prefix, key, *fence]) is None:
                await self._diagnose(conn, key, lease)  # LeaseLost, or the key was simply absent
            return
        number = _as_version(expected)
        if number is not None:
            delete = self._sql_delete_version if lease is None else self._sql_delete_version_fenced
            if await self._fetch(conn, delete, [self.prefix, key, number, *fence]) is not None:
                return
        raise WriteConflict(key, expected, await self._diagnose(conn, key, lease))

    async def delete(self, key: str, expected_version: str | None = None, *, lease: Lease | None = None) -> None:
        validate_key(key)
        if lease is not None:
            check_lease_key(lease, key)

        async def work(conn: AsyncConnection[Any]) -> None:
            await self._delete(conn, key, expected_version, lease)

        await self._run("delete", work)

    def _key_range(self, query: str, prefix: str, cursor: str | None) -> tuple[str, list[Any]]:
        """``query`` (which binds the namespace and the prefix) narrowed to the keys with ``prefix`` after
        ``cursor``, and its parameters."""
        params: list[Any] = [self.prefix, prefix]
        upper = _successor(prefix)
        if upper is not None:
            query += " AND key < %s"
            params.append(upper)
        if cursor is not None:
            query += " AND key > %s"
            params.append(cursor)
        return query, params

    async def list_page(self, prefix: str = "", cursor: str | None = None, limit: int = 1000) -> Page:
        validate_prefix(prefix)
        check_limit(limit)
        query, params = self._key_range(self._sql_list, prefix, cursor)
        query += " ORDER BY key LIMIT %s"
        params.append(limit + 1)

        async def work(conn: AsyncConnection[Any]) -> list[str]:
            cur = await conn.execute(query, params, binary=True)
            return [str(row[0]) for row in await cur.fetchall()]

        found = await self._run("list", work, read_only=True)
        return key_page(found, limit)

    async def _keys(self, operation: str, query: str, params: list[Any]) -> list[tuple[Any, ...]]:
        async def work(conn: AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cur = await conn.execute(query, params, binary=True)
            return await cur.fetchall()

        return await self._run(operation, work, read_only=True)

    async def due_page(self, prefix: str, until: float, cursor: str | None = None, limit: int = 1000) -> Page:
        validate_prefix(prefix)
        check_limit(limit)
        after = parse_due_cursor(cursor) if cursor is not None else None
        if after is not None and not storable_text(after[1]):
            raise InvalidArgument(f"not a due_page cursor: {cursor!r}")
        until_ms = due_limit(until)
        if until_ms is None:  # NaN: nothing is due (PostgreSQL would order NaN above every number)
            return Page([], None)
        # a range scan of <table>_values_due from the cursor up to ``until``; the prefix only filters it.
        # It is deliberately not a key range: without fresh statistics the planner takes a key range
        # for selective and walks the primary key (every value under the prefix, then a sort) instead.
        query = self._sql_due
        params: list[Any] = [self.prefix, until_ms]
        if prefix:
            query += " AND left(key, length(%s::text)) = %s::text"
            params += [prefix, prefix]
        if after is not None:
            query += " AND (due, key) > (%s::double precision, %s)"
            params.extend(after)
        query += " ORDER BY due, key LIMIT %s"
        params.append(limit + 1)
        rows = await self._keys("due_page", query, params)
        return due_key_page(rows, limit)

    async def find_page(
        self, prefix: str, labels: Mapping[str, str], cursor: str | None = None, limit: int = 1000
    ) -> Page:
        validate_prefix(prefix)
        check_labels(labels)
        check_limit(limit)
        if cursor is not None and not storable_text(cursor):
            raise InvalidArgument(f"not a find_page cursor: {cursor!r}")
        if not all(storable_text(value) for value in labels.values()):
            return Page([], None)  # no entry can carry such a label (write refuses it)
        seek = next((name for name in _SEEK_ORDER if name in labels), None)
        if seek is None:  # every key with an entry: the primary key's order, filtered
            query, params = self._key_range(self._sql_find, prefix, cursor)
            query += " AND indexed ORDER BY key LIMIT %s"
        else:  # a range of <table>_values_<seek>: md5(v) || '/' || [max(prefix, cursor), successor(prefix))
            expr, value = _label_key(seek), labels[seek]
            query = self._sql_find_label + f" AND {seek} = %s AND {expr} >= md5(%s::text) || '/' || %s::text"
            params = [self.prefix, value, value, prefix]
            upper = _successor(prefix)
            query += f" AND {expr} < md5(%s::text) || %s::text"
            params += [value, "0" if upper is None else "/" + upper]  # '0' follows '/': after every key
            if cursor is not None:
                query += f" AND {expr} > md5(%s::text) || '/' || %s::text"
                params += [value, cursor]
            for name in INDEX_LABELS:
                if name in labels and name != seek:
                    query += f" AND {name} = %s"
                    params.append(labels[name])
            query += f" ORDER BY {expr} LIMIT %s"
        params.append(limit + 1)
        rows = await self._keys("find_page", query, params)
        return key_page([str(row[0]) for row in rows], limit)

    # ------------------------------------------------------------------ lock
    async def try_acquire(self, key: str, owner: str, lease_seconds: float) -> Lease | None:
        validate_key(key)
        if lease_seconds <= 0:
            raise InvalidArgument(f"lease_seconds must be positive, got {lease_seconds!r}")
        started = time.time()

        async def work(conn: AsyncConnection[Any]) -> tuple[Any, ...] | None:
            return await self._fetch(conn, self._sql_acquire, [self.prefix, key, owner, float(lease_seconds)])

        row = await self._run("acquire", work)
        if row is None:
            return None
        # expires_at is the client's estimate from before the call, so it errs on the early side.
        return Lease(key, owner, int(row[0]), started + lease_seconds, lease_seconds)

    async def renew(self, lease: Lease, lease_seconds: float | None = None) -> Lease:
        validate_key(lease.key)
        duration = lease.lease_seconds if lease_seconds is None else lease_seconds
        if duration <= 0:
            raise InvalidArgument(f"lease_seconds must be positive, got {duration!r}")
        started = time.time()

        async def work(conn: AsyncConnection[Any]) -> tuple[Any, ...] | None:
            return await self._fetch(
                conn, self._sql_renew, [float(duration), self.prefix, lease.key, lease.owner, lease.token]
            )

        if await self._run("renew", work) is None:
            raise LeaseLost(lease.key, "expired, taken over, or not held by this owner and token")
        return Lease(lease.key, lease.owner, lease.token, started + duration, duration)

    async def release(self, lease: Lease) -> None:
        validate_key(lease.key)

        async def work(conn: AsyncConnection[Any]) -> tuple[Any, ...] | None:
            return await self._fetch(conn, self._sql_release, [self.prefix, lease.key, lease.owner, lease.token])

        if await self._run("release", work) is None:
            raise LeaseLost(lease.key, "not held by this owner and token")

    async def is_locked(self, key: str) -> bool:
        validate_key(key)

        async def work(conn: AsyncConnection[Any]) -> bool:
            return await self._fetch(conn, self._sql_is_locked, [self.prefix, key]) is not None

        return await self._run("is_locked", work, read_only=True)

    async def check(self, lease: Lease) -> None:
        validate_key(lease.key)

        async def work(conn: AsyncConnection[Any]) -> bool:
            row = await self._fetch(conn, self._sql_check, [self.prefix, lease.key, lease.owner, lease.token])
            return row is not None

        # The lease row only ever holds the newest token, so owner + token + unexpired means "newest".
        if not await self._run("check", work, read_only=True):
            raise LeaseLost(lease.key, "expired, taken over, or not held by this owner and token")

    async def close(self) -> None:
        conn, loop = self._conn, self._loop
        self._conn = None
        if conn is None or conn.closed:
            return
        if loop is asyncio.get_running_loop():
            await conn.close()
        else:
            conn.pgconn.finish()  # its event loop is another one (or gone): close the socket synchronously


def from_url(url: str, parts: SplitResult, options: dict[str, str]) -> PostgresStore:
    """``postgresql://user@host:port/db?prefix=NAME&table=NAME``; other options go to libpq.

    ``prepare_threshold`` (an integer, or ``none`` to never prepare, e.g. behind PgBouncer in
    transaction mode) is psycopg's; ``connect_timeout`` (seconds, default 5) goes to libpq too.
    """
    ours = {"prefix", "table", "prepare_threshold"}
    rest = [(k, v) for k, v in parse_qsl(parts.query) if k not in ours]
    timeout = int(options.get("connect_timeout", "5"))
    threshold_option = options.get("prepare_threshold", "5")
    threshold = None if threshold_option.lower() == "none" else int(threshold_option)
    conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest), parts.fragment))
    return PostgresStore(conninfo, options.get("prefix", ""), options.get("table", DEFAULT_TABLE), timeout, threshold)
