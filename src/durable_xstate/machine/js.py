"""JavaScript rules that xstate's behaviour depends on, implemented once.

- **Property order.** xstate walks config objects with ``Object.keys``: integer-like keys (array
  indices: ``"0"``, ``"7"``, ``"200"``, not ``"07"`` or ``"1.5"``) come first in ascending numeric order,
  then the other keys in insertion order. ``after: {"500": ..., "200": ...}`` schedules 200 first, and
  ``states: {"b": ..., "1": ...}`` has ``1`` first in document order. ``js_items`` gives that order.
- **ToNumber** of a string (``+delay`` in ``getDelayedTransitions``): ``js_to_number``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["is_array_index", "js_items", "js_to_number"]

_MAX_INDEX = 2**32 - 2  # the largest array index: 2^32 - 2
_DIGITS = frozenset("0123456789")


def is_array_index(key: Any) -> bool:
    """Whether ``key`` is an integer-like property key (a canonical array index) in JavaScript."""
    if key.__class__ is not str or key[:1] not in _DIGITS or len(key) > 10 or not key.isascii() or not key.isdigit():
        return False
    return (key == "0" or key[0] != "0") and int(key) <= _MAX_INDEX


def js_items(obj: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    """``obj``'s items in the order ``Object.keys`` gives them (a view of ``obj`` when that is its own order:
    one key, or no integer-like key, which a first-character test rules out for almost every key)."""
    if len(obj) > 1:
        for k in obj:  # an integer-like key starts with a digit: one cheap test per key decides
            if k.__class__ is str and k[:1] in _DIGITS and is_array_index(k):
                return _object_key_order(obj)
    return obj.items()


def _object_key_order(obj: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The items in ``Object.keys`` order: integer-like keys ascending, then the rest as inserted."""
    indices = sorted((kv for kv in obj.items() if is_array_index(kv[0])), key=lambda kv: int(kv[0]))
    return indices + [kv for kv in obj.items() if not is_array_index(kv[0])]


# StrWhiteSpaceChar: WhiteSpace and LineTerminator of ECMAScript
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_DECIMAL = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|Infinity)\Z")
_RADIX = {"0x": 16, "0X": 16, "0o": 8, "0O": 8, "0b": 2, "0B": 2}


def js_to_number(text: str) -> float:
    """JavaScript's ``Number(text)`` / ``+text`` for a string: NaN where JS gives NaN."""
    s = text.strip(_JS_SPACE)
    if s == "":
        return 0.0
    radix = _RADIX.get(s[:2])
    if radix is not None:
        try:
            return float(int(s[2:], radix)) if s[2:].isascii() and "_" not in s else math.nan
        except ValueError:
            return math.nan
    if not _DECIMAL.match(s):
        return math.nan
    return float(s.replace("Infinity", "inf"))
