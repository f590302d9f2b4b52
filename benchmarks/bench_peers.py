"""The durable step against its floor and its peers (issue 13), side by side in one run.

Run from the repository root (DBOS is in the ``bench`` extra: ``.venv/bin/pip install dbos``):

    .venv/bin/python benchmarks/bench_peers.py                 # full run, writes its section of RESULTS-scale.md
    .venv/bin/python benchmarks/bench_peers.py --quick         # smoke run, prints only
    .venv/bin/python benchmarks/bench_peers.py --backends sqlite,postgres

Per backend (SQLite, PostgreSQL, Redis):

- **our step**: the optimistic durable step of bench_durable.py (``with_persistable_actor`` + one INC
  on a counter: read, restore, send, compare-and-set, close), taking turns batch by batch with
- **the floor**: the plain client's read + compare-and-set of a value of the record's size (no library
  code; bench_stores.py's plain clients). "library time" = our step's µs - the floor's µs.
  Target: under 50 µs on PostgreSQL and Redis.
- **DBOS** (SQLite and PostgreSQL): a DBOS workflow with one step (``@DBOS.workflow()`` calling one
  ``@DBOS.step()`` that returns ``n + 1``), DBOS's smallest durable unit, on the same PostgreSQL server
  and on a SQLite file in the same directory. DBOS is a process-wide singleton, so it runs in a child
  process (same protocol: sized batches, warm-up, medians); it cannot take turns with our runners.

And the CPU: our step on the memory store (all CPU) against the same work on xstate in Node
(``node/durable.mjs``, as in bench_durable.py). Target: within 1.5x of xstate-in-Node's time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import bench_durable as bd
import bench_stores as bs
import sidebyside as sbs
from bench_scale import RESULTS, write_section

BACKENDS = ["sqlite", "postgres", "redis"]
DBOS_BACKENDS = {"sqlite", "postgres"}
LIBRARY_TARGET_US = 50.0  # PostgreSQL and Redis
CPU_TARGET = 1.5  # our CPU time / xstate-in-Node's


@dataclass
class DbosResult:
    ops_per_second: float | None = None
    samples: list[float] = field(default_factory=list)
    batch: int = 0
    checks: str = ""
    note: str = ""
    version: str = ""


@dataclass
class PeerRun:
    name: str
    series: dict[str, bs.Series] = field(default_factory=dict)
    dbos: DbosResult | None = None
    checks: list[str] = field(default_factory=list)
    record_bytes: int = 0

    def us(self, label: str) -> float | None:
        s = self.series.get(label)
        return 1e6 / s.median if s and s.samples else None


# --------------------------------------------------------------------------- DBOS, in a child process

DBOS_CHILD = r"""
import json, statistics, sys, time
from dbos import DBOS

spec = json.loads(sys.argv[1])
DBOS(config={"name": "bench-peers", "system_database_url": spec["url"], "log_level": "WARNING"})


@DBOS.step()
def inc(n: int) -> int:
    return n + 1


@DBOS.workflow()
def one_step(n: int) -> int:
    return inc(n)


DBOS.launch()
ran = 0


def batch(k: int) -> None:
    global ran
    for i in range(ran, ran + k):
        if one_step(i) != i + 1:
            raise AssertionError(f"workflow {i} returned a wrong value")
    ran += k


target, reps = spec["target_seconds"], spec["repetitions"]
n = 1
while True:  # size, then warm up, as bench_stores.size_batch / warm_up do
    t0 = time.perf_counter(); batch(n); el = time.perf_counter() - t0
    if el >= target / 4:
        n = max(1, round(n * target / el)); break
    n *= 2
warm = 0.0
while warm < target:
    t0 = time.perf_counter(); batch(n); el = time.perf_counter() - t0
    warm += el; n = max(1, round(n * target / el))
samples = []
for _ in range(reps):
    t0 = time.perf_counter(); batch(n); samples.append(n / (time.perf_counter() - t0))
stored = DBOS.list_workflows(name=one_step.__qualname__)
done = sum(1 for w in stored if w.status == "SUCCESS")
from importlib import metadata
print(json.dumps({"samples": samples, "batch": n, "ran": ran, "succeeded": done,
                  "version": metadata.version("dbos")}))
DBOS.destroy()
"""


def dbos_step(url: str, settings: bs.Settings) -> DbosResult:
    try:
        from importlib import metadata

        metadata.version("dbos")
    except Exception:
        return DbosResult(note="dbos is not installed (`.venv/bin/pip install dbos`, or the bench extra)")
    spec = {"url": url, "target_seconds": settings.target_seconds, "repetitions": settings.repetitions}
    proc = subprocess.run([sys.executable, "-c", DBOS_CHILD, json.dumps(spec)], capture_output=True, text=True,
                          timeout=900, check=False)
    if proc.returncode != 0:
        return DbosResult(note=f"DBOS failed: {proc.stderr.strip()[-400:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    bs.check(out["succeeded"] == out["ran"], f"DBOS: {out['succeeded']} workflows succeeded of {out['ran']} run")
    return DbosResult(statistics.median(out["samples"]), out["samples"], out["batch"],
                      f"every DBOS workflow returned n + 1, and its system database lists {out['succeeded']:,} "
                      f"successful workflows, one per call", version=out["version"])


def dbos_url(name: str, servers: bs.Servers, workdir: Path) -> str:
    if name == "sqlite":
        return f"sqlite:///{workdir / f'dbos-{uuid.uuid4().hex[:8]}.sqlite'}"
    return servers.postgres().split("?", 1)[0]


# --------------------------------------------------------------------------- our step and its floor


def bench_backend(backend: bs.Backend, settings: bs.Settings) -> PeerRun:
    run = PeerRun(backend.name)
    h = bs.Harness(backend)
    steps: bd.Steps | None = None
    try:
        steps = bd.Steps(h)
        steps.step_runner("optimistic")(2)
        n, revision = steps.stored_count("optimistic")
        bs.check(n == 2 and revision == 2, f"{backend.name}: after 2 steps n={n} revision={revision}")
        key = f"{steps.actor_id('optimistic')}.json"
        record = h.run(h.store.read(key)).data
        run.record_bytes = len(record)
        payloads = bd.record_payloads(record)
        raw_key = "bench/raw.json"
        h.run(h.store.write(raw_key, payloads[0], None))
        raw = bs.Chain()
        runners: dict[str, bs.Runner] = {bd.STEP_OPT: steps.step_runner("optimistic"), bd.RAW: steps.raw_runner(raw_key, raw, payloads)}
        if backend.name in bs.THREADED:
            runners[bd.RAW_THREAD] = steps.raw_runner(raw_key, raw, payloads, threaded=True)
        if steps.inline_store is not None:
            runners[bd.STEP_INLINE] = steps.step_runner("optimistic", inline=True)
        run.series = bs.measure_group(runners, 1, settings)
        n, revision = steps.stored_count("optimistic")
        bs.check(n == steps.steps["optimistic"] == revision,
                 f"{backend.name}: stored n={n}, revision={revision}, steps run={steps.steps['optimistic']}")
        got = h.run(h.store.read(raw_key))
        bs.check(got.data == payloads[(raw.i - 1) & 63], f"{backend.name}: {raw_key} does not hold its last write")
        run.checks.append(f"after timing the stored counter and revision equal the {steps.steps['optimistic']:,} "
                          f"steps run; the raw key holds its last ({raw.i:,}th) write")
    finally:
        if steps is not None and steps.inline_store is not None:
            h.run(steps.inline_store.close())
        h.close()
    return run


# --------------------------------------------------------------------------- reporting


def fmt_us(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def rows(runs: list[PeerRun]) -> list[list[str]]:
    out = []
    for r in runs:
        step, raw = r.us(bd.STEP_OPT), r.us(bd.RAW)
        library = step - raw if step is not None and raw is not None else None
        goal = r.name in ("postgres", "redis")
        verdict = (f" (target < {LIBRARY_TARGET_US:g}: **{'met' if library < LIBRARY_TARGET_US else 'missed'}**)"
                   if goal and library is not None else "")
        dbos_us = 1e6 / r.dbos.ops_per_second if r.dbos and r.dbos.ops_per_second else None
        out.append([
            r.name, f"{r.record_bytes:,}", fmt_us(step), fmt_us(raw),
            (f"{library:+,.1f}" if library is not None else "-") + verdict,
            bs.fmt_ratio(bs.paired_ratio(r.series.get(bd.STEP_OPT), r.series.get(bd.RAW))),
            fmt_us(r.us(bd.RAW_THREAD)), fmt_us(r.us(bd.STEP_INLINE)),
            fmt_us(dbos_us) if r.dbos else "-",
            f"{dbos_us / step:.1f}x" if dbos_us and step else (r.dbos.note[:60] if r.dbos and r.dbos.note else "-"),
        ])
    return out


HEADERS = ["backend", "record bytes", "our step µs", "raw read+CAS µs", "library time µs (step - raw)",
           "step / raw (per s)", "raw via to_thread µs", "our step io=inline µs", "DBOS one-step workflow µs",
           "DBOS / our step (time)"]


def cpu_lines(memory: PeerRun | None, node: bd.NodeCpu) -> list[str]:
    ours = memory.us(bd.STEP_OPT) if memory else None
    if ours is None or node.ops_per_second is None:
        return [f"CPU against xstate in Node: not measured ({node.note or 'the memory store was not run'})."]
    theirs = 1e6 / node.ops_per_second
    ratio = ours / theirs
    return [
        f"CPU of one durable step (memory store, no I/O): **{ours:,.1f} µs**; the same work on xstate in Node "
        f"({node.versions}, `node/durable.mjs`): **{theirs:,.1f} µs**; ours takes **{ratio:.2f}x** Node's time "
        f"(target within {CPU_TARGET:g}x: **{'met' if ratio <= CPU_TARGET else 'missed'}**)."
    ]


def render(runs: list[PeerRun], memory: PeerRun | None, node: bd.NodeCpu, settings: bs.Settings, wall: float,
           load_before: str, load_after: str, workdir: Path, servers: bs.Servers) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    started = ", ".join(f"{k} {v:.1f}s" for k, v in servers.start_seconds.items()) or "none"
    version = next((r.dbos.version for r in runs if r.dbos and r.dbos.version), "not run")
    lines = [
        "## The durable step against its floor and its peers (`bench_peers.py`)",
        "",
        "Our step: `with_persistable_actor(lambda a: a.send({'type': 'INC'}), ...)` optimistic, on a counter "
        "(read, restore, send, compare-and-set, close). Its floor: the plain client's read + compare-and-set of "
        "a value of the record's size, taking turns with our step batch by batch; \"library time\" is the "
        "difference of the medians in µs. DBOS: a workflow with one step (`@DBOS.workflow()` calling one "
        f"`@DBOS.step()` returning `n + 1`), DBOS {version}, on the same PostgreSQL server and on a SQLite file "
        "in the same directory (DBOS's defaults otherwise), timed in a child process with the same protocol "
        "right after our runners (not in turns with them). The work differs: DBOS records the workflow's "
        "input, its step's output and its result; our step reads and compare-and-sets one record. Medians of "
        f"{settings.repetitions} batches of ~{settings.target_seconds:g}s.",
        "",
        f"- Date: {now}",
        *bs.machine_facts(workdir),
        f"- Servers started for the run: {started}",
        f"- Load average before the run: {load_before}; after: {load_after}; whole run: {wall:.0f}s",
        "",
        bs.md_table(rows(runs), HEADERS),
        "",
        *cpu_lines(memory, node),
        "",
        "Verification:",
        "",
    ]
    for r in [*runs, *([memory] if memory else [])]:
        lines.append(f"- **{r.name}**: " + "; ".join(r.checks + ([r.dbos.checks] if r.dbos and r.dbos.checks else [])) + ".")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated: sqlite, postgres, redis")
    parser.add_argument("--quick", action="store_true", help="short smoke run; prints only")
    parser.add_argument("--target", type=float, default=0.2, help="seconds per timed batch (default 0.2)")
    parser.add_argument("--repetitions", type=int, default=9, help="timed batches per runner (default 9)")
    parser.add_argument("--no-node", action="store_true", help="skip the xstate-in-Node CPU comparison")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results file (default benchmarks/RESULTS-scale.md)")
    sbs.add_load_args(parser)
    args = parser.parse_args(argv)
    names = [n for n in args.backends.split(",") if n]
    bad = [n for n in names if n not in BACKENDS]
    if bad:
        raise SystemExit(f"unknown backend(s): {', '.join(bad)}; known: {', '.join(BACKENDS)}")
    settings = bs.Settings(0.05, 3) if args.quick else bs.Settings(args.target, args.repetitions)
    load_before = bs.load_average()
    gate = sbs.gate(args)
    refusal = None if args.quick else gate.refuse()
    if refusal is not None:
        raise SystemExit(refusal)
    t0 = time.perf_counter()
    runs: list[PeerRun] = []
    with bs.Servers() as servers, bs.work_directory() as workdir:
        for name in names:
            run = bench_backend(bs.make_backend(name, servers, workdir, f"p{uuid.uuid4().hex[:10]}"), settings)
            if name in DBOS_BACKENDS:
                print(f"  {name}: DBOS ...", flush=True)
                run.dbos = dbos_step(dbos_url(name, servers, workdir), settings)
            runs.append(run)
            print("  " + " | ".join(f"{h} {c}" for h, c in zip(HEADERS, rows([run])[0], strict=True)), flush=True)
        memory = bench_backend(bs.make_backend("memory", servers, workdir, f"p{uuid.uuid4().hex[:10]}"), settings)
        node = bd.NodeCpu(note="--no-node") if args.no_node else bd.node_cpu_step(settings)
        wall = time.perf_counter() - t0
        load_after = bs.load_average()
        print()
        print(bs.text_table(rows(runs), HEADERS))
        print()
        print("\n".join(cpu_lines(memory, node)))
        print(f"\nwhole run: {wall:.0f}s")
        if not args.quick:
            write_section("bench_peers", "\n".join(gate.banner()) + render(runs, memory, node, settings, wall, load_before, load_after, workdir,
                                                servers), args.output)
            print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
