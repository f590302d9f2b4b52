"""The index entry as columns of the value's own row, shared by the SQLite and PostgreSQL backends.

One row holds the value and its entry, written by the same statement (docs/decisions/0008-index.md):
``indexed`` (the row has an entry), ``due`` (epoch ms, NULL: never) and one text column per label of
:data:`~durable_xstate.stores.base.INDEX_LABELS` (NULL: absent).
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import InvalidArgument, short_repr
from .base import INDEX_LABELS, IndexEntry, check_labels

__all__ = ["ENTRY_COLUMNS", "NO_ENTRY", "due_limit", "entry_params", "storable_text"]

#: the columns an entry is written to, in the order of :func:`entry_params`
ENTRY_COLUMNS = ("indexed", "due", *INDEX_LABELS)
NO_ENTRY: tuple[Any, ...] = (False, None, *(None for _ in INDEX_LABELS))


def storable_text(value: str) -> bool:
    """Whether a SQL text column can keep ``value`` exactly (no NUL character, no lone surrogate)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def entry_params(index: IndexEntry | None) -> tuple[Any, ...]:
    """The values of :data:`ENTRY_COLUMNS` for ``index`` (None: no entry); InvalidArgument for an entry
    the columns cannot keep, before anything is written. A NaN due is never due, so it is kept as NULL."""
    if index is None:
        return NO_ENTRY
    check_labels(index.labels)
    for name, value in index.labels.items():
        if not storable_text(value):
            raise InvalidArgument(
                f"index label {name}={short_repr(value)} cannot be stored: no NUL characters or lone surrogates"
            )
    due = index.due
    if due is not None:
        try:
            due = float(due)
        except (TypeError, ValueError):
            raise InvalidArgument(f"an index entry's due is a number of epoch ms or None, got {short_repr(due)}") from None
        if math.isnan(due):
            due = None
    return (True, due, *(index.labels.get(name) for name in INDEX_LABELS))


def due_limit(until: object) -> float | None:
    """``until`` of a due_page call as a float; None when nothing can be due (NaN)."""
    try:
        value = float(until)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidArgument(f"until is a number of epoch ms, got {short_repr(until)}") from None
    return None if math.isnan(value) else value
