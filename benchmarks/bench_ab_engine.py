"""A/B of the engine rows of bench_engine.py (toggle, nested) between two source trees.

    .venv/bin/python benchmarks/bench_ab_engine.py --a /work/main/src --b src [--rounds 15]

Each side runs in its own long-lived process importing its own ``durable_xstate``; both build the same
subjects from bench_engine.py, warm up the same way (2 s of batches each), then take turns batch by batch
(A, B, A, B, ...; one batch = 0.2 s of events). Batches are timed in process CPU time
(``time.process_time``), so waiting for a core on a loaded machine is not counted. Reported: each side's
median events/s and the median of the per-round B/A ratios, which cancels most of the drift of a shared
machine. ``--a`` and ``--b`` may be the same tree, to see the noise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import functools, json, sys, time
sys.path.insert(0, {bench!r})
import bench_engine as be
subjects = {{}}
t = be.durable_toggle(); subjects["toggle"] = [t.bind("TOGGLE")]
n = be.durable_nested()
for ev in be.PLAYER_PRELUDE:
    n.step(ev)
subjects["nested"] = [n.bind(ev) for ev, _, _ in be.PLAYER_CYCLE]
def batch(name, seconds):
    calls = subjects[name]; count = 0; start = time.process_time()
    while True:
        for _ in range(200):
            for c in calls:
                c()
        count += 200 * len(calls)
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            return count / elapsed
for line in sys.stdin:
    name, seconds = line.split()
    print(json.dumps(batch(name, float(seconds))), flush=True)
"""


def spawn(src: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(Path(src).resolve()), PYTHONHASHSEED="0")
    return subprocess.Popen(
        [sys.executable, "-c", CHILD.format(bench=str(HERE))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )


def ask(proc: subprocess.Popen[str], name: str, seconds: float) -> float:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(f"{name} {seconds}\n")
    proc.stdin.flush()
    return float(json.loads(proc.stdout.readline()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--a", required=True, help="source tree A (the baseline)")
    parser.add_argument("--b", required=True, help="source tree B (the change)")
    parser.add_argument("--pairs", type=int, default=4, help="fresh pairs of processes (a process's own bias cancels)")
    parser.add_argument("--rounds", type=int, default=10, help="A/B rounds per pair and workload")
    parser.add_argument("--batch", type=float, default=0.2)
    args = parser.parse_args()
    results: dict[str, tuple[list[float], list[float], list[float]]] = {n: ([], [], []) for n in ("toggle", "nested")}
    for pair in range(args.pairs):
        # alternate which side is spawned first
        a, b = (spawn(args.a), spawn(args.b)) if pair % 2 == 0 else tuple(reversed((spawn(args.b), spawn(args.a))))
        try:
            for name in ("toggle", "nested"):
                ra, rb, ratios = results[name]
                warm_until = time.perf_counter() + 1
                while time.perf_counter() < warm_until:
                    ask(a, name, args.batch)
                    ask(b, name, args.batch)
                for i in range(args.rounds):
                    # alternate who goes first, so neither side always follows the other
                    if i % 2:
                        y, x = ask(b, name, args.batch), ask(a, name, args.batch)
                    else:
                        x, y = ask(a, name, args.batch), ask(b, name, args.batch)
                    ra.append(x)
                    rb.append(y)
                    ratios.append(y / x)
        finally:
            for p in (a, b):
                p.kill()
                p.wait()
    for name, (ra, rb, ratios) in results.items():
        print(
            f"{name:7} A {statistics.median(ra):>10,.0f} ev/s  B {statistics.median(rb):>10,.0f} ev/s  "
            f"B/A median {statistics.median(ratios):.3f} (quartiles {statistics.quantiles(ratios, n=4)[0]:.3f} "
            f"to {statistics.quantiles(ratios, n=4)[2]:.3f}; {len(ratios)} rounds, {args.pairs} process pairs)"
        )


if __name__ == "__main__":
    main()
