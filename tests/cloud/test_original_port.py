"""The original's 15 tests (persistable-xstate-actor 0.0.9), ported with their messages.

1-3   src/index.spec.ts: PersistableActor / with_persistable_actor on a traffic light, local files.
4-9   src/cloud_orchestration_actor.spec.ts: orchestrate_cloud_events with the YAML summary machine,
      local files.
10-14 src/utils.spec.ts: getAllPaths (-> state_keys), createCloudEvent, isDictionary.
15    src/create_machine_yaml/create_machine_yaml.spec.ts: a YAML machine Step1 -> CHANGE -> Step2.

The original's tests shared one storage directory and ran in order (test 2 read what test 1 wrote; tests
5-9 advanced one orchestration process). Here each test starts from an empty directory under
``tmp_path`` and first replays the steps it depended on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from durable_xstate import (
    PersistableActor,
    StateMachine,
    assign,
    create_actor,
    create_machine,
    setup,
    with_persistable_actor,
)
from durable_xstate.cloud import (
    CLOUDEVENTS_JSON,
    CloudOrchestrationActor,
    OrchestrationResult,
    confirm_published,
    create_cloud_event,
    create_machine_yaml,
    event_to_dict,
    orchestrate_cloud_events,
    state_key,
    state_keys,
)
from durable_xstate.errors import AcquireLockError, PersistenceError
from durable_xstate.examples.summary import load_yaml_machine
from durable_xstate.stores import LockableStorage, open_store

# ------------------------------------------------------------------------------------------------ 1-3
# src/index.spec.data.ts: every entry adds 0.25; the input's count (-0.25) makes Green start at 0.
TRAFFIC = setup(
    actions={"utils.increment": assign({"count": lambda a, p: a.context["count"] + 1 / 4})}
).create_machine(
    {
        "id": "TrafficStateMachine",
        "context": lambda a: {"count": (a.input or {}).get("count") or -1 / 4},
        "states": {
            "Green": {"on": {"HALT": "Yellow"}, "entry": "utils.increment"},
            "Yellow": {"on": {"HALT": "Red", "MOVE": "Green"}, "entry": "utils.increment"},
            "Red": {"on": {"MOVE": "Yellow"}, "entry": "utils.increment"},
        },
        "initial": "Green",
    }
)


def file_store(tmp_path: Path) -> LockableStorage:
    return open_store(f"file://{tmp_path}")


def persisted_actor_params(storage: LockableStorage, persistance_id: str, locking: Any = None) -> dict[str, Any]:
    """The original's getPersistedActorParams (acquireLockMaxTimeout 1000 ms -> 1.0 s)."""
    return {
        "acquire_lock_timeout": 1.0,
        "locking": locking,
        "id": persistance_id,
        "storage": storage,
        "actor_creator": lambda id, snapshot: create_actor(
            TRAFFIC, id=id, snapshot=snapshot, input={"count": -1 / 4}
        ),
    }


async def original_test_1(storage: LockableStorage) -> None:
    def callback(actor: Any) -> None:
        actor.start()
        assert actor.get_snapshot().value == "Green"
        assert actor.get_snapshot().context["count"] == 0
        actor.send({"type": "HALT"})
        assert actor.get_snapshot().value == "Yellow"
        assert actor.get_snapshot().context["count"] == 0.25
        actor.stop()

    await with_persistable_actor(callback, **persisted_actor_params(storage, "saad"))


async def test_01_no_locking_load_no_snapshot_then_persist_after_an_update(tmp_path: Path) -> None:
    """[No Locking] It should load no snapshot when no state available and then persist the state after an update"""
    await original_test_1(file_store(tmp_path))
    record = json.loads((tmp_path / "saad.json").read_bytes())  # the file is the record itself
    assert record["snapshot"]["value"] == "Yellow" and record["snapshot"]["context"] == {"count": 0.25}


async def test_02_no_locking_load_the_old_persisted_state_and_act_on_it(tmp_path: Path) -> None:
    """[No Locking] It should load from the old persisted state and then act on it"""
    storage = file_store(tmp_path)
    await original_test_1(storage)

    def callback(actor: Any) -> None:
        actor.start()
        assert actor.get_snapshot().value == "Yellow"
        assert actor.get_snapshot().context["count"] == 0.25
        actor.send({"type": "HALT"})
        assert actor.get_snapshot().value == "Red"
        assert actor.get_snapshot().context["count"] == 0.5
        actor.send({"type": "HALT"})
        assert actor.get_snapshot().value == "Red"
        assert actor.get_snapshot().context["count"] == 0.5
        actor.send({"type": "MOVE"})
        assert actor.get_snapshot().value == "Yellow"
        assert actor.get_snapshot().context["count"] == 0.75
        actor.stop()

    await with_persistable_actor(callback, **persisted_actor_params(storage, "saad"))


async def test_03_with_locking(tmp_path: Path) -> None:
    """[With Locking] It should load no snapshot when no state available and then persist the state after an update

    The original's ``init(false)`` (skip the already-initiated check, then wait for the lock this instance
    already holds) is modelled as a second PersistableActor on the same id while the first holds the lock:
    our ``init`` has no such flag.
    """
    storage = file_store(tmp_path)
    pid = "wp-saad"
    persisted_actor = PersistableActor(**persisted_actor_params(storage, pid, "read-write"))

    await persisted_actor.init()
    with pytest.raises(PersistenceError) as already:
        await persisted_actor.init()
    assert str(already.value) == "Actor already initiated, close it to re-initiate"
    with pytest.raises(AcquireLockError) as locked:
        await PersistableActor(**persisted_actor_params(storage, pid, "read-write")).init()
    assert str(locked.value) == f"Could not acquire lock on path {pid}.json."
    await persisted_actor.close()

    def callback(actor: Any) -> None:
        actor.start()
        assert actor.get_snapshot().value == "Green"
        assert actor.get_snapshot().context["count"] == 0
        actor.send({"type": "HALT"})
        assert actor.get_snapshot().value == "Yellow"
        assert actor.get_snapshot().context["count"] == 0.25
        actor.stop()

    await with_persistable_actor(callback, **persisted_actor_params(storage, "wp-saad", "read-write"))
    assert not await storage.is_locked(f"{pid}.json")


# ------------------------------------------------------------------------------------------------ 4-9
PROCESS_ID = "3214a-dsa-32431232432"
SOURCE = "/test/summary/orchestrator"

# the original test's orchestration middleware (cloud_orchestration_actor.spec.ts)
ORCHESTRATION_MIDDLEWARE = {
    "FetchData": lambda id, state, snapshot: create_cloud_event(
        type="books.com.fetch", subject=id, source=SOURCE, data={"bookId": snapshot.context.get("bookId")}
    ),
    "Summarise": lambda id, state, snapshot: create_cloud_event(
        type="gpt.com.summary", subject=id, source=SOURCE, data={"content": snapshot.context.get("bookData")}
    ),
    "#Regulate.#Grounded.Check": lambda id, state, snapshot: create_cloud_event(
        type="regulations.com.summaryGrounded", subject=id, source=SOURCE,
        data={"content": snapshot.context.get("bookData"), "summary": snapshot.context.get("summary")},
    ),
    "#Regulate.#Compliant.Check": lambda id, state, snapshot: create_cloud_event(
        type="regulations.com.summaryCompliance", subject=id, source=SOURCE,
        data={"content": snapshot.context.get("summary")},
    ),
}


class OriginalOrchestration:
    """The original test's orchestrationParams on a fresh local-file store.

    After every run the caller publishes the events and confirms them (``confirm_published``), as a
    real caller does, so each run's ``events_to_emit`` holds that run's commands only (the original's
    equivalent of its per-call ``eventsToEmit``).
    """

    def __init__(self, tmp_path: Path) -> None:
        self.storage = file_store(tmp_path)
        self.statemachine = {"version": "0.0.1", "logic": load_yaml_machine()}

    async def run(self, events: list[Any] = (), inits: list[Any] = ()) -> OrchestrationResult:  # type: ignore[assignment]
        result = await orchestrate_cloud_events(
            statemachine=self.statemachine, storage=self.storage, events=events, inits=inits,
            on_orchestration_state=ORCHESTRATION_MIDDLEWARE,
        )
        for subject, outcome in result.subjects.items():
            if outcome.events_to_emit:
                await confirm_published(self.storage, subject, [e.get_id() for e in outcome.events_to_emit])
        return result

    async def init(self) -> OrchestrationResult:
        return await self.run(inits=[{"subject": PROCESS_ID, "context": {"bookId": "saad.pdf"}}])

    async def fetch_success(self) -> OrchestrationResult:
        return await self.run([
            create_cloud_event(
                type="books.evt.fetch.success", subject=PROCESS_ID, source="/books/fetch/",
                data={"bookId": "saad.pdf", "bookData": ["saad", "ahmad"]},
            )
        ])


def error_of(result: OrchestrationResult, subject: str = PROCESS_ID) -> str:
    """The subject's error, or the error of its refused event (ours reports refusals per event)."""
    refused = [o.error for o in result.outcomes if o.subject == subject and o.error is not None]
    error = result.subjects[subject].error if subject in result.subjects else None
    error = error or (refused[0] if refused else None)
    assert error is not None, f"{subject} had no error"
    return str(error)


async def test_04_an_event_for_an_uninitiated_process_is_an_error(tmp_path: Path) -> None:
    """should throw an error when trying to orchestrate an event for an uninitiated process

    Ours reports the error per subject (other subjects of the batch go on) instead of rejecting the call.
    """
    orch = OriginalOrchestration(tmp_path)
    result = await orch.run([
        create_cloud_event(subject=PROCESS_ID, type="summaryOrchestration.evt.init", source="/source/some", data={})
    ])
    assert error_of(result) == f"The subject={PROCESS_ID} not already initiated."
    assert not (tmp_path / f"{PROCESS_ID}.json").exists()


async def test_05_initiating_with_a_book_id_emits_a_book_fetch(tmp_path: Path) -> None:
    """should emit a book fetch event when initiating the orchestration process with a book ID"""
    result = await OriginalOrchestration(tmp_path).init()
    events = result.events_to_emit
    assert len(events) == 1
    assert events[0].get_type() == "books.com.fetch"
    assert events[0].get_data() == {"bookId": "saad.pdf"}


async def test_06_a_successful_fetch_emits_a_summary(tmp_path: Path) -> None:
    """should emit a summary event upon successful book data fetch"""
    orch = OriginalOrchestration(tmp_path)
    await orch.init()
    result = await orch.fetch_success()
    assert len(result.events_to_emit) == 1
    assert result.events_to_emit[0].get_type() == "gpt.com.summary"
    assert result.events_to_emit[0].get_data() == {"content": ["saad", "ahmad"]}


async def test_07_version_mismatch(tmp_path: Path) -> None:
    """should throw version miss match error"""
    orch = OriginalOrchestration(tmp_path)
    await orch.init()
    await orch.fetch_success()
    result = await orch.run([
        create_cloud_event(
            type="gpt.evt.summary.success", subject=PROCESS_ID, source="/regulation/summaryGrounded/",
            data={"summary": "Some name"}, statemachineversion="1.0.1",
        )
    ])
    assert error_of(result) == (
        "[cloudevent][Invalid state machine version] The event expects state machine version=1.0.1, "
        "however, the state machine is version=0.0.1"
    )
    assert result.events_to_emit == []


async def test_08_datacontenttype_validation(tmp_path: Path) -> None:
    """should throw version datacontenttype validation error (the content type is checked first)"""
    orch = OriginalOrchestration(tmp_path)
    await orch.init()
    await orch.fetch_success()
    result = await orch.run([
        create_cloud_event(
            type="gpt.evt.summary.success", subject=PROCESS_ID, source="/regulation/summaryGrounded/",
            data={"summary": "Some name"}, statemachineversion="1.0.1", datacontenttype="application/xml",
        )
    ])
    assert error_of(result) == (
        "[cloudevent][Invalid content type] The 'datacontenttype' must be either 'application/cloudevents+json' "
        "or 'application/json'. The given is datacontenttype=application/xml"
    )


async def test_09_a_summary_emits_the_grounded_and_compliance_checks(tmp_path: Path) -> None:
    """should emit compliance and grounded summary events upon successful summary generation"""
    orch = OriginalOrchestration(tmp_path)
    await orch.init()
    await orch.fetch_success()
    rejected = await orch.run([
        create_cloud_event(
            type="gpt.evt.summary.success", subject=PROCESS_ID, source="/regulation/summaryGrounded/",
            data={"summary": "Some name"}, statemachineversion="1.0.1",
        )
    ])  # test 7's event: refused, changes nothing
    assert [o.status for o in rejected.outcomes] == ["invalid"]
    result = await orch.run([
        create_cloud_event(
            type="gpt.evt.summary.success", subject=PROCESS_ID, source="/regulation/summaryGrounded/",
            data={"summary": "Some name"}, statemachineversion="0.0.1",
        )
    ])
    assert result.subjects[PROCESS_ID].error is None
    events = result.events_to_emit
    assert len(events) == 2
    types = [e.get_type() for e in events]
    assert "regulations.com.summaryGrounded" in types
    assert "regulations.com.summaryCompliance" in types
    assert result.subjects[PROCESS_ID].context == {
        "bookId": "saad.pdf", "bookData": ["saad", "ahmad"], "summary": "Some name",
    }


# ---------------------------------------------------------------------------------------------- 10-14
def test_10_state_keys_are_in_document_order() -> None:
    """getAllPaths order: the original walked the state value with a stack and listed ``x.y`` before
    ``a.b.c``; ``state_keys`` (our getAllPaths) lists them in document order, the order in which the
    orchestration middleware is called, and agrees with ``state_key`` of the active leaf nodes."""
    assert state_keys({"a": {"b": "c"}, "x": "y"}) == ["#a.#b.c", "#x.y"]
    machine = create_machine({
        "id": "paths", "type": "parallel",
        "states": {
            "a": {"initial": "b", "states": {"b": {"initial": "c", "states": {"c": {}}}}},
            "x": {"initial": "y", "states": {"y": {}}},
        },
    })
    snapshot = create_actor(machine).start().get_snapshot()
    assert snapshot.value == {"a": {"b": "c"}, "x": "y"}
    leaves = sorted((n for n in snapshot.nodes if n.is_atomic), key=lambda n: n.order)
    assert [state_key(n) for n in leaves] == state_keys(snapshot.value) == ["#a.#b.c", "#x.y"]
    assert state_keys("FetchData") == ["FetchData"]


def test_11_state_keys_refuses_what_is_not_a_state_value() -> None:
    """getAllPaths(234324342) throws"""
    with pytest.raises(TypeError) as refused:
        state_keys(234324342)  # type: ignore[arg-type]
    assert str(refused.value) == (
        "[state_keys] the 'value' type must be 'str' or a mapping. The given value is '234324342' of type 'int'"
    )


def test_12_create_cloud_event() -> None:
    """createCloudEvent: the JSON form has source, datacontenttype, data, subject and type"""
    event = create_cloud_event(subject="saad", source="/test", type="test.evt", data={"name": "saad"})
    as_json = event_to_dict(event)
    assert as_json["source"] == "/test"
    assert as_json["datacontenttype"] == CLOUDEVENTS_JSON == "application/cloudevents+json; charset=UTF-8"
    assert as_json["data"] == {"name": "saad"}
    assert as_json["subject"] == "saad"
    assert as_json["type"] == "test.evt"
    assert as_json["specversion"] == "1.0" and as_json["id"]


# isDictionary (13, 14): we have no such helper; Python's ``isinstance(x, Mapping)`` is the test, and
# what it decided in the original is whether a CloudEvent's data is spread into the machine event. These
# two tests check that behaviour.
DATA_MACHINE = """
id: Data
initial: Waiting
states:
  Waiting:
    on:
      data.evt:
        target: Received
        actions: updateContext
  Received:
    type: final
"""


def test_13_dictionary_data_is_spread_into_the_event() -> None:
    """isDictionary true: a dict's keys become event fields (and, through updateContext, context)"""
    actor = CloudOrchestrationActor(create_machine_yaml(DATA_MACHINE), id="d1", version="1.0.0").start()
    actor.cloudevent(create_cloud_event(subject="d1", source="/t", type="data.evt", data={"name": "saad"}))
    assert actor.get_snapshot().context == {"name": "saad"}


def test_14_non_dictionary_data_is_not_spread() -> None:
    """isDictionary false: a list (or a string) stays whole, under the event's ``data`` field"""
    actor = CloudOrchestrationActor(create_machine_yaml(DATA_MACHINE), id="d2", version="1.0.0").start()
    actor.cloudevent(create_cloud_event(subject="d2", source="/t", type="data.evt", data=["saad", "ahmad"]))
    assert actor.get_snapshot().context == {"data": ["saad", "ahmad"]}


# -------------------------------------------------------------------------------------------------- 15
def test_15_yaml_machine_change_name() -> None:
    """create_machine_yaml: Step1 with context {}; CHANGE {name} -> Step2 with context.name set"""
    machine = create_machine_yaml(
        """
        id: test
        initial: Step1
        states:
          Step1:
            on:
              CHANGE:
                target: Step2
                actions:
                  - updateContext
          Step2: {}
        """
    )
    assert isinstance(machine, StateMachine)
    actor = create_actor(machine).start()
    assert actor.get_snapshot().value == "Step1"
    assert actor.get_snapshot().context == {}
    actor.send({"type": "CHANGE", "name": "saad"})
    assert actor.get_snapshot().value == "Step2"
    assert actor.get_snapshot().context["name"] == "saad"
