"""Local files: the embedded default (``file:///abs/dir`` or ``file://./relative/dir``).

Each value is one file under the root at the key's path (``orders/42.json`` ->
``<root>/orders/42.json``). The file starts with a one-line header that carries the version, so the
version travels WITH the bytes: a write builds header + data in a temporary file in the same directory,
fsyncs it and renames it over the old one (``os.replace``, then an fsync of the directory). A reader
opens one inode and gets a header and data written together; it can never pair a value with another
write's version (a sidecar file would need two renames, which are not atomic together).

Compare-and-set, leases and fencing take an OS file lock (``fcntl.flock``) on ``<root>/.locks/<h>.lock``
(``h`` = SHA-256 of the key) around read-compare-write, so they are safe across threads AND processes on
one machine. The lease of a key lives in ``<root>/.locks/<h>.lease`` (JSON, replaced atomically) together
with the last fencing token issued, which survives release. Values and leases share that one lock file,
so a write carrying a lease is fenced atomically (``fences_writes = True``). POSIX only; local file
systems only (flock over NFS is not the same lock). Details: docs/stores/file.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import SplitResult, unquote

from ..errors import InvalidKey, LeaseLost, StoreError, StoreUnavailable, WriteConflict
from .base import (
    Lease,
    Lock,
    Page,
    Storage,
    Versioned,
    check_io,
    check_lease_key,
    check_size,
    parse_io,
    validate_key,
    validate_prefix,
)

__all__ = ["LocalFileStore", "from_url"]

T = TypeVar("T")

#: Every value file starts with this, then the version, then a newline, then the data.
MAGIC = b"durable-xstate/1 "
_MAX_HEADER = len(MAGIC) + 64
#: Store-internal directory under the root (keys cannot reach it: no key segment may start with '.').
LOCK_DIR = ".locks"
_TMP_PREFIX = ".tmp-"
_NAME_MAX = 255  # bytes per file name on ext4, xfs, btrfs, apfs ...
_RETRIES = 8  # directory races with a concurrent delete that prunes empty directories
_OPEN_VALUE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_FIRST_READ = 1 << 15  # most records fit; below malloc's mmap threshold
_READ_CHUNK = 1 << 20


class LocalFileStore(Storage, Lock):
    """Storage and lock in a directory tree; fencing is atomic (one flock guards value and lease)."""

    backend = "file"
    fences_writes = True

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True, io: str = "thread") -> None:
        self.root = os.path.abspath(os.fspath(root))
        #: fsync files and directories (durability across power loss). Atomicity does not depend on it.
        self.fsync = fsync
        #: writes, deletes, listings and lock calls on the loop instead of a worker thread (``io=inline``)
        self.inline = check_io(io)
        self._paths: dict[str, str] = {}  # key -> its value file, checked once to resolve inside the root
        self._real_root: str | None = None

    def __repr__(self) -> str:
        return f"LocalFileStore({self.root!r})"

    # ------------------------------------------------------------------ plumbing
    async def _run(self, operation: str, fn: Callable[..., T], *args: Any, inline: bool = False) -> T:
        """Run a blocking call in a worker thread, or on the loop (then yield once, so a loop of calls
        still lets other tasks in) with ``io=inline`` or ``inline=True``: reads take no lock and touch
        one small file, so they run on the loop in both modes (the hop costs more than the read)."""
        try:
            if inline or self.inline:
                result = fn(*args)
                await asyncio.sleep(0)
                return result
            return await asyncio.to_thread(fn, *args)
        except StoreError:
            raise
        except OSError as err:  # permissions, a root that is not a directory, a full disk, I/O errors ...
            raise StoreUnavailable(self.backend, operation, err) from err

    def _ensure_root(self) -> str:
        """Create the root (and its lock directory) on first use; return its resolved path."""
        real = self._real_root
        if real is None:
            os.makedirs(os.path.join(self.root, LOCK_DIR), exist_ok=True)
            real = self._real_root = os.path.realpath(self.root)
        return real

    def _check_root(self) -> None:
        """ENOTDIR/EISDIR inside the tree is a key-layout fact; on the root itself it is a fault."""
        if not os.path.isdir(self.root):
            raise NotADirectoryError(errno.ENOTDIR, "the store root is not a directory", self.root)

    def _path(self, key: str) -> str:
        """The value file of ``key``, checked to resolve inside the root (symlinks included).

        The check is made once per key and remembered; value files themselves are opened with
        ``O_NOFOLLOW``, so a symbolic link put in a value's place later is refused, never followed."""
        path = self._paths.get(key)
        if path is not None:
            return path
        segments = key.split("/")
        for segment in segments:
            if len(segment.encode("utf-8")) > _NAME_MAX - len(_TMP_PREFIX):
                raise InvalidKey(key, f"segment longer than {_NAME_MAX - len(_TMP_PREFIX)} bytes (file name limit)")
        real_root = self._ensure_root()
        path = os.path.join(self.root, *segments)
        real = os.path.realpath(path)
        if real == real_root or os.path.commonpath([real, real_root]) != real_root:
            raise InvalidKey(key, "resolves outside the store root (through a symbolic link)")
        if len(self._paths) >= 4096:
            self._paths.clear()
        self._paths[key] = path
        return path

    def _lock_base(self, key: str) -> str:
        self._ensure_root()
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return os.path.join(self.root, LOCK_DIR, digest)

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[str]:
        """Hold the key's OS file lock (threads and processes alike); yields the lease file's path.

        flock locks belong to the open file description, so two threads of one process that each open
        the lock file exclude each other too (unlike POSIX fcntl record locks). The kernel drops the lock
        when a holder dies. Lock files are never deleted: unlinking one while another process waits on it
        would let two holders in.
        """
        base = self._lock_base(key)
        try:
            fd = os.open(base + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except FileNotFoundError:  # the root (or its lock directory) went away since first use: make it again
            self._real_root = None
            base = self._lock_base(key)
            fd = os.open(base + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield base + ".lease"
        finally:
            os.close(fd)  # releases the flock

    def _fsync_dir(self, path: str) -> None:
        if not self.fsync:
            return
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _makedirs(self, key: str, directory: str) -> None:
        """Create ``directory`` (under the root) one level at a time, fsyncing each new entry's parent.

        A concurrent delete of another key may prune a directory we just made: start again.
        """
        relative = os.path.relpath(directory, self.root)
        if relative == ".":
            return
        parts = relative.split(os.sep)
        for _ in range(_RETRIES):
            parent = current = self.root
            try:
                for part in parts:
                    parent, current = current, os.path.join(current, part)
                    try:
                        os.mkdir(current)
                    except FileExistsError:
                        if not os.path.isdir(current):
                            raise self._layout_clash(key, current) from None
                    else:
                        self._fsync_dir(parent)
                return
            except NotADirectoryError:
                self._check_root()
                raise self._layout_clash(key, parent) from None
            except FileNotFoundError:
                self._check_root()
                continue
        raise FileNotFoundError(errno.ENOENT, "directory kept vanishing while writing", directory)

    def _layout_clash(self, key: str, path: str) -> InvalidKey:
        other = os.path.relpath(path, self.root).replace(os.sep, "/")
        return InvalidKey(
            key,
            f"the file backend maps key segments to directories, and {other!r} is stored as a value: "
            "a key cannot be both a value and a prefix of other keys here",
        )

    def _corrupt(self, key: str, why: str) -> OSError:
        return OSError(errno.EIO, f"value file of {key!r} is not a durable-xstate value ({why})")

    # ------------------------------------------------------------------ value files
    def _parse(self, key: str, blob: bytes) -> Versioned:
        if not blob.startswith(MAGIC):
            raise self._corrupt(key, "no header")
        end = blob.find(b"\n", len(MAGIC), _MAX_HEADER)
        if end < 0:
            raise self._corrupt(key, "header not terminated")
        return Versioned(blob[end + 1 :], blob[len(MAGIC) : end].decode("ascii"))

    def _load(self, key: str, path: str, header_only: bool) -> Versioned | None:
        try:
            fd = os.open(path, _OPEN_VALUE)
        except FileNotFoundError:
            return None
        except (NotADirectoryError, IsADirectoryError):
            self._check_root()
            return None  # a value sits where a directory would be, or a directory where a value would be
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise InvalidKey(key, "its value file is a symbolic link (never followed)") from None
            raise
        try:
            if header_only:
                blob = os.read(fd, _MAX_HEADER)
            else:
                blob = os.read(fd, _FIRST_READ)
                if len(blob) == _FIRST_READ:  # a large value: read on
                    chunks = [blob]
                    while chunk := os.read(fd, _READ_CHUNK):
                        chunks.append(chunk)
                    blob = b"".join(chunks)
        except IsADirectoryError:
            return None
        finally:
            os.close(fd)
        return self._parse(key, blob)

    def _version_of(self, key: str, path: str) -> str | None:
        found = self._load(key, path, header_only=True)
        return None if found is None else found.version

    @staticmethod
    def _new_version() -> str:
        # Unique for ever (time + randomness), so a key deleted and created again never reuses a
        # version a stale writer might still hold (no ABA).
        return f"{time.time_ns():x}-{secrets.token_hex(6)}"

    def _replace(self, key: str, path: str, chunks: tuple[bytes, ...]) -> None:
        """Write ``chunks`` to a temp file beside ``path``, fsync it, rename it over ``path``."""
        directory = os.path.dirname(path)
        for attempt in range(_RETRIES):
            tmp = os.path.join(directory, _TMP_PREFIX + secrets.token_hex(8))
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
                break
            except (FileNotFoundError, NotADirectoryError):
                if attempt == _RETRIES - 1:
                    raise
                self._makedirs(key, directory)
        try:
            try:
                for chunk in chunks:
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view) :]
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._fsync_dir(directory)

    def _prune(self, directory: str) -> None:
        """Remove empty directories left by a delete, up to (not including) the root."""
        while os.path.normpath(directory) != os.path.normpath(self.root):
            try:
                os.rmdir(directory)
            except OSError:
                return  # not empty (or already gone): stop
            directory = os.path.dirname(directory)

    # ------------------------------------------------------------------ leases
    def _read_lease(self, key: str, lease_path: str) -> tuple[str | None, int, float]:
        """(owner or None when free, the last token ever issued, expires_at)."""
        try:
            with open(lease_path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None, 0, 0.0
        try:
            record = json.loads(raw)
            owner = record["owner"]
            token = int(record["token"])
            expires = float(record["expires_at"] or 0.0)
        except (ValueError, KeyError, TypeError) as err:
            raise OSError(errno.EIO, f"lease file of {key!r} is unreadable: {err}", lease_path) from err
        return owner, token, expires

    def _write_lease(self, key: str, lease_path: str, owner: str | None, token: int, expires: float | None) -> None:
        record = {"key": key, "owner": owner, "token": token, "expires_at": expires}
        self._replace(key, lease_path, (json.dumps(record, ensure_ascii=False).encode("utf-8"),))

    def _fence(self, key: str, lease: Lease | None, lease_path: str) -> None:
        if lease is None:
            return
        _, newest, _ = self._read_lease(key, lease_path)
        if newest != lease.token:
            raise LeaseLost(key, f"fencing token {lease.token} is stale (newest is {newest})")

    # ------------------------------------------------------------------ storage
    async def read(self, key: str) -> Versioned | None:
        validate_key(key)
        return await self._run("read", self._read_sync, key, inline=True)

    def _read_sync(self, key: str) -> Versioned | None:
        return self._load(key, self._path(key), header_only=False)

    async def exists(self, key: str) -> bool:
        validate_key(key)
        return await self._run("exists", self._exists_sync, key, inline=True)

    def _exists_sync(self, key: str) -> bool:
        return self._version_of(key, self._path(key)) is not None

    async def write(
        self, key: str, data: bytes, expected_version: str | None = None, *, lease: Lease | None = None
    ) -> str:
        validate_key(key)
        check_size(key, data, self.max_value_bytes)
        if lease is not None:
            check_lease_key(lease, key)
        payload = data if isinstance(data, bytes) else bytes(data)
        return await self._run("write", self._write_sync, key, payload, expected_version, lease)

    def _write_sync(self, key: str, data: bytes, expected: str | None, lease: Lease | None) -> str:
        path = self._path(key)
        with self._locked(key) as lease_path:
            self._fence(key, lease, lease_path)
            found = self._version_of(key, path)
            if found != expected:
                raise WriteConflict(key, expected, found)
            if found is None and os.path.isdir(path):
                raise self._layout_clash(key, path)  # keys stored under "<key>/..." exist
            # (a missing directory is made by _replace when it finds it missing)
            version = self._new_version()
            self._replace(key, path, (MAGIC + version.encode("ascii") + b"\n", data))
            return version

    async def delete(self, key: str, expected_version: str | None = None, *, lease: Lease | None = None) -> None:
        validate_key(key)
        if lease is not None:
            check_lease_key(lease, key)
        await self._run("delete", self._delete_sync, key, expected_version, lease)

    def _delete_sync(self, key: str, expected: str | None, lease: Lease | None) -> None:
        path = self._path(key)
        with self._locked(key) as lease_path:
            self._fence(key, lease, lease_path)
            if expected is not None:
                found = self._version_of(key, path)
                if found != expected:
                    raise WriteConflict(key, expected, found)
            try:
                os.unlink(path)
            except FileNotFoundError:
                return
            except (NotADirectoryError, IsADirectoryError):
                self._check_root()
                return  # no value at this key
            directory = os.path.dirname(path)
            self._fsync_dir(directory)
        self._prune(directory)

    async def list_page(self, prefix: str = "", cursor: str | None = None, limit: int = 1000) -> Page:
        validate_prefix(prefix)
        return await self._run("list", self._list_sync, prefix, cursor, limit)

    def _list_sync(self, prefix: str, cursor: str | None, limit: int) -> Page:
        self._ensure_root()
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        keys = sorted(
            k
            for k in self._walk(base)
            if k.startswith(prefix) and (cursor is None or k > cursor)
        )
        page = keys[:limit]
        return Page(page, page[-1] if len(keys) > limit else None)

    def _walk(self, base: str) -> Iterator[str]:
        """Keys of the value files under ``base`` (hidden names, temp files and symlinks skipped)."""
        stack = [base]
        while stack:
            rel = stack.pop()
            directory = os.path.join(self.root, *rel.split("/")) if rel else self.root
            try:
                entries = list(os.scandir(directory))
            except (FileNotFoundError, NotADirectoryError):
                if not rel:
                    self._check_root()
                continue  # pruned meanwhile, or a value file where the prefix's directory would be
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                key = f"{rel}/{entry.name}" if rel else entry.name
                if entry.is_dir(follow_symlinks=False):
                    stack.append(key)
                elif entry.is_file(follow_symlinks=False) and _is_key(key):
                    yield key

    # ------------------------------------------------------------------ lock
    async def try_acquire(self, key: str, owner: str, lease_seconds: float) -> Lease | None:
        validate_key(key)
        return await self._run("try_acquire", self._try_acquire_sync, key, owner, lease_seconds)

    def _try_acquire_sync(self, key: str, owner: str, lease_seconds: float) -> Lease | None:
        with self._locked(key) as lease_path:
            held_by, token, expires = self._read_lease(key, lease_path)
            now = time.time()
            if held_by is not None and expires > now:
                return None
            token += 1
            expires = now + lease_seconds
            self._write_lease(key, lease_path, owner, token, expires)
            return Lease(key, owner, token, expires, lease_seconds)

    def _held(self, lease: Lease, lease_path: str) -> float:
        held_by, token, expires = self._read_lease(lease.key, lease_path)
        if held_by is None or held_by != lease.owner or token != lease.token:
            raise LeaseLost(lease.key, "not held by this owner and token")
        return expires

    async def renew(self, lease: Lease, lease_seconds: float | None = None) -> Lease:
        validate_key(lease.key)
        return await self._run("renew", self._renew_sync, lease, lease_seconds)

    def _renew_sync(self, lease: Lease, lease_seconds: float | None) -> Lease:
        with self._locked(lease.key) as lease_path:
            now = time.time()
            if self._held(lease, lease_path) <= now:
                raise LeaseLost(lease.key, "expired")
            duration = lease.lease_seconds if lease_seconds is None else lease_seconds
            expires = now + duration
            self._write_lease(lease.key, lease_path, lease.owner, lease.token, expires)
            return Lease(lease.key, lease.owner, lease.token, expires, duration)

    async def release(self, lease: Lease) -> None:
        validate_key(lease.key)
        await self._run("release", self._release_sync, lease)

    def _release_sync(self, lease: Lease) -> None:
        with self._locked(lease.key) as lease_path:
            self._held(lease, lease_path)
            # keep the token: the next holder gets a higher one
            self._write_lease(lease.key, lease_path, None, lease.token, None)

    async def is_locked(self, key: str) -> bool:
        validate_key(key)
        return await self._run("is_locked", self._is_locked_sync, key)

    def _is_locked_sync(self, key: str) -> bool:
        # no flock needed: the lease file is replaced atomically
        held_by, _, expires = self._read_lease(key, self._lock_base(key) + ".lease")
        return held_by is not None and expires > time.time()

    async def check(self, lease: Lease) -> None:
        validate_key(lease.key)
        await self._run("check", self._check_sync, lease)

    def _check_sync(self, lease: Lease) -> None:
        # _held compares with the newest token issued: the lease file holds the last lease granted
        if self._held(lease, self._lock_base(lease.key) + ".lease") <= time.time():
            raise LeaseLost(lease.key, "expired")


def _is_key(key: str) -> bool:
    try:
        validate_key(key)
    except (InvalidKey, UnicodeError):  # e.g. a stray file whose name is not UTF-8
        return False
    return True


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def from_url(url: str, parts: SplitResult, options: dict[str, str]) -> LocalFileStore:
    """``file:///abs/dir`` (or ``file://localhost/abs/dir``), ``file://./relative/dir`` and
    ``file://relative-dir`` (a bare name such as ``file://.durable-xstate`` is a directory relative to the
    current one: the CLI's default store).

    A relative root is resolved against the current directory when the store is opened. Option:
    ``?fsync=false`` skips fsync (values stay atomic, but the last writes may be lost on power loss).
    ``?io=inline`` makes every call on the event loop instead of a worker thread (see ``IO_MODES``).
    """
    host, path = parts.netloc, unquote(parts.path)
    if host in ("", "localhost"):
        root = path
    else:
        root = host + path
    if not root:
        raise ValueError(f"{url!r}: no directory given")
    unknown = set(options) - {"fsync", "io"}
    if unknown:
        raise ValueError(f"{url!r}: unknown option(s) {', '.join(sorted(unknown))}; known: fsync, io")
    fsync_option = options.get("fsync", "true").lower()
    if fsync_option not in _TRUE | _FALSE:
        raise ValueError(f"{url!r}: fsync must be true or false, not {fsync_option!r}")
    return LocalFileStore(root, fsync=fsync_option in _TRUE, io=parse_io(url, options))
