"""Names for index entries kept as files or objects (the file and S3 stores; see docs/decisions/0008-index.md).

A due time becomes 16 hex digits that sort as strings exactly as the floats sort as numbers (the IEEE-754
bits, with the sign flipped for positive numbers and every bit flipped for negative ones): a directory
listing or S3's lexicographic ListObjectsV2 meets due entries in due order and can stop at ``until``.
The per-key record of what entries are live is JSON: ``{"key": ..., "live": [{"due": ..., "labels": {...}}]}``.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import CorruptValue
from .base import IndexEntry

__all__ = [
    "INDEX_DIR", "Live", "decode_record", "encode_record", "has_labels", "key_hash", "label_dir", "same_entries", "sortable_due",
]

#: the reserved directory (file store) or object prefix (S3) of the index: no key segment may start with '.'
INDEX_DIR = ".index"
_FLIP = (1 << 64) - 1


@dataclass(frozen=True)
class Live:
    """A live entry of a key's index record in an object store (S3, Azure): a random id, its due time and
    labels (see _s3_index.py for the invariant the ids keep)."""

    id: str
    due: float | None
    labels: dict[str, str] = field(default_factory=dict)

    def same(self, entry: IndexEntry) -> bool:
        return self.due == entry.due and self.labels == dict(entry.labels)


def sortable_due(due: float) -> str:
    """16 lower-case hex digits whose string order is the numeric order of ``due`` (-0.0 as 0.0)."""
    bits: int = struct.unpack(">Q", struct.pack(">d", float(due) + 0.0))[0]
    bits = bits ^ _FLIP if bits >> 63 else bits | (1 << 63)
    return f"{bits:016x}"


def key_hash(key: str) -> str:
    """A fixed-length name for a key (keys may be longer than a file name may be)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def label_dir(name: str, value: str) -> str:
    """``<name>/<hash of the value>``: where the entries carrying that label live (values are free text)."""
    return f"{name}/{hashlib.sha256(value.encode('utf-8')).hexdigest()[:32]}"


def encode_record(key: str, live: list[IndexEntry]) -> bytes:
    entries = [{"due": e.due, "labels": dict(e.labels)} for e in live]
    return json.dumps({"key": key, "live": entries}, ensure_ascii=False, sort_keys=True).encode("utf-8")


def decode_record(blob: bytes) -> tuple[str, list[IndexEntry]]:
    """(key, live entries); CorruptValue (a ValueError) for anything that is not a record."""
    try:
        record: Any = json.loads(blob)
        key = record["key"]
        live = [IndexEntry(None if e["due"] is None else float(e["due"]), dict(e["labels"])) for e in record["live"]]
    except (KeyError, TypeError, AttributeError) as err:
        raise CorruptValue(INDEX_DIR, f"not an index record: {err}") from err
    if not isinstance(key, str):
        raise CorruptValue(INDEX_DIR, "not an index record: the key is not a string")
    return key, live


def same_entries(a: list[IndexEntry], b: list[IndexEntry]) -> bool:
    return [(e.due, dict(e.labels)) for e in a] == [(e.due, dict(e.labels)) for e in b]


def has_labels(entry: IndexEntry, labels: Mapping[str, str]) -> bool:
    return all(entry.labels.get(n) == v for n, v in labels.items())
