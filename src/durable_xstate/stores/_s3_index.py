"""The S3 store's index (docs/decisions/0008-index.md): objects under ``<prefix>.index/``.

- ``keys/<h>``: the key's record (``h``: SHA-256 of the key): the key and its *live* entries, each with
  a random id; changed only by compare-and-set on its ETag;
- ``due/<due>/<h>/<id>``: an empty object per live entry with a due time (``<due>``: :func:`sortable_due`,
  so ListObjectsV2, which is lexicographic, meets them in due order and stops at ``until``);
- ``label/<name>/<hash of value>/<h>/<id>``: an empty object per label of a live entry.

S3 writes one object at a time and the lock is another service, so the order keeps the invariant: an
entry object exists only while its id is live in the record, and the entry of the stored value is always
live. A writer adds its entry (a fresh id) to the record, puts its objects, writes the value, then drops
the objects and ids of the entries it found live before it (a refused value write drops its own instead).
A crash leaves at worst an extra live entry: stale, harmless (callers re-check the value), removed by the
key's next write. Ids keep concurrent writers apart: each only ever removes entries it saw or added.
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
from ._aws import AwsClient, ClientError
from ._entries import INDEX_DIR, Live, key_hash, label_dir, sortable_due
from .base import IndexEntry

__all__ = ["S3Index"]

_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_CONFLICT = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}) | _MISSING
_ATTEMPTS = 60  # compare-and-set rounds on one record (with jittered backoff) before giving up
_log = logging.getLogger("durable_xstate.stores.s3")


class S3Index:
    def __init__(self, aws: AwsClient, bucket: str, prefix: str) -> None:
        self._aws = aws
        self.bucket = bucket
        self.base = prefix + INDEX_DIR + "/"

    # ------------------------------------------------------------------ records
    def _record_key(self, h: str) -> str:
        return f"{self.base}keys/{h}"

    def _objects(self, h: str, live: Live) -> list[str]:
        names = [f"{self.base}due/{sortable_due(live.due)}/{h}/{live.id}"] if live.due is not None else []
        names += [f"{self.base}label/{label_dir(n, v)}/{h}/{live.id}" for n, v in sorted(live.labels.items())]
        return names

    async def read(self, h: str) -> tuple[str, list[Live], str | None]:
        """(key, live entries, ETag); ("", [], None) when there is no record."""
        try:
            got = await self._aws.call("index", "get_object", expected=_MISSING, Bucket=self.bucket, Key=self._record_key(h))
        except ClientError:
            return "", [], None
        body = got["Body"]
        try:
            blob = body.read()
        finally:
            body.close()
        try:
            record: Any = json.loads(blob)
            live = [Live(str(e["id"]), None if e["due"] is None else float(e["due"]), dict(e["labels"])) for e in record["live"]]
            return str(record["key"]), live, str(got["ETag"])
        except (ValueError, KeyError, TypeError) as err:
            raise StoreUnavailable("s3", "index", ValueError(f"index record {self._record_key(h)} is unreadable: {err}")) from err

    async def _put(self, key: str, h: str, live: list[Live], etag: str | None) -> bool:
        """Compare-and-set the record (None: only if absent); False when someone changed it first."""
        name = self._record_key(h)
        condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
        try:
            if live:
                body = json.dumps(
                    {"key": key, "live": [{"id": e.id, "due": e.due, "labels": e.labels} for e in live]},
                    ensure_ascii=False, sort_keys=True,
                ).encode("utf-8")
                await self._aws.call("index", "put_object", expected=_CONFLICT, once=True, Bucket=self.bucket, Key=name, Body=body, **condition)
            elif etag is not None:
                await self._aws.call("index", "delete_object", expected=_CONFLICT, once=True, Bucket=self.bucket, Key=name, IfMatch=etag)
        except ClientError:
            return False
        return True

    async def _update(self, key: str, h: str, change: Callable[[list[Live]], list[Live]]) -> list[Live]:
        """Apply ``change`` to the live entries by compare-and-set, retrying on contention; the entries before."""
        for attempt in range(_ATTEMPTS):
            _, live, etag = await self.read(h)
            new = change(live)
            if [e.id for e in new] == [e.id for e in live] or await self._put(key, h, new, etag):
                return live
            await asyncio.sleep(random.random() * min(0.001 * 2**attempt, 0.05))  # other writers of this key
        # contention, not a fault: nothing of this write happened yet (or it is done), the caller may retry
        raise WriteConflict(key, None, None, reason=f"the index record kept changing ({_ATTEMPTS} rounds lost to other writers)")

    async def _each(self, names: list[str], method: str) -> None:
        for name in names:
            if method == "put_object":
                await self._aws.call("index", "put_object", Bucket=self.bucket, Key=name, Body=b"")
            else:
                await self._aws.call("index", "delete_object", Bucket=self.bucket, Key=name)

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
            await self._each(self._objects(h, mine), "put_object")
        else:
            seen = live
        try:
            version = await put_value()
        except BaseException:
            if mine is not None:  # refused: our entry goes, the others stay
                await self._drop_quietly(key, h, [mine])
            raise
        await self._drop_quietly(key, h, seen)  # the value is committed: report it so whatever happens here
        return version

    async def forget(self, key: str, seen: list[Live]) -> None:
        """After a delete: drop the entries that were live before it."""
        await self._drop_quietly(key, key_hash(key), seen)

    async def live(self, key: str) -> list[Live]:
        return (await self.read(key_hash(key)))[1]

    async def _drop_quietly(self, key: str, h: str, entries: list[Live]) -> None:
        """Drop entries that are stale now; a failure leaves them stale (harmless: readers re-check)."""
        try:
            await self._drop(key, h, entries)
        except (WriteConflict, StoreUnavailable) as err:
            _log.warning("index entries of %s left stale: %s", key, err)

    async def _drop(self, key: str, h: str, entries: list[Live]) -> None:
        if not entries:
            return
        for e in entries:
            await self._each(self._objects(h, e), "delete_object")
        ids = {e.id for e in entries}
        await self._update(key, h, lambda now: [e for e in now if e.id not in ids])

    # ------------------------------------------------------------------ readers
    async def _list(self, prefix: str, start_after: str | None, stop: str | None) -> list[str]:
        """Object names under ``prefix`` after ``start_after`` up to ``stop`` (inclusive prefix), in order."""
        names: list[str] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": 1000}
        if start_after is not None:
            kwargs["StartAfter"] = start_after
        while True:
            listed = await self._aws.call("index", "list_objects_v2", **kwargs)
            for item in listed.get("Contents", []):
                name = str(item["Key"])
                if stop is not None and name > stop:
                    return names
                names.append(name)
            if not listed.get("IsTruncated"):
                return names
            kwargs["ContinuationToken"] = listed["NextContinuationToken"]

    async def due(self, prefix: str, until: float, after: tuple[float, str] | None, limit: int) -> tuple[list[tuple[float, str]], bool]:
        root = f"{self.base}due/"
        start = root + sortable_due(after[0]) if after is not None else None
        names = await self._list(root, start, root + sortable_due(until) + "/~")
        records: dict[str, tuple[str, list[Live]]] = {}
        found: set[tuple[float, str]] = set()
        group = ""
        for name in names:
            parts = name[len(root):].split("/")
            if len(parts) != 3:
                continue
            stamp, h, entry_id = parts
            if stamp != group and len(found) > limit:
                break
            group = stamp
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
        return ordered[:limit], len(ordered) > limit

    async def find(self, prefix: str, labels: Mapping[str, str], cursor: str | None, limit: int) -> tuple[list[str], bool]:
        candidates: set[str] | None = None
        for name, value in labels.items():
            root = f"{self.base}label/{label_dir(name, value)}/"
            hashes = {n[len(root):].split("/")[0] for n in await self._list(root, None, None)}
            candidates = hashes if candidates is None else candidates & hashes
            if not candidates:
                return [], False
        if candidates is None:
            root = f"{self.base}keys/"
            candidates = {n[len(root):] for n in await self._list(root, None, None)}
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
