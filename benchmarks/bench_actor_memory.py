"""Memory per live actor: a parent spawns N child machines and keeps them alive; bytes per child.

Run from the repository root:

    PYTHONPATH=src .venv/bin/python benchmarks/bench_actor_memory.py            # 10,000 children
    PYTHONPATH=src .venv/bin/python benchmarks/bench_actor_memory.py --top 15   # and where it goes

The parent and child are the ``spawn`` workload's (bench_actors.py). A few children are spawned first
(caches warm), then tracemalloc counts what the next N spawns leave allocated after a garbage
collection: the child actors, their snapshots and scopes, and their share of the parent's
``children`` map. Divided by N: bytes per live actor.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import platform
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_actors import python_spawn_machine


def bytes_per_actor(count: int, top: int = 0) -> float:
    from durable_xstate import create_actor

    parent = create_actor(python_spawn_machine()).start()
    spawn = {"type": "SPAWN"}
    for _ in range(10):
        parent.send(spawn)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(count):
            parent.send(spawn)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        if top:
            for stat in tracemalloc.take_snapshot().statistics("lineno")[:top]:
                print(stat)
    finally:
        tracemalloc.stop()
    live = len(parent.get_snapshot().children)
    if live != count + 10:
        raise SystemExit(f"expected {count + 10} live children, found {live}")
    return (after - before) / count


RESULTS = Path(__file__).resolve().parent / "RESULTS-memory.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000, help="live children to spawn (default 10,000)")
    parser.add_argument("--top", type=int, default=0, help="also print the N largest allocation sites")
    parser.add_argument("--write", action="store_true", help="write benchmarks/RESULTS-memory.md")
    args = parser.parse_args(argv)
    per_actor = bytes_per_actor(args.count, args.top)
    print(f"{per_actor:.0f} bytes per live actor ({args.count:,} children)")
    if args.write:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        RESULTS.write_text(
            "# Memory per live actor\n\n"
            f"Written by `benchmarks/bench_actor_memory.py` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
            f"CPython {platform.python_version()}; load average {load}. Method: the `spawn` workload's parent "
            f"(bench_actors.py) spawns a few children first (caches warm), then {args.count:,} more that stay "
            "alive; tracemalloc counts what those spawns leave allocated after a garbage collection (the child "
            "actors, their snapshots and scopes, their share of the parent's `children` map), divided by their "
            "number. Target (issue 17): at most 2 KB.\n\n"
            f"| live children | bytes per actor |\n|---:|---:|\n| {args.count:,} | {per_actor:,.0f} |\n"
        )
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
