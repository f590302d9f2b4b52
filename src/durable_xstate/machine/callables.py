"""Calling user implementations as ``fn(args, params)``, also when they accept fewer arguments.

xstate calls every implementation with ``(args, params)``; JavaScript ignores extra arguments, Python
does not. The accepted arity is computed once per function and cached.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .cache import ARITY_MAX, BoundedCache

__all__ = ["call_impl"]

_ARITY: BoundedCache[Any, int] = BoundedCache("arity", ARITY_MAX)


def arity(fn: Callable[..., Any]) -> int:
    """How many of ``(args, params)`` ``fn`` accepts: 0, 1 or 2 (not cached)."""
    return _arity(fn)


def _arity(fn: Callable[..., Any]) -> int:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 2
    count = 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return 2
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            count += 1
    return min(count, 2)


def call_impl(fn: Callable[..., Any], args: Any, params: Any) -> Any:
    """Call ``fn(args, params)``, ``fn(args)`` or ``fn()`` according to what it accepts."""
    try:
        n = _ARITY.data[fn]
    except KeyError:
        n = _ARITY.put(fn, _arity(fn))  # bounded: functions made on the fly must not pile up
    except TypeError:  # unhashable callable object
        n = _arity(fn)
    if n == 2:
        return fn(args, params)
    if n == 1:
        return fn(args)
    return fn()
