"""Redis: storage and lock on one server, every operation one command or one Lua script.

URL: ``redis://[user:password@]host:port/db?prefix=NAME`` (``rediss://`` for TLS). ``prefix`` namespaces
every Redis key of the store (default ``durable-xstate``); every other query option goes to redis-py
(e.g. ``socket_timeout=5``). Layout, for the store key ``k`` under prefix ``P``::

    {P}:v:k    hash  d = the bytes, v = the version            (the value; one key, one atomic HSET)
    {P}:idx    zset  every stored key, score 0                  (ordered listing, ZRANGEBYLEX)
    {P}:seq    int   the version counter of the whole store     (versions never repeat, even after a delete)
    {P}:l:k    hash  o = owner, t = token, PX = the lease       (the live lease; Redis expires it)
    {P}:f:k    hash  t = newest token ever issued, o = its owner until released   (never expires)

``{P}`` is a Redis Cluster hash tag, so all keys of one store live in one slot and every script's keys
are co-located. Writes carrying a lease are fenced inside the same script that does the compare-and-set.
See docs/stores/redis.md.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import SplitResult, parse_qsl, urlencode, urlunsplit

from ..errors import (
    InvalidArgument,
    LeaseLost,
    MissingDependency,
    StoreConfigError,
    StoreUnavailable,
    WriteConflict,
    short_repr,
)
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

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

__all__ = ["DEFAULT_PREFIX", "RedisStore", "from_url"]

DEFAULT_PREFIX = "durable-xstate"
T = TypeVar("T")
_READ_FIELDS = ("d", "v")

# A counter that Redis has just created (INCR gave 1) starts at the server's clock in microseconds
# instead: if the data was lost (a restart without persistence, a failover, FLUSHDB), versions and
# fencing tokens still never repeat an earlier one, because Redis cannot run a million scripts a second.
# Numbers stay below 2^53, so Lua's doubles hold them exactly; they are returned as integers (never
# through tostring, which would print 14 significant digits).
_SEED = """
local function seed(key, field)
  local now = redis.call('TIME')
  local value = tonumber(now[1]) * 1000000 + tonumber(now[2])
  if field then redis.call('HSET', key, field, value) else redis.call('SET', key, value) end
  return value
end
"""

# KEYS: value, fence, index, seq. ARGV: data, mode ("c" create-only / "u" compare-and-set),
# expected version, fencing token ("" = no lease), the store key (index member). Returns the new version
# (an integer: the cheapest reply to parse), or {'L', newest token} / {'C', current version}.
_WRITE = _SEED + """
if ARGV[4] ~= '' then
  local newest = redis.call('HGET', KEYS[2], 't')
  if newest ~= ARGV[4] then return {'L', newest or '0'} end
end
local cur = redis.call('HGET', KEYS[1], 'v')
if ARGV[2] == 'c' then
  if cur then return {'C', cur} end
elseif cur ~= ARGV[3] then
  return {'C', cur}
end
local ver = redis.call('INCR', KEYS[4])
if ver == 1 then ver = seed(KEYS[4], nil) end
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'v', ver)
if not cur then redis.call('ZADD', KEYS[3], 0, ARGV[5]) end
return ver
"""

# KEYS: value, fence, index. ARGV: mode ("a" any / "u" only the expected version), expected version,
# fencing token ("" = no lease), the store key.
_DELETE = """
if ARGV[3] ~= '' then
  local newest = redis.call('HGET', KEYS[2], 't')
  if newest ~= ARGV[3] then return {'L', newest or '0'} end
end
local cur = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == 'u' and cur ~= ARGV[2] then return {'C', cur} end
if cur then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[3], ARGV[4])
end
return {'OK'}
"""

# KEYS: lease, fence. ARGV: owner, milliseconds. Returns the new token, or false while held.
_ACQUIRE = _SEED + """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('HINCRBY', KEYS[2], 't', 1)
if token == 1 then token = seed(KEYS[2], 't') end
redis.call('HSET', KEYS[2], 'o', ARGV[1])
redis.call('HSET', KEYS[1], 'o', ARGV[1], 't', token)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return token
"""

# KEYS: lease. ARGV: owner, token, milliseconds. 1 = extended, 0 = not ours (or expired: Redis dropped it).
_RENEW = """
local held = redis.call('HMGET', KEYS[1], 'o', 't')
if held[1] ~= ARGV[1] or held[2] ~= ARGV[2] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS: lease, fence. ARGV: owner, token. Like the reference, a lease that expired but was not taken over
# may still be released by its owner (the fence hash remembers who got the newest token until release).
_RELEASE = """
local newest = redis.call('HMGET', KEYS[2], 't', 'o')
if newest[1] ~= ARGV[2] or newest[2] ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[2], 'o')
local held = redis.call('HMGET', KEYS[1], 'o', 't')
if held[1] == ARGV[1] and held[2] == ARGV[2] then redis.call('DEL', KEYS[1]) end
return 1
"""


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _milliseconds(seconds: float) -> int:
    if seconds <= 0:
        raise InvalidArgument(f"lease_seconds must be positive, got {seconds!r}")
    return max(1, round(seconds * 1000))


def _prefix_upper_bound(prefix: bytes) -> bytes:
    # 0xFF never occurs in UTF-8, so every key starting with ``prefix`` sorts below prefix + b"\xff".
    return prefix + b"\xff"


class RedisStore(Storage, Lock):
    """Storage and lock on one Redis server; fencing is atomic (checked inside the write script)."""

    backend = "redis"
    fences_writes = True

    def __init__(self, url: str, prefix: str = DEFAULT_PREFIX, **client_options: Any) -> None:
        validate_key(prefix)
        if "{" in prefix or "}" in prefix:
            raise StoreConfigError(f"a redis store prefix may not contain braces: {short_repr(prefix)}")
        self.url = url
        self.prefix = prefix
        self._root = "{" + prefix + "}:"
        self._client_options = client_options
        self._client: Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scripts: dict[str, AsyncScript] = {}
        self._errors: tuple[type[BaseException], ...] = (OSError,)

    # ------------------------------------------------------------------ plumbing
    def _connect(self) -> Redis:
        """The client for the running loop (redis-py connections belong to the loop that made them)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            try:
                from redis.asyncio import Redis
                from redis.asyncio.retry import Retry
                from redis.backoff import NoBackoff
                from redis.exceptions import RedisError
            except ImportError as err:  # pragma: no cover - depends on the installation
                raise MissingDependency(
                    "the redis backend needs redis-py: pip install 'durable-xstate[redis]'", extra="redis", name=err.name
                ) from err
            options: dict[str, Any] = {"socket_connect_timeout": 5.0}
            options.update(self._client_options)
            # No blind retries: a script re-sent after a lost reply could report our own write as a conflict.
            options["retry"] = Retry(NoBackoff(), 0)
            self._client = Redis.from_url(self.url, **options)
            self._loop = loop
            self._errors = (RedisError, OSError)
            self._scripts = {
                name: self._client.register_script(source)
                for name, source in (
                    ("write", _WRITE),
                    ("delete", _DELETE),
                    ("acquire", _ACQUIRE),
                    ("renew", _RENEW),
                    ("release", _RELEASE),
                )
            }
        return self._client

    async def _call(self, operation: str, run: Callable[[Redis], Awaitable[T]]) -> T:
        client = self._connect()
        try:
            return await run(client)
        except self._errors as err:
            raise StoreUnavailable(self.backend, operation, err) from err

    async def _script(self, operation: str, name: str, keys: list[str], args: list[bytes | str | int]) -> Any:
        async def run(client: Redis) -> Any:
            return await self._scripts[name](keys=keys, args=args)

        return await self._call(operation, run)

    def _value_key(self, key: str) -> str:
        return f"{self._root}v:{key}"

    def _lease_key(self, key: str) -> str:
        return f"{self._root}l:{key}"

    def _fence_key(self, key: str) -> str:
        return f"{self._root}f:{key}"

    @property
    def _index_key(self) -> str:
        return f"{self._root}idx"

    @property
    def _seq_key(self) -> str:
        return f"{self._root}seq"

    # ------------------------------------------------------------------ storage
    async def read(self, key: str) -> Versioned | None:
        validate_key(key)
        value_key = self._value_key(key)
        client = self._connect()
        try:
            found: list[Any] = await client.hmget(value_key, _READ_FIELDS)
        except self._errors as err:
            raise StoreUnavailable(self.backend, "read", err) from err
        data, version = found
        if version is None:
            return None
        return Versioned(bytes(data), _text(version) or "")

    async def exists(self, key: str) -> bool:
        validate_key(key)

        async def run(client: Redis) -> int:
            return int(await client.exists(self._value_key(key)))

        return await self._call("exists", run) == 1

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
        value_key, fence_key = self._value_key(key), self._fence_key(key)
        check_size(key, data, self.max_value_bytes)
        token = ""
        if lease is not None:
            check_lease_key(lease, key)
            token = str(lease.token)
        self._connect()
        script = self._scripts["write"]
        try:
            result = await script(
                keys=[value_key, fence_key, self._root + "idx", self._root + "seq"],
                args=[bytes(data), "c" if expected_version is None else "u", expected_version or "", token, key],
            )
        except self._errors as err:
            raise StoreUnavailable(self.backend, "write", err) from err
        if type(result) is int:
            return str(result)
        return self._outcome(key, expected_version, token, result) or ""

    async def delete(self, key: str, expected_version: str | None = None, *, lease: Lease | None = None) -> None:
        validate_key(key)
        token = ""
        if lease is not None:
            check_lease_key(lease, key)
            token = str(lease.token)
        result = await self._script(
            "delete",
            "delete",
            [self._value_key(key), self._fence_key(key), self._index_key],
            ["a" if expected_version is None else "u", expected_version or "", token, key],
        )
        self._outcome(key, expected_version, token, result)

    @staticmethod
    def _outcome(key: str, expected: str | None, token: str, result: list[Any]) -> str | None:
        status = _text(result[0])
        if status == "OK":
            return _text(result[1]) if len(result) > 1 else None
        found = _text(result[1]) if len(result) > 1 else None
        if status == "L":
            raise LeaseLost(key, f"fencing token {token} is stale (newest is {found})")
        raise WriteConflict(key, expected, found)

    async def list_page(self, prefix: str = "", cursor: str | None = None, limit: int = 1000) -> Page:
        validate_prefix(prefix)
        if limit < 1:
            raise InvalidArgument(f"limit must be at least 1, got {limit!r}")
        low: bytes = b"[" + prefix.encode() if prefix else b"-"
        high: bytes = b"(" + _prefix_upper_bound(prefix.encode()) if prefix else b"+"
        if cursor is not None and cursor.encode() >= prefix.encode():
            low = b"(" + cursor.encode()

        async def run(client: Redis) -> list[Any]:
            result: list[Any] = await client.zrangebylex(self._index_key, low, high, start=0, num=limit + 1)
            return result

        found = [_text(k) or "" for k in await self._call("list", run)]
        page = found[:limit]
        return Page(page, page[-1] if len(found) > limit else None)

    # ------------------------------------------------------------------ lock
    async def try_acquire(self, key: str, owner: str, lease_seconds: float) -> Lease | None:
        validate_key(key)
        ms = _milliseconds(lease_seconds)
        started = time.time()
        token = await self._script("acquire", "acquire", [self._lease_key(key), self._fence_key(key)], [owner, ms])
        if token is None:
            return None
        # expires_at is estimated from before the call, so it errs on the early side.
        return Lease(key, owner, int(token), started + lease_seconds, lease_seconds)

    async def renew(self, lease: Lease, lease_seconds: float | None = None) -> Lease:
        validate_key(lease.key)
        duration = lease.lease_seconds if lease_seconds is None else lease_seconds
        ms = _milliseconds(duration)
        started = time.time()
        ok = await self._script(
            "renew", "renew", [self._lease_key(lease.key)], [lease.owner, str(lease.token), ms]
        )
        if not ok:
            raise LeaseLost(lease.key, "expired, taken over, or not held by this owner and token")
        return Lease(lease.key, lease.owner, lease.token, started + duration, duration)

    async def release(self, lease: Lease) -> None:
        validate_key(lease.key)
        ok = await self._script(
            "release",
            "release",
            [self._lease_key(lease.key), self._fence_key(lease.key)],
            [lease.owner, str(lease.token)],
        )
        if not ok:
            raise LeaseLost(lease.key, "not held by this owner and token")

    async def is_locked(self, key: str) -> bool:
        validate_key(key)

        async def run(client: Redis) -> int:
            return int(await client.exists(self._lease_key(key)))

        return await self._call("is_locked", run) == 1

    async def check(self, lease: Lease) -> None:
        validate_key(lease.key)

        async def run(client: Redis) -> list[Any]:
            result: list[Any] = await client.hmget(self._lease_key(lease.key), ["o", "t"])
            return result

        owner, token = await self._call("check", run)
        # The lease hash only ever holds the newest token, and Redis drops it when it expires.
        if _text(owner) != lease.owner or _text(token) != str(lease.token):
            raise LeaseLost(lease.key, "expired, taken over, or not held by this owner and token")

    async def close(self) -> None:
        client, loop = self._client, self._loop
        self._client, self._loop = None, None
        if client is None:
            return
        if loop is not asyncio.get_running_loop():
            return  # its connections belong to another event loop and go away with it
        from redis.exceptions import RedisError

        try:
            await client.aclose()
        except (RedisError, OSError) as err:
            raise StoreUnavailable(self.backend, "close", err) from err


def from_url(url: str, parts: SplitResult, options: dict[str, str]) -> RedisStore:
    """``redis://host:port/db?prefix=NAME``; other query options are passed to redis-py."""
    prefix = options.get("prefix", DEFAULT_PREFIX)
    rest = [(k, v) for k, v in parse_qsl(parts.query) if k != "prefix"]
    client_url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest), parts.fragment))
    return RedisStore(client_url, prefix)
