"""CloudOrchestrationActor and orchestrate_cloud_events on the in-memory store (e2e on S3+DynamoDB and
local files lives in test_original_scenario_e2e.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from durable_xstate.cloud import (
    CloudEventError,
    CloudOrchestrationActor,
    InvalidCloudEvent,
    OrchestrationError,
    StateMachineVersionMismatch,
    confirm_published,
    create_cloud_event,
    orchestrate_cloud_events,
    state_key,
)
from durable_xstate.examples.summary import ORCHESTRATION, STATEMACHINE, machine
from durable_xstate.stores import LockableStorage, MemoryStore


def store() -> LockableStorage:
    m = MemoryStore()
    return LockableStorage(m, m)


def reply(subject: str, type_: str, data: dict[str, Any] | None = None, **ext: Any) -> Any:
    return create_cloud_event(subject=subject, source="/test", type=type_, data=data or {}, **ext)


async def run(s: LockableStorage, events: list[Any] = (), inits: list[Any] = ()) -> Any:  # type: ignore[assignment]
    return await orchestrate_cloud_events(
        statemachine=STATEMACHINE, storage=s, events=events, inits=inits, on_orchestration_state=ORCHESTRATION
    )


def types(result: Any, subject: str) -> list[str]:
    return [e.get_type() for e in result.subjects[subject].events_to_emit]


async def test_the_original_scenario() -> None:
    s = store()
    r = await run(s, inits=[{"subject": "saad.pdf", "context": {"bookId": "saad.pdf"}}])
    assert r.subjects["saad.pdf"].error is None
    assert types(r, "saad.pdf") == ["books.com.fetch"]
    first = r.subjects["saad.pdf"].events_to_emit[0]
    assert first.get_subject() == "saad.pdf" and first.get_extension("statemachineversion") == "0.0.1"
    await confirm_published(s, "saad.pdf", [first.get_id()])

    r = await run(s, events=[reply("saad.pdf", "books.evt.fetch.success", {"text": "..."})])
    assert types(r, "saad.pdf") == ["gpt.com.summary"]
    await confirm_published(s, "saad.pdf", [e.get_id() for e in r.events_to_emit])

    r = await run(s, events=[reply("saad.pdf", "gpt.evt.summary.success", {"summary": "short"})])
    assert sorted(types(r, "saad.pdf")) == ["regulations.com.summaryCompliance", "regulations.com.summaryGrounded"]
    assert types(r, "saad.pdf") == ["regulations.com.summaryGrounded", "regulations.com.summaryCompliance"]
    await confirm_published(s, "saad.pdf", [e.get_id() for e in r.events_to_emit])

    r = await run(s, events=[reply("saad.pdf", "regulations.evt.summaryGrounded.success"),
                             reply("saad.pdf", "regulations.evt.summaryCompliance.success")])
    assert r.subjects["saad.pdf"].status == "done" and types(r, "saad.pdf") == []
    assert r.subjects["saad.pdf"].context == {"bookId": "saad.pdf", "text": "...", "summary": "short"}


async def test_events_for_an_uninitiated_subject_and_double_inits() -> None:
    s = store()
    r = await run(s, events=[reply("ghost", "books.evt.fetch.success")])
    assert str(r.subjects["ghost"].error) == "The subject=ghost not already initiated."
    await run(s, inits=[{"subject": "a", "context": {}}])
    r = await run(s, inits=[{"subject": "a", "context": {}}])
    assert str(r.subjects["a"].error) == "The subject=a already exists so it cannot be initiated"
    with pytest.raises(OrchestrationError, match="Overlap detected"):
        await run(s, events=[reply("b", "x")], inits=[{"subject": "b"}])
    with pytest.raises(OrchestrationError, match="Duplicate subject ids"):
        await run(s, inits=[{"subject": "c"}, {"subject": "c"}])


async def test_events_without_subject_are_reported() -> None:
    s = store()
    no_subject = {"specversion": "1.0", "id": "e1", "source": "/t", "type": "x",
                  "datacontenttype": "application/json", "data": {}}
    r = await run(s, events=[no_subject])
    [outcome] = r.outcomes
    assert (outcome.event_id, outcome.status, outcome.permanent) == ("e1", "invalid", True) and r.subjects == {}
    assert isinstance(outcome.error, InvalidCloudEvent) and "no 'subject'" in str(outcome.error)


async def test_version_and_content_type_are_checked_before_anything_runs() -> None:
    s = store()
    await run(s, inits=[{"subject": "v", "context": {}}])
    r = await run(s, events=[reply("v", "books.evt.fetch.success", statemachineversion="1.0.1")])
    assert r.subjects["v"].error is None  # refused per event; the subject goes on
    assert isinstance(r.outcomes[0].error, StateMachineVersionMismatch) and r.outcomes[0].permanent
    assert str(r.outcomes[0].error) == (
        "[cloudevent][Invalid state machine version] The event expects state machine version=1.0.1, "
        "however, the state machine is version=0.0.1"
    )
    bad_type = create_cloud_event(subject="v", source="/t", type="books.evt.fetch.success", data={},
                                  datacontenttype="application/xml")
    r = await run(s, events=[bad_type])
    assert str(r.outcomes[0].error) == (
        "[cloudevent][Invalid content type] The 'datacontenttype' must be either 'application/cloudevents+json' "
        "or 'application/json'. The given is datacontenttype=application/xml"
    )
    stored = await s.read("v.json")
    assert stored is not None and json.loads(stored.data)["snapshot"]["value"] == "FetchData"


async def test_redelivery_is_idempotent_and_ids_are_stable() -> None:
    s = store()
    await run(s, inits=[{"subject": "r", "context": {}}])
    ev = reply("r", "books.evt.fetch.success", {"text": "t"})
    first = await run(s, events=[ev])
    again = await run(s, events=[ev, ev])
    assert again.subjects["r"].duplicates == 2 and again.subjects["r"].applied == 0
    assert [e.get_id() for e in again.events_to_emit] == [e.get_id() for e in first.events_to_emit]


async def test_crash_between_save_and_publish_loses_nothing() -> None:
    s = store()
    r = await run(s, inits=[{"subject": "c", "context": {}}])
    ids = [e.get_id() for e in r.events_to_emit]
    # the process "crashes" before publishing: the next run (any event, even a duplicate) hands them out again
    r2 = await run(s, events=[])
    del r2
    r3 = await run(s, events=[reply("c", "unrelated.event")])
    assert [e.get_id() for e in r3.events_to_emit] == ids
    await confirm_published(s, "c", ids)
    r4 = await run(s, events=[reply("c", "unrelated.event.2")])
    assert r4.events_to_emit == []


def test_state_keys_and_emission_on_reentry() -> None:
    nodes = {state_key(n) for n in machine.id_map.values() if n.is_atomic}
    assert "#Regulate.#Grounded.Check" in nodes and "FetchData" in nodes
    loop = CloudOrchestrationActor(
        __import__("durable_xstate").create_machine(
            {"id": "loop", "initial": "A", "states": {"A": {"on": {"AGAIN": {"target": "A", "reenter": True},
                                                                    "STAY": {}}}}}
        ),
        id="p1", version="1.0.0",
        middleware={"orchestration": {"A": lambda id, key, snap: {"type": "cmd.a", "source": "/t", "data": {}}}},
    )
    loop.start()
    assert [e.get_type() for e in loop.events_to_emit] == ["cmd.a"]
    loop.cloudevent(reply("p1", "AGAIN"))
    assert len(loop.events_to_emit) == 2  # re-entered: emitted again
    loop.cloudevent(reply("p1", "STAY"))
    assert len(loop.events_to_emit) == 2  # nothing changed: nothing emitted


def test_construction_errors() -> None:
    with pytest.raises(CloudEventError, match="must have an id"):
        CloudOrchestrationActor(machine, id="", version="1.0.0")
    with pytest.raises(CloudEventError, match="version"):
        CloudOrchestrationActor(machine, id="x", version="1.0")
