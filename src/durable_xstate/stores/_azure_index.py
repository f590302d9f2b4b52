"""The Azure store's index (docs/decisions/0008-index.md, 0014-azure-blob.md): blobs under ``<prefix>.index/``,
laid out and kept exactly as the S3 store's (see _s3_index.py for the invariant and the write order):

- ``keys/<h>``: the key's record (``h``: SHA-256 of the key): the key and its *live* entries, each with a
  random id; changed only by compare-and-set on its ETag;
- ``due/<due>/<h>/<id>``: an empty blob per live entry with a due time (``<due>``: :func:`sortable_due`, so
  List Blobs, which is lexicographic, meets them in due order and stops at ``until``);
- ``label/<name>/<hash of value>/<h>/<id>``: an empty blob per label of a live entry.

List Blobs cannot start after a given name (Azurite has no ``startFrom``), so a ``due_page`` cursor carries
the continuation marker of the List Blobs page where its last due time was met: the next page lists on
from there, re-reading at most one page of names.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..errors import StoreUnavailable, WriteConflict
from ._azure_blobs import BACKEND, Blobs
from ._entries import INDEX_DIR, Live, key_hash, label_dir, sortable_due
from .base import IndexEntry

__all__ = ["AzureIndex"]

_ATTEMPTS = 60  # compare-and-set rounds on one record (with jittered backoff) before giving up
_log = logging.getLogger("durable_xstate.stores.azure")


class AzureIndex:
    def __init__(self, blobs: Blobs, prefix: str) -> None:
        self._blobs = blobs
        self.base = prefix + INDEX_DIR + "/"
        self.page_size = 1000  # names per List Blobs page (the tests make it small to cross pages)

    # ------------------------------------------------------------------ records
    def _record_name(self, h: str) -> str:
        return f"{self.base}keys/{h}"

    def _objects(self, h: str, live: Live) -> list[str]:
        names = [f"{self.base}due/{sortable_due(live.due)}/{h}/{live.id}"] if live.due is not None else []
        names += [f"{self.base}label/{label_dir(n, v)}/{h}/{live.id}" for n, v in sorted(live.labels.items())]
        return names

    async def read(self, h: str) -> tuple[str, list[Live], str | None]:
        """(key, live entries, ETag); ("", [], None) when there is no record."""
        blob = await self._blobs.get(self._record_name(h), "index")
        if blob is None:
            return "", [], None
        try:
            record: Any = json.loads(blob.data)
            live = [Live(str(e["id"]), None if e["due"] is None else float(e["due"]), dict(e["labels"])) for e in record["live"]]
            return str(record["key"]), live, blob.etag
        except (ValueError, KeyError, TypeError) as err:
            raise StoreUnavailable(BACKEND, "index", ValueError(f"index record {self._record_name(h)} is unreadable: {err}")) from err

    async def _put(self, key: str, h: str, live: list[Live], etag: str | None) -> bool:
        """Compare-and-set the record (None: only if absent); False when someone changed it first."""
        name = self._record_name(h)
        if live:
            body = json.dumps(
                {"key": key, "live": [{"id": e.id, "due": e.due, "labels": e.labels} for e in live]},
                ensure_ascii=False, sort_keys=True,
            ).encode("utf-8")
            return await self._blobs.put(name, body, "index", if_match=etag, create=etag is None) is not None
        if etag is not None:
            return await self._blobs.delete(name, "index", if_match=etag)
        return True

    async def _update(self, key: str, h: str, change: Callable[[list[Live]], list[Live]]) -> list[Live]:
        """Apply ``change`` to the live entries by compare-and-set, retrying on contention; the entries before."""
        for attempt in range(_ATTEMPTS):
            _, live, etag = await self.read(h)
            new = change(live)
            if [e.id for e in new] == [e.id for e in live] or await self._put(key, h, new, etag):
                return live
            await asyncio.sleep(random.random() * min(0.001 * 2**attempt, 0.05))  # other writers of this key
        raise WriteConflict(key, None, None, reason=f"the index record kept changing ({_ATTEMPTS} rounds lost to other writers)")

    async def _each(self, names: list[str], put: bool) -> None:
        for name in names:
            if put:
                await self._blobs.put(name, b"", "index")
            else:
                await self._blobs.delete(name, "index")

    # ------------------------------------------------------------------ writers
    async def write(self, key: str, entry: IndexEntry | None, put_value: Callable[[], Awaitable[str]]) -> str:
        """Run ``put_value`` (the value's compare-and-set) with the index kept around it."""
        h = key_hash(key)
        _, live, _ = await self.read(h)
        if (entry is None and not live) or (entry is not None and len(live) == 1 and live[0].same(entry)):
            return await put_value()  # the entry stays what it is
        mine = None if entry is None else Live(secrets.token_hex(6), entry.due, dict(entry.labels))
        if mine is not None:
            seen = await self._update(key, h, lambda now: [*now, mine])
            await self._each(self._objects(h, mine), put=True)
        else:
            seen = live
        try:
            version = await put_value()
        except BaseException:
            if mine is not None:  # refused: our entry goes, the others stay
                await self._drop_quietly(key, h, [mine])
            raise
        await self._drop_quietly(key, h, seen)
        return version

    async def forget(self, key: str, seen: list[Live]) -> None:
        await self._drop_quietly(key, key_hash(key), seen)

    async def live(self, key: str) -> list[Live]:
        return (await self.read(key_hash(key)))[1]

    async def _drop_quietly(self, key: str, h: str, entries: list[Live]) -> None:
        try:
            if entries:
                for e in entries:
                    await self._each(self._objects(h, e), put=False)
                ids = {e.id for e in entries}
                await self._update(key, h, lambda now: [e for e in now if e.id not in ids])
        except (WriteConflict, StoreUnavailable) as err:
            _log.warning("index entries of %s left stale: %s", key, err)

    # ------------------------------------------------------------------ readers
    async def due(
        self, prefix: str, until: float, after: tuple[float, str] | None, marker: str | None, limit: int
    ) -> tuple[list[tuple[float, str]], str | None, bool]:
        """(due, key) pairs earliest first, the marker to resume at after the last one, whether more follow."""
        root = f"{self.base}due/"
        stop = root + sortable_due(until) + "/~"
        start = root + sortable_due(after[0]) if after is not None else ""
        records: dict[str, tuple[str, list[Live]]] = {}
        found: set[tuple[float, str]] = set()
        markers: dict[str, str | None] = {}  # stamp -> the marker of the page where it was first met
        group = ""
        async for name, page_marker in self._blobs.scan(root, marker, "index", self.page_size):
            if name > stop:
                break
            if name < start:
                continue  # before the cursor: on the page it resumed from
            parts = name[len(root):].split("/")
            if len(parts) != 3:
                continue
            stamp, h, entry_id = parts
            if stamp != group and len(found) > limit:
                break
            group = stamp
            markers.setdefault(stamp, page_marker)
            if h not in records:
                key, live, _ = await self.read(h)
                records[h] = (key, live)
            key, live = records[h]
            due = min((e.due for e in live if e.due is not None), default=None)
            if (
                due is not None and any(e.id == entry_id for e in live) and sortable_due(due) == stamp
                and due <= until and key.startswith(prefix) and (after is None or (due, key) > after)
            ):
                found.add((due, key))
        ordered = sorted(found)
        page = ordered[:limit]
        more = len(ordered) > limit
        return page, (markers.get(sortable_due(page[-1][0])) if more else None), more

    async def find(self, prefix: str, labels: Mapping[str, str], cursor: str | None, limit: int) -> tuple[list[str], bool]:
        candidates: set[str] | None = None
        for name, value in labels.items():
            root = f"{self.base}label/{label_dir(name, value)}/"
            hashes = {n[len(root):].split("/")[0] async for n, _ in self._blobs.scan(root, None, "index")}
            candidates = hashes if candidates is None else candidates & hashes
            if not candidates:
                return [], False
        if candidates is None:
            root = f"{self.base}keys/"
            candidates = {n[len(root):] async for n, _ in self._blobs.scan(root, None, "index")}
        keys: set[str] = set()
        for h in candidates:
            key, live, _ = await self.read(h)
            if (
                key.startswith(prefix) and (cursor is None or key > cursor)
                and any(all(e.labels.get(n) == v for n, v in labels.items()) for e in live)
            ):
                keys.add(key)
        ordered = sorted(keys)
        return ordered[:limit], len(ordered) > limit
