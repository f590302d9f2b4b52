"""Listing stored actors: a page of records filtered by index labels, where one bad record never
hides the others (it is listed with its error instead).

Used by the CLI (``list``, ``tick``) and the web inspector; a store with an index answers a filtered
page from it (a page costs what it lists), any other store is read key by key and filtered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import RecordError, StoreUnavailable
from ..stores import LockableStorage
from .index import index_entry
from .record import StoredRecord

__all__ = ["ListedActor", "all_actors", "list_actors", "read_listed"]

_SUFFIX = ".json"


@dataclass(frozen=True)
class ListedActor:
    """One listed actor: its record, or the error that kept it from being read (``record`` is None)."""

    id: str
    record: StoredRecord | None
    error: RecordError | StoreUnavailable | None = None


async def read_listed(store: LockableStorage, key: str) -> ListedActor | None:
    """The record at ``key`` as a listing row; None if the key holds no record or it was deleted meanwhile."""
    if not key.endswith(_SUFFIX):
        return None
    actor_id = key[: -len(_SUFFIX)]
    try:
        stored = await store.read(key)
        if stored is None:  # deleted while we listed
            return None
        return ListedActor(actor_id, StoredRecord.decode(stored.data, key=key, version=stored.version))
    except (RecordError, StoreUnavailable) as err:  # one bad value must not hide the others
        return ListedActor(actor_id, None, err)


async def all_actors(store: LockableStorage) -> list[ListedActor]:
    """Every record in the store, in key order."""
    found: list[ListedActor] = []
    for key in sorted([key async for key in store.list()]):
        item = await read_listed(store, key)
        if item is not None:
            found.append(item)
    return found


async def list_actors(
    store: LockableStorage,
    labels: Mapping[str, str] | None = None,
    *,
    prefix: str = "",
    after: str | None = None,
    limit: int = 1000,
) -> tuple[list[ListedActor], bool]:
    """Up to ``limit`` actors whose ids start with ``prefix`` and come after ``after``, having every
    index label in ``labels`` (``machine``, ``status``, ``state``), and whether there are more.
    An unreadable record is listed (with its error) unless ``labels`` filter, which it cannot meet."""
    labels = dict(labels or {})
    cursor = None if after is None else f"{after}{_SUFFIX}"
    found: list[ListedActor] = []
    if labels and store.indexes:  # a page of the index: costs what it lists
        while len(found) <= limit:
            page = await store.find_page(prefix, labels, cursor, limit + 1 - len(found))
            for key in page.keys:
                item = await read_listed(store, key)
                if item is not None:
                    found.append(item)
            if page.cursor is None:
                break
            cursor = page.cursor
        return found[:limit], len(found) > limit
    keys = sorted([key async for key in store.list(prefix)])  # no index to ask: read and filter
    for key in keys:
        if cursor is not None and key <= cursor:
            continue
        item = await read_listed(store, key)
        if item is None:
            continue
        if labels and (item.record is None or not labels.items() <= dict(index_entry(item.record).labels).items()):
            continue
        found.append(item)
        if len(found) > limit:
            break
    return found[:limit], len(found) > limit
