"""Local files: the embedded default (``file:///abs/dir`` or ``file://./relative/dir``).

Each value is one file under the root at the key's path (``orders/42.json`` ->
``<root>/orders/42.json``). The file starts with a one-line header that carries the version, so the
version travels WITH the bytes: a write builds header + data in a temporary file in the same directory,
fsyncs it and renames it over the old one (``os.replace``, then an fsync of the directory). A reader
opens one inode and gets a header and data written together; it can never pair a value with another
write's version (a sidecar file would need two renames, which are not atomic together). A file
without the header (the original's bare ``<id>.json``) is read as it is, with a version made from a
hash of its bytes, so a compare-and-set can replace it (``durable-xstate import``) but never blindly.

Compare-and-set, leases and fencing take an OS file lock (``fcntl.flock``) on ``<root>/.locks/<h>.lock``
(``h`` = SHA-256 of the key) around read-compare-write, so they are safe across threads AND processes on
one machine. The lease of a key lives in ``<root>/.locks/<h>.lease`` (JSON, replaced atomically) together
with the last fencing token issued, which survives release. Values and leases share that one lock file,
so a write carrying a lease is fenced atomically (``fences_writes = True``). POSIX only; local file
systems only (flock over NFS is not the same lock).

Every operation walks from the root one directory at a time, never following a symbolic link
(``_tree``); a link, FIFO or device where the store's own entry should be is refused with
:class:`UnsafePath`. Details: docs/stores/file.md.
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
import stat
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import SplitResult, unquote

from ..errors import (
    InvalidKey,
    LeaseLost,
    StoreConfigError,
    StoreError,
    StoreUnavailable,
    UnsafePath,
    WriteConflict,
    short_repr,
)
from ._file_index import FileIndex
from ._tree import close_all, describe, open_dir, open_file, open_root
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
    due_cursor,
    foreign_version,
    is_inline_io,
    key_page,
    parse_due_cursor,
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
_CREATE_TMP = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_FIRST_READ = 1 << 15  # most records fit; below malloc's mmap threshold
_READ_CHUNK = 1 << 20
# key -> its path segments: a pure function of the key, bounded (cleared when full)
_NAMES: dict[str, tuple[str, ...]] = {}
_NAMES_MAX = 4096


class LocalFileStore(Storage, Lock):
    """Storage and lock in a directory tree; fencing is atomic (one flock guards value and lease).

    Every operation walks the tree from the root anew, one directory at a time, never following a
    symbolic link (see ``_tree``): nothing it reads, writes, deletes or locks can resolve outside the root
    at the moment of the operation, whatever was swapped in since the last one."""

    backend = "file"
    fences_writes = True
    indexes = True

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True, io: str = "thread") -> None:
        self.root = os.path.abspath(os.fspath(root))
        #: fsync files and directories (durability across power loss). Atomicity does not depend on it.
        self.fsync = fsync
        #: writes, deletes, listings and lock calls on the loop instead of a worker thread (``io=inline``)
        self.inline = is_inline_io(io)
        self._index = FileIndex(self.root, self._replace, self._fsync)

    def __repr__(self) -> str:
        return f"LocalFileStore({self.root!r})"

    # ------------------------------------------------------------------ plumbing
    async def _run(self, operation: str, fn: Callable[..., T], *args: Any, inline: bool = False) -> T:
        """Run a blocking call in a worker thread, or on the loop (then yield once, so a loop of calls
        still lets other tasks in) with ``io=inline`` or ``inline=True``: reads take no lock and touch
        one small file, so they run on the loop in both modes (the hop costs more than the read; no file
        is opened in a way that can wait: see ``_tree``)."""
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

    @staticmethod
    def _names(key: str) -> tuple[str, ...]:
        """The key's path segments (a pure function of the key, so remembering it cannot go stale)."""
        names = _NAMES.get(key)
        if names is None:
            names = tuple(key.split("/"))
            for name in names:
                if len(name.encode("utf-8")) > _NAME_MAX - len(_TMP_PREFIX):
                    raise InvalidKey(key, f"segment longer than {_NAME_MAX - len(_TMP_PREFIX)} bytes (file name limit)")
            if len(_NAMES) >= _NAMES_MAX:
                _NAMES.clear()
            _NAMES[key] = names
        return names

    def _descend(
        self, key: str, names: tuple[str, ...], dirs: list[int], *, create: bool, lookup_only: bool = False
    ) -> int:
        """Open the directories of ``names`` below ``dirs[-1]`` one by one (appending each descriptor to
        ``dirs``, which the caller closes); return the innermost. With ``create``, make missing ones,
        fsyncing each new entry's parent.

        FileNotFoundError: one is missing (and not created). NotADirectoryError (``filename`` is the
        path in the store): a value sits where a directory would be. UnsafePath: anything else.
        ``lookup_only`` (reads): descriptors good only for opening what is inside (see ``_tree``).
        """
        parent = dirs[-1]
        for depth in range(len(dirs) - 1, len(names) - 1):
            name = names[depth]
            where = "/".join(names[: depth + 1])
            try:
                try:
                    fd = open_dir(key, parent, name, where, lookup_only=lookup_only)
                except FileNotFoundError:
                    if not create:
                        raise
                    try:
                        os.mkdir(name, 0o777, dir_fd=parent)
                    except FileExistsError:
                        pass
                    else:
                        self._fsync(parent)
                    fd = open_dir(key, parent, name, where)
            except NotADirectoryError:
                raise NotADirectoryError(errno.ENOTDIR, "a value where a directory would be", where) from None
            dirs.append(fd)
            parent = fd
        return parent

    def _fsync(self, fd: int) -> None:
        if self.fsync:
            os.fsync(fd)

    @contextlib.contextmanager
    def _locked(self, key: str, root_fd: int) -> Iterator[int]:
        """Hold the key's OS file lock (threads and processes alike); yields the lock directory's descriptor.

        flock locks belong to the open file description, so two threads of one process that each open
        the lock file exclude each other too (unlike POSIX fcntl record locks). The kernel drops the lock
        when a holder dies. Lock files are never deleted: unlinking one while another process waits on it
        would let two holders in.
        """
        locks_fd = self._lock_dir(key, root_fd, create=True)
        try:
            name = _lock_name(key) + ".lock"
            fd = open_file(key, locks_fd, name, f"{LOCK_DIR}/{name}", os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield locks_fd
            finally:
                os.close(fd)  # releases the flock
        finally:
            os.close(locks_fd)

    @staticmethod
    def _lock_dir(key: str, root_fd: int, *, create: bool) -> int:
        try:
            return open_dir(key, root_fd, LOCK_DIR, LOCK_DIR)
        except FileNotFoundError:
            if not create:
                raise
        with contextlib.suppress(FileExistsError):
            os.mkdir(LOCK_DIR, 0o777, dir_fd=root_fd)
        return open_dir(key, root_fd, LOCK_DIR, LOCK_DIR)

    @staticmethod
    def _layout_clash(key: str, where: str) -> InvalidKey:
        return InvalidKey(
            key,
            f"the file backend maps key segments to directories, and {short_repr(where)} is stored as a value: "
            "a key cannot be both a value and a prefix of other keys here",
        )

    @staticmethod
    def _corrupt(key: str, why: str) -> OSError:
        return OSError(errno.EIO, f"value file of {short_repr(key)} is not a durable-xstate value ({why})")

    # ------------------------------------------------------------------ value files
    def _parse(self, key: str, blob: bytes) -> Versioned:
        if not blob.startswith(MAGIC):  # written by someone else (e.g. the original): see foreign_version
            return Versioned(blob, foreign_version(blob))
        end = blob.find(b"\n", len(MAGIC), _MAX_HEADER)
        if end < 0:
            raise self._corrupt(key, "header not terminated")
        return Versioned(blob[end + 1 :], blob[len(MAGIC) : end].decode("ascii"))

    def _load(self, key: str, dir_fd: int, name: str, header_only: bool) -> Versioned | None:
        """The value file ``name`` in ``dir_fd``: None when missing; IsADirectoryError for a directory."""
        try:
            fd = open_file(key, dir_fd, name, key, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            if header_only:
                blob = os.read(fd, _MAX_HEADER)
                if not blob.startswith(MAGIC) and len(blob) == _MAX_HEADER:  # foreign: its version is its hash
                    chunks = [blob]
                    while chunk := os.read(fd, _READ_CHUNK):
                        chunks.append(chunk)
                    blob = b"".join(chunks)
            else:
                blob = os.read(fd, _FIRST_READ)
                if len(blob) == _FIRST_READ:  # a large value: read on
                    chunks = [blob]
                    while chunk := os.read(fd, _READ_CHUNK):
                        chunks.append(chunk)
                    blob = b"".join(chunks)
        finally:
            os.close(fd)
        return self._parse(key, blob)

    def _version_at(self, key: str, dir_fd: int, name: str) -> str | None:
        found = self._load(key, dir_fd, name, header_only=True)
        return None if found is None else found.version

    @staticmethod
    def _new_version() -> str:
        # Unique for ever (time + randomness), so a key deleted and created again never reuses a
        # version a stale writer might still hold (no ABA).
        return f"{time.time_ns():x}-{secrets.token_hex(6)}"

    def _replace(self, dir_fd: int, name: str, chunks: tuple[bytes, ...]) -> None:
        """Write ``chunks`` to a temp file in ``dir_fd``, fsync it, rename it over ``name``, fsync the directory.

        The rename replaces whatever entry is there (a symbolic link included) without following it."""
        tmp = _TMP_PREFIX + secrets.token_hex(8)
        fd = os.open(tmp, _CREATE_TMP, 0o666, dir_fd=dir_fd)
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
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
        self._fsync(dir_fd)

    @staticmethod
    def _prune(names: tuple[str, ...], dirs: list[int]) -> None:
        """Remove the directories of a deleted value left empty, innermost first, up to (not including)
        the root. ``dirs[i]`` is the directory holding ``names[i]``."""
        for depth in range(len(dirs) - 1, 0, -1):
            try:
                os.rmdir(names[depth - 1], dir_fd=dirs[depth - 1])
            except OSError:
                return  # not empty (or already gone): stop

    def _forget(self, root_fd: int, key: str) -> None:
        """Drop every live index entry of ``key`` (its value is gone)."""
        plan = self._index.begin(root_fd, key, None)
        if plan is not None:
            self._index.finish(root_fd, plan, True)

    # ------------------------------------------------------------------ leases
    @staticmethod
    def _read_lease(key: str, locks_fd: int | None) -> tuple[str | None, int, float]:
        """(owner or None when free, the last token ever issued, expires_at)."""
        if locks_fd is None:
            return None, 0, 0.0
        name = _lock_name(key) + ".lease"
        try:
            fd = open_file(key, locks_fd, name, f"{LOCK_DIR}/{name}", os.O_RDONLY)
        except FileNotFoundError:
            return None, 0, 0.0
        try:
            chunks = []
            while chunk := os.read(fd, _READ_CHUNK):
                chunks.append(chunk)
        finally:
            os.close(fd)
        try:
            record = json.loads(b"".join(chunks))
            owner = record["owner"]
            token = int(record["token"])
            expires = float(record["expires_at"] or 0.0)
        except (ValueError, KeyError, TypeError) as err:
            raise OSError(errno.EIO, f"lease file of {short_repr(key)} is unreadable: {err}", name) from err
        return owner, token, expires

    def _write_lease(self, key: str, locks_fd: int, owner: str | None, token: int, expires: float | None) -> None:
        record = {"key": key, "owner": owner, "token": token, "expires_at": expires}
        self._replace(locks_fd, _lock_name(key) + ".lease", (json.dumps(record, ensure_ascii=False).encode("utf-8"),))

    def _fence(self, key: str, lease: Lease | None, locks_fd: int) -> None:
        if lease is None:
            return
        _, newest, _ = self._read_lease(key, locks_fd)
        if newest != lease.token:
            raise LeaseLost(key, f"fencing token {lease.token} is stale (newest is {newest})")

    # ------------------------------------------------------------------ storage
    async def read(self, key: str) -> Versioned | None:
        validate_key(key)
        return await self._run("read", self._read_sync, key, False, inline=True)

    async def exists(self, key: str) -> bool:
        validate_key(key)
        return await self._run("exists", self._read_sync, key, True, inline=True) is not None

    def _read_sync(self, key: str, header_only: bool) -> Versioned | None:
        names = self._names(key)
        dirs = [open_root(self.root, lookup_only=True)]
        try:
            parent = self._descend(key, names, dirs, create=False, lookup_only=True) if len(names) > 1 else dirs[0]
            return self._load(key, parent, names[-1], header_only)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None  # absent; or a value where a directory would be, or a directory where a value would be
        finally:
            close_all(dirs)

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
        if index is not None:
            check_labels(index.labels)
        payload = data if isinstance(data, bytes) else bytes(data)
        return await self._run("write", self._write_sync, key, payload, expected_version, lease, index)

    def _write_sync(
        self, key: str, data: bytes, expected: str | None, lease: Lease | None, index: IndexEntry | None
    ) -> str:
        names = self._names(key)
        dirs = [open_root(self.root)]
        try:
            with self._locked(key, dirs[0]) as locks_fd:
                self._fence(key, lease, locks_fd)
                found: str | None = None
                is_dir = False
                try:
                    parent: int | None = self._descend(key, names, dirs, create=False)
                    found = self._version_at(key, dirs[-1], names[-1])
                except FileNotFoundError:
                    parent = None  # (a missing directory is made below, once the version matched)
                except NotADirectoryError as err:
                    if expected is None:
                        raise self._layout_clash(key, str(err.filename)) from None
                    parent = None
                except IsADirectoryError:
                    is_dir = True  # keys stored under "<key>/..." exist
                if found != expected:
                    raise WriteConflict(key, expected, found)
                if is_dir:
                    raise self._layout_clash(key, key)
                # the new index entry is live before the value is written, the old one dropped after
                plan = self._index.begin(dirs[0], key, index)
                written = False
                try:
                    version = self._put_value(key, names, dirs, parent, data)
                    written = True
                    return version
                finally:
                    if plan is not None:
                        self._index.finish(dirs[0], plan, written)
        finally:
            close_all(dirs)

    def _put_value(self, key: str, names: tuple[str, ...], dirs: list[int], parent: int | None, data: bytes) -> str:
        version = self._new_version()
        chunks = (MAGIC + version.encode("ascii") + b"\n", data)
        for _ in range(_RETRIES):
            try:
                if parent is None:
                    close_all(dirs[1:])
                    del dirs[1:]
                    parent = self._descend(key, names, dirs, create=True)
                self._replace(parent, names[-1], chunks)
                return version
            except FileNotFoundError:
                # a concurrent delete of another key pruned a directory we opened: walk again
                parent = None
            except NotADirectoryError as err:
                raise self._layout_clash(key, str(err.filename)) from None
            except IsADirectoryError:
                raise self._layout_clash(key, key) from None
        raise FileNotFoundError(errno.ENOENT, "directory kept vanishing while writing", key)

    async def delete(self, key: str, expected_version: str | None = None, *, lease: Lease | None = None) -> None:
        validate_key(key)
        if lease is not None:
            check_lease_key(lease, key)
        await self._run("delete", self._delete_sync, key, expected_version, lease)

    def _delete_sync(self, key: str, expected: str | None, lease: Lease | None) -> None:
        names = self._names(key)
        dirs = [open_root(self.root)]
        try:
            with self._locked(key, dirs[0]) as locks_fd:
                self._fence(key, lease, locks_fd)
                try:
                    parent = self._descend(key, names, dirs, create=False)
                    if expected is not None:
                        found = self._version_at(key, parent, names[-1])
                    else:  # no need to read it, only to know it is a value of ours
                        mode = os.stat(names[-1], dir_fd=parent, follow_symlinks=False).st_mode
                        if not stat.S_ISREG(mode):
                            if stat.S_ISDIR(mode):
                                self._forget(dirs[0], key)
                                return  # keys stored under "<key>/...": no value at this key
                            raise UnsafePath(key, key, describe(mode))
                except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                    found = None
                    if expected is None:
                        self._forget(dirs[0], key)  # no value; a stale entry left by a crash goes too
                        return
                if expected is not None and found != expected:
                    raise WriteConflict(key, expected, found)
                try:
                    os.unlink(names[-1], dir_fd=parent)
                    self._fsync(parent)
                except FileNotFoundError:
                    pass
                # only after the value is gone: removing the entry first could leave a value without one
                self._forget(dirs[0], key)
            self._prune(names, dirs)
        finally:
            close_all(dirs)

    async def list_page(self, prefix: str = "", cursor: str | None = None, limit: int = 1000) -> Page:
        validate_prefix(prefix)
        return await self._run("list", self._list_sync, prefix, cursor, limit)

    def _list_sync(self, prefix: str, cursor: str | None, limit: int) -> Page:
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        dirs = [open_root(self.root)]
        try:
            if base:
                try:
                    # the prefix names a path: a link or FIFO on it is refused, like on a key's path
                    self._descend(prefix, (*base.split("/"), ""), dirs, create=False)
                except (FileNotFoundError, NotADirectoryError):
                    return Page([], None)  # nothing stored under it
            keys = sorted(
                k for k in self._walk(base, dirs[-1]) if k.startswith(prefix) and (cursor is None or k > cursor)
            )
        finally:
            close_all(dirs)
        return key_page(keys, limit)

    @staticmethod
    def _walk(base: str, base_fd: int) -> Iterator[str]:
        """Keys of the value files under ``base`` (hidden names, temp files, links, FIFOs ... skipped:
        only directories and regular files of the store are entered or listed, never followed)."""
        stack: list[tuple[str, int]] = []
        rel, fd = base, base_fd
        try:
            while True:
                with os.scandir(fd) as it:
                    entries = list(it)
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    key = f"{rel}/{entry.name}" if rel else entry.name
                    if entry.is_dir(follow_symlinks=False):
                        try:
                            stack.append((key, open_dir(key, fd, entry.name, key)))
                        except (FileNotFoundError, NotADirectoryError, UnsafePath):
                            continue  # removed or swapped since the listing: not a directory of ours now
                    elif entry.is_file(follow_symlinks=False) and _is_key(key):
                        yield key
                if fd != base_fd:
                    os.close(fd)
                fd = base_fd
                if not stack:
                    return
                rel, fd = stack.pop()
        finally:
            if fd != base_fd:
                os.close(fd)
            for _, left in stack:
                os.close(left)

    async def due_page(self, prefix: str, until: float, cursor: str | None = None, limit: int = 1000) -> Page:
        validate_prefix(prefix)
        check_limit(limit)
        after = parse_due_cursor(cursor) if cursor is not None else None
        found, more = await self._run("due_page", self._index.due, prefix, float(until), after, limit)
        return Page([key for _, key in found], due_cursor(*found[-1]) if more else None)

    async def find_page(
        self, prefix: str, labels: Mapping[str, str], cursor: str | None = None, limit: int = 1000
    ) -> Page:
        validate_prefix(prefix)
        check_labels(labels)
        check_limit(limit)
        keys, more = await self._run("find_page", self._index.find, prefix, dict(labels), cursor, limit)
        return Page(keys, keys[-1] if more else None)

    # ------------------------------------------------------------------ lock
    async def try_acquire(self, key: str, owner: str, lease_seconds: float) -> Lease | None:
        validate_key(key)
        return await self._run("try_acquire", self._try_acquire_sync, key, owner, lease_seconds)

    def _try_acquire_sync(self, key: str, owner: str, lease_seconds: float) -> Lease | None:
        root_fd = open_root(self.root)
        try:
            with self._locked(key, root_fd) as locks_fd:
                held_by, token, expires = self._read_lease(key, locks_fd)
                now = time.time()
                if held_by is not None and expires > now:
                    return None
                token += 1
                expires = now + lease_seconds
                self._write_lease(key, locks_fd, owner, token, expires)
                return Lease(key, owner, token, expires, lease_seconds)
        finally:
            os.close(root_fd)

    def _held(self, lease: Lease, locks_fd: int | None) -> float:
        held_by, token, expires = self._read_lease(lease.key, locks_fd)
        if held_by is None or held_by != lease.owner or token != lease.token:
            raise LeaseLost(lease.key, "not held by this owner and token")
        return expires

    async def renew(self, lease: Lease, lease_seconds: float | None = None) -> Lease:
        validate_key(lease.key)
        return await self._run("renew", self._renew_sync, lease, lease_seconds)

    def _renew_sync(self, lease: Lease, lease_seconds: float | None) -> Lease:
        root_fd = open_root(self.root)
        try:
            with self._locked(lease.key, root_fd) as locks_fd:
                now = time.time()
                if self._held(lease, locks_fd) <= now:
                    raise LeaseLost(lease.key, "expired")
                duration = lease.lease_seconds if lease_seconds is None else lease_seconds
                expires = now + duration
                self._write_lease(lease.key, locks_fd, lease.owner, lease.token, expires)
                return Lease(lease.key, lease.owner, lease.token, expires, duration)
        finally:
            os.close(root_fd)

    async def release(self, lease: Lease) -> None:
        validate_key(lease.key)
        await self._run("release", self._release_sync, lease)

    def _release_sync(self, lease: Lease) -> None:
        root_fd = open_root(self.root)
        try:
            with self._locked(lease.key, root_fd) as locks_fd:
                self._held(lease, locks_fd)
                # keep the token: the next holder gets a higher one
                self._write_lease(lease.key, locks_fd, None, lease.token, None)
        finally:
            os.close(root_fd)

    async def is_locked(self, key: str) -> bool:
        validate_key(key)
        return await self._run("is_locked", self._is_locked_sync, key)

    def _unlocked_lease(self, key: str) -> tuple[str | None, int, float]:
        """The lease file read without the flock (it is replaced atomically)."""
        root_fd = open_root(self.root)
        try:
            try:
                locks_fd = self._lock_dir(key, root_fd, create=False)
            except FileNotFoundError:
                return None, 0, 0.0
            try:
                return self._read_lease(key, locks_fd)
            finally:
                os.close(locks_fd)
        finally:
            os.close(root_fd)

    def _is_locked_sync(self, key: str) -> bool:
        held_by, _, expires = self._unlocked_lease(key)
        return held_by is not None and expires > time.time()

    async def check(self, lease: Lease) -> None:
        validate_key(lease.key)
        await self._run("check", self._check_sync, lease)

    def _check_sync(self, lease: Lease) -> None:
        # the lease file holds the last lease granted, so a matching token in it is the newest token
        held_by, token, expires = self._unlocked_lease(lease.key)
        if held_by is None or held_by != lease.owner or token != lease.token:
            raise LeaseLost(lease.key, "not held by this owner and token")
        if expires <= time.time():
            raise LeaseLost(lease.key, "expired")


def _lock_name(key: str) -> str:
    """The key's lock and lease files are named by the SHA-256 of the key (a fixed length, whatever the key)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


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
        raise StoreConfigError(f"{url!r}: no directory given")
    unknown = set(options) - {"fsync", "io"}
    if unknown:
        raise StoreConfigError(f"{url!r}: unknown option(s) {', '.join(sorted(unknown))}; known: fsync, io")
    fsync_option = options.get("fsync", "true").lower()
    if fsync_option not in _TRUE | _FALSE:
        raise StoreConfigError(f"{url!r}: fsync must be true or false, not {fsync_option!r}")
    return LocalFileStore(root, fsync=fsync_option in _TRUE, io=parse_io(url, options))
