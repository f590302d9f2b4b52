"""Side-by-side measuring: two engines, each in its own fresh process, taking turns batch by batch.

The benchmark scripts (bench_engine.py, bench_actors.py, bench_durable.py) describe a workload once per
side and call :func:`compare`. Each side runs in a fresh worker process started for that one workload:
a Python worker (this file, ``--worker``) or a Node worker (``node/worker.mjs``), both driven over
stdin/stdout with one JSON object per line:

    {"cmd": "setup", "module": M, "workload": W, "engine": E, "params": {...}}
        -> {"ok": true, "unit": "events/s", "ops_per_unit": k, "observed": {...}, "versions": {...}}
        (builds the workload and runs its state-by-state verification; ``observed`` is what it saw)
    {"cmd": "warmup", "n": N}  -> {"ok": true, "elapsed": s}            N units, untimed for the report
    {"cmd": "batch", "n": N}   -> {"ok": true, "elapsed": s, "cpu": s}  N units, wall and CPU seconds
    {"cmd": "check"}           -> {"ok": true, "observed": {...}}       the counters after all units
    {"cmd": "quit"}
    any failure                -> {"ok": false, "error": "..."}

The Python worker imports ``benchmarks/M.py`` and calls ``M.sidebyside_workload(W, E, params)``; the
Node worker imports ``benchmarks/node/M`` and calls its ``setup(W, params, xstate)``. A workload
object has ``unit``, ``ops_per_unit``, ``observed``, ``run(n)`` (may return ``(elapsed, cpu)`` when
only part of a unit is timed, e.g. after an untimed preparation) and ``check()``.

:func:`compare` sizes one batch of N units so the slower side takes about ``target`` seconds (both
sides run the same sizing batches), warms both sides up with the same units, then runs ``rounds``
rounds: each round both sides run ``batch N``, one after the other, the first side alternating from
round to round. Both sides run exactly the same units, so their final ``check`` must agree.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NODE_DIR = HERE / "node"
ORACLE_DIR = ROOT / "tests" / "conformance" / "oracle"
DEFAULT_MAX_LOAD = 1.5


class HarnessError(RuntimeError):
    """A worker failed, or the two sides disagree about the work they did."""


# --------------------------------------------------------------------------- the workload contract


class Workload(Protocol):
    unit: str
    ops_per_unit: int
    observed: dict[str, Any]

    def run(self, n: int) -> tuple[float, float] | None: ...

    def check(self) -> dict[str, Any]: ...


@dataclass
class SimpleWorkload:
    """A workload from plain functions: ``run(n)`` runs n units, ``check()`` returns the counters."""

    unit: str
    ops_per_unit: int
    run_units: Callable[[int], Any]
    checker: Callable[[], dict[str, Any]]
    observed: dict[str, Any] = field(default_factory=dict)

    def run(self, n: int) -> tuple[float, float] | None:
        out = self.run_units(n)
        return out if isinstance(out, tuple) else None

    def check(self) -> dict[str, Any]:
        return self.checker()


def sidebyside_workload(name: str, engine: str, params: dict[str, Any]) -> Workload:
    """The harness's own trivial workload (for its smoke test): ``count`` adds 1 per op."""
    if name != "count":
        raise HarnessError(f"unknown workload {name!r}")
    total = [0]
    per = int(params.get("per_unit", 100))

    def run(n: int) -> None:
        t = total[0]
        for _ in range(n * per):
            t += 1
        total[0] = t

    return SimpleWorkload("ops/s", per, run, lambda: {"total": total[0]}, {"start": 0})


# --------------------------------------------------------------------------- the Python worker


def _timed(workload: Workload, n: int) -> tuple[float, float]:
    c0, t0 = time.process_time(), time.perf_counter()
    out = workload.run(n)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    return out if out is not None else (elapsed, cpu)


def worker_main() -> int:
    """Serve the protocol on stdin/stdout. Anything the workload prints goes to stderr."""
    sys.path.insert(0, str(HERE))
    out = sys.stdout
    sys.stdout = sys.stderr
    workload: Workload | None = None

    def reply(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        cmd = msg.get("cmd")
        try:
            if cmd == "quit":
                reply({"ok": True})
                return 0
            if cmd == "setup":
                module = importlib.import_module(msg["module"])
                workload = module.sidebyside_workload(msg["workload"], msg.get("engine", ""), msg.get("params", {}))
                reply({"ok": True, "unit": workload.unit, "ops_per_unit": workload.ops_per_unit,
                       "observed": workload.observed, "versions": {"python": sys.version.split()[0]}})
                continue
            if workload is None:
                raise HarnessError(f"{cmd!r} before setup")
            if cmd in ("warmup", "batch"):
                elapsed, cpu = _timed(workload, int(msg["n"]))
                reply({"ok": True, "elapsed": elapsed, "cpu": cpu})
            elif cmd == "check":
                reply({"ok": True, "observed": workload.check()})
            else:
                raise HarnessError(f"unknown command {cmd!r}")
        except Exception as err:
            reply({"ok": False, "error": f"{type(err).__name__}: {err}\n{traceback.format_exc()}"})
    return 0


# --------------------------------------------------------------------------- the driver


@dataclass
class Side:
    """One engine running one workload: which worker, and what it is told at setup."""

    name: str
    kind: str  # "python" or "node"
    module: str  # a module in benchmarks/ (python) or a file in benchmarks/node/ (node)
    workload: str
    params: dict[str, Any] = field(default_factory=dict)
    engine: str = ""


@dataclass
class Settings:
    target_seconds: float = 0.3
    rounds: int = 7
    warmup_seconds: float = 0.3


@dataclass
class SideResult:
    name: str
    rates: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    observed: dict[str, Any] = field(default_factory=dict)
    final: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


@dataclass
class Pair:
    """The outcome of :func:`compare`: per side the rate of every round, and a/b per round."""

    workload: str
    unit: str
    batch_units: int
    ops_per_batch: int
    a: SideResult
    b: SideResult
    ratios: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ratio(self) -> float:
        """The ratio of the medians, a / b (above 1: a is faster)."""
        return self.a.median / self.b.median


class Worker:
    def __init__(self, side: Side) -> None:
        self.side = side
        if side.kind == "python":
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker"]
        elif side.kind == "node":
            node = shutil.which("node")
            if node is None:
                raise HarnessError("node not found")
            base, _ = ensure_xstate()
            if base is None:
                raise HarnessError("xstate is not installed in benchmarks/node/ (npm install failed)")
            cmd = [node, str(NODE_DIR / "worker.mjs"), str(base)]
        else:
            raise HarnessError(f"unknown worker kind {side.kind!r}")
        env = dict(os.environ)
        src = str(ROOT / "src")
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                     cwd=str(ROOT))

    def call(self, msg: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise HarnessError(f"{self.side.name}: worker exited (code {self.proc.wait()}) on {msg.get('cmd')}")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            raise HarnessError(f"{self.side.name}: {msg.get('cmd')} failed: {reply.get('error')}")
        return reply

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call({"cmd": "quit"})
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=10)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _setup(worker: Worker) -> dict[str, Any]:
    s = worker.side
    return worker.call({"cmd": "setup", "module": s.module, "workload": s.workload, "engine": s.engine,
                        "params": s.params})


def compare(a: Side, b: Side, settings: Settings, *, same_check: bool = True,
            log: Callable[[str], None] | None = None) -> Pair:
    """Run ``a`` and ``b`` side by side (see the module docstring); raises HarnessError on a failure."""
    t_start = time.perf_counter()
    workers: list[Worker] = []
    try:
        wa = Worker(a)
        workers.append(wa)
        wb = Worker(b)
        workers.append(wb)
        sa, sb = _setup(wa), _setup(wb)
        if sa["ops_per_unit"] != sb["ops_per_unit"]:
            raise HarnessError(f"{a.name} counts {sa['ops_per_unit']} ops per unit, {b.name} {sb['ops_per_unit']}")
        target = settings.target_seconds

        def both(cmd: str, n: int) -> float:
            ea = float(wa.call({"cmd": cmd, "n": n})["elapsed"])
            eb = float(wb.call({"cmd": cmd, "n": n})["elapsed"])
            return max(ea, eb)

        # Size the batch on the slower side: doubling, the same batches on both sides.
        n = 1
        while True:
            elapsed = both("warmup", n)
            if elapsed >= target / 4 or n >= 1 << 30:
                break
            n *= 2
        n = max(1, round(n * target / max(elapsed, 1e-9)))
        # The same warm-up on both sides, re-sizing after each warm-up batch, for at least
        # warmup_seconds and until the batch size settles (a JIT's first batches run slow, so a batch
        # sized on them is too short for the JIT to ever warm up).
        warm, batches = 0.0, 0
        while True:
            elapsed = both("warmup", n)
            warm += elapsed
            batches += 1
            n_next = max(1, round(n * target / max(elapsed, 1e-9)))
            settled = abs(n_next - n) <= 0.2 * n
            n = n_next
            enough = batches >= 3 or warm >= 3 * max(target, settings.warmup_seconds)
            if (warm >= settings.warmup_seconds and settled and enough) or batches >= 40:
                break
        ra = SideResult(a.name, observed=sa.get("observed", {}), versions=sa.get("versions", {}))
        rb = SideResult(b.name, observed=sb.get("observed", {}), versions=sb.get("versions", {}))
        ops = n * int(sa["ops_per_unit"])
        ratios: list[float] = []
        for i in range(settings.rounds):
            order = [(wa, ra), (wb, rb)] if i % 2 == 0 else [(wb, rb), (wa, ra)]
            for w, r in order:
                got = w.call({"cmd": "batch", "n": n})
                r.rates.append(ops / max(float(got["elapsed"]), 1e-12))
                r.cpu.append(float(got["cpu"]))
            ratios.append(ra.rates[-1] / rb.rates[-1])
            if log:
                log(f"    round {i + 1}: {a.name} {ra.rates[-1]:,.0f}  {b.name} {rb.rates[-1]:,.0f}  "
                    f"ratio {ratios[-1]:.2f}")
        ra.final = wa.call({"cmd": "check"})["observed"]
        rb.final = wb.call({"cmd": "check"})["observed"]
        if same_check and ra.final != rb.final:
            raise HarnessError(f"{a.workload}: the two sides did different work: {a.name} {ra.final}, "
                               f"{b.name} {rb.final}")
        return Pair(a.workload, str(sa["unit"]), n, ops, ra, rb, ratios, time.perf_counter() - t_start)
    finally:
        for w in workers:
            w.close()


# --------------------------------------------------------------------------- Node and xstate


def ensure_xstate() -> tuple[Path | None, str]:
    """A folder whose node_modules/ holds xstate, installing it into benchmarks/node/ if missing."""
    if (NODE_DIR / "node_modules" / "xstate" / "package.json").exists():
        return NODE_DIR, ""
    npm = shutil.which("npm")
    if npm is not None:
        print("installing xstate@5.33.3 into benchmarks/node/ ...", file=sys.stderr, flush=True)
        proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR,
                              capture_output=True, text=True, timeout=300, check=False)
        if proc.returncode == 0 and (NODE_DIR / "node_modules" / "xstate").exists():
            return NODE_DIR, ""
        note = f"npm install failed ({proc.stderr.strip()[-200:]})"
    else:
        note = "npm not found"
    if (ORACLE_DIR / "node_modules" / "xstate" / "package.json").exists():
        return ORACLE_DIR, f"{note}; used the conformance oracle's xstate"
    return None, note


# --------------------------------------------------------------------------- statistics and reporting


def spread(xs: Sequence[float]) -> tuple[float, float]:
    return (min(xs), max(xs)) if xs else (float("nan"), float("nan"))


def fmt_rate(xs: Sequence[float]) -> str:
    """``median (min-max)`` of rates."""
    if not xs:
        return "n/a"
    lo, hi = spread(xs)
    return f"{statistics.median(xs):,.0f} ({lo:,.0f}-{hi:,.0f})"


def fmt_ratio(pair: Pair) -> str:
    """The ratio of the medians with the range of the per-round ratios."""
    lo, hi = spread(pair.ratios)
    return f"{pair.ratio:.2f}x ({lo:.2f}-{hi:.2f})"


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def fmt_load(load: tuple[float, float, float] | None) -> str:
    return "unknown" if load is None else " ".join(f"{x:.2f}" for x in load)


def add_common_args(parser: argparse.ArgumentParser, *, rounds: int = 7) -> None:
    parser.add_argument("--rounds", type=int, default=None,
                        help=f"rounds of one batch per side, taking turns (default {rounds}; --quick: 5)")
    add_load_args(parser)


def add_load_args(parser: argparse.ArgumentParser) -> None:
    """``--max-load`` and ``--force``: the guard of every script that writes a RESULTS file."""
    parser.add_argument("--max-load", type=float, default=DEFAULT_MAX_LOAD,
                        help="refuse to write RESULTS when the 1-minute load average before the run is "
                             f"above this (default {DEFAULT_MAX_LOAD}: ~0.75 per core on 2 cores)")
    parser.add_argument("--force", action="store_true",
                        help="write RESULTS even on a busy machine, marked as measured on a busy machine")


@dataclass
class LoadGate:
    """The load average before a run, and whether its RESULTS may be written."""

    before: tuple[float, float, float] | None
    max_load: float
    force: bool

    @property
    def busy(self) -> bool:
        return self.before is not None and self.before[0] > self.max_load

    def banner(self) -> list[str]:
        """Lines for the top of a RESULTS file written with --force on a busy machine (else none)."""
        if not self.busy:
            return []
        assert self.before is not None
        return [f"> **Measured on a busy machine (load {self.before[0]:.2f})**: the 1-minute load average "
                f"before the run was above {self.max_load:g}; written with `--force`. Re-measure on a quiet "
                "machine before trusting these numbers.", ""]

    def refuse(self) -> str | None:
        """The message to print (and exit non-zero with) instead of writing RESULTS, or None."""
        if self.busy and not self.force:
            assert self.before is not None
            return (f"not writing RESULTS: the 1-minute load average before the run was {self.before[0]:.2f}, "
                    f"above --max-load {self.max_load:g}. Re-run on a quiet machine, or pass --force to "
                    "write them marked as measured on a busy machine.")
        return None


def gate(args: argparse.Namespace) -> LoadGate:
    g = LoadGate(load_average(), args.max_load, args.force)
    print(f"load average before the run: {fmt_load(g.before)}", flush=True)
    return g


def method_lines(settings: Settings, before: tuple[float, float, float] | None) -> list[str]:
    """The method paragraph and load line every RESULTS file written through the harness carries."""
    return [
        "Method (`benchmarks/sidebyside.py`, see `benchmarks/README.md`): each workload runs in its own fresh "
        "processes, one per engine (a Python worker; a long-lived Node worker for xstate), driven over "
        "stdin/stdout. Both sides run the same sizing and warm-up batches (at least "
        f"{settings.warmup_seconds:g} s on the slower side, and until the batch size settles within 20%), then take turns batch by batch for "
        f"{settings.rounds} rounds (the first side alternating), one batch sized to ~{settings.target_seconds:g} s "
        "on the slower side. Rates are the median (min-max) over the rounds; a ratio is the ratio of the "
        "medians, with the range of the per-round ratios. Both sides run the same units and must report the "
        "same counters at the end.",
        "",
        f"- Load average (1, 5, 15 min) before the run: {fmt_load(before)}; after: {fmt_load(load_average())}",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help="serve the worker protocol on stdin/stdout")
    parser.add_argument("--selftest", action="store_true",
                        help="run the trivial `count` workload on Python and Node side by side")
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main()
    if args.selftest:
        side = functools.partial(Side, workload="count", params={"per_unit": 1000})
        pair = compare(side("python", "python", "sidebyside"), side("node", "node", "selftest.mjs"),
                       Settings(0.02, 5, 0.02), log=print)
        print(f"count: python {fmt_rate(pair.a.rates)}, node {fmt_rate(pair.b.rates)}, ratio {fmt_ratio(pair)}")
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
