"""OpenTelemetry: the spans and metrics of a durable step, trace context through CloudEvents, and the
path without opentelemetry (docs/telemetry.md). The SDK's in-memory exporter and metric reader are
handed to durable_xstate with ``telemetry.configure`` (the global providers stay untouched)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from harness import HANG_SECONDS
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from durable_xstate import (
    PersistableActor,
    assign,
    create_actor,
    emit,
    setup,
    with_persistable_actor,
)
from durable_xstate.actors.clock import DurableClock
from durable_xstate.cloud import (
    create_cloud_event,
    event_to_dict,
    make_lambda_handler,
    orchestrate_cloud_events,
)
from durable_xstate.errors import WriteConflict
from durable_xstate.examples.summary import ORCHESTRATION, STATEMACHINE
from durable_xstate.persistence import StoredRecord, telemetry
from durable_xstate.persistence.index import state_label
from durable_xstate.stores import LockableStorage, MemoryStore

ORDER = setup(
    actions={
        "count": assign({"n": lambda a, p: a.context["n"] + 1}),
        "shipped": emit(lambda a, p: {"type": "order.shipped", "n": a.context["n"]}),
    }
).create_machine(
    {
        "id": "order",
        "version": "1.0.0",
        "initial": "open",
        "context": {"n": 0},
        "states": {
            "open": {"on": {"ADD": {"actions": "count"}, "PAY": "paying"}},
            "paying": {"after": {"1000": "shipped"}, "on": {"CANCEL": "open"}},
            "shipped": {"entry": "shipped", "type": "final"},
        },
    }
)
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


def creator(id: str, snapshot: Any) -> Any:
    return create_actor(ORDER, id=id, snapshot=snapshot)


def store() -> LockableStorage:
    m = MemoryStore()
    return LockableStorage(m, m)


class Otel:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if name is None or s.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.spans(name)
        assert len(found) == 1, [s.name for s in self.spans()]
        return found[0]

    def metric(self, name: str) -> list[Any]:
        """The data points of metric ``name`` (empty if never recorded)."""
        data = self.reader.get_metrics_data()
        points: list[Any] = []
        for rm in data.resource_metrics if data is not None else []:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == name:
                        points.extend(m.data.data_points)
        return points

    def total(self, name: str, **attributes: Any) -> float:
        return sum(p.value for p in self.metric(name)
                   if all(p.attributes.get(f"durable_xstate.{k}") == v for k, v in attributes.items()))


@pytest.fixture
def otel() -> Iterator[Otel]:
    o = Otel()
    telemetry.configure(tracer_provider=o.tracer_provider, meter_provider=o.meter_provider)
    try:
        yield o
    finally:
        telemetry.configure()


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_a_durable_step_is_a_span_tree_with_the_actors_facts(otel: Otel) -> None:
    s = store()
    await with_persistable_actor(lambda a: a.send({"type": "ADD"}), id="o-1", storage=s, actor_creator=creator)
    await with_persistable_actor(lambda a: a.send({"type": "PAY"}), id="o-1", storage=s, actor_creator=creator)
    await with_persistable_actor(lambda a: None, id="o-1", storage=s, actor_creator=creator)
    steps = otel.spans("durable_xstate.step")
    assert [st.attributes[telemetry.OUTCOME] for st in steps] == ["committed", "committed", "unchanged"]
    first = steps[0]
    assert dict(first.attributes) == {
        telemetry.ACTOR_ID: "o-1", telemetry.MACHINE_ID: "order", telemetry.MACHINE_VERSION: "1.0.0",
        telemetry.REVISION: 1, telemetry.STATE: "open", telemetry.OUTCOME: "committed", telemetry.ATTEMPTS: 1,
    }
    assert steps[1].attributes[telemetry.STATE] == "paying" and steps[1].attributes[telemetry.REVISION] == 2
    step_id = first.context.span_id
    children = [sp for sp in otel.spans() if parent_of(sp) == step_id]
    assert [c.name for c in children] == ["durable_xstate.load", "durable_xstate.events", "durable_xstate.save"]
    load, _, save = children
    assert [sp.name for sp in otel.spans() if parent_of(sp) == load.context.span_id] == ["durable_xstate.store.read"]
    assert [sp.name for sp in otel.spans() if parent_of(sp) == save.context.span_id] == ["durable_xstate.store.write"]
    assert otel.total("durable_xstate.steps", outcome="committed") == 2
    assert otel.total("durable_xstate.steps", outcome="unchanged") == 1
    assert otel.total("durable_xstate.events") == 2
    assert otel.metric("durable_xstate.outbox.size")


async def test_a_conflict_retry_shows_in_the_step_and_the_counters(otel: Otel) -> None:
    s = store()
    await with_persistable_actor(lambda a: a.send({"type": "ADD"}), id="o-2", storage=s, actor_creator=creator)
    runs = 0

    async def commit_elsewhere() -> None:
        pa = PersistableActor(id="o-2", storage=s, actor_creator=creator)
        await pa.init()
        pa.actor.send({"type": "ADD"})
        await pa.save()
        await pa.close()

    async def racing(actor: Any) -> None:
        nonlocal runs
        runs += 1
        if runs == 1:  # another writer commits between our read and our write
            await commit_elsewhere()
        actor.send({"type": "ADD"})

    await with_persistable_actor(racing, id="o-2", storage=s, actor_creator=creator, retries_on_conflict=2)
    step = [sp for sp in otel.spans("durable_xstate.step") if sp.attributes.get(telemetry.ATTEMPTS) == 2]
    assert len(step) == 1
    assert step[0].attributes[telemetry.OUTCOME] == "committed" and step[0].attributes[telemetry.REVISION] == 3
    assert [e.name for e in step[0].events] == ["durable_xstate.retry"]
    saves = [sp for sp in otel.spans("durable_xstate.save") if parent_of(sp) == step[0].context.span_id]
    assert [sp.attributes[telemetry.OUTCOME] for sp in saves] == ["conflict", "committed"]
    assert otel.total("durable_xstate.conflicts") == 1 and otel.total("durable_xstate.retries") == 1

    async def always_loses(actor: Any) -> None:
        await commit_elsewhere()
        actor.send({"type": "ADD"})

    with pytest.raises(WriteConflict):
        await with_persistable_actor(always_loses, id="o-2", storage=s, actor_creator=creator)
    outer = otel.spans("durable_xstate.step")[-1]
    assert outer.attributes[telemetry.OUTCOME] == "conflict" and outer.status.status_code.name == "ERROR"
    assert otel.total("durable_xstate.steps", outcome="conflict") == 1


async def test_lock_waits_are_spanned_and_timed(otel: Otel) -> None:
    s = store()
    holder = await s.acquire("o-3.json", "other", 30.0, 1.0)

    async def release_soon() -> None:
        await asyncio.sleep(0.05)
        await s.release(holder)

    releasing = asyncio.create_task(release_soon())
    await with_persistable_actor(lambda a: a.send({"type": "ADD"}), id="o-3", storage=s, actor_creator=creator,
                                 locking="read-write", acquire_lock_timeout=HANG_SECONDS)  # a cap only
    await releasing
    load = otel.one("durable_xstate.load")
    acquire = otel.one("durable_xstate.lock.acquire")
    assert parent_of(acquire) == load.context.span_id
    assert acquire.attributes[telemetry.STORE_KEY] == "o-3.json"
    assert acquire.end_time is not None and acquire.start_time is not None
    assert (acquire.end_time - acquire.start_time) / 1e9 >= 0.04
    (point,) = otel.metric("durable_xstate.lock.wait")
    assert point.count == 1 and point.sum >= 0.04


async def test_timers_fired_on_load_are_counted(otel: Otel) -> None:
    s = store()
    now = [1_000_000.0]
    clock = DurableClock(lambda: now[0])
    await with_persistable_actor(lambda a: a.send({"type": "PAY"}), id="o-4", storage=s, actor_creator=creator,
                                 clock=clock)
    now[0] += 2000
    await with_persistable_actor(lambda a: None, id="o-4", storage=s, actor_creator=creator,
                                 clock=DurableClock(lambda: now[0]))
    assert otel.total("durable_xstate.timers.fired") == 1
    assert otel.spans("durable_xstate.step")[-1].attributes[telemetry.STATE] == "shipped"
    assert otel.spans("durable_xstate.outbox.size") == []  # a metric, not a span
    assert max(p.max for p in otel.metric("durable_xstate.outbox.size")) == 1  # order.shipped


async def test_direct_use_spans_init_to_close_and_a_failed_load(otel: Otel) -> None:
    s = store()
    pa = PersistableActor(id="o-5", storage=s, actor_creator=creator)
    await pa.init()
    pa.actor.send({"type": "ADD"})
    await pa.save()
    assert otel.spans("durable_xstate.step") == []  # still open until close
    await pa.close()
    step = otel.one("durable_xstate.step")
    assert step.attributes[telemetry.OUTCOME] == "committed"
    await s.write("bad.json", b"{not json", None)
    with pytest.raises(Exception, match=r"bad\.json"):
        await PersistableActor(id="bad", storage=s, actor_creator=creator).init()
    failed = otel.spans("durable_xstate.step")[-1]
    assert failed.attributes[telemetry.OUTCOME] == "failed"
    assert otel.total("durable_xstate.steps", outcome="failed") == 1
    assert await s.read("bad.json") is not None  # the bad record is left as it is


async def test_a_failing_callback_or_action_is_a_failed_step(otel: Otel) -> None:
    s = store()

    def boom(actor: Any) -> None:
        actor.send({"type": "ADD"})
        raise ValueError("the callback broke")

    with pytest.raises(ValueError, match="callback broke"):
        await with_persistable_actor(boom, id="o-7", storage=s, actor_creator=creator)
    step = otel.one("durable_xstate.step")
    assert step.attributes[telemetry.OUTCOME] == "failed" and step.status.status_code.name == "ERROR"
    assert [e.attributes["exception.type"] for e in step.events] == ["ValueError"]
    assert otel.spans("durable_xstate.save") == [] and await s.read("o-7.json") is None
    events = otel.one("durable_xstate.events")
    assert parent_of(events) == step.context.span_id and events.status.status_code.name == "ERROR"
    assert otel.total("durable_xstate.steps", outcome="failed") == 1


@settings(max_examples=15)
@given(st.lists(st.sampled_from(["ADD", "PAY", "CANCEL"]), min_size=1, max_size=6))
def test_the_step_reports_what_was_stored(events: list[str]) -> None:
    o = Otel()
    telemetry.configure(tracer_provider=o.tracer_provider, meter_provider=o.meter_provider)
    try:
        s = store()

        async def steps() -> None:
            for e in events:
                await with_persistable_actor(lambda a, e=e: a.send({"type": e}), id="p", storage=s,
                                             actor_creator=creator)

        asyncio.run(steps())
    finally:
        telemetry.configure()
    stored = asyncio.run(s.read("p.json"))
    assert stored is not None
    record = StoredRecord.decode(stored.data, key="p.json", version=stored.version)
    last = o.spans("durable_xstate.step")[-1]
    assert last.attributes[telemetry.STATE] == state_label(record.snapshot["value"])
    committed = [sp for sp in o.spans("durable_xstate.step") if sp.attributes[telemetry.OUTCOME] == "committed"]
    assert len(committed) == record.revision
    assert o.total("durable_xstate.steps") == len(events)


# ---------------------------------------------------------------------- CloudEvents trace context
async def test_a_traceparent_carries_the_trace_through_an_orchestration(otel: Otel) -> None:
    s = store()
    r = await orchestrate_cloud_events(
        statemachine=STATEMACHINE, storage=s, on_orchestration_state=ORCHESTRATION,
        inits=[{"subject": "book-1", "context": {"bookId": "book-1"}, "traceparent": TRACEPARENT}],
    )
    step = otel.one("durable_xstate.step")
    assert f"{step.context.trace_id:032x}" == TRACE_ID and f"{parent_of(step):016x}" == PARENT_ID
    (command,) = r.subjects["book-1"].events_to_emit
    traceparent = command.get_extension("traceparent")
    assert traceparent.startswith(f"00-{TRACE_ID}-{step.context.span_id:016x}-")

    # the reply carries the command's trace context on: the next run is in the same trace
    otel.exporter.clear()
    reply = create_cloud_event(subject="book-1", source="/books", type="books.evt.fetch.success",
                               data={"text": "t"}, traceparent=traceparent)
    r = await orchestrate_cloud_events(statemachine=STATEMACHINE, storage=s, on_orchestration_state=ORCHESTRATION,
                                       events=[reply])
    step2 = otel.one("durable_xstate.step")
    assert f"{step2.context.trace_id:032x}" == TRACE_ID and parent_of(step2) == step.context.span_id
    assert step2.attributes[telemetry.ACTOR_ID] == "book-1"
    (next_command,) = [e for e in r.subjects["book-1"].events_to_emit if e.get_id() != command.get_id()]
    assert next_command.get_extension("traceparent").startswith(f"00-{TRACE_ID}-{step2.context.span_id:016x}-")


def test_the_lambda_adapter_continues_the_trace_of_an_sqs_message(otel: Otel) -> None:
    s = store()
    first = asyncio.run(orchestrate_cloud_events(statemachine=STATEMACHINE, storage=s, inits=[{"subject": "book-2"}],
                                                 on_orchestration_state=ORCHESTRATION))
    pending = {e.get_id() for e in first.events_to_emit}  # handed out again by the next run (not confirmed)
    otel.exporter.clear()
    published: list[Any] = []
    handler = make_lambda_handler(statemachine=STATEMACHINE, storage=s, on_orchestration_state=ORCHESTRATION,
                                  publish=published.extend)
    body = event_to_dict(create_cloud_event(subject="book-2", source="/books", type="books.evt.fetch.success",
                                            data={"text": "t"}, traceparent=TRACEPARENT))
    assert handler({"Records": [{"messageId": "m1", "body": json.dumps(body)}]}, None) == {"batchItemFailures": []}
    step = otel.one("durable_xstate.step")
    assert f"{step.context.trace_id:032x}" == TRACE_ID
    new = [e for e in published if e.get_id() not in pending]
    assert [e.get_extension("traceparent").split("-")[1:3] for e in new] == [[TRACE_ID, f"{step.context.span_id:016x}"]]


async def test_no_traceparent_starts_a_new_trace_and_commands_name_it(otel: Otel) -> None:
    r = await orchestrate_cloud_events(statemachine=STATEMACHINE, storage=store(), inits=[{"subject": "b"}],
                                       on_orchestration_state=ORCHESTRATION)
    step = otel.one("durable_xstate.step")
    assert step.parent is None
    (command,) = r.subjects["b"].events_to_emit
    assert command.get_extension("traceparent").startswith(f"00-{step.context.trace_id:032x}-{step.context.span_id:016x}-")


# ---------------------------------------------------------------------- without opentelemetry
async def test_without_opentelemetry_nothing_is_reported(otel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry, "AVAILABLE", False)
    s = store()
    await with_persistable_actor(lambda a: a.send({"type": "ADD"}), id="o-6", storage=s, actor_creator=creator,
                                 locking="read-write")
    r = await orchestrate_cloud_events(
        statemachine=STATEMACHINE, storage=s, on_orchestration_state=ORCHESTRATION,
        inits=[{"subject": "book-3", "traceparent": TRACEPARENT}],
    )
    assert r.subjects["book-3"].error is None
    assert r.subjects["book-3"].events_to_emit[0].get_extension("traceparent") is None
    pa = PersistableActor(id="o-6", storage=s, actor_creator=creator)
    assert pa.storage is s and pa._tel is None
    assert otel.spans() == [] and otel.metric("durable_xstate.steps") == []


def test_installed_without_a_provider_is_off() -> None:
    telemetry.configure()
    assert telemetry.AVAILABLE and telemetry.active() is None


ABSENT = """
import asyncio, sys
sys.modules["opentelemetry"] = None  # as if opentelemetry-api were not installed
from durable_xstate import create_actor, with_persistable_actor, assign, setup
from durable_xstate.cloud import orchestrate_cloud_events
from durable_xstate.examples.summary import ORCHESTRATION, STATEMACHINE
from durable_xstate.persistence import telemetry
from durable_xstate.stores import LockableStorage, MemoryStore

M = setup(actions={"inc": assign({"n": lambda a, p: a.context["n"] + 1})}).create_machine(
    {"id": "c", "initial": "on", "context": {"n": 0}, "states": {"on": {"on": {"INC": {"actions": "inc"}}}}})
m = MemoryStore(); s = LockableStorage(m, m)
telemetry.configure(tracer_provider=object())  # a no-op without opentelemetry

async def main():
    await with_persistable_actor(lambda a: a.send({"type": "INC"}), id="x", storage=s,
                                 actor_creator=lambda id, snap: create_actor(M, id=id, snapshot=snap),
                                 locking="read-write")
    r = await orchestrate_cloud_events(statemachine=STATEMACHINE, storage=s, on_orchestration_state=ORCHESTRATION,
                                       inits=[{"subject": "b", "traceparent": "00-TRACE-PARENT-01"}])
    assert r.subjects["b"].error is None, r.subjects["b"].error
    return r

asyncio.run(main())
loaded = sorted(k for k, v in sys.modules.items() if k.startswith("opentelemetry") and v is not None)
print(telemetry.AVAILABLE, telemetry.active(), loaded)
""".replace("TRACE", TRACE_ID).replace("PARENT", PARENT_ID)


def test_absent_opentelemetry_in_a_fresh_process_imports_nothing_and_works() -> None:
    done = subprocess.run([sys.executable, "-c", ABSENT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False None []"


GLOBAL = """
import asyncio
from durable_xstate import create_actor, with_persistable_actor, assign, setup
from durable_xstate.persistence import telemetry
from durable_xstate.stores import LockableStorage, MemoryStore
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

M = setup(actions={"inc": assign({"n": lambda a, p: a.context["n"] + 1})}).create_machine(
    {"id": "c", "initial": "on", "context": {"n": 0}, "states": {"on": {"on": {"INC": {"actions": "inc"}}}}})
m = MemoryStore(); s = LockableStorage(m, m)
step = lambda: with_persistable_actor(lambda a: a.send({"type": "INC"}), id="x", storage=s,
                                      actor_creator=lambda id, snap: create_actor(M, id=id, snapshot=snap))
asyncio.run(step())  # no provider yet: off
before = telemetry.active()
exporter = InMemorySpanExporter()
provider = TracerProvider(); provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)  # set by the application after importing durable_xstate
asyncio.run(step())
print(before, sorted({sp.name for sp in exporter.get_finished_spans()}))
"""


def test_a_global_provider_set_after_import_is_picked_up() -> None:
    done = subprocess.run([sys.executable, "-c", GLOBAL], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("None ['durable_xstate.events', 'durable_xstate.load', 'durable_xstate.save', "
                                   "'durable_xstate.step', 'durable_xstate.store.read', 'durable_xstate.store.write']")
