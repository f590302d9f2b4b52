"""A durable step on an actor with a large context, against json.loads + json.dumps of its record.

Run from the repository root:

    .venv/bin/python benchmarks/bench_context.py               # 5 rounds, writes RESULTS-context.md
    .venv/bin/python benchmarks/bench_context.py --quick       # 2 short rounds, prints only
    .venv/bin/python benchmarks/bench_context.py --profile     # cProfile 20 durable steps, exit

The actor's context holds ~1 MB of typical JSON (nested objects and arrays of strings, integers,
floats, booleans and nulls, made by a fixed pseudo-random generator) next to a counter. A durable step
is ``await with_persistable_actor(lambda a: a.send({"type": "INC"}), id=..., storage=MemoryStore(),
actor_creator=..., journal=False)``: read the record, restore and start the actor, one event (``n += 1``), save (encode
the record, compare-and-set), close. The baseline is the least any step must do with that record:
``json.dumps(json.loads(record_bytes))`` (compact separators, ``ensure_ascii=False``: the same bytes
the library writes). The journal is off: on (the library's default) it keeps a copy of the snapshot in
the record every 20th step, which the step carries as bytes and the baseline would parse too
(``--journal`` measures that way).

Method: each round is a fresh process; in it both sides warm up with the same number of units, then
take turns batch by batch (durable, baseline, durable, ...), each batch timed in CPU time
(``time.process_time``). A pair's ratio is durable step / baseline (lower is better; target at most
1.2). Reported: the median and the spread of the pair ratios of every round, and the load average
before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import io
import json
import os
import platform
import pstats
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGET = 1.2
CONFIG: dict[str, Any] = {
    "id": "ledger",
    "version": "1",
    "initial": "open",
    "context": {"n": 0},
    "states": {"open": {"on": {"INC": {"actions": "inc"}}}},
}
INC = {"type": "INC"}
ACTOR_ID = "bench/large-context"
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
         "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango")


def typical_json(target_bytes: int) -> dict[str, Any]:
    """A deterministic context of about ``target_bytes`` of JSON: customer-like records with nested
    addresses, tag lists, line items and free text."""
    rng = random.Random(17)

    def text(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n))

    def item(i: int) -> dict[str, Any]:
        return {
            "sku": f"SKU-{rng.randrange(10**6):06d}",
            "qty": rng.randrange(1, 20),
            "price": round(rng.uniform(0.5, 500), 2),
            "discounted": rng.random() < 0.2,
            "note": None if rng.random() < 0.7 else text(6),
        }

    def customer(i: int) -> dict[str, Any]:
        return {
            "id": f"cust-{i:05d}",
            "name": text(2).title(),
            "active": rng.random() < 0.8,
            "score": rng.random() * 100,
            "address": {"street": text(3), "city": rng.choice(WORDS).title(), "zip": f"{rng.randrange(10**5):05d}",
                        "geo": [round(rng.uniform(-90, 90), 6), round(rng.uniform(-180, 180), 6)]},
            "tags": [rng.choice(WORDS) for _ in range(rng.randrange(0, 6))],
            "orders": [{"number": rng.randrange(10**8), "items": [item(j) for j in range(rng.randrange(1, 4))]}
                       for _ in range(rng.randrange(0, 4))],
            "comment": text(rng.randrange(0, 12)),
        }

    customers: list[dict[str, Any]] = []
    size = 0
    while size < target_bytes:
        c = customer(len(customers))
        customers.append(c)
        size += len(json.dumps(c, separators=(",", ":")))
    return {"n": 0, "customers": customers, "settings": {"currency": "EUR", "pageSize": 50, "flags": [True, False]}}


def machine(context: dict[str, Any]) -> Any:
    from durable_xstate import assign, setup

    return setup(actions={"inc": assign({"n": lambda args, params: args.context["n"] + 1})}).create_machine(
        {**CONFIG, "context": context}
    )


class Workload:
    """One process's memory store holding the actor, and both sides' unit of work."""

    def __init__(self, context_bytes: int, journal: bool = False) -> None:
        from durable_xstate import create_actor, with_persistable_actor
        from durable_xstate.stores.memory import MemoryStore

        m = machine(typical_json(context_bytes))
        self.store = MemoryStore()
        self.loop = asyncio.new_event_loop()
        self._with = with_persistable_actor
        self._creator = lambda id, snapshot: create_actor(m, id=id, snapshot=snapshot)
        self._journal = journal
        self.durable(1)  # creates the record

    def record(self) -> bytes:
        versioned = self.loop.run_until_complete(self.store.read(ACTOR_ID + ".json"))
        assert versioned is not None
        return bytes(versioned.data)

    def durable(self, n: int) -> None:
        async def run() -> None:
            for _ in range(n):
                await self._with(
                    lambda a: a.send(INC), id=ACTOR_ID, storage=self.store, actor_creator=self._creator,
                    journal=self._journal,
                )

        self.loop.run_until_complete(run())

    def baseline(self, n: int) -> None:
        data = self.record()
        for _ in range(n):
            json.dumps(json.loads(data), ensure_ascii=False, separators=(",", ":")).encode()


def cpu(fn: Any, n: int) -> float:
    t0 = time.process_time()
    fn(n)
    return (time.process_time() - t0) / n


def one_round(context_bytes: int, batch: int, pairs: int, journal: bool) -> dict[str, Any]:
    """In this (fresh) process: warm up both sides, then ``pairs`` batches of each, taking turns."""
    w = Workload(context_bytes, journal)
    record = w.record()
    w.durable(2)
    w.baseline(2)
    ratios, durable, baseline = [], [], []
    for i in range(pairs):
        if i % 2 == 0:  # who goes first alternates too
            d = cpu(w.durable, batch)
            b = cpu(w.baseline, batch)
        else:
            b = cpu(w.baseline, batch)
            d = cpu(w.durable, batch)
        durable.append(d)
        baseline.append(b)
        ratios.append(d / b)
    snapshot = json.loads(w.record())["snapshot"]
    return {
        "record_bytes": len(record),
        "durable_ms": [x * 1000 for x in durable],
        "baseline_ms": [x * 1000 for x in baseline],
        "ratios": ratios,
        "n_after": snapshot["context"]["n"],
    }


def profile(context_bytes: int, journal: bool) -> str:
    w = Workload(context_bytes, journal)
    w.durable(2)
    prof = cProfile.Profile()
    prof.runcall(w.durable, 20)
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
    return out.getvalue()


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 short rounds; prints only")
    parser.add_argument("--profile", action="store_true", help="cProfile 20 durable steps and exit")
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes (default 5)")
    parser.add_argument("--pairs", type=int, default=6, help="batch pairs per round (default 6)")
    parser.add_argument("--batch", type=int, default=5, help="units per batch (default 5)")
    parser.add_argument("--bytes", type=int, default=1_000_000, help="context size in JSON bytes (default 1,000,000)")
    parser.add_argument("--journal", action="store_true",
                        help="keep the journal (on by default in the library; off here: see the docstring)")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS-context.md")
    parser.add_argument("--round", action="store_true", help=argparse.SUPPRESS)  # one round, JSON out
    args = parser.parse_args(argv)
    if args.profile:
        print(profile(args.bytes, args.journal))
        return 0
    if args.round:
        print(json.dumps(one_round(args.bytes, args.batch, args.pairs, args.journal)))
        return 0
    rounds, pairs, batch = (2, 2, 2) if args.quick else (args.rounds, args.pairs, args.batch)
    load_before = load()
    print(f"load average before: {load_before}", flush=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    results = []
    for r in range(rounds):
        proc = subprocess.run(
            [sys.executable, __file__, "--round", "--bytes", str(args.bytes), "--batch", str(batch), "--pairs", str(pairs)]
            + (["--journal"] if args.journal else []),
            capture_output=True, text=True, env=env, check=True,
        )
        res = json.loads(proc.stdout)
        results.append(res)
        print(f"round {r + 1}: durable {statistics.median(res['durable_ms']):.1f} ms, baseline "
              f"{statistics.median(res['baseline_ms']):.1f} ms, ratio median {statistics.median(res['ratios']):.2f} "
              f"({min(res['ratios']):.2f}-{max(res['ratios']):.2f})", flush=True)
    load_after = load()
    ratios = [x for res in results for x in res["ratios"]]
    round_medians = [statistics.median(res["ratios"]) for res in results]
    durable = statistics.median(x for res in results for x in res["durable_ms"])
    baseline = statistics.median(x for res in results for x in res["baseline_ms"])
    med = statistics.median(ratios)
    print(f"durable step {durable:.1f} ms, json.loads + json.dumps {baseline:.1f} ms; ratio median {med:.2f} "
          f"(pairs {min(ratios):.2f}-{max(ratios):.2f}, round medians {min(round_medians):.2f}-{max(round_medians):.2f}); "
          f"target <= {TARGET}")
    print(f"load average after: {load_after}")
    if args.quick:
        return 0
    record_bytes = results[0]["record_bytes"]
    lines = [
        "# Large context: a durable step against json.loads + json.dumps of its record",
        "",
        f"Measured {dt.date.today().isoformat()} with `benchmarks/bench_context.py` on {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} cores. Load average before {load_before}, after {load_after} "
        "(the machine was shared with other work: read the ratio, not the absolute times).",
        "",
        "Method: " + __doc__.split("Method: ", 1)[1].strip().replace("\n", " "),
        "",
        f"Record: {record_bytes:,} bytes (context ~{args.bytes:,} bytes of JSON). {rounds} rounds x {pairs} pairs x "
        f"{batch} units per batch.",
        "",
        "| | CPU per unit (median) |",
        "| --- | --- |",
        f"| durable step (memory store) | {durable:.1f} ms |",
        f"| `json.dumps(json.loads(record))` | {baseline:.1f} ms |",
        "",
        "| ratio durable / baseline | median | spread (all pairs) | round medians | target |",
        "| --- | --- | --- | --- | --- |",
        f"| | {med:.2f} | {min(ratios):.2f}-{max(ratios):.2f} | {', '.join(f'{x:.2f}' for x in round_medians)} "
        f"| <= {TARGET} ({'met' if med <= TARGET else 'not met'}) |",
        "",
    ]
    args.output.write_text("\n".join(lines))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
