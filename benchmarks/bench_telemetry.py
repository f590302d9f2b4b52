"""What OpenTelemetry costs a durable step (issue 14): the optimistic step on the memory store, with
opentelemetry absent, installed with no provider configured, and configured with the SDK.

Run from the repository root:

    PYTHONPATH=src .venv/bin/python benchmarks/bench_telemetry.py            # prints a table
    PYTHONPATH=src .venv/bin/python benchmarks/bench_telemetry.py --steps 2000 --rounds 7

Each mode runs in its own fresh process (``python -c``); the modes take turns, round after round, so
a noisy neighbour hits all of them alike. Per round: steps/s over ``--steps`` steps after a warm-up;
reported: the min and median µs per step and the min's difference to "absent" (``--base`` adds
the tree before telemetry, to see what the hooks cost when off). "SDK" is a TracerProvider with a
BatchSpanProcessor feeding an exporter that drops the spans, and a MeterProvider with an in-memory
reader: the cost of making the spans and metrics, not of shipping them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

SETUP = {
    "absent": 'import sys; sys.modules["opentelemetry"] = None',
    "installed, no provider": "",
    "SDK configured": """
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from durable_xstate.persistence import telemetry

class Drop(SpanExporter):
    def export(self, spans): return SpanExportResult.SUCCESS

tp = TracerProvider(); tp.add_span_processor(BatchSpanProcessor(Drop()))
telemetry.configure(tracer_provider=tp, meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]))
""",
}

RUN = """
import asyncio, time
from durable_xstate import assign, create_actor, setup, with_persistable_actor
from durable_xstate.persistence import telemetry
from durable_xstate.stores import LockableStorage, MemoryStore

M = setup(actions={"inc": assign({"n": lambda a, p: a.context["n"] + 1})}).create_machine(
    {"id": "counter", "version": "1", "initial": "on", "context": {"n": 0},
     "states": {"on": {"on": {"INC": {"actions": "inc"}}}}})
m = MemoryStore(); store = LockableStorage(m, m)
creator = lambda id, snapshot: create_actor(M, id=id, snapshot=snapshot)
send = lambda actor: actor.send({"type": "INC"})

async def main(n):
    for _ in range(n):
        await with_persistable_actor(send, id="bench/counter", storage=store, actor_creator=creator)

async def timed(n):
    await main(n // 5)  # warm-up
    t = time.perf_counter(); await main(n); return time.perf_counter() - t

elapsed = asyncio.run(timed(STEPS))
print(elapsed / STEPS * 1e6, telemetry.active() is not None)
"""


BASE = "before (--base tree)"


def measure(mode: str, steps: int, base: str | None) -> tuple[float, bool]:
    setup = SETUP["absent"] if mode == BASE else SETUP[mode]
    run = RUN.replace("STEPS", str(steps))
    if mode == BASE:  # the tree without telemetry has no telemetry module
        run = run.replace("from durable_xstate.persistence import telemetry\n", "").replace(
            "telemetry.active() is not None", "False")
    env = {**os.environ, "PYTHONPATH": base} if mode == BASE and base else None
    done = subprocess.run([sys.executable, "-c", setup + "\n" + run], capture_output=True, text=True, check=True,
                          env=env)
    us, on = done.stdout.split()
    return float(us), on == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--base", help="a src/ tree without telemetry (e.g. from git archive), timed as 'before'")
    args = parser.parse_args()
    modes = ([BASE] if args.base else []) + list(SETUP)
    samples: dict[str, list[float]] = {mode: [] for mode in modes}
    active: dict[str, bool] = {}
    for _ in range(args.rounds):
        for mode in modes:
            us, active[mode] = measure(mode, args.steps, args.base)
            samples[mode].append(us)
    ref = min(samples["absent"])
    print(f"durable step, optimistic, memory store; {args.rounds} rounds x {args.steps} steps (shared CPU:"
          " the min is the least disturbed round)")
    print(f"{'mode':<24} {'telemetry on':<13} {'min µs':>8} {'median µs':>10} {'min vs absent':>14}")
    for mode, values in samples.items():
        low = min(values)
        print(f"{mode:<24} {active[mode]!s:<13} {low:>8.1f} {statistics.median(values):>10.1f} "
              f"{(low - ref) / ref:>+14.1%}")


if __name__ == "__main__":
    main()
