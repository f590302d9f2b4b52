"""One bounded cache for every memo table of the engine.

The engine derives things once and reuses them on every event (which transitions a node has for an
event type, which nodes to ask, the plan of a microstep...). Keys can come from outside - a
long-running orchestrator receives arbitrary CloudEvent types - so every table is a
:class:`BoundedCache`: a plain ``dict`` read directly (a hit is ``dict.get`` / ``d[key]``, nothing
more), filled only through :meth:`~BoundedCache.put`, which evicts the oldest insertion once the
table holds ``maxsize`` entries. A miss only costs a recomputation; no result depends on what is
cached.

The bounds, all in this module (entries, not bytes; "per node" / "per configuration" multiply):

- ``CANDIDATES_MAX = 1024`` per state node with transitions, event type -> candidate transitions:
  a machine declares tens of event types; 1024 leaves room for wildcards and unhandled types that
  repeat, while a flood of distinct types keeps at most 1024 short lists per node.
- ``PROGRAMS_MAX = 256`` per configuration, event type -> the nodes to ask: the types one
  configuration reacts to are those its nodes declare (tens); a miss re-walks the configuration,
  which reads the (larger) candidates tables, so this one can be smaller.
- ``PLANS_MAX = 256`` per configuration, (transitions, history) -> microstep plan: the transition
  sets enabled in one configuration times the history records that matter, tens in practice.
- ``CONFIGS_MAX = 4096`` per machine, active nodes -> derived configuration: reachable configurations
  are a product of the regions' states (4 parallel regions of 8 states = 4096); each carries the two
  per-configuration tables above.
- ``VALUE_NODES_MAX = 1024`` per machine, a restored string state value -> its nodes: only valid
  values are stored, at most one per atomic child of the root.
- ``ARITY_MAX = 4096`` process-wide, implementation function -> how many arguments it takes:
  a machine's named implementations are tens; lambdas made on the fly must not pile up.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from ..errors import InvalidArgument

__all__ = [
    "ARITY_MAX",
    "CANDIDATES_MAX",
    "CONFIGS_MAX",
    "PLANS_MAX",
    "PROGRAMS_MAX",
    "VALUE_NODES_MAX",
    "BoundedCache",
]

CANDIDATES_MAX = 1024
PROGRAMS_MAX = 256
PLANS_MAX = 256
CONFIGS_MAX = 4096
VALUE_NODES_MAX = 1024
ARITY_MAX = 4096

K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """A memo table of at most ``maxsize`` entries: read ``data`` (a plain dict), fill it with :meth:`put`.

    Hot paths read ``cache.data.get(key)`` or ``cache.data[key]``: a builtin dict lookup (a dict
    subclass would cost a third more per hit). :meth:`put` evicts the oldest insertion when full
    (FIFO: a hit needs no bookkeeping; an evicted entry still in use is computed and put again).
    """

    __slots__ = ("data", "maxsize", "name")

    def __init__(self, name: str, maxsize: int) -> None:
        if maxsize < 1:
            raise InvalidArgument(f"cache {name!r}: maxsize must be at least 1, got {maxsize}")
        self.name = name
        self.maxsize = maxsize
        self.data: dict[K, V] = {}

    def put(self, key: K, value: V) -> V:
        """Store ``value`` under ``key`` (evicting the oldest entry if full) and return it."""
        data = self.data
        if len(data) >= self.maxsize and key not in data:
            del data[next(iter(data))]
        data[key] = value
        return value

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"<BoundedCache {self.name} {len(self.data)}/{self.maxsize}>"
