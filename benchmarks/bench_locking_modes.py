"""Locking modes under contention: 20 concurrent durable steps on one actor, per mode, per store.

Run from the repository root:

    .venv/bin/python benchmarks/bench_locking_modes.py           # full run, writes RESULTS-locking.md
    .venv/bin/python benchmarks/bench_locking_modes.py --quick   # one round, prints only

What a web app does when 20 requests for one order arrive at once: each request is a durable step,
``with_persistable_actor(lambda a: a.send({"type": "ADD"}), ...)`` (read the record, restore the
actor, one event that adds 1 to a counter, save), all 20 run with ``asyncio.gather`` in one process (as one
async web worker runs them), arriving all together or one every millisecond. The actor exists before the burst. For each locking
mode (``None``, ``"write"``, ``"read-write"``) with the library's defaults (``retries_on_conflict=0``,
``acquire_lock_timeout=5``) and with ``retries_on_conflict=20``, we count:

- successes: the step returned (its event is in the stored record);
- conflicts: ``WriteConflict`` (another step saved between this one's read and write);
- lock timeouts: ``LockTimeout`` (the lock was not had within ``acquire_lock_timeout``);
- lost updates: successes that the stored counter does not show (must be 0: a lost update is a bug).

Stores: the local file store and SQLite, each in a fresh temporary directory per round; the rounds of
all configurations take turns (round 1 of each, then round 2 of each, ...), so a slow spell of the
machine falls on all of them alike. No timing is compared: only the counts, summed over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from durable_xstate import (
    LockTimeout,
    WriteConflict,
    assign,
    create_actor,
    setup,
    with_persistable_actor,
)
from durable_xstate.stores import open_store

REQUESTS = 20
ROUNDS = 5
MODES: list[str | None] = [None, "write", "read-write"]
RETRIES = [0, 20]
STORES = ["file", "sqlite"]
#: how the requests arrive: all at once, or one every millisecond (as requests from many clients do)
ARRIVALS = {"together": 0.0, "1 ms apart": 0.001}

machine = setup(
    actions={"add": assign({"count": lambda args, params: args.context["count"] + 1})},
).create_machine({
    "id": "counter",
    "initial": "open",
    "context": {"count": 0},
    "states": {"open": {"on": {"ADD": {"actions": "add"}}}},
})


def creator(id: str, snapshot: Any) -> Any:
    return create_actor(machine, id=id, snapshot=snapshot)


@dataclass
class Tally:
    successes: int = 0
    conflicts: int = 0
    lock_timeouts: int = 0
    other: int = 0
    lost: int = 0
    requests: int = 0


def store_url(kind: str, where: Path) -> str:
    return f"file://{where}" if kind == "file" else f"sqlite:///{where / 'actors.db'}"


async def one_round(kind: str, arrival: str, mode: str | None, retries: int, tally: Tally) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(store_url(kind, Path(tmp)))
        options = {"id": "order-1", "storage": store, "actor_creator": creator, "locking": mode}
        await with_persistable_actor(lambda actor: None, **options)  # the actor exists before the burst

        def request(actor: Any) -> None:
            actor.send({"type": "ADD"})

        async def arrive(i: int) -> Any:
            await asyncio.sleep(i * ARRIVALS[arrival])
            return await with_persistable_actor(request, retries_on_conflict=retries, **options)

        outcomes = await asyncio.gather(*(arrive(i) for i in range(REQUESTS)), return_exceptions=True)
        final: dict[str, Any] = {}

        def read(actor: Any) -> None:
            final.update(actor.get_snapshot().context)

        await with_persistable_actor(read, **options)
        succeeded = sum(1 for o in outcomes if not isinstance(o, BaseException))
        tally.requests += REQUESTS
        tally.successes += succeeded
        tally.conflicts += sum(1 for o in outcomes if isinstance(o, WriteConflict))
        tally.lock_timeouts += sum(1 for o in outcomes if isinstance(o, LockTimeout))
        tally.other += sum(
            1 for o in outcomes if isinstance(o, BaseException) and not isinstance(o, WriteConflict | LockTimeout)
        )
        tally.lost += succeeded - final["count"]
        close = getattr(store, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result


def label(mode: str | None) -> str:
    return "None (optimistic)" if mode is None else f'"{mode}"'


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round, print only")
    args = parser.parse_args()
    rounds = 1 if args.quick else ROUNDS
    configs = [
        (kind, arrival, mode, retries)
        for kind in STORES for arrival in ARRIVALS for mode in MODES for retries in RETRIES
    ]
    tallies = {config: Tally() for config in configs}
    for _ in range(rounds):  # configurations take turns round by round
        for config in configs:
            await one_round(*config, tallies[config])
    rows = []
    for (kind, arrival, mode, retries), t in tallies.items():
        rows.append(
            f"| {kind} | {arrival} | {label(mode)} | {retries} | {t.successes}/{t.requests} | {t.conflicts} | "
            f"{t.lock_timeouts} | {t.other} | {t.lost} |"
        )
    table = "\n".join([
        "| store | arrival | locking | retries_on_conflict | successes | WriteConflict | LockTimeout | other errors | lost updates |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    print(table)
    if args.quick:
        return 0
    today = dt.date.today().isoformat()
    text = f"""# Locking modes under contention: {REQUESTS} concurrent requests on one actor

Written by `benchmarks/bench_locking_modes.py` on {today}; Python {sys.version.split()[0]}, a 2-core
machine shared with other work. Method: {REQUESTS} durable steps (`with_persistable_actor`, one `ADD`
event each: read, restore, send, save) in one process (`asyncio.gather`), arriving either all together
or one every millisecond (as requests from many clients reach one async web worker), on an actor that
exists beforehand; {rounds} rounds per configuration, configurations taking turns round by
round, each round in a fresh temporary directory. Counts are summed over the rounds (so out of
{REQUESTS * rounds}). `retries_on_conflict=0` and `acquire_lock_timeout=5` are the library's defaults.
No timings: only what happened to each request.

{table}

Reading it:

- **None and `"write"` with the defaults**: the steps read the same version, the first to save wins
  and the others get `WriteConflict` (nothing written for them; the message now says why and what to
  do). `"write"` locks only the write, so it cannot stop the read-modify-write race either.
- **With `retries_on_conflict`**: a loser re-reads and re-applies its event, so all succeed, at the cost
  of re-running the step (at most once per writer ahead of it).
- **`"read-write"`**: the lease is held from the read to the save, so the steps run one after the
  other: no conflicts, no retries; a step waits up to `acquire_lock_timeout` for its turn.
- **Lost updates are 0 everywhere**: every success is in the stored counter; a failed step wrote nothing.

Guide: `docs/guides/locking.md`.
"""
    out = Path(__file__).with_name("RESULTS-locking.md")
    out.write_text(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
