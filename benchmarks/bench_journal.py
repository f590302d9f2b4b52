"""What the journal costs a durable step: the same step with ``journal=True`` (the default) and ``False``.

Run from the repository root:

    .venv/bin/python benchmarks/bench_journal.py                          # all seven, writes RESULTS-journal.md
    .venv/bin/python benchmarks/bench_journal.py --quick                  # prints only
    .venv/bin/python benchmarks/bench_journal.py --backends memory,redis  # a subset (still writes the file)

One durable step = ``with_persistable_actor(lambda a: a.send(INC), ...)`` on a counter actor whose
journal is full (its default 100 entries, so each step also pays the journal's size), on every backend:
memory (CPU only), file with fsync, SQLite, and the server backends PostgreSQL, redis, S3 and DynamoDB
(the last two on moto's server; S3 takes its locks from DynamoDB on the same moto). The servers are
started on free 127.0.0.1 ports by the test suite's provider code (``bench_stores.Servers``), and each
backend gets a fresh namespace (``bench_stores.make_backend``).

Method: two actors on the same store, "on" (journal on) and "off" (journal off); the same warm-up of
120 steps each (which also fills the "on" actor's journal), then timed batches taking turns, on then off,
batch by batch; each side's figure is the median of its batches' mean step time and the ratio is on / off.
The slow backends run fewer steps per batch (``PLAN``); the results file lists them.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_stores as bs  # the servers and the backends' URLs, shared with the store benchmarks
from bench_engine import cpu_model, load_average

from durable_xstate import assign, create_actor, setup, with_persistable_actor
from durable_xstate.stores import LockableStorage, open_store

MACHINE = setup(actions={"inc": assign({"n": lambda a, p: a.context["n"] + 1})}).create_machine(
    {"id": "counter", "version": "1", "initial": "on", "context": {"n": 0},
     "states": {"on": {"on": {"INC": {"actions": "inc"}}}}}
)
INC = {"type": "INC"}
WARM_UP = 120  # steps per side; more than the journal's 100 entries, so the "on" journal is full

BACKENDS = ["memory", "file", "sqlite", "postgres", "redis", "s3", "dynamodb"]
LABELS = {"file": "file (fsync)", "s3": "s3 (moto)", "dynamodb": "dynamodb (moto)"}
SERVERS = {"postgres", "redis", "s3", "dynamodb"}
#: (steps per timed batch, batches per side); --quick: (QUICK_STEPS or fewer, 3)
PLAN = {
    "memory": (300, 11), "file": (300, 11), "sqlite": (300, 11), "postgres": (300, 11), "redis": (300, 11),
    "s3": (50, 11), "dynamodb": (50, 11),  # moto serves one request at a time: milliseconds per step
}
QUICK_STEPS = 50


def creator(i: str, s: Any) -> Any:
    return create_actor(MACHINE, id=i, snapshot=s)


async def _batch(store: LockableStorage, key: str, journal: bool, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        await with_persistable_actor(lambda a: a.send(INC), id=key, storage=store, actor_creator=creator,
                                     journal=journal)
    return (time.perf_counter() - t0) / n


@dataclass
class Row:
    label: str
    on: list[float]  # mean step time (s) of each timed batch
    off: list[float]
    sizes: tuple[int, int]  # the stored record's bytes, journal on and off

    @property
    def ratio(self) -> float:
        return statistics.median(self.on) / statistics.median(self.off)

    @property
    def pair_ratios(self) -> tuple[float, float]:
        """The smallest and largest on / off of one pair of neighbouring batches (the spread)."""
        ratios = [a / b for a, b in zip(self.on, self.off, strict=True)]
        return min(ratios), max(ratios)


async def measure(store: LockableStorage, per_batch: int, reps: int) -> tuple[list[float], list[float], tuple[int, int]]:
    for key, journal in (("on", True), ("off", False)):  # warm-up, and a full journal on the "on" actor
        await _batch(store, key, journal, WARM_UP)
    on, off = [], []
    for _ in range(reps):
        on.append(await _batch(store, "on", True, per_batch))
        off.append(await _batch(store, "off", False, per_batch))
    sizes = []
    for key in ("on", "off"):
        got = await store.read(f"{key}.json")
        sizes.append(len(got.data) if got is not None else 0)
    return on, off, (sizes[0], sizes[1])


def plan(name: str, quick: bool) -> tuple[int, int]:
    steps, reps = PLAN[name]
    return (min(steps, QUICK_STEPS), 3) if quick else (steps, reps)


def run(names: list[str], quick: bool, servers: bs.Servers, workdir: Path) -> list[Row]:
    rows = []
    for name in names:
        backend = bs.make_backend(name, servers, workdir, f"j{uuid.uuid4().hex[:10]}")
        per_batch, reps = plan(name, quick)
        store = open_store(backend.url, lock=backend.lock_url)

        async def one(store: LockableStorage = store, per_batch: int = per_batch, reps: int = reps
                      ) -> tuple[list[float], list[float], tuple[int, int]]:
            try:
                return await measure(store, per_batch, reps)
            finally:
                await store.close()

        t0 = time.perf_counter()
        row = Row(LABELS.get(name, name), *asyncio.run(one()))
        rows.append(row)
        low, high = row.pair_ratios
        print(f"{row.label:16} journal on {statistics.median(row.on) * 1e6:9.1f} µs  "
              f"off {statistics.median(row.off) * 1e6:9.1f} µs  on/off {row.ratio:5.2f}x ({low:.2f}-{high:.2f})"
              f"  ({per_batch} steps x {reps} batches per side, records {row.sizes[0]} / {row.sizes[1]} bytes, "
              f"{time.perf_counter() - t0:.0f}s)", flush=True)
    return rows


def parse_backends(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown or not names:
        raise SystemExit(f"unknown backend(s): {', '.join(unknown) or '(none given)'}; known: {', '.join(BACKENDS)}")
    return names


def render(rows: list[Row], names: list[str], wall: float, load_before: str,
           load_after: str, servers: bs.Servers) -> str:
    started = ", ".join(f"{k} {v:.1f}s" for k, v in servers.start_seconds.items()) or "none"
    on_bytes, off_bytes = sorted(r.sizes[0] for r in rows), sorted(r.sizes[1] for r in rows)
    sizes = (f"{on_bytes[0] / 1024:.1f}-{on_bytes[-1] / 1024:.1f} KiB with its journal, "
             f"{off_bytes[0]}-{off_bytes[-1]} bytes without")
    steps = ", ".join(f"{LABELS.get(n, n)} {PLAN[n][0]} x {PLAN[n][1]}" for n in names)
    lines = [
        "# The journal's cost: results", "",
        f"Last run: {dt.date.today().isoformat()}, CPython {sys.version.split()[0]}, `benchmarks/bench_journal.py` "
        "(its docstring has the method). A durable step with the journal on (100 entries kept) and off: two "
        "actors on one store, the same warm-up of 120 steps each, then timed batches taking turns (on, off) "
        "batch by batch; each figure is the median over its batches of the mean step time; the ratio is on / off "
        "of those medians, and the spread is the lowest and highest on / off of one pair of neighbouring batches.",
        "",
        f"Steps per batch x batches per side: {steps}. Whole run {wall:.0f}s on {cpu_model()} "
        f"(load average before {load_before}, after {load_after}; other work was running); "
        f"servers started: {started}. The records at the end of the run: {sizes}.",
        "",
        "| backend | journal on | journal off | on / off | spread |", "|---|---:|---:|---:|---:|",
        *[f"| {r.label} | {statistics.median(r.on) * 1e6:.1f} µs | {statistics.median(r.off) * 1e6:.1f} µs "
          f"| {r.ratio:.2f}x | {r.pair_ratios[0]:.2f}-{r.pair_ratios[1]:.2f}x |" for r in rows],
    ]
    if SERVERS & set(names):
        lines += [
            "",
            "The server rows (postgres, redis, s3, dynamodb) include the loopback round trips to a server on "
            "127.0.0.1, started by the test suite's provider code (PostgreSQL with fsync off, as in the tests). "
            "S3 and DynamoDB run on moto's server, which serves one request at a time: their absolute times are "
            "moto's (a Python server on this machine), not representative of AWS latency; S3 takes its locks from DynamoDB on the same moto.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short smoke run; prints only")
    ap.add_argument("--backends", default=",".join(BACKENDS),
                    help=f"comma-separated subset of {','.join(BACKENDS)} (default: all seven)")
    ap.add_argument("--output", type=Path, default=Path(__file__).with_name("RESULTS-journal.md"))
    args = ap.parse_args()
    names = parse_backends(args.backends)
    load_before = load_average()
    t0 = time.perf_counter()
    with bs.Servers() as servers, bs.work_directory() as workdir:
        rows = run(names, args.quick, servers, workdir)
    wall = time.perf_counter() - t0
    if args.quick:
        return
    args.output.write_text(render(rows, names, wall, load_before, load_average(), servers))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
