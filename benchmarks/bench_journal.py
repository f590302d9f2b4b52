"""What the journal costs a durable step: the same step with ``journal=True`` (the default) and ``False``.

Run from the repository root:

    .venv/bin/python benchmarks/bench_journal.py           # writes RESULTS-journal.md
    .venv/bin/python benchmarks/bench_journal.py --quick   # prints only

One durable step = ``with_persistable_actor(lambda a: a.send(INC), ...)`` on a counter actor whose
journal is full (its default 100 entries, so each step also pays the journal's size), on the embedded
backends (memory: CPU only; file with fsync; SQLite). Both sides take turns batch by batch after the
same warm-up; the ratio is on / off. The server backends pay the same CPU on top of their round trip
(see RESULTS-scale.md for those steps).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from durable_xstate import assign, create_actor, setup, with_persistable_actor
from durable_xstate.stores import LockableStorage, MemoryStore, open_store

MACHINE = setup(actions={"inc": assign({"n": lambda a, p: a.context["n"] + 1})}).create_machine(
    {"id": "counter", "version": "1", "initial": "on", "context": {"n": 0},
     "states": {"on": {"on": {"INC": {"actions": "inc"}}}}}
)
INC = {"type": "INC"}


def creator(i: str, s: Any) -> Any:
    return create_actor(MACHINE, id=i, snapshot=s)


async def _batch(store: LockableStorage, key: str, journal: bool, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        await with_persistable_actor(lambda a: a.send(INC), id=key, storage=store, actor_creator=creator,
                                     journal=journal)
    return (time.perf_counter() - t0) / n


async def measure(store: LockableStorage, per_batch: int, reps: int) -> tuple[float, float]:
    for key, journal in (("on", True), ("off", False)):  # warm-up, and a full journal on the "on" actor
        await _batch(store, key, journal, 120)
    on, off = [], []
    for _ in range(reps):
        on.append(await _batch(store, "on", True, per_batch))
        off.append(await _batch(store, "off", False, per_batch))
    return statistics.median(on), statistics.median(off)


async def run(quick: bool) -> list[tuple[str, float, float]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        stores = {
            "memory": lambda: LockableStorage(m := MemoryStore(), m),
            "file (fsync)": lambda: open_store(f"file://{tmp}/files"),
            "sqlite": lambda: open_store(f"sqlite:///{tmp}/s.db"),
        }
        for name, make in stores.items():
            store = make()
            try:
                on, off = await measure(store, 50 if quick else 300, 3 if quick else 7)
            finally:
                await store.close()
            rows.append((name, on, off))
            print(f"{name:14} journal on {on * 1e6:8.1f} µs  off {off * 1e6:8.1f} µs  on/off {on / off:5.2f}x", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--output", type=Path, default=Path(__file__).with_name("RESULTS-journal.md"))
    args = ap.parse_args()
    rows = asyncio.run(run(args.quick))
    if args.quick:
        return
    lines = [
        "# The journal's cost: results", "",
        f"Last run: {dt.date.today().isoformat()}, CPython {sys.version.split()[0]}, `benchmarks/bench_journal.py` "
        "(its docstring has the method). A durable step with the journal on (100 entries kept) and off.", "",
        "| backend | journal on | journal off | on / off |", "|---|---:|---:|---:|",
        *[f"| {n} | {on * 1e6:.1f} µs | {off * 1e6:.1f} µs | {on / off:.2f}x |" for n, on, off in rows],
    ]
    args.output.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
