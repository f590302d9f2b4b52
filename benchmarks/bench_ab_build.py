"""Side by side: building the 100-state machine of bench_engine.py (`build`), durable_xstate against xstate on Node.

    .venv/bin/python benchmarks/bench_ab_build.py [--rounds 7] [--src src] [--src /work/main/src ...]

Every measurement is a fresh process (one per source tree given with ``--src``, default ``src``, and
one Node process running ``createMachine`` from benchmarks/node/node_modules), and the sides take
turns round by round (the order reversed every other round). Each process builds
``big_machine_config()`` with the same protocol: grow a batch to >= 50 ms, size it to 0.25 s, warm up
for 1 s of such batches, then time 5 batches and keep the median. Every build's machine replaces
the previous one, so the collector frees the old one on both sides. Two clocks: CPU time
(``time.process_time`` / ``process.cpuUsage``; Node's counts its collector and compiler threads
too) and wall time. Reported: each side's median over the rounds with the range, the ratio of the
medians (Python / Node, and every tree / the first tree), and the range of the per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_engine import BIG_CONFIG  # noqa: E402

PY_CHILD = r"""
import json, sys, time
config = json.loads(sys.stdin.read())
from durable_xstate import create_machine

def batch(n):
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        machine = create_machine(config)
    assert len(machine.id_map) == 101
    return time.perf_counter() - w0, time.process_time() - c0

n = 1
while True:
    w, c = batch(n)
    if w >= 0.05:
        break
    n *= 2
n = max(1, round(n * 0.25 / w))
warm = 0.0
while warm < 1.0:
    w, c = batch(n)
    warm += w
walls, cpus = [], []
for _ in range(5):
    w, c = batch(n)
    walls.append(n / w)
    cpus.append(n / c)
print(json.dumps({"wall": sorted(walls)[2], "cpu": sorted(cpus)[2]}))
"""

NODE_CHILD = r"""
import fs from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(process.argv[1]);
const { createMachine } = require('xstate');
const config = JSON.parse(fs.readFileSync(0, 'utf8'));
let machine = null;
function batch(n) {
  const w0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) machine = createMachine(config);
  if (machine.idMap.size !== 101) throw new Error('build: not all state nodes');
  const cu = process.cpuUsage(c0);
  return [Number(process.hrtime.bigint() - w0) / 1e9, (cu.user + cu.system) / 1e6];
}
let n = 1, w, c;
for (;;) { [w, c] = batch(n); if (w >= 0.05) break; n *= 2; }
n = Math.max(1, Math.round((n * 0.25) / w));
let warm = 0;
while (warm < 1.0) { [w, c] = batch(n); warm += w; }
const walls = [], cpus = [];
for (let i = 0; i < 5; i++) { [w, c] = batch(n); walls.push(n / w); cpus.push(n / c); }
walls.sort((a, b) => a - b); cpus.sort((a, b) => a - b);
console.log(JSON.stringify({ wall: walls[2], cpu: cpus[2] }));
"""

NODE = "xstate (Node)"


def run_python(src: str) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(Path(src).resolve()), PYTHONHASHSEED="0")
    out = subprocess.run(
        [sys.executable, "-c", PY_CHILD], input=json.dumps(BIG_CONFIG), env=env,
        capture_output=True, text=True, check=True,
    )
    return dict(json.loads(out.stdout))


def run_node() -> dict[str, float]:
    out = subprocess.run(
        ["node", "--input-type=module", "-e", NODE_CHILD, str(HERE / "node" / "package.json")],
        input=json.dumps(BIG_CONFIG), capture_output=True, text=True, check=True,
    )
    return dict(json.loads(out.stdout))


def summary(name: str, rows: list[dict[str, float]], clock: str) -> str:
    xs = [r[clock] for r in rows]
    return f"{name:<28} {statistics.median(xs):>8.0f} builds/s  ({min(xs):.0f} to {max(xs):.0f})"


def ratio_line(label: str, num: list[dict[str, float]], den: list[dict[str, float]], clock: str) -> str:
    med = statistics.median(r[clock] for r in num) / statistics.median(r[clock] for r in den)
    per_round = [a[clock] / b[clock] for a, b in zip(num, den, strict=True)]
    return (f"{label:<40} {med:.2f}x  (per round {min(per_round):.2f} to {max(per_round):.2f}, "
            f"median {statistics.median(per_round):.2f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", action="append", help="a durable_xstate source tree (repeatable; default: src)")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    srcs: list[str] = args.src or [str(HERE.parent / "src")]
    results: dict[str, list[dict[str, Any]]] = {s: [] for s in [*srcs, NODE]}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    for r in range(args.rounds):
        order = [*srcs, NODE]
        if r % 2:
            order.reverse()
        for side in order:
            results[side].append(run_node() if side == NODE else run_python(side))
        print(f"round {r + 1}: " + ", ".join(
            f"{s}: {results[s][-1]['cpu']:.0f} cpu / {results[s][-1]['wall']:.0f} wall" for s in results
        ), flush=True)
    for clock in ("cpu", "wall"):
        print(f"\n{clock} time, median of {args.rounds} fresh processes per side:")
        for side, rows in results.items():
            print("  " + summary(side, rows, clock))
        for s in srcs:
            print("  " + ratio_line(f"{s} / {NODE}", results[s], results[NODE], clock))
        for s in srcs[1:]:
            print("  " + ratio_line(f"{s} / {srcs[0]}", results[s], results[srcs[0]], clock))
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
