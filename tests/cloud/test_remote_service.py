"""Invoking a remote service through events: command out, reply in (done or error), cancel on leave."""

from __future__ import annotations

from typing import Any

from durable_xstate import create_machine
from durable_xstate.cloud import (
    confirm_published,
    create_cloud_event,
    from_remote_service,
    orchestrate_cloud_events,
)
from durable_xstate.stores import LockableStorage, MemoryStore

MACHINE = create_machine(
    {
        "id": "quote",
        "version": "1.0.0",
        "initial": "pricing",
        "context": {},
        "states": {
            "pricing": {
                "invoke": {
                    "id": "pricer",
                    "src": "pricer",
                    "input": lambda a: {"sku": "book-42"},
                    "onDone": {"target": "priced"},
                    "onError": {"target": "failed"},
                },
                "on": {"ABANDON": "abandoned"},
            },
            "priced": {"type": "final"},
            "failed": {"type": "final"},
            "abandoned": {"type": "final"},
        },
    },
    actors={"pricer": from_remote_service("pricing.com.quote", done="pricing.evt.quoted",
                                          error="pricing.evt.failed", cancel="pricing.com.cancel")},
)
STATEMACHINE = {"version": "1.0.0", "logic": MACHINE}


def event(subject: str, type_: str, n: int, **ext: Any) -> Any:
    return create_cloud_event(subject=subject, source="/pricing", type=type_, data={"n": n}, id=f"e{n}", **ext)


async def run(s: LockableStorage, **kw: Any) -> Any:
    r = await orchestrate_cloud_events(statemachine=STATEMACHINE, storage=s, **kw)
    assert not r.errors, r.errors
    for subject, outcome in r.subjects.items():
        await confirm_published(s, subject, [e.get_id() for e in outcome.events_to_emit])
    return r


def store() -> LockableStorage:
    m = MemoryStore()
    return LockableStorage(m, m)


async def test_command_out_then_done_reply_in_a_later_run() -> None:
    s = store()
    r = await run(s, inits=[{"subject": "q1"}])
    [command] = r.events_to_emit
    assert command.get_type() == "pricing.com.quote" and command.get_data() == {"sku": "book-42"}
    assert command.get_extension("correlationid") == "pricer" and command.get_subject() == "q1"
    r = await run(s, events=[event("q1", "unrelated", 1)])
    assert r.events_to_emit == []  # the restored wait does not send its command again
    r = await run(s, events=[event("q1", "pricing.evt.quoted", 2, correlationid="pricer")])
    assert r.subjects["q1"].status == "done"


async def test_error_reply_reaches_on_error() -> None:
    s = store()
    await run(s, inits=[{"subject": "q2"}])
    r = await run(s, events=[event("q2", "pricing.evt.failed", 1, correlationid="pricer")])
    assert r.subjects["q2"].status == "done"
    stored = await s.read("q2.json")
    assert stored is not None and b'"failed"' in stored.data


async def test_leaving_the_state_cancels_the_wait_and_emits_the_cancel_command() -> None:
    s = store()
    await run(s, inits=[{"subject": "q3"}])
    r = await run(s, events=[event("q3", "ABANDON", 1)])
    assert [e.get_type() for e in r.events_to_emit] == ["pricing.com.cancel"]
    assert r.events_to_emit[0].get_extension("correlationid") == "pricer"
    # a late reply changes nothing
    r = await run(s, events=[event("q3", "pricing.evt.quoted", 2, correlationid="pricer")])
    assert r.subjects["q3"].status == "done" and r.events_to_emit == []
