"""What record codecs cost a durable step, and what they save in stored bytes.

Run from the repository root:

    .venv/bin/python benchmarks/bench_codecs.py           # writes RESULTS-codecs.md
    .venv/bin/python benchmarks/bench_codecs.py --quick   # prints only

One durable step = ``with_persistable_actor(lambda a: a.send(INC), ...)`` on a counter actor whose
context carries a 2 KB order (items, addresses: text that compresses like real contexts) and whose
journal is full (its default 100 entries), on the memory store (CPU only) and the file store without fsync (with fsync, the disk's time under
other load drifted by 4x within a run and hid the codecs' cost).
Sides: ``plain`` (no codec), ``gzip``, ``gzip,aes-gcm``. Method: one actor per side on the same store,
the same warm-up of 120 steps each, then timed batches taking turns (each round starts with the next side);
each side's figure is the median of its batches' mean step time; ratios are against plain. The stored
size is the record's bytes as the backend holds them after the run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import cpu_model, load_average

from durable_xstate import assign, create_actor, setup, with_persistable_actor
from durable_xstate.stores import AesGcmCodec, GzipCodec, LockableStorage, open_store

ORDER = {
    "items": [{"sku": f"SKU-{i:05d}", "name": f"Widget number {i}", "qty": i % 3 + 1, "price": 9.99 + i}
              for i in range(20)],
    "shipping": {"name": "Ada Lovelace", "street": "12 Analytical Engine Road", "city": "London", "zip": "N1 9GU"},
    "notes": "Leave at the door if nobody answers; call before delivery. " * 4,
}
MACHINE = setup(actions={"inc": assign({"n": lambda a, p: a.context["n"] + 1})}).create_machine(
    {"id": "counter", "version": "1", "initial": "on", "context": {"n": 0, "order": ORDER},
     "states": {"on": {"on": {"INC": {"actions": "inc"}}}}}
)
INC = {"type": "INC"}
WARM_UP = 120
KEY = os.urandom(32)
SIDES: dict[str, Any] = {"plain": None, "gzip": lambda: [GzipCodec()], "gzip,aes-gcm": lambda: [GzipCodec(), AesGcmCodec(KEY)]}


def creator(actor_id: str, snapshot: Any) -> Any:
    return create_actor(MACHINE, id=actor_id, snapshot=snapshot)


async def step(store: LockableStorage, actor_id: str) -> None:
    await with_persistable_actor(lambda a: a.send(INC), id=actor_id, storage=store, actor_creator=creator)


async def run(url: str, steps: int, batches: int) -> dict[str, tuple[float, int]]:
    stores = {name: open_store(url, codec=make() if make else None) for name, make in SIDES.items()}
    plain = stores["plain"]
    try:
        for name, store in stores.items():
            for _ in range(WARM_UP):
                await step(store, f"bench-{name}")
        means: dict[str, list[float]] = {name: [] for name in stores}
        order = list(stores.items())
        for batch in range(batches):
            turn = order[batch % len(order):] + order[: batch % len(order)]  # each side goes first in turn
            for name, store in turn:
                start = time.perf_counter()
                for _ in range(steps):
                    await step(store, f"bench-{name}")
                means[name].append((time.perf_counter() - start) / steps)
        out = {}
        for name in stores:
            raw = await plain.read(f"bench-{name}.json")  # as the backend holds it
            assert raw is not None
            out[name] = (statistics.median(means[name]), len(raw.data))
        return out
    finally:
        for store in stores.values():
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    steps, batches = (30, 3) if args.quick else (150, 7)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, url in (("memory", "memory://bench-codecs"), ("file (no fsync)", f"file://{tmp}/store?fsync=false")):
            result = asyncio.run(run(url, steps, batches))
            base = result["plain"][0]
            for name, (mean, size) in result.items():
                rows.append(f"| {label} | {name} | {mean * 1e6:,.0f} | {mean / base:.2f} | {size:,} |")
                print(rows[-1], flush=True)
    if args.quick:
        return
    text = "\n".join([
        "# Record codecs: the cost of a durable step, and stored bytes",
        "",
        f"Date: {dt.date.today().isoformat()}. Machine: {cpu_model()}, load average {load_average()} (other work ran "
        "at the same time). Script: `benchmarks/bench_codecs.py` (its docstring gives the method: one actor per "
        f"side, {WARM_UP} warm-up steps each, then {batches} batches of {steps} steps taking turns; median of the "
        "batch means).",
        "",
        "| store | codecs | µs per step | ratio to plain | stored bytes |",
        "|---|---|---:|---:|---:|",
        *rows,
        "",
        "The record holds a 2 KB order in its context and a full journal (100 entries): about 19 KB plain.",
        "gzip (level 6) shrinks it about tenfold for a few hundred microseconds of CPU per step (compressing",
        "on save, decompressing on load); AES-GCM adds about 40 bytes (header name, version, key id, nonce, tag) and a few",
        "microseconds. `GzipCodec(level=1)` compresses about 3x faster for output about 15% larger.",
        "",
    ])
    (Path(__file__).resolve().parent / "RESULTS-codecs.md").write_text(text)


if __name__ == "__main__":
    main()
