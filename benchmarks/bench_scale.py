"""Scale benchmarks (issue 13): what ``tick`` and a filtered list cost as the number of stored actors grows.

Run from the repository root:

    .venv/bin/python benchmarks/bench_scale.py                          # full run, writes RESULTS-scale.md
    .venv/bin/python benchmarks/bench_scale.py --sizes 1000 --quick     # smoke run, prints only
    .venv/bin/python benchmarks/bench_scale.py --backends sqlite,redis --sizes 1000,10000

Per backend, one namespace grows through the sizes (1,000, then 10,000, then 100,000 stored actors):
the script seeds the keys that are missing, then times

  tick   ``run_due(store, machines, now_ms=now)`` + ``cleanup(store, now_ms=now)`` (what the CLI's
         ``tick`` runs), with 10 of the N actors due; it must advance exactly those 10
  list   a filtered page: ``find_page(prefix, {"state": "review"})`` (10 of the N actors are in
         ``review``) and reading those records, as ``durable-xstate list --state review`` would

plus the bare ``due_page(prefix, now)`` and ``find_page`` calls. On a store that keeps no index
(``store.indexes`` is False) tick reads every record (that is what run_due does there) and the list
reads and filters every record, so the same script measures the scan.

Seeding writes records made by a real PersistableActor once, copied under many keys (the record's id
rewritten) with their index entries (persistence/index.py ``index_entry``), through the store API
with many writes in flight. The file store is seeded through ``?fsync=false`` and SQLite through
``?synchronous=normal`` (a seeding shortcut; the timed store keeps the defaults).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench_stores as bs

RESULTS = bs.HERE / "RESULTS-scale.md"
SCALE_BACKENDS = ["memory", "file", "sqlite", "postgres", "redis", "s3", "dynamodb"]
DEFAULT_BACKENDS = ["file", "sqlite", "postgres", "redis", "s3", "dynamodb"]
DEFAULT_SIZES = [1_000, 10_000, 100_000]
MOTO = {"s3", "dynamodb"}
DEFAULT_MOTO_SIZES = [1_000]
DUE = 10  # actors due at each tick
FLAGGED = 10  # actors in state "review", the filtered list's answer
PREFIX = "scale/"
DAY_MS = 86_400_000
#: targets at 100,000 stored actors / 10 due (ms)
TICK_TARGETS = {"sqlite": 100.0, "postgres": 100.0, "redis": 100.0, "file": 1000.0}

JOB_CONFIG: dict[str, Any] = {
    "id": "job",
    "version": "1",
    "initial": "waiting",
    "context": {"owner": "bench", "attempts": 0, "note": "a stored actor among many"},
    "states": {
        "waiting": {"after": {"wait": "done"}, "on": {"FLAG": "review"}},
        "review": {"after": {"wait": "done"}},
        "done": {},
    },
}


def job_machine(wait_ms: int) -> Any:
    from durable_xstate import setup

    return setup(delays={"wait": wait_ms}).create_machine(JOB_CONFIG)


def actor_id(i: int) -> str:
    return f"{PREFIX}a{i:07d}"


def special_slots(smallest: int) -> tuple[list[int], list[int]]:
    """The indexes of the due actors and of the flagged ones: spread over the smallest size, so that
    every size holds the same 10 + 10 and they sit among the others in key order."""
    step = smallest // (DUE + FLAGGED)
    slots = [k * step + step // 2 for k in range(DUE + FLAGGED)]
    return slots[0::2], slots[1::2]


@dataclass
class Templates:
    """Record bytes made by a real PersistableActor, with the id they were written under."""

    bulk: bytes  # waiting, its timer due in a day
    due: bytes  # waiting, its timer due two hours ago
    flagged: bytes  # review, its timer due in a day
    template_id: str = "tmpl/x"

    def for_id(self, data: bytes, new_id: str) -> bytes:
        return data.replace(json.dumps(self.template_id).encode(), json.dumps(new_id).encode())


def make_templates(now_ms: float) -> Templates:
    from durable_xstate import create_actor, with_persistable_actor
    from durable_xstate.actors.clock import DurableClock
    from durable_xstate.stores import open_store

    async def one(start_ms: float, wait_ms: int, flag: bool) -> bytes:
        store = open_store(f"memory://scale-tmpl-{uuid.uuid4().hex[:8]}")
        machine = job_machine(wait_ms)

        def send(actor: Any) -> None:
            if flag:
                actor.send({"type": "FLAG"})

        await with_persistable_actor(send, id="tmpl/x", storage=store, clock=DurableClock(lambda: start_ms),
                                     actor_creator=lambda id, snapshot: create_actor(machine, id=id, snapshot=snapshot))
        got = await store.read("tmpl/x.json")
        assert got is not None
        return got.data

    async def main() -> Templates:
        return Templates(await one(now_ms, DAY_MS, False), await one(now_ms - 2 * 3_600_000, 60_000, False),
                         await one(now_ms, DAY_MS, True))

    return asyncio.run(main())


def entry_of(data: bytes, key: str) -> Any:
    from durable_xstate.persistence.index import index_entry
    from durable_xstate.persistence.record import StoredRecord

    return index_entry(StoredRecord.decode(data, key=key, version=None))


@dataclass
class Point:
    """One backend at one size."""

    size: int
    indexes: bool
    seed_seconds: float = 0.0
    seeded: int = 0
    tick_ms: list[float] = field(default_factory=list)
    list_ms: list[float] = field(default_factory=list)
    due_page_ms: list[float] = field(default_factory=list)
    find_page_ms: list[float] = field(default_factory=list)
    note: str = ""

    @staticmethod
    def med(xs: list[float]) -> float | None:
        return statistics.median(xs) if xs else None


@dataclass
class ScaleRun:
    name: str
    points: list[Point] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    server: str = ""


class Scale:
    """One backend: the timed store, a seeding store, the templates and the keys written so far."""

    def __init__(self, backend: bs.Backend, templates: Templates, smallest: int, now_ms: float) -> None:
        from durable_xstate.stores import open_store

        self.backend = backend
        self.loop = asyncio.new_event_loop()
        self.store = open_store(backend.url, lock=backend.lock_url)
        seed_url = backend.url
        if backend.name == "file":
            seed_url = f"{backend.url}?fsync=false"
        elif backend.name == "sqlite":
            seed_url = f"{backend.url}?synchronous=normal"
        self.seed_store = open_store(seed_url, lock=backend.lock_url) if seed_url != backend.url else self.store
        self.t = templates
        self.now_ms = now_ms
        self.due_slots, self.flag_slots = special_slots(smallest)
        self.written = 0
        self.machine = job_machine(60_000)
        self.due_ids = {actor_id(i) for i in self.due_slots}
        self.flag_ids = {actor_id(i) for i in self.flag_slots}

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def _seed(self, start: int, stop: int, concurrency: int) -> None:
        # the entries of the three templates are all there is: build each once, not per key
        entries = {}
        for name in ("bulk", "due", "flagged"):
            data: bytes = getattr(self.t, name)
            entries[name] = entry_of(data, "tmpl/x.json")
        store, for_id = self.seed_store, self.t.for_id
        queue = iter(range(start, stop))

        async def worker() -> None:
            for i in queue:
                aid = actor_id(i)
                name = "due" if aid in self.due_ids else "flagged" if aid in self.flag_ids else "bulk"
                await store.write(f"{aid}.json", for_id(getattr(self.t, name), aid), None, index=entries[name])

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    def grow_to(self, size: int, concurrency: int) -> float:
        t0 = time.perf_counter()
        if size > self.written:
            self.run(self._seed(self.written, size, concurrency))
            self.written = size
        return time.perf_counter() - t0

    async def _reset_due(self) -> None:
        """Put the 10 due actors back as they were (untimed, between ticks), with their entries."""
        for aid in sorted(self.due_ids):
            key = f"{aid}.json"
            data = self.t.for_id(self.t.due, aid)
            got = await self.store.read(key)
            assert got is not None
            await self.store.write(key, data, got.version, index=entry_of(data, key))

    async def _tick(self) -> Any:
        from durable_xstate.persistence import cleanup, run_due

        machines = {"job@1": self.machine}
        result = await run_due(self.store, machines, now_ms=self.now_ms)
        deleted = await cleanup(self.store, now_ms=self.now_ms)
        return result, deleted

    def tick(self) -> tuple[float, Any]:
        self.run(self._reset_due())
        t0 = time.perf_counter()
        result, deleted = self.run(self._tick())
        elapsed = (time.perf_counter() - t0) * 1000
        bs.check(sorted(result) == sorted(self.due_ids) and not deleted and not result.failed,
                 f"{self.backend.name}: tick advanced {sorted(result)[:12]} (failed {dict(result.failed)}, "
                 f"deleted {deleted}), expected the {DUE} due actors")
        return elapsed, result

    async def _list(self) -> list[Any]:
        """The flagged actors' records: from the index, or by reading and filtering every record."""
        from durable_xstate.persistence.record import StoredRecord

        store, out = self.store, []
        if store.indexes:
            keys: list[str] = []
            cursor = None
            while True:
                page = await store.find_page(PREFIX, {"state": "review"}, cursor, 100)
                keys += page.keys
                if page.cursor is None:
                    break
                cursor = page.cursor
            got = await asyncio.gather(*(store.read(k) for k in keys))
            for key, stored in zip(keys, got, strict=True):
                if stored is not None:
                    out.append(StoredRecord.decode(stored.data, key=key, version=stored.version))
            return out
        async for key in store.list(PREFIX):
            stored = await store.read(key)
            if stored is None:
                continue
            record = StoredRecord.decode(stored.data, key=key, version=stored.version)
            if (record.snapshot or {}).get("value") == "review":
                out.append(record)
        return out

    def list_flagged(self) -> float:
        t0 = time.perf_counter()
        records = self.run(self._list())
        elapsed = (time.perf_counter() - t0) * 1000
        got = {r.id for r in records}
        bs.check(got == self.flag_ids, f"{self.backend.name}: the list found {sorted(got)[:12]}, "
                                       f"expected the {FLAGGED} actors in review")
        return elapsed

    def bare_pages(self) -> tuple[float, float]:
        """ms of one ``due_page(prefix, now)`` and one ``find_page(prefix, {state: review})``."""
        self.run(self._reset_due())
        t0 = time.perf_counter()
        due = self.run(self.store.due_page(PREFIX, self.now_ms, None, 1000))
        t1 = time.perf_counter()
        found = self.run(self.store.find_page(PREFIX, {"state": "review"}, None, 1000))
        t2 = time.perf_counter()
        bs.check(sorted(due.keys) == sorted(f"{a}.json" for a in self.due_ids),
                 f"{self.backend.name}: due_page gave {due.keys[:12]}")
        bs.check(sorted(found.keys) == sorted(f"{a}.json" for a in self.flag_ids),
                 f"{self.backend.name}: find_page gave {found.keys[:12]}")
        return (t1 - t0) * 1000, (t2 - t1) * 1000

    def close(self) -> None:
        try:
            if self.seed_store is not self.store:
                self.run(self.seed_store.close())
            self.run(self.store.close())
            self.run(self.loop.shutdown_default_executor())
        finally:
            self.loop.close()


def concurrency_for(name: str) -> int:
    # threaded backends are bounded by the default executor anyway; moto serves one request at a time
    return {"memory": 1, "file": 8, "sqlite": 4, "s3": 4, "dynamodb": 4}.get(name, 64)


def bench_backend(backend: bs.Backend, sizes: list[int], templates: Templates, now_ms: float,
                  repetitions: int, max_scan: int) -> ScaleRun:
    run = ScaleRun(backend.name)
    scale = Scale(backend, templates, min(sizes), now_ms)
    try:
        indexes = scale.store.indexes
        run.server = server_of(scale)
        for size in sizes:
            point = Point(size, indexes)
            point.seed_seconds = scale.grow_to(size, concurrency_for(backend.name))
            point.seeded = size
            if not indexes and size > max_scan:
                point.note = f"no index: the scan of {size:,} records was not run (--max-scan {max_scan:,})"
                run.points.append(point)
                print(f"  {backend.name:<9} {size:>8,}  seeded in {point.seed_seconds:6.1f}s  {point.note}", flush=True)
                continue
            reps = repetitions if indexes or size <= 10_000 else 1
            scale.tick()  # warm-up: connections, prepared statements, the machine's first run
            for _ in range(reps):
                point.tick_ms.append(scale.tick()[0])
            scale.list_flagged()
            for _ in range(reps):
                point.list_ms.append(scale.list_flagged())
            if indexes:
                for _ in range(reps):
                    d, f = scale.bare_pages()
                    point.due_page_ms.append(d)
                    point.find_page_ms.append(f)
            run.points.append(point)
            print(f"  {backend.name:<9} {size:>8,}  seeded in {point.seed_seconds:6.1f}s  "
                  f"tick {fmt_ms(Point.med(point.tick_ms))}  list {fmt_ms(Point.med(point.list_ms))}  "
                  f"due_page {fmt_ms(Point.med(point.due_page_ms))}  find_page {fmt_ms(Point.med(point.find_page_ms))}"
                  f"  ({'index' if indexes else 'scan'})", flush=True)
        run.checks.append(
            f"each of the {sum(len(p.tick_ms) + (1 if p.tick_ms else 0) for p in run.points)} ticks advanced "
            f"exactly the {DUE} due actors and deleted nothing; every list returned exactly the {FLAGGED} actors in "
            "review" + ("; every due_page and find_page returned exactly those keys" if indexes else "")
        )
    finally:
        scale.close()
    return run


def server_of(scale: Scale) -> str:
    name = scale.backend.name
    return {"memory": "in-process", "file": "local files", "sqlite": f"SQLite {bs.sqlite3.sqlite_version}",
            "s3": "moto", "dynamodb": "moto"}.get(name, name)


# --------------------------------------------------------------------------- reporting


def fmt_ms(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f} ms" if x >= 100 else f"{x:,.1f} ms" if x >= 1 else f"{x:,.2f} ms"


def cell(runs: list[ScaleRun], name: str, size: int, attr: str) -> str:
    run = next((r for r in runs if r.name == name), None)
    point = next((p for p in run.points if p.size == size), None) if run else None
    if point is None:
        return "-"
    value = Point.med(getattr(point, attr))
    if value is None:
        return "scan not run" if point.note else "-"
    return fmt_ms(value) + ("" if point.indexes else " (scan)")


def main_rows(runs: list[ScaleRun]) -> tuple[list[list[str]], list[str]]:
    sizes = sorted({p.size for r in runs for p in r.points})
    headers = ["stored actors"] + [f"tick {r.name}" for r in runs] + [f"list {r.name}" for r in runs]
    rows = [[f"{size:,}"] + [cell(runs, r.name, size, "tick_ms") for r in runs]
            + [cell(runs, r.name, size, "list_ms") for r in runs] for size in sizes]
    return rows, headers


def detail_rows(runs: list[ScaleRun]) -> list[list[str]]:
    rows = []
    for r in runs:
        for p in r.points:
            rows.append([
                r.name, f"{p.size:,}", "yes" if p.indexes else "no", f"{p.seed_seconds:,.1f}",
                f"{fmt_ms(Point.med(p.tick_ms))}" + (f" ({min(p.tick_ms):,.1f} to {max(p.tick_ms):,.1f})" if p.tick_ms else ""),
                fmt_ms(Point.med(p.list_ms)), fmt_ms(Point.med(p.due_page_ms)), fmt_ms(Point.med(p.find_page_ms)),
                str(len(p.tick_ms)), p.note or "",
            ])
    return rows


DETAIL_HEADERS = ["backend", "stored", "index", "seeding s (this step)", "tick median (range)", "list",
                  "due_page", "find_page", "timed ticks", "note"]


def target_lines(runs: list[ScaleRun]) -> list[str]:
    out = []
    for r in runs:
        goal = TICK_TARGETS.get(r.name)
        point = next((p for p in r.points if p.size == 100_000), None)
        if goal is None:
            continue
        tick = Point.med(point.tick_ms) if point else None
        if tick is None:
            why = point.note if point else "100,000 not in --sizes"
            out.append(f"- {r.name}: tick at 100,000 stored / 10 due under {goal:,.0f} ms: not measured ({why})")
        else:
            out.append(f"- {r.name}: tick at 100,000 stored / 10 due: {fmt_ms(tick)} (target under {goal:,.0f} ms: "
                       f"**{'met' if tick < goal else 'missed'}**)")
    return out


def render(runs: list[ScaleRun], args: argparse.Namespace, wall: float, load_before: str, load_after: str,
           workdir: Path, servers: bs.Servers) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    started = ", ".join(f"{k} {v:.1f}s" for k, v in servers.start_seconds.items()) or "none"
    rows, headers = main_rows(runs)
    lines = [
        "## Tick and list against the number of stored actors (`bench_scale.py`)",
        "",
        "What `tick` and a filtered list cost as the number of stored actors grows (issue 13). One namespace "
        f"per backend grows through the sizes; at each size {DUE} actors are due and {FLAGGED} are in state "
        "`review`. **tick** is `run_due(store, machines, now_ms=now)` + `cleanup(store, now_ms=now)`, and must "
        f"advance exactly the {DUE} due actors (they are put back, untimed, before each tick). **list** is a "
        "filtered listing: `find_page(prefix, {\"state\": \"review\"})` and reading the records it names (on a "
        "store without an index: reading and filtering every record). Wall time of one call, median of the "
        f"timed repetitions ({args.repetitions} per point; 1 for a scan over 10,000) after one untimed warm-up. "
        "\"(scan)\" marks a store that keeps no index (`store.indexes` is False).",
        "",
        f"- Date: {now}",
        *bs.machine_facts(workdir),
        f"- Servers started for the run: {started}",
        f"- Load average before the run: {load_before}; after: {load_after}; whole run: {wall:.0f}s",
        "",
        bs.md_table(rows, headers),
        "",
        "Targets (issue 13):",
        "",
        *(target_lines(runs) or ["- no target backend at 100,000 in this run"]),
        "",
        "### Detail",
        "",
        "Seeding is not timed work of the library's users: the records were written through the store API with "
        "their index entries, many writes in flight (file: `?fsync=false`, SQLite: `?synchronous=normal` for "
        "seeding only). `due_page` and `find_page` are one bare call each (`due_page(prefix, now)`, "
        "`find_page(prefix, {\"state\": \"review\"})`), only on stores with an index.",
        "",
        bs.md_table(detail_rows(runs), DETAIL_HEADERS),
        "",
        "### Verification",
        "",
    ]
    lines += [f"- **{r.name}** ({r.server}): " + "; ".join(r.checks) + "." for r in runs]
    return "\n".join(lines) + "\n"


SECTIONS = ["bench_scale", "bench_throughput", "bench_peers"]
FILE_HEADER = """# Scale benchmark results (issue 13)

Three scripts write this file, each its own section, keeping the others' (see
[README.md](README.md#scale-benchmarks)): `bench_scale.py` (tick and list as stored actors grow),
`bench_throughput.py` (events/s as processes grow, nothing lost) and `bench_peers.py` (the durable step
against its floor, DBOS and xstate in Node). Each section carries its own date, machine facts and load.
"""


def write_section(name: str, text: str, path: Path = RESULTS) -> None:
    """Replace section ``name`` of the results file, keeping the others."""
    marks = {n: (f"<!-- {n}:start -->", f"<!-- {n}:end -->") for n in SECTIONS}
    sections: dict[str, str] = {}
    if path.exists():
        existing = path.read_text()
        for other, (start, end) in marks.items():
            if start in existing and end in existing:
                sections[other] = existing.split(start, 1)[1].split(end, 1)[0].strip("\n")
    sections[name] = text.strip("\n")
    parts = [FILE_HEADER]
    parts += [f"{marks[n][0]}\n{sections[n]}\n{marks[n][1]}\n" for n in SECTIONS if n in sections]
    path.write_text("\n".join(parts))


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(s.replace("_", "").replace(",", "")) for s in text.split(":") if s.strip()})
    except ValueError:
        raise SystemExit(f"--sizes: numbers separated by ':' (e.g. 1000:10000), got {text!r}") from None
    if not sizes or sizes[0] < 2 * (DUE + FLAGGED):
        raise SystemExit(f"--sizes: each size must be at least {2 * (DUE + FLAGGED)}")
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default=",".join(DEFAULT_BACKENDS),
                        help=f"comma-separated, of {','.join(SCALE_BACKENDS)} (default: {','.join(DEFAULT_BACKENDS)})")
    parser.add_argument("--sizes", default=":".join(map(str, DEFAULT_SIZES)),
                        help="stored actors, ':'-separated (default 1000:10000:100000)")
    parser.add_argument("--moto-sizes", default=":".join(map(str, DEFAULT_MOTO_SIZES)),
                        help="sizes for s3 and dynamodb on moto, which serves one request at a time (default 1000)")
    parser.add_argument("--repetitions", type=int, default=5, help="timed ticks and lists per point (default 5)")
    parser.add_argument("--max-scan", type=int, default=10_000,
                        help="on a store without an index, skip the (slow) scan above this size (default 10000)")
    parser.add_argument("--quick", action="store_true", help="prints only, does not write the results file")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results file (default benchmarks/RESULTS-scale.md)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.backends.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCALE_BACKENDS]
    if unknown:
        raise SystemExit(f"unknown backend(s): {', '.join(unknown)}; known: {', '.join(SCALE_BACKENDS)}")
    sizes, moto_sizes = parse_sizes(args.sizes), parse_sizes(args.moto_sizes)
    load_before = bs.load_average()
    print(f"load average before the run: {load_before}", flush=True)
    now_ms = time.time() * 1000
    templates = make_templates(now_ms)
    t0 = time.perf_counter()
    runs: list[ScaleRun] = []
    with bs.Servers() as servers, bs.work_directory() as workdir:
        for name in names:
            backend = bs.make_backend(name, servers, workdir, f"s{uuid.uuid4().hex[:10]}")
            runs.append(bench_backend(backend, moto_sizes if name in MOTO else sizes, templates, now_ms,
                                      args.repetitions, args.max_scan))
        wall = time.perf_counter() - t0
        load_after = bs.load_average()
        rows, headers = main_rows(runs)
        print()
        print(bs.text_table(rows, headers))
        print()
        print("\n".join(target_lines(runs)))
        print(f"\nwhole run: {wall:.0f}s")
        if not args.quick:
            write_section("bench_scale", render(runs, args, wall, load_before, load_after, workdir, servers), args.output)
            print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
