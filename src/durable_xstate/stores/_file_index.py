"""The file store's index (docs/decisions/0008-index.md): plain files under ``<root>/.index/``.

- ``keys/<h>.json``: the key's record, its key and the entries that are *live* (``h``: SHA-256 of the key);
- ``due/<due>-<h>``: an empty file per live entry with a due time (``<due>``: :func:`sortable_due`);
- ``label/<name>/<hash of value>/<h>``: an empty file per label of a live entry.

Every change runs under the key's flock (the caller holds it) in an order that keeps one invariant:
an entry file exists only while its entry is in the record's live list, and the entry of the value on
disk is always live. A writer first makes the record list the old AND the new entries, creates the new
files, writes the value, removes the files only the old entries had, and last records the new entries
alone. A crash anywhere leaves at worst an extra live entry (a stale one: the key is listed although its
value says otherwise, which callers re-check); the next write or delete of the key removes it.

Directories are opened one at a time without following links (``_tree``), like the values' own.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from ._entries import (
    INDEX_DIR,
    decode_record,
    encode_record,
    has_labels,
    key_hash,
    label_dir,
    same_entries,
    sortable_due,
)
from ._tree import close_all, open_dir, open_file, open_root
from .base import IndexEntry

__all__ = ["FileIndex", "IndexPlan"]

Path = tuple[str, ...]  # directories below .index/, then the file name


def entry_files(h: str, entry: IndexEntry) -> set[Path]:
    files: set[Path] = set()
    if entry.due is not None:
        files.add(("due", f"{sortable_due(entry.due)}-{h}"))
    for name, value in entry.labels.items():
        files.add(("label", *label_dir(name, value).split("/"), h))
    return files


@dataclass
class IndexPlan:
    """A write under way: the live entries before it and the one it writes (empty: none)."""

    key: str
    h: str
    before: list[IndexEntry]
    after: list[IndexEntry]


class FileIndex:
    """Index files of one store root; ``replace(dir_fd, name, chunks)`` writes a file atomically and
    ``fsync(fd)`` syncs when the store does (both the store's own)."""

    def __init__(self, root: str, replace: Callable[[int, str, tuple[bytes, ...]], object], fsync: Callable[[int], None]):
        self.root = root
        self._replace = replace
        self._fsync = fsync

    # ------------------------------------------------------------------ plumbing
    def _open(self, parent: int, names: Path, fds: list[int], *, create: bool) -> int:
        """Open the directories ``names`` below ``parent`` (appending each to ``fds``); FileNotFoundError
        when one is missing and not created."""
        for depth, name in enumerate(names):
            where = "/".join((INDEX_DIR, *names[: depth + 1]))
            try:
                fd = open_dir(where, parent, name, where)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o777, dir_fd=parent)
                    self._fsync(parent)
                fd = open_dir(where, parent, name, where)
            fds.append(fd)
            parent = fd
        return parent

    def _read_record(self, keys_fd: int, h: str) -> tuple[str, list[IndexEntry]] | None:
        name = f"{h}.json"
        try:
            fd = open_file(name, keys_fd, name, f"{INDEX_DIR}/keys/{name}", os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            chunks = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
        finally:
            os.close(fd)
        try:
            return decode_record(b"".join(chunks))
        except ValueError as err:
            raise OSError(errno.EIO, f"index record {INDEX_DIR}/keys/{name} is unreadable: {err}") from err

    def _touch(self, index_fd: int, path: Path) -> None:
        fds: list[int] = []
        try:
            parent = self._open(index_fd, path[:-1], fds, create=True)
            where = "/".join((INDEX_DIR, *path))
            os.close(open_file(where, parent, path[-1], where, os.O_WRONLY | os.O_CREAT))
            self._fsync(parent)
        finally:
            close_all(fds)

    def _remove(self, index_fd: int, path: Path) -> None:
        fds: list[int] = []
        try:
            parent = self._open(index_fd, path[:-1], fds, create=False)
            os.unlink(path[-1], dir_fd=parent)
            self._fsync(parent)
        except FileNotFoundError:
            pass  # never created (a crash before) or already gone
        finally:
            close_all(fds)

    def _set_record(self, index_fd: int, plan: IndexPlan, live: list[IndexEntry]) -> None:
        fds: list[int] = []
        try:
            keys_fd = self._open(index_fd, ("keys",), fds, create=True)
            if live:
                self._replace(keys_fd, f"{plan.h}.json", (encode_record(plan.key, live),))
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{plan.h}.json", dir_fd=keys_fd)
                    self._fsync(keys_fd)
        finally:
            close_all(fds)

    # ------------------------------------------------------------------ writers (holding the key's flock)
    def begin(self, root_fd: int, key: str, entry: IndexEntry | None) -> IndexPlan | None:
        """Before the value is written: make the new entry live beside the old ones (None: nothing to do)."""
        h = key_hash(key)
        fds: list[int] = []
        try:
            index_fd = self._open(root_fd, (INDEX_DIR,), fds, create=entry is not None)
        except FileNotFoundError:
            return None  # no index yet and no entry to add
        try:
            keys_fd = self._open(index_fd, ("keys",), fds, create=True)
            found = self._read_record(keys_fd, h)
            before = [] if found is None else found[1]
            after = [] if entry is None else [IndexEntry(entry.due, dict(entry.labels))]
            if same_entries(before, after):
                return None
            plan = IndexPlan(key, h, before, after)
            if after and not any(same_entries([e], after) for e in before):
                self._set_record(index_fd, plan, [*before, *after])
                old = set().union(*(entry_files(h, e) for e in before))
                for path in sorted(entry_files(h, after[0]) - old):
                    self._touch(index_fd, path)
            return plan
        finally:
            close_all(fds)

    def finish(self, root_fd: int, plan: IndexPlan, written: bool) -> None:
        """After the value was written (or, ``written=False``, refused): drop the entries it no longer has."""
        keep = plan.after if written else plan.before
        fds: list[int] = []
        try:
            index_fd = self._open(root_fd, (INDEX_DIR,), fds, create=True)
            kept = set().union(*(entry_files(plan.h, e) for e in keep))
            every = set().union(*(entry_files(plan.h, e) for e in (*plan.before, *plan.after)))
            for path in sorted(every - kept):
                self._remove(index_fd, path)
            self._set_record(index_fd, plan, keep)
        finally:
            close_all(fds)

    # ------------------------------------------------------------------ readers (no lock)
    @contextlib.contextmanager
    def _reading(self, *names: str) -> Iterator[tuple[int, int] | None]:
        """(the index directory, the directory ``names`` below it), or None when either is missing."""
        fds = [open_root(self.root)]
        try:
            try:
                index_fd = self._open(fds[0], (INDEX_DIR,), fds, create=False)
                yield index_fd, self._open(index_fd, names, fds, create=False)
            except FileNotFoundError:
                yield None
        finally:
            close_all(fds)

    def due(self, prefix: str, until: float, after: tuple[float, str] | None, limit: int) -> tuple[list[tuple[float, str]], bool]:
        """Up to ``limit`` (due, key) earliest first, and whether more follow."""
        with self._reading("due") as dirs:
            if dirs is None:
                return [], False
            index_fd, due_fd = dirs
            low = sortable_due(after[0]) if after is not None else ""
            high = sortable_due(until) + "-~"
            # one flat scan of names (no file is opened); only the due ones are read
            names = sorted(n for n in os.listdir(due_fd) if low <= n <= high and not n.startswith("."))
            fds: list[int] = []
            try:
                keys_fd = self._open(index_fd, ("keys",), fds, create=False)
            except FileNotFoundError:
                return [], False
            try:
                found: set[tuple[float, str]] = set()
                group = ""
                for name in names:
                    stamp, _, h = name.partition("-")
                    if stamp != group and len(found) > limit:
                        break  # whole due times only: keys of one due time come in key order
                    group = stamp
                    record = self._read_record(keys_fd, h)
                    if record is None:
                        continue  # removed since the scan
                    key, live = record
                    # a key with two live entries (a writer died mid-write) counts once, at the earlier
                    due = min((e.due for e in live if e.due is not None), default=None)
                    if (
                        due is not None and sortable_due(due) == stamp and due <= until
                        and key.startswith(prefix) and (after is None or (due, key) > after)
                    ):
                        found.add((due, key))
            finally:
                close_all(fds)
        ordered = sorted(found)
        return ordered[:limit], len(ordered) > limit

    def find(self, prefix: str, labels: Mapping[str, str], cursor: str | None, limit: int) -> tuple[list[str], bool]:
        """Up to ``limit`` keys in key order with every label, and whether more follow."""
        candidates: set[str] | None = None
        for name, value in labels.items():
            with self._reading("label", *label_dir(name, value).split("/")) as dirs:
                hashes = set() if dirs is None else {n for n in os.listdir(dirs[1]) if not n.startswith(".")}
            candidates = hashes if candidates is None else candidates & hashes
            if not candidates:
                return [], False
        with self._reading("keys") as dirs:
            if dirs is None:
                return [], False
            keys_fd = dirs[1]
            if candidates is None:  # no label asked for: every key that has an entry
                candidates = {n[:-5] for n in os.listdir(keys_fd) if n.endswith(".json") and not n.startswith(".")}
            keys: set[str] = set()
            for h in candidates:
                record = self._read_record(keys_fd, h)
                if record is None:
                    continue
                key, live = record
                if key.startswith(prefix) and (cursor is None or key > cursor) and any(has_labels(e, labels) for e in live):
                    keys.add(key)
        ordered = sorted(keys)
        return ordered[:limit], len(ordered) > limit
