"""Throughput benchmark (issue 13): events per second through durable actors as processes are added, and
no event lost.

Run from the repository root:

    .venv/bin/python benchmarks/bench_throughput.py                 # full run, writes its section of RESULTS-scale.md
    .venv/bin/python benchmarks/bench_throughput.py --quick         # smoke run (1 and 2 processes, 1 s), prints only
    .venv/bin/python benchmarks/bench_throughput.py --backends redis --processes 1:2:4:8 --actors 1000

Per backend (PostgreSQL, Redis; the servers are bench_stores.py's), access pattern (uniform: every actor
equally likely; skewed: 80% of the events go to 20% of the actors) and locking mode (optimistic with
``retries_on_conflict``, and ``read-write``), P processes (1, 2, 4, 8) each send INC events for a fixed
time, one after another, to actors picked at random among M (1,000), each through

    await with_persistable_actor(lambda a: a.send({"type": "INC"}), id=..., storage=store, ...)

An event is acknowledged when that call returns. Afterwards every actor is read back: its counter
(``context.n``) must equal the events acknowledged for it across all processes (0 lost, none applied
twice). Events that were not acknowledged (retries exhausted, lock timeout) are counted apart and must
not have been applied. Each (pattern, mode, P) runs on a fresh key prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing as mp
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench_stores as bs
from bench_durable import COUNTER_CONFIG
from bench_scale import write_section

RESULTS = bs.HERE / "RESULTS-scale.md"
BACKENDS = ["postgres", "redis"]
PATTERNS = ["uniform", "skewed"]
MODES: dict[str, str | None] = {"optimistic": None, "read-write": "read-write"}
RETRIES = 100


def pick_actor(rng: random.Random, pattern: str, actors: int) -> int:
    if pattern == "uniform":
        return rng.randrange(actors)
    hot = max(1, actors // 5)  # 80/20: 80% of the events to the first 20% of the actors
    return rng.randrange(hot) if rng.random() < 0.8 else hot + rng.randrange(actors - hot)


@dataclass
class Job:
    url: str
    prefix: str
    pattern: str
    mode: str
    actors: int
    seconds: float
    start_at: float  # epoch seconds: every process starts sending at the same moment
    seed: int


@dataclass
class Outcome:
    acked: Counter[int] = field(default_factory=Counter)
    attempts: int = 0  # callback runs: one per try, so attempts - acked events = retries
    failed: Counter[str] = field(default_factory=Counter)  # error type -> events not acknowledged
    elapsed: float = 0.0


def worker(job: Job) -> Outcome:
    """One process: send events until ``job.seconds`` have passed since ``job.start_at``."""
    from durable_xstate import assign, create_actor, setup, with_persistable_actor
    from durable_xstate.stores import open_store

    machine = setup(actions={"inc": assign({"n": lambda a, p: a.context["n"] + 1})}).create_machine(COUNTER_CONFIG)
    out = Outcome()
    rng = random.Random(job.seed)
    locking = MODES[job.mode]

    def creator(id: str, snapshot: Any) -> Any:
        return create_actor(machine, id=id, snapshot=snapshot)

    def send(actor: Any) -> None:
        out.attempts += 1
        actor.send({"type": "INC"})

    async def main() -> None:
        store = open_store(job.url)
        try:
            # warm-up on a key of this process's own: connection, prepared statements, imports
            warm = f"{job.prefix}warm-{job.seed}"
            for _ in range(3):
                await with_persistable_actor(lambda a: None, id=warm, storage=store, actor_creator=creator, locking=locking)
            await asyncio.sleep(max(0.0, job.start_at - time.time()))
            t0 = time.perf_counter()
            stop = t0 + job.seconds
            while time.perf_counter() < stop:
                i = pick_actor(rng, job.pattern, job.actors)
                try:
                    await with_persistable_actor(send, id=f"{job.prefix}a{i:05d}", storage=store, actor_creator=creator,
                                                 locking=locking, retries_on_conflict=RETRIES if locking is None else 0)
                except Exception as err:  # counted, and checked: a failed event must not have been applied
                    out.failed[type(err).__name__] += 1
                else:
                    out.acked[i] += 1
            out.elapsed = time.perf_counter() - t0
        finally:
            await store.close()

    asyncio.run(main())
    return out


@dataclass
class Level:
    backend: str
    pattern: str
    mode: str
    processes: int
    events: int = 0
    seconds: float = 0.0
    attempts: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    applied: int = 0
    lost: int = 0
    extra: int = 0

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def verify(url: str, prefix: str, actors: int, acked: Counter[int]) -> tuple[int, int, int]:
    """(applied, lost, extra) over every actor: its counter against the events acknowledged for it."""
    from durable_xstate.persistence.record import StoredRecord
    from durable_xstate.stores import open_store

    async def main() -> tuple[int, int, int]:
        store = open_store(url)
        applied = lost = extra = 0
        try:
            for i in range(actors):
                key = f"{prefix}a{i:05d}.json"
                got = await store.read(key)
                n = 0
                if got is not None:
                    record = StoredRecord.decode(got.data, key=key, version=got.version)
                    n = int((record.snapshot or {})["context"]["n"])
                applied += n
                lost += max(0, acked[i] - n)
                extra += max(0, n - acked[i])
        finally:
            await store.close()
        return applied, lost, extra

    return asyncio.run(main())


def run_level(pool_ctx: Any, url: str, backend: str, pattern: str, mode: str, processes: int, actors: int,
              seconds: float) -> Level:
    prefix = f"tp{uuid.uuid4().hex[:8]}/"
    start_at = time.time() + 1.5 + 0.25 * processes  # time for the processes to start and warm up
    jobs = [Job(url, prefix, pattern, mode, actors, seconds, start_at, seed) for seed in range(processes)]
    with pool_ctx.Pool(processes) as pool:
        outcomes: list[Outcome] = pool.map(worker, jobs)
    level = Level(backend, pattern, mode, processes)
    acked: Counter[int] = Counter()
    for o in outcomes:
        acked.update(o.acked)
        level.attempts += o.attempts
        level.failed.update(o.failed)
    level.events = sum(acked.values())
    level.seconds = max(o.elapsed for o in outcomes)
    level.applied, level.lost, level.extra = verify(url, prefix, actors, acked)
    bs.check(level.lost == 0 and level.extra == 0,
             f"{backend} {pattern} {mode} x{processes}: {level.lost} acknowledged events lost, {level.extra} applied "
             f"but not acknowledged (acknowledged {level.events}, applied {level.applied})")
    return level


def fmt_retries(level: Level) -> str:
    return f"{(level.attempts - level.events - sum(level.failed.values())) / max(1, level.events):.3f}"


def rows(levels: list[Level]) -> list[list[str]]:
    out = []
    base: dict[tuple[str, str, str], float] = {}
    for lv in levels:
        key = (lv.backend, lv.pattern, lv.mode)
        if lv.processes == 1:
            base[key] = lv.per_second
        scale = lv.per_second / base[key] if base.get(key) else None
        out.append([
            lv.backend, lv.pattern, lv.mode, str(lv.processes), f"{lv.per_second:,.0f}",
            f"{scale:.2f}x" if scale is not None else "-", f"{lv.events:,}", f"{lv.applied:,}", str(lv.lost),
            fmt_retries(lv),
            ", ".join(f"{k} {v:,}" for k, v in sorted(lv.failed.items())) or "0",
        ])
    return out


HEADERS = ["backend", "access", "locking", "processes", "events/s", "vs 1 process", "acknowledged", "applied",
           "lost", "retries per event", "not acknowledged"]


def render(levels: list[Level], args: argparse.Namespace, wall: float, load_before: str, load_after: str,
           workdir: Path, servers: bs.Servers) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Throughput (`bench_throughput.py`)",
        "",
        f"P processes (each one asyncio task sending one event after another) x {args.actors:,} counter actors, "
        f"{args.seconds:g} s of sending per row, all processes starting together. Each event is one "
        "`with_persistable_actor(lambda a: a.send({'type': 'INC'}), ...)`: optimistic with "
        f"`retries_on_conflict={RETRIES}`, or `locking=\"read-write\"` (a lease per event). Access: uniform over "
        "the actors, or skewed (80% of the events to 20% of the actors). **lost** compares, actor by actor, the "
        "counter read back after the run with the events acknowledged for it (a call that returned); it must be "
        "0, and no actor may hold more than was acknowledged. \"retries per event\" is callback runs beyond one "
        "per acknowledged event (optimistic conflicts). Events not acknowledged (lock timeouts, retries "
        "exhausted) are listed; none of them may have been applied.",
        "",
        f"- Date: {now}",
        *bs.machine_facts(workdir),
        f"- Load average before the run: {load_before}; after: {load_after}; whole run: {wall:.0f}s",
        "- The machine has 2 cores: beyond 2 processes the clients compete with each other and with the "
        "server for the CPU, so the scaling shows contention on this machine, not the backends' limit.",
        "",
        bs.md_table(rows(levels), HEADERS),
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated: postgres, redis")
    parser.add_argument("--processes", default="1:2:4:8", help="process counts, ':'-separated (default 1:2:4:8)")
    parser.add_argument("--actors", type=int, default=1000, help="actors per run (default 1000)")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds of sending per row (default 4)")
    parser.add_argument("--patterns", default=",".join(PATTERNS), help="uniform,skewed")
    parser.add_argument("--modes", default=",".join(MODES), help="optimistic,read-write")
    parser.add_argument("--quick", action="store_true", help="1 and 2 processes, 1 s each; prints only")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results file (default benchmarks/RESULTS-scale.md)")
    args = parser.parse_args(argv)
    if args.quick:
        args.processes, args.seconds = "1:2", 1.0
    names = [n for n in args.backends.split(",") if n]
    patterns = [p for p in args.patterns.split(",") if p]
    modes = [m for m in args.modes.split(",") if m]
    bad = [n for n in names if n not in BACKENDS] + [p for p in patterns if p not in PATTERNS] + [m for m in modes if m not in MODES]
    if bad:
        raise SystemExit(f"unknown: {', '.join(bad)}")
    counts = [int(p) for p in args.processes.split(":") if p]
    load_before = bs.load_average()
    print(f"load average before the run: {load_before}", flush=True)
    ctx = mp.get_context("spawn")  # fresh interpreters: nothing of the parent's loop or servers leaks in
    levels: list[Level] = []
    t0 = time.perf_counter()
    with bs.Servers() as servers, bs.work_directory() as workdir:
        for name in names:
            url = bs.make_backend(name, servers, workdir, f"t{uuid.uuid4().hex[:10]}").url
            for pattern in patterns:
                for mode in modes:
                    for p in counts:
                        lv = run_level(ctx, url, name, pattern, mode, p, args.actors, args.seconds)
                        levels.append(lv)
                        print(f"  {name:<9} {pattern:<8} {mode:<10} x{p}: {lv.per_second:8,.0f} events/s  "
                              f"acknowledged {lv.events:,} applied {lv.applied:,} lost {lv.lost}  "
                              f"retries/event {fmt_retries(lv)}  not acknowledged {dict(lv.failed) or 0}", flush=True)
        wall = time.perf_counter() - t0
        load_after = bs.load_average()
        print()
        print(bs.text_table(rows(levels), HEADERS))
        print(f"\nwhole run: {wall:.0f}s")
        if not args.quick:
            write_section("bench_throughput", render(levels, args, wall, load_before, load_after, workdir, servers), args.output)
            print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
