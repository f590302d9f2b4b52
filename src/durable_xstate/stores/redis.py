"""Redis: storage and lock on one server, every operation one command or one Lua script.

URL: ``redis://[user:password@]host:port/db?prefix=NAME`` (``rediss://`` for TLS). ``prefix`` namespaces
every Redis key of the store (default ``durable-xstate``); every other query option goes to redis-py
(e.g. ``socket_timeout=5``). Layout, for the store key ``k`` under prefix ``P``::

    {P}:v:k    hash  d = the bytes, v = the version            (the value; one key, one atomic HSET)
                     xd, xe, xm, xs, xt = its index entry's members in the five sets below (if any)
    {P}:idx    zset  every stored key, score 0                  (ordered listing, ZRANGEBYLEX)
    {P}:due    zset  "<due as 16 sortable hex digits><key>", score 0   (due_page, ZRANGEBYLEX)
    {P}:x      zset  every key that has an entry, score 0       (find_page without labels)
    {P}:x:machine / {P}:x:status / {P}:x:state
               zset  "<label value, \\0-escaped>\\0<key>", score 0      (find_page, ZRANGEBYLEX)
    {P}:seq    int   the version counter of the whole store     (versions never repeat, even after a delete)
    {P}:l:k    hash  o = owner, t = token, PX = the lease       (the live lease; Redis expires it)
    {P}:f:k    hash  t = newest token ever issued, o = its owner until released   (never expires)

``{P}`` is a Redis Cluster hash tag, so all keys of one store live in one slot and every script's keys
are co-located. Writes carrying a lease are fenced inside the same script that does the compare-and-set.
See docs/stores/redis.md.
"""

from __future__ import annotations

import asyncio
import math
import struct
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
    short_repr,
)
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
    due_cursor,
    key_page,
    parse_due_cursor,
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

# The index entry of a value lives in five sorted sets (KEYS[5..9]: due, any entry, machine, status,
# state; all score 0, ordered by member) and the value's own hash remembers its members (fields xd, xe,
# xm, xs, xt), so the script that replaces or deletes the value replaces or removes its entry in the
# same atomic step.
_ENTRY = """
local entry_fields = {'xd', 'xe', 'xm', 'xs', 'xt'}
local function drop_entry(old)
  for i = 1, 5 do
    if old[i] then redis.call('ZREM', KEYS[4 + i], old[i]) end
  end
end
"""

# KEYS: value, fence, index, seq, then the five entry sets. ARGV: data, mode ("c" create-only / "u"
# compare-and-set), expected version, fencing token ("" = no lease), the store key (index member), then
# the entry's five members ("" = none). Returns the new version (an integer: the cheapest reply to
# parse), or {'L', newest token} / {'C', current version}. A refused write touches nothing.
_WRITE = _SEED + _ENTRY + """
if ARGV[4] ~= '' then
  local newest = redis.call('HGET', KEYS[2], 't')
  if newest ~= ARGV[4] then return {'L', newest or '0'} end
end
local got = redis.call('HMGET', KEYS[1], 'v', 'xd', 'xe', 'xm', 'xs', 'xt')
local cur = got[1]
if ARGV[2] == 'c' then
  if cur then return {'C', cur} end
elseif cur ~= ARGV[3] then
  return {'C', cur}
end
local ver = redis.call('INCR', KEYS[4])
if ver == 1 then ver = seed(KEYS[4], nil) end
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'v', ver)
if not cur then redis.call('ZADD', KEYS[3], 0, ARGV[5]) end
for i = 1, 5 do
  local old, new = got[i + 1], ARGV[5 + i]
  if old ~= (new ~= '' and new or false) then
    if old then redis.call('ZREM', KEYS[4 + i], old) end
    if new ~= '' then
      redis.call('ZADD', KEYS[4 + i], 0, new)
      redis.call('HSET', KEYS[1], entry_fields[i], new)
    else
      redis.call('HDEL', KEYS[1], entry_fields[i])
    end
  end
end
return ver
"""

# KEYS: value, fence, index, (seq, unused), then the five entry sets. ARGV: mode ("a" any / "u" only the
# expected version), expected version, fencing token ("" = no lease), the store key.
_DELETE = _ENTRY + """
if ARGV[3] ~= '' then
  local newest = redis.call('HGET', KEYS[2], 't')
  if newest ~= ARGV[3] then return {'L', newest or '0'} end
end
local got = redis.call('HMGET', KEYS[1], 'v', 'xd', 'xe', 'xm', 'xs', 'xt')
local cur = got[1]
if ARGV[1] == 'u' and cur ~= ARGV[2] then return {'C', cur} end
if cur then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[3], ARGV[4])
  drop_entry({got[2], got[3], got[4], got[5], got[6]})
end
return {'OK'}
"""

# KEYS: one index set. ARGV: low, high (ZRANGEBYLEX bounds), limit, the number of leading bytes of a
# member before the store key, prefix the key must start with, budget (members looked at, at most), then
# for every further set (KEYS[2..]) the member head the key must be found under there. Returns
# {members..., last}: at most limit + 1 matching members, then the last member looked at when the budget
# ran out first (else ''). It costs the members in range it looks at, never the keys stored.
_PAGE = """
local low, high = ARGV[1], ARGV[2]
local limit, head, prefix, budget = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local out, seen = {}, 0
while seen < budget do
  local want = math.min(budget - seen, limit + 1 - #out + 64)
  local batch = redis.call('ZRANGEBYLEX', KEYS[1], low, high, 'LIMIT', 0, want)
  for _, member in ipairs(batch) do
    seen = seen + 1
    local key = string.sub(member, head + 1)
    local ok = string.sub(key, 1, #prefix) == prefix
    for j = 2, #KEYS do
      if not ok then break end
      ok = redis.call('ZSCORE', KEYS[j], ARGV[5 + j] .. key) ~= false
    end
    if ok then
      out[#out + 1] = member
      if #out > limit then
        out[#out + 1] = ''
        return out
      end
    end
    low = '(' .. member
  end
  if #batch < want then
    out[#out + 1] = ''
    return out
  end
end
out[#out + 1] = string.sub(low, 2)
return out
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


#: members of the due set are this many hex digits of the due time, then the key
_DUE_DIGITS = 16
#: at most this many index members are looked at by one due_page / find_page call (one script holds
#: the server): past it the page comes back short, with a cursor to go on from
SCAN_BUDGET = 5000


def _sortable_due(due: float) -> bytes:
    """16 hex digits whose byte order is the numeric order of ``due`` (the IEEE 754 bits, sign-flipped)."""
    bits: int = struct.unpack(">Q", struct.pack(">d", due + 0.0))[0]  # + 0.0: -0.0 is 0.0
    bits = bits ^ 0xFFFF_FFFF_FFFF_FFFF if bits >> 63 else bits | 1 << 63
    return b"%016x" % bits


def _due_of(digits: bytes) -> float:
    bits = int(digits, 16)
    bits = bits ^ 1 << 63 if bits >> 63 else bits ^ 0xFFFF_FFFF_FFFF_FFFF
    value: float = struct.unpack(">d", struct.pack(">Q", bits))[0]
    return value


def _label_head(value: str) -> bytes:
    """A label set member is this head, then the key: the value with NUL escaped (so the head holds no
    NUL and one value's members never run into another's), then NUL (keys hold no control character)."""
    return value.encode("utf-8", "surrogatepass").replace(b"\x01", b"\x01\x01").replace(b"\x00", b"\x01\x02") + b"\x00"


def _entry_members(key: bytes, index: IndexEntry | None) -> list[bytes]:
    """The index entry's members in the due, any-entry, machine, status and state sets (b"": none)."""
    if index is None:
        return [b""] * (2 + len(INDEX_LABELS))
    due = index.due
    members = [b"" if due is None or math.isnan(due) else _sortable_due(due) + key, key]
    for name in INDEX_LABELS:
        value = index.labels.get(name)
        members.append(b"" if value is None else _label_head(value) + key)
    return members


class RedisStore(Storage, Lock):
    """Storage and lock on one Redis server; fencing is atomic (checked inside the write script)."""

    backend = "redis"
    fences_writes = True
    indexes = True

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
                    ("page", _PAGE),
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
    def _entry_keys(self) -> list[str]:
        """The due set, the any-entry set, then one set per label (in INDEX_LABELS order)."""
        return [f"{self._root}due", f"{self._root}x", *(f"{self._root}x:{name}" for name in INDEX_LABELS)]

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
        if index is not None:
            check_labels(index.labels)
        token = ""
        if lease is not None:
            check_lease_key(lease, key)
            token = str(lease.token)
        self._connect()
        script = self._scripts["write"]
        raw_key = key.encode()
        try:
            result = await script(
                keys=[value_key, fence_key, self._root + "idx", self._root + "seq", *self._entry_keys],
                args=[
                    bytes(data),
                    "c" if expected_version is None else "u",
                    expected_version or "",
                    token,
                    raw_key,
                    *_entry_members(raw_key, index),
                ],
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
            [self._value_key(key), self._fence_key(key), self._index_key, self._seq_key, *self._entry_keys],
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
        check_limit(limit)
        low: bytes = b"[" + prefix.encode() if prefix else b"-"
        high: bytes = b"(" + _prefix_upper_bound(prefix.encode()) if prefix else b"+"
        if cursor is not None and cursor.encode() >= prefix.encode():
            low = b"(" + cursor.encode()

        async def run(client: Redis) -> list[Any]:
            result: list[Any] = await client.zrangebylex(self._index_key, low, high, start=0, num=limit + 1)
            return result

        found = [_text(k) or "" for k in await self._call("list", run)]
        return key_page(found, limit)

    async def _page(
        self, operation: str, keys: list[str], low: bytes, high: bytes, limit: int, head: int, prefix: str,
        heads: list[bytes],
    ) -> tuple[list[bytes], bytes | None]:
        """Run the page script: (matching members, at most limit + 1; the last member looked at when the
        scan budget ran out first)."""
        check_limit(limit)
        found = await self._script(
            operation, "page", keys, [low, high, limit, head, prefix.encode(), SCAN_BUDGET, *heads]
        )
        members = [bytes(m) for m in found]
        last = members.pop()
        return members, (last or None)

    async def due_page(self, prefix: str, until: float, cursor: str | None = None, limit: int = 1000) -> Page:
        validate_prefix(prefix)
        after = parse_due_cursor(cursor) if cursor is not None else None
        if math.isnan(until):
            return Page([], None)
        low = b"-" if after is None else b"(" + _sortable_due(after[0]) + after[1].encode()
        high = b"(" + _sortable_due(until) + b"\xff"  # every member due at ``until`` sorts below
        members, last = await self._page("due_page", self._entry_keys[:1], low, high, limit, _DUE_DIGITS, prefix, [])

        def cursor_of(member: bytes) -> str:
            return due_cursor(_due_of(member[:_DUE_DIGITS]), member[_DUE_DIGITS:].decode())

        keys = [m[_DUE_DIGITS:].decode() for m in members[:limit]]
        if len(members) > limit:
            return Page(keys, cursor_of(members[limit - 1]))
        return Page(keys, None if last is None else cursor_of(last))

    async def find_page(
        self, prefix: str, labels: Mapping[str, str], cursor: str | None = None, limit: int = 1000
    ) -> Page:
        validate_prefix(prefix)
        check_labels(labels)
        check_limit(limit)
        entry_keys = self._entry_keys
        sets = dict(zip(INDEX_LABELS, entry_keys[2:], strict=True))
        wanted = [(sets[name], _label_head(value)) for name, value in sorted(labels.items())]
        if not wanted:  # no label asked for: every key that has an entry
            wanted = [(entry_keys[1], b"")]
        # walk the first label's members in key order; the others are checked per key (ZSCORE, O(1))
        (first, head), rest = wanted[0], wanted[1:]
        low = b"[" + head + prefix.encode()
        if cursor is not None and cursor.encode() >= prefix.encode():
            low = b"(" + head + cursor.encode()
        high = b"(" + head + _prefix_upper_bound(prefix.encode())
        members, last = await self._page(
            "find_page", [first, *(k for k, _ in rest)], low, high, limit, len(head), prefix, [h for _, h in rest]
        )
        keys = [m[len(head) :].decode() for m in members]
        if len(keys) > limit:
            return Page(keys[:limit], keys[limit - 1])
        return Page(keys, None if last is None else last[len(head) :].decode())

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
