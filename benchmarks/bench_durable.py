"""Durable-step benchmarks: PersistableActor per backend against the raw read + compare-and-set.

Run from the repository root:

    .venv/bin/python benchmarks/bench_durable.py                  # full run, writes RESULTS-stores.md
    .venv/bin/python benchmarks/bench_durable.py --quick          # smoke run, prints only
    .venv/bin/python benchmarks/bench_durable.py --backends file,redis
    .venv/bin/python benchmarks/bench_durable.py --profile file:optimistic   # cProfile, exit

A durable step is what a process does to apply one event to a stored actor:

    await with_persistable_actor(lambda actor: actor.send({"type": "INC"}),
                                 id=..., storage=store, actor_creator=..., locking=MODE)

(init: read the record and restore the actor from its snapshot; one event; save: a compare-and-set
of the new record; close), with MODE None (optimistic) or "read-write" (a lease from init to close,
the save fenced with its token). Per backend it is timed against the same backend's raw read +
compare-and-set of a value of the record's size, made with the plain client of bench_stores.py
(no library code), and against the plain acquire + read + fenced compare-and-set + release for the
read-write mode. Target: optimistic step / raw read + CAS >= 0.9.

Cold start: a fresh ``python -c`` process that imports durable_xstate and runs one durable step on
the file store, wall time, median of 5, next to ``python -c pass`` and a bare import.

Servers, plain clients and the measuring protocol are bench_stores.py's (see benchmarks/README.md).
This script writes its own section of RESULTS-stores.md and keeps bench_stores.py's.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import bench_stores as bs
import sidebyside as sbs

COUNTER_CONFIG: dict[str, Any] = {
    "id": "counter",
    "version": "1",
    "initial": "on",
    "context": {"n": 0},
    "states": {"on": {"on": {"INC": {"actions": "inc"}}}},
}
INC = {"type": "INC"}
MODES: dict[str, str | None] = {"optimistic": None, "read-write": "read-write"}

STEP_OPT = "durable step, optimistic"
STEP_INLINE = "durable step, optimistic, io=inline"
STEP_RW = "durable step, read-write"
RAW = "raw read + CAS (plain)"
RAW_THREAD = "raw read + CAS (plain via to_thread)"
RAW_LOCKED = "raw acquire + read + fenced CAS + release (plain)"
STORE = "store read + write (durable_xstate)"
TARGET = 0.9

COLD_STEP = f"""
import asyncio, sys
from durable_xstate import assign, create_actor, setup, with_persistable_actor
from durable_xstate.stores import open_store

M = setup(actions={{"inc": assign({{"n": lambda a, p: a.context["n"] + 1}})}}).create_machine({COUNTER_CONFIG!r})


async def main():
    store = open_store(sys.argv[1])
    try:
        await with_persistable_actor(
            lambda actor: actor.send({{"type": "INC"}}), id="cold/counter", storage=store,
            actor_creator=lambda id, snapshot: create_actor(M, id=id, snapshot=snapshot),
        )
    finally:
        await store.close()


asyncio.run(main())
"""
COLD_CASES = [
    ("`python -c pass`", "pass"),
    ("`python -c 'import durable_xstate'`", "import durable_xstate"),
    ("`import durable_xstate` + one durable step on the file store", COLD_STEP),
]


def counter_machine() -> Any:
    from durable_xstate import assign, setup

    return setup(actions={"inc": assign({"n": lambda a, p: a.context["n"] + 1})}).create_machine(COUNTER_CONFIG)


@dataclass
class DurableRun:
    name: str
    series: dict[str, bs.Series] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    record_bytes: int = 0
    server: str = ""

    def median(self, label: str) -> float | None:
        s = self.series.get(label)
        return s.median if s and s.samples else None

    def ratio(self, a: str, b: str) -> float | None:
        return bs.paired_ratio(self.series.get(a), self.series.get(b))


class Steps:
    """The durable step and the raw units for one backend, on its Harness."""

    def __init__(self, h: bs.Harness) -> None:
        from durable_xstate import create_actor, with_persistable_actor
        from durable_xstate.stores import open_store

        self.h = h
        #: the same backend opened with io=inline (blocking clients only): calls on the loop, no thread hop
        self.inline_store = None
        if h.backend.name in bs.THREADED:
            lock = h.backend.lock_url
            self.inline_store = open_store(bs.with_io(h.backend.url), lock=bs.with_io(lock) if lock else None)
        machine = counter_machine()
        self.creator: Callable[[str, Any], Any] = lambda id, snapshot: create_actor(machine, id=id, snapshot=snapshot)
        self.with_persistable_actor = with_persistable_actor
        self.steps: dict[str, int] = {"optimistic": 0, "read-write": 0}

    @staticmethod
    def actor_id(mode: str) -> str:
        return f"bench/{'opt' if mode == 'optimistic' else 'rw'}"

    def step_runner(self, mode: str, *, inline: bool = False) -> bs.Runner:
        store = self.inline_store if inline else self.h.store
        wpa, creator, locking = self.with_persistable_actor, self.creator, MODES[mode]
        actor_id = self.actor_id(mode)
        steps = self.steps

        def send(actor: Any) -> None:
            actor.send(INC)

        async def batch(n: int) -> None:
            for _ in range(n):
                await wpa(send, id=actor_id, storage=store, actor_creator=creator, locking=locking)
            steps[mode] += n

        return lambda n: self.h.run(batch(n))

    def stored_count(self, mode: str) -> tuple[int, int]:
        """(context.n, revision) of the stored record of ``mode``'s actor."""
        got = self.h.run(self.h.store.read(f"{self.actor_id(mode)}.json"))
        record = json.loads(got.data)
        return int(record["snapshot"]["context"]["n"]), int(record["revision"])

    def raw_runner(self, key: str, chain: bs.Chain, payloads: list[bytes], *, threaded: bool = False) -> bs.Runner:
        plain, h = self.h.plain, self.h
        read, cas = plain.read, plain.cas
        if plain.is_async:

            async def abatch(n: int) -> None:
                i = chain.i
                for j in range(i, i + n):
                    got = await read(key)
                    if await cas(key, payloads[j & 63], got[1]) is None:
                        raise AssertionError(f"{key}: raw compare-and-set conflict")
                chain.i = i + n

            return lambda n: h.run(abatch(n))
        if threaded:
            to_thread = asyncio.to_thread

            async def tbatch(n: int) -> None:
                i = chain.i
                for j in range(i, i + n):
                    got = await to_thread(read, key)
                    if await to_thread(cas, key, payloads[j & 63], got[1]) is None:
                        raise AssertionError(f"{key}: raw compare-and-set conflict")
                chain.i = i + n

            return lambda n: h.run(tbatch(n))

        def batch(n: int) -> None:
            i = chain.i
            for j in range(i, i + n):
                got = read(key)
                if cas(key, payloads[j & 63], got[1]) is None:
                    raise AssertionError(f"{key}: raw compare-and-set conflict")
            chain.i = i + n

        return batch

    def raw_locked_runner(self, key: str, chain: bs.Chain, payloads: list[bytes]) -> bs.Runner:
        plain, h = self.h.plain, self.h
        read, cas, acquire, release = plain.read, plain.cas, plain.acquire, plain.release
        owner, seconds = bs.OWNER, bs.LEASE_SECONDS
        if plain.is_async:

            async def abatch(n: int) -> None:
                i = chain.i
                for j in range(i, i + n):
                    token = await acquire(key, owner, seconds)
                    if token is None:
                        raise AssertionError(f"{key}: held")
                    got = await read(key)
                    if await cas(key, payloads[j & 63], got[1], token=token) is None:
                        raise AssertionError(f"{key}: raw compare-and-set conflict")
                    if not await release(key, owner, token):
                        raise AssertionError(f"{key}: release refused")
                chain.i, chain.token = i + n, token

            return lambda n: h.run(abatch(n))

        def batch(n: int) -> None:
            i = chain.i
            for j in range(i, i + n):
                token = acquire(key, owner, seconds)
                if token is None:
                    raise AssertionError(f"{key}: held")
                got = read(key)
                if cas(key, payloads[j & 63], got[1], token=token) is None:
                    raise AssertionError(f"{key}: raw compare-and-set conflict")
                if not release(key, owner, token):
                    raise AssertionError(f"{key}: release refused")
            chain.i, chain.token = i + n, token

        return batch

    def store_runner(self, key: str, chain: bs.Chain, payloads: list[bytes]) -> bs.Runner:
        read, write, h = self.h.store.read, self.h.store.write, self.h

        async def batch(n: int) -> None:
            i = chain.i
            for j in range(i, i + n):
                got = await read(key)
                await write(key, payloads[j & 63], got.version)
            chain.i = i + n

        return lambda n: h.run(batch(n))


def record_payloads(record: bytes) -> list[bytes]:
    """64 distinct values of exactly the record's size (so S3 ETags change with each write)."""
    return [record[:-6] + b"%06d" % i for i in range(64)]


def bench_backend(backend: bs.Backend, settings: bs.Settings) -> DurableRun:
    run = DurableRun(backend.name)
    h = bs.Harness(backend)
    steps: Steps | None = None
    try:
        steps = Steps(h)
        run.server = bs.server_version(h)
        # verification before timing: two steps in each mode, the record read back by both sides
        for mode in MODES:
            steps.step_runner(mode)(2)
            n, revision = steps.stored_count(mode)
            bs.check(n == 2 and revision == 2, f"{backend.name} {mode}: after 2 steps n={n} revision={revision}")
        if steps.inline_store is not None:
            steps.step_runner("optimistic", inline=True)(1)
            n, revision = steps.stored_count("optimistic")
            bs.check(n == 3 and revision == 3, f"{backend.name} io=inline: after 3 steps n={n} revision={revision}")
        key = f"{steps.actor_id('optimistic')}.json"
        record = h.run(h.store.read(key)).data
        plain_view = h.p("read", key)
        bs.check(bytes(plain_view[0]) == record, f"{backend.name}: the plain client reads another record")
        bs.check(not h.run(h.store.is_locked(f"{steps.actor_id('read-write')}.json")),
                 f"{backend.name}: read-write step left its lease")
        run.record_bytes = len(record)
        run.checks.append("two durable steps in each mode gave context.n == 2 and revision 2 (and one more "
                          "through the io=inline store, 3); the plain client reads the same record bytes; "
                          "no lease left behind")
        payloads = record_payloads(record)
        raw_key, locked_key, store_key = "bench/raw.json", "bench/rawlock.json", "bench/store.json"
        for k in (raw_key, locked_key, store_key):
            h.run(h.store.write(k, payloads[0], None))
        raw, locked, stored = bs.Chain(), bs.Chain(), bs.Chain()
        runners: dict[str, bs.Runner] = {
            STEP_OPT: steps.step_runner("optimistic"),
            RAW: steps.raw_runner(raw_key, raw, payloads),
            STORE: steps.store_runner(store_key, stored, payloads),
            STEP_RW: steps.step_runner("read-write"),
            RAW_LOCKED: steps.raw_locked_runner(locked_key, locked, payloads),
        }
        if backend.name in bs.THREADED:
            runners[RAW_THREAD] = steps.raw_runner(raw_key, raw, payloads, threaded=True)
        if steps.inline_store is not None:
            runners[STEP_INLINE] = steps.step_runner("optimistic", inline=True)  # same actor, same counter
        t0 = time.perf_counter()
        run.series = bs.measure_group(runners, 1, settings)
        # verification after timing
        for mode in MODES:
            n, revision = steps.stored_count(mode)
            bs.check(n == steps.steps[mode] == revision,
                     f"{backend.name} {mode}: stored n={n}, revision={revision}, steps run={steps.steps[mode]}")
        for k, chain in ((raw_key, raw), (locked_key, locked), (store_key, stored)):
            got = h.run(h.store.read(k))
            bs.check(got.data == payloads[(chain.i - 1) & 63], f"{backend.name}: {k} does not hold its last write")
        bs.check(not h.run(h.store.is_locked(locked_key)), f"{backend.name}: raw locked key still locked")
        bs.check(not h.run(h.store.is_locked(f"{steps.actor_id('read-write')}.json")),
                 f"{backend.name}: read-write actor still locked")
        run.checks.append(
            f"after timing, the stored counters equal the steps run ({steps.steps['optimistic']:,} optimistic, "
            f"{steps.steps['read-write']:,} read-write) and so do the revisions; each raw key holds its "
            f"last write ({raw.i:,} raw, {locked.i:,} raw locked, {stored.i:,} store read+write); no lease left"
            + (" (the optimistic count includes the io=inline steps, which load and save the same actor)"
               if steps.inline_store is not None else "")
        )
        print_run(run, time.perf_counter() - t0)
    finally:
        if steps is not None and steps.inline_store is not None:
            h.run(steps.inline_store.close())
        h.close()
    return run


def print_run(run: DurableRun, seconds: float) -> None:
    parts = " | ".join(f"{label} {bs.fmt_ops(s.median)}" for label, s in run.series.items())
    print(f"  {run.name:<9} {parts}  opt/raw {bs.fmt_ratio(run.ratio(STEP_OPT, RAW))}  ({seconds:.1f}s)", flush=True)


# --------------------------------------------------------------------------- phases and profile


def phase_breakdown(count: int = 3000) -> list[tuple[str, float]]:
    """Microseconds per phase of an optimistic durable step on the memory store (no I/O at all),
    and for reference one bare ``store.read`` and ``store.write`` of the same record."""
    from durable_xstate import PersistableActor, create_actor
    from durable_xstate.stores import open_store

    machine = counter_machine()
    store = open_store(f"memory://phases-{uuid.uuid4().hex[:8]}")

    def creator(id: str, snapshot: Any) -> Any:
        return create_actor(machine, id=id, snapshot=snapshot)

    names = ["PersistableActor(...)", "init (read, decode, restore and start the actor)", "send one event",
             "save (snapshot, encode, compare-and-set)", "close (stop the actor)"]
    totals = [0.0] * len(names)
    reference = [0.0, 0.0]

    async def one(timed: bool) -> None:
        clock = time.perf_counter
        t0 = clock()
        pa = PersistableActor(id="phases/counter", storage=store, actor_creator=creator)
        t1 = clock()
        await pa.init()
        t2 = clock()
        pa.actor.send(INC)
        t3 = clock()
        await pa.save()
        t4 = clock()
        await pa.close()
        t5 = clock()
        got = await store.read("phases/raw.json")
        t6 = clock()
        await store.write("phases/raw.json", got.data, got.version)
        t7 = clock()
        if timed:
            for i, (x, y) in enumerate(((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5))):
                totals[i] += y - x
            reference[0] += t6 - t5
            reference[1] += t7 - t6

    async def main() -> None:
        await store.write("phases/raw.json", b"{}", None)
        await one(False)
        record = await store.read("phases/counter.json")
        current = await store.read("phases/raw.json")
        await store.write("phases/raw.json", record.data, current.version)  # the record's size from now on
        for _ in range(300):
            await one(False)
        for _ in range(count):
            await one(True)

    asyncio.run(main())
    out = [(name, total / count * 1e6) for name, total in zip(names, totals, strict=True)]
    out.append(("for reference: `await store.read` of the record", reference[0] / count * 1e6))
    out.append(("for reference: `await store.write` of the record", reference[1] / count * 1e6))
    return out


def profile_step(backend_name: str, mode: str, servers: bs.Servers, workdir: Path) -> str:
    backend = bs.make_backend(backend_name, servers, workdir, f"prof{uuid.uuid4().hex[:8]}")
    h = bs.Harness(backend)
    try:
        steps = Steps(h)
        runner = steps.step_runner(mode)
        n = bs.size_batch(runner, 0.5)
        runner(max(1, n // 4))
        return bs.profile_call(h, runner, n)
    finally:
        h.close()


# --------------------------------------------------------------------------- the same CPU work in xstate


@dataclass
class NodeCpu:
    ops_per_second: float | None = None
    samples: list[float] = field(default_factory=list)
    note: str = ""
    versions: str = ""
    #: durable-xstate's memory-store step, measured side by side with it (steps/s per round)
    ours: list[float] = field(default_factory=list)
    #: ours / xstate's, per round
    ratios: list[float] = field(default_factory=list)


def first_record() -> bytes:
    """The record of the counter after one durable step on the memory store, as durable-xstate writes it."""
    from durable_xstate import create_actor, with_persistable_actor
    from durable_xstate.stores import open_store

    machine = counter_machine()
    store = open_store(f"memory://node-cpu-{uuid.uuid4().hex[:8]}")

    async def one_step() -> bytes:
        await with_persistable_actor(lambda a: a.send(INC), id="bench/node", storage=store,
                                     actor_creator=lambda id, snapshot: create_actor(machine, id=id, snapshot=snapshot))
        got = await store.read("bench/node.json")
        assert got is not None
        return got.data

    return asyncio.run(one_step())


def sidebyside_workload(name: str, engine: str, params: dict[str, Any]) -> Any:
    """The optimistic durable step on the memory store, for the side-by-side harness (node/durable.mjs
    is the twin). Setup runs the first step; ``check()`` reports the stored counter and revision."""
    from sidebyside import SimpleWorkload

    from durable_xstate import create_actor, with_persistable_actor
    from durable_xstate.stores import open_store

    bs.check(name == "step", f"unknown workload {name!r}")
    machine = counter_machine()
    store = open_store(f"memory://sbs-{uuid.uuid4().hex[:8]}")
    loop = asyncio.new_event_loop()

    def creator(id: str, snapshot: Any) -> Any:
        return create_actor(machine, id=id, snapshot=snapshot)

    def send(actor: Any) -> None:
        actor.send(INC)

    async def steps(n: int) -> None:
        for _ in range(n):
            await with_persistable_actor(send, id="bench/node", storage=store, actor_creator=creator)

    def stored() -> dict[str, Any]:
        got = loop.run_until_complete(store.read("bench/node.json"))
        assert got is not None
        record = json.loads(got.data)
        return {"n": record["snapshot"]["context"]["n"], "revision": record["revision"]}

    loop.run_until_complete(steps(1))
    return SimpleWorkload("steps/s", 1, lambda n: loop.run_until_complete(steps(n)), stored, stored())


def node_cpu_step(settings: bs.Settings) -> NodeCpu:
    """durable-xstate's optimistic step on the memory store and xstate in Node doing the same work
    (node/durable.mjs), side by side in fresh processes; both must end on the same counter."""
    import sidebyside as sbs

    spec = {"config": COUNTER_CONFIG, "record": first_record().decode(), "event": INC}
    sb = sbs.Settings(settings.target_seconds, max(5, settings.repetitions), settings.target_seconds)
    try:
        pair = sbs.compare(sbs.Side("durable_xstate", "python", "bench_durable", "step"),
                           sbs.Side("xstate (Node)", "node", "durable.mjs", "step", spec), sb)
    except sbs.HarnessError as err:
        if "node not found" in str(err) or "not installed in benchmarks/node" in str(err):
            return NodeCpu(note=str(err))
        raise
    v = pair.b.versions
    return NodeCpu(pair.b.median, list(pair.b.rates), "", f"xstate {v.get('xstate')} on Node {v.get('node')}",
                   list(pair.a.rates), list(pair.ratios))


# --------------------------------------------------------------------------- cold start


@dataclass
class ColdResult:
    label: str
    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def bytecode_env(workdir: Path) -> dict[str, str]:
    """The environment of a deployed package: compiled bytecode kept (in a cache beside the run, so the
    checkout is not touched), even where this shell sets PYTHONDONTWRITEBYTECODE."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    return env


def cold_start(workdir: Path, repetitions: int = 5) -> tuple[list[ColdResult], list[str], int]:
    """Wall time of fresh processes, round-robin (one untimed warm-up round, which also writes the
    bytecode cache), and the record check. Each case runs as this shell runs Python and with compiled
    bytecode kept, as an installed wheel or a Lambda package has it."""
    root = workdir / "cold-store"
    url = "file://" + quote(str(root))
    envs = [("", None), (" (bytecode cached)", bytecode_env(workdir))]
    if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        envs = envs[1:]
    cases = [(label + suffix, code, env) for suffix, env in envs for label, code in COLD_CASES]
    samples: dict[str, list[float]] = {label: [] for label, _, _ in cases}
    runs = 0
    for rnd in range(repetitions + 1):
        for label, code, env in cases:
            argv = [sys.executable, "-c", code]
            if code is COLD_STEP:
                argv.append(url)
                runs += 1
            t0 = time.perf_counter()
            subprocess.run(argv, check=True, cwd=workdir, env=env)
            elapsed = time.perf_counter() - t0
            if rnd:
                samples[label].append(elapsed)
    record = json.loads((root / "cold" / "counter.json").read_bytes())
    n = int(record["snapshot"]["context"]["n"])
    bs.check(n == runs, f"cold start: the counter is {n} after {runs} processes")
    return [ColdResult(label, samples[label]) for label, _, _ in cases], import_profile(bytecode_env(workdir)), n


def import_profile(env: dict[str, str], top: int = 12) -> list[str]:
    """The slowest imports under ``import durable_xstate`` (python -X importtime, bytecode cached), by
    cumulative time."""
    subprocess.run([sys.executable, "-c", "import durable_xstate"], check=True, env=env)  # fill the cache
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import durable_xstate"],
                          capture_output=True, text=True, check=True, env=env)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cumulative, name = line.split(":", 1)[1].split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        rows.append((int(cumulative), int(own), depth, name.strip()))
    rows.sort(reverse=True)
    return [f"{cum / 1000:7.1f} ms cumulative {own / 1000:6.1f} ms own  {'  ' * depth}{name}"
            for cum, own, depth, name in rows[:top]]


# --------------------------------------------------------------------------- reporting


def table_rows(runs: list[DurableRun]) -> list[list[str]]:
    rows = []
    for r in runs:
        rows.append([
            r.name,
            f"{r.record_bytes:,}",
            bs.fmt_ops(r.median(STEP_OPT)),
            bs.fmt_ops(r.median(RAW)),
            f"{bs.fmt_ratio(r.ratio(STEP_OPT, RAW))} ({bs.verdict(r.ratio(STEP_OPT, RAW), TARGET)})",
            bs.fmt_ops(r.median(STORE)),
            bs.fmt_ratio(r.ratio(STEP_OPT, STORE)),
            bs.fmt_ops(r.median(RAW_THREAD)) if RAW_THREAD in r.series else "-",
            bs.fmt_ratio(r.ratio(STEP_OPT, RAW_THREAD)) if RAW_THREAD in r.series else "-",
            bs.fmt_ops(r.median(STEP_INLINE)) if STEP_INLINE in r.series else "-",
            f"{bs.fmt_ratio(r.ratio(STEP_INLINE, RAW))} ({bs.verdict(r.ratio(STEP_INLINE, RAW), TARGET)})"
            if STEP_INLINE in r.series else "-",
        ])
    return rows


HEADERS = [
    "backend", "record bytes", "optimistic steps/s", "raw read+CAS/s", "step / raw (target >= 0.9)",
    "store read+write/s", "step / store read+write", "raw via to_thread/s", "step / raw via to_thread",
    "io=inline steps/s", "io=inline step / raw",
]


def rw_rows(runs: list[DurableRun]) -> list[list[str]]:
    return [[
        r.name,
        bs.fmt_ops(r.median(STEP_RW)),
        bs.fmt_ops(r.median(RAW_LOCKED)),
        bs.fmt_ratio(r.ratio(STEP_RW, RAW_LOCKED)),
        bs.fmt_ratio(r.ratio(STEP_RW, RAW)),
        bs.fmt_ratio(r.ratio(STEP_RW, STEP_OPT)),
    ] for r in runs]


RW_HEADERS = [
    "backend", "read-write steps/s", "raw acquire+read+fenced CAS+release/s", "step / raw locked",
    "step / raw read+CAS", "read-write / optimistic",
]


def us_rows(runs: list[DurableRun]) -> list[list[str]]:
    rows = []
    for r in runs:
        step, raw, store = r.median(STEP_OPT), r.median(RAW), r.median(STORE)
        if step is None or raw is None or store is None:
            continue
        rows.append([
            r.name, f"{1e6 / step:,.0f}", f"{1e6 / raw:,.0f}", f"{1e6 / store - 1e6 / raw:+,.0f}",
            f"{1e6 / step - 1e6 / store:+,.0f}",
        ])
    return rows


US_HEADERS = ["backend", "optimistic step µs", "raw read+CAS µs", "+ store layer µs", "+ persistence layer µs"]


def spread_rows(runs: list[DurableRun]) -> list[list[str]]:
    return [[r.name, label, f"{min(s.samples):,.0f} to {max(s.samples):,.0f}", f"{len(s.samples)} x {s.batch:,}"]
            for r in runs for label, s in r.series.items()]


def node_cpu_lines(runs: list[DurableRun], node_cpu: NodeCpu) -> list[str]:
    import statistics as st

    if node_cpu.ops_per_second is None or not node_cpu.ours:
        return [f"Not measured: {node_cpu.note or 'node was not run'}."]
    theirs, ours = node_cpu.ops_per_second, st.median(node_cpu.ours)
    ratio = ours / theirs
    raw = {r.name: r.median(RAW) for r in runs if r.name != "memory" and r.median(RAW)}
    rows = [[name, f"{1e6 / v:,.0f}", f"{(1e6 / v) / (1e6 / v + 1e6 / ours):.2f}",
             f"{(1e6 / v) / (1e6 / v + 1e6 / theirs):.2f}"] for name, v in raw.items() if v]
    return [
        f"The optimistic step on the memory store is all CPU. Side by side with xstate in Node "
        f"({node_cpu.versions}; `benchmarks/node/durable.mjs`), each in a fresh process taking turns batch "
        f"by batch: durable-xstate {bs.fmt_ops(ours)} steps/s ({1e6 / ours:,.1f} µs), xstate "
        f"{bs.fmt_ops(theirs)} steps/s ({1e6 / theirs:,.1f} µs), so durable-xstate runs it at **{ratio:.2f}x** "
        f"xstate's speed ({min(node_cpu.ratios):.2f}-{max(node_cpu.ratios):.2f} over {len(node_cpu.ratios)} "
        "rounds). The Node step does the same work: an awaited read from a Map, the record split as "
        "durable-xstate splits it (timers parsed, journal kept as text) and the rest JSON.parse'd, "
        "`createActor(machine, {snapshot}).start()` collecting emitted events, send, `getPersistedSnapshot()`, "
        "timers and outbox carried, a journal entry with a blake2b digest appended, JSON.stringify, an "
        "awaited compare-and-set into the Map, stop."
        + (f" ({node_cpu.note})" if node_cpu.note else ""),
        "",
        "What that CPU time alone allows, against each backend's raw read + compare-and-set (the best "
        "ratio a step could reach if its store layer added nothing):",
        "",
        bs.md_table(rows, ["backend", "raw read+CAS µs", "ceiling with durable-xstate's CPU",
                           "ceiling with xstate-in-Node's CPU"]),
    ]


def render(runs: list[DurableRun], settings: bs.Settings, cold: list[ColdResult], imports: list[str], cold_n: int,
           phases: list[tuple[str, float]], wall: float, load_before: str, load_after: str, workdir: Path,
           servers: bs.Servers, profile: str, profile_label: str, node_cpu: NodeCpu) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    started = ", ".join(f"{k} {v:.1f}s" for k, v in servers.start_seconds.items()) or "none"
    lines = [
        "## Durable step (`bench_durable.py`)",
        "",
        "A durable step is `await with_persistable_actor(lambda actor: actor.send({'type': 'INC'}), id=..., "
        "storage=store, actor_creator=..., locking=MODE)`: read the record, restore and start the actor, one "
        "event, save (a compare-and-set of the new record), close. The machine is a one-state counter "
        "(`INC` assigns `n + 1`). The raw unit is the plain client's read + compare-and-set of a value of "
        "the record's size on the same backend (bench_stores.py's plain clients). Medians of "
        f"{settings.repetitions} timed batches of ~{settings.target_seconds:g}s per runner, runners "
        "taking turns; a ratio is the median over the rounds of the ratio of the two samples taken in "
        f"the same round. Target: optimistic step / raw read + CAS >= {TARGET}.",
        "",
        f"- Date: {now}",
        *bs.machine_facts(workdir),
        f"- Servers started for the run: {started}",
        f"- Load average before the run: {load_before}; after: {load_after}; whole run: {wall:.0f}s",
        "",
        "### Optimistic step against the raw read + compare-and-set",
        "",
        bs.md_table(table_rows(runs), HEADERS),
        "",
        "\"store read+write\" is the same read + compare-and-set through durable_xstate's store "
        "(`await store.read`, `await store.write`): the step's ratio to it is the cost of the persistence "
        "layer alone (record, actor, snapshot). For the backends whose library code runs its client in "
        "a worker thread, \"raw via to_thread\" makes the plain calls through `asyncio.to_thread`, as an "
        "asyncio program must.",
        "",
        "Where the time of one optimistic step goes (µs, from the medians above):",
        "",
        bs.md_table(us_rows(runs), US_HEADERS),
        "",
        "### Read-write step",
        "",
        bs.md_table(rw_rows(runs), RW_HEADERS),
        "",
        "The read-write step takes a lease in `init`, starts a renewal task, reads, restores, sends, "
        "saves with the lease's fencing token and releases: four round trips where the optimistic step "
        "has two. Its raw counterpart is the plain acquire + read + fenced compare-and-set + release "
        "(S3: the DynamoDB lock, with the lease checked before the write, as the library's non-atomic "
        "pair does).",
        "",
        "### The library's own cost per step (memory store, no I/O)",
        "",
        "Microseconds per phase of an optimistic step on the in-process store, averaged over 3,000 steps "
        "after 300 warm-up steps (`PersistableActor(...)`, `await pa.init()`, `pa.actor.send(...)`, "
        "`await pa.save()`, `await pa.close()` timed one by one; `with_persistable_actor` does exactly "
        "these), and the store's own read and write of the same record:",
        "",
        bs.md_table([[name, f"{us:,.1f}"] for name, us in phases[:-2]]
                    + [["**the step**", f"**{sum(us for _, us in phases[:-2]):,.1f}**"]]
                    + [[name, f"{us:,.1f}"] for name, us in phases[-2:]], ["phase", "µs"]),
        "",
        "### The same CPU work in xstate",
        "",
        *node_cpu_lines(runs, node_cpu),
        "",
        "### Cold start",
        "",
        f"Wall time of a fresh process (`{Path(sys.executable).name} -c ...`, fork + exec included), median "
        "of 5 after one untimed round, the kinds taking turns. The durable step runs on a `file://` "
        f"store in a temp directory (fsync on); after all rounds its counter is {cold_n}, one per process. "
        "This machine's shell sets `PYTHONDONTWRITEBYTECODE=1`, so a plain run compiles every module of an "
        "editable checkout from source in each process; \"bytecode cached\" keeps the compiled modules "
        "(in a cache directory beside the run), as a wheel install or a deployment package has them.",
        "",
        bs.md_table([[c.label, f"{c.median * 1000:,.0f}", f"{min(c.samples) * 1000:,.0f} to {max(c.samples) * 1000:,.0f}"]
                     for c in cold], ["process", "median ms", "range ms"]),
        "",
        "Slowest imports under `import durable_xstate` (`python -X importtime`, bytecode cached, one run, by "
        "cumulative time):",
        "",
        "```",
        *imports,
        "```",
        "",
        "### Verification",
        "",
    ]
    for r in runs:
        lines.append(f"- **{r.name}** ({r.server}): " + "; ".join(r.checks) + ".")
    lines += [
        "",
        "### Sample ranges",
        "",
        bs.md_table(spread_rows(runs), ["backend", "runner", "range of samples (per s)", "samples x units per batch"]),
    ]
    if profile:
        lines += [
            "",
            f"### Where the time goes: {profile_label}",
            "",
            "cProfile of the optimistic durable step on the backend with the lowest step / raw ratio among "
            "those that talk to a server or a disk (`bench_durable.py --profile BACKEND:MODE` prints the "
            "same). Work in `asyncio.to_thread` worker threads is listed separately. cProfile's own cost "
            "inflates the totals; the proportions are what matter.",
            "",
            "```",
            profile.strip("\n"),
            "```",
        ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short smoke run; prints only")
    parser.add_argument("--backends", default=",".join(bs.BACKENDS), help="comma-separated (default: all seven)")
    parser.add_argument("--profile", metavar="BACKEND:MODE", help="cProfile the durable step (optimistic or read-write), exit")
    parser.add_argument("--target", type=float, default=0.2, help="seconds per timed batch (default 0.2)")
    parser.add_argument("--repetitions", type=int, default=11, help="timed batches per runner (default 11)")
    parser.add_argument("--output", type=Path, default=bs.RESULTS, help="results file (default benchmarks/RESULTS-stores.md)")
    sbs.add_load_args(parser)
    args = parser.parse_args(argv)
    if args.profile:
        backend, _, mode = args.profile.partition(":")
        if backend not in bs.BACKENDS or mode not in MODES:
            raise SystemExit(f"--profile BACKEND:MODE with BACKEND in {bs.BACKENDS} and MODE in {list(MODES)}")
        with bs.Servers() as servers, bs.work_directory() as workdir:
            print(profile_step(backend, mode, servers, workdir))
        return 0
    settings = bs.Settings(0.05, 3) if args.quick else bs.Settings(args.target, args.repetitions)
    names = bs.parse_backends(args.backends)
    load_before = bs.load_average()
    gate = sbs.gate(args)
    refusal = None if args.quick else gate.refuse()
    if refusal is not None:
        raise SystemExit(refusal)
    t0 = time.perf_counter()
    runs: list[DurableRun] = []
    with bs.Servers() as servers, bs.work_directory() as workdir:
        for name in names:
            runs.append(bench_backend(bs.make_backend(name, servers, workdir, f"d{uuid.uuid4().hex[:10]}"), settings))
        print("cold start ...", flush=True)
        cold, imports, cold_n = cold_start(workdir, 2 if args.quick else 5)
        for c in cold:
            print(f"  {c.label:<62} {c.median * 1000:7.0f} ms", flush=True)
        phases = phase_breakdown(300 if args.quick else 3000)
        print("xstate in Node, the same CPU work ...", flush=True)
        node_cpu = node_cpu_step(settings)
        profile, label = "", ""
        misses = [(r.ratio(STEP_OPT, RAW), r.name) for r in runs if r.name != "memory" and r.ratio(STEP_OPT, RAW) is not None]
        worst = min(misses, default=None)
        if not args.quick and worst is not None and worst[0] is not None and worst[0] < TARGET:
            label = f"{worst[1]}, optimistic step"
            print(f"profiling {label} ...", flush=True)
            profile = profile_step(worst[1], "optimistic", servers, workdir)
        wall = time.perf_counter() - t0
        load_after = bs.load_average()
        print()
        print(bs.text_table(table_rows(runs), HEADERS))
        print()
        print(bs.text_table(rw_rows(runs), RW_HEADERS))
        print()
        print(bs.text_table([[n, f"{us:,.1f}"] for n, us in phases], ["phase (memory store)", "µs"]))
        print()
        print("\n".join(node_cpu_lines(runs, node_cpu)))
        print(f"\nwhole run: {wall:.0f}s")
        if not args.quick:
            text = render(runs, settings, cold, imports, cold_n, phases, wall, load_before, load_after, workdir,
                          servers, profile, label, node_cpu)
            bs.write_section("bench_durable", "\n".join(gate.banner()) + text, args.output)
            print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
