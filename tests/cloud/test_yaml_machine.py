"""create_machine_yaml: schema errors that name the path, input merged into the context, invoke/after/
history/meta accepted, the built-in updateContext/updateLogs (bounded), and summary.yaml == summary.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator, ValidationError

from durable_xstate import MachineConfigError, SimulatedClock, assign, create_actor
from durable_xstate.actors.clock import DurableClock
from durable_xstate.cloud import (
    MACHINE_YAML_SCHEMA,
    CloudOrchestrationActor,
    CreateMachineYamlError,
    OrchestrationResult,
    confirm_published,
    create_cloud_event,
    create_machine_yaml,
    event_to_dict,
    from_remote_service,
    orchestrate_cloud_events,
    parse_machine_yaml,
    update_context,
    update_logs,
)
from durable_xstate.examples import summary
from durable_xstate.stores import LockableStorage, MemoryStore


def memory() -> LockableStorage:
    m = MemoryStore()
    return LockableStorage(m, m)


def error_of(text: str, **options: Any) -> CreateMachineYamlError:
    with pytest.raises(CreateMachineYamlError) as caught:
        create_machine_yaml(text, **options)
    return caught.value


# ------------------------------------------------------------------------------------------------ schema
def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(MACHINE_YAML_SCHEMA)
    assert MACHINE_YAML_SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize(
    ("text", "path", "problem"),
    [
        pytest.param(
            "id: m\ninitial: FetchData\nstates:\n  FetchData:\n    on:\n      X:\n        - target: 5\n  B: {}\n",
            "states.FetchData.on.X[0].target", "expected a string or a list of strings, got an integer",
            id="target-type",
        ),
        pytest.param("initial: A\nstates: {A: {}}\n", "", "missing required key 'id'", id="no-id"),
        pytest.param("id: m\ninitial: A\nstates: {A: {onn: {X: A}}}\n", "states.A.onn", "unknown key 'onn'",
                     id="unknown-key"),
        pytest.param("id: m\ntype: final\nstates: {A: {}}\n", "type", 'must be one of "compound", "parallel"',
                     id="root-type"),
        pytest.param("id: m\ninitial: A\nstates: {A: {type: finall}}\n", "states.A.type", "must be one of",
                     id="state-type"),
        pytest.param("id: m\ninitial: A\nstates: {A: {}, H: {type: history, history: wide}}\n",
                     "states.H.history", 'must be one of "shallow", "deep"', id="history-kind"),
        pytest.param("id: m\ninitial: A\nstates: {A: {target: B}, B: {}}\n", "states.A.target",
                     "'target' belongs to history states", id="target-outside-history"),
        pytest.param("id: m\ninitial: A\nstates: {A: {on: {X: {target: A, guard: {name: g}}}}}\n",
                     "states.A.on.X.guard", "missing required key 'type'", id="guard-object"),
        pytest.param("id: m\ninitial: A\nstates: {A: {on: {X: {target: A, guard: 3}}}}\n",
                     "states.A.on.X.guard", "expected a string or an object, got an integer", id="guard-type"),
        pytest.param("id: m\ninitial: A\nstates: {A: {invoke: {id: x}}}\n", "states.A.invoke",
                     "missing required key 'src'", id="invoke-src"),
        pytest.param("id: m\ninitial: A\nstates: {A: {entry: [ok, {params: 1}]}}\n", "states.A.entry[1]",
                     "missing required key 'type'", id="action-object"),
        pytest.param("id: m\nversion: 1.0\ninitial: A\nstates: {A: {}}\n", "version",
                     "expected a string, got a number", id="version-float"),
        pytest.param("id: m\ncontext: [1]\ninitial: A\nstates: {A: {}}\n", "context",
                     "expected an object, got a list", id="context-list"),
        pytest.param("id: m\ninitial: A\nstates: {A: {on: {'': A}}}\n", "states.A.on", "a key must not be empty",
                     id="empty-event"),
        pytest.param("- not a machine\n", "", "expected an object, got a list", id="not-an-object"),
    ],
)
def test_schema_errors_name_the_path(text: str, path: str, problem: str) -> None:
    err = error_of(text)
    assert err.path == path
    assert problem in err.problem
    assert str(err).startswith(f"{path or '<root>'}: YAML validation error: ")
    assert isinstance(err, MachineConfigError) and isinstance(err, ValueError)
    assert err.details and all(isinstance(d, ValidationError) for d in err.details)


def test_the_first_problem_in_document_order_is_named_and_details_hold_all() -> None:
    err = error_of(
        """
        id: m
        initial: 3
        states:
          A:
            on: 4
          B:
            tags: [1]
        """
    )
    assert err.path == "initial"
    assert "(2 more problems in .details)" in str(err)
    assert [list(d.absolute_path) for d in err.details] == [["initial"], ["states", "A", "on"], ["states", "B", "tags", 0]]


def test_yaml_syntax_errors_and_duplicate_keys() -> None:
    err = error_of("id: m\n  initial: [A\n")
    assert err.path.startswith("<yaml line 2") and "invalid YAML" in err.problem and err.details == []
    dup = error_of("id: m\ninitial: A\nstates:\n  A: {}\n  A: {on: {X: A}}\n")
    assert dup.path == "<yaml line 5, column 3>" and "duplicate key 'A'" in dup.problem


def test_engine_errors_are_create_machine_yaml_errors_with_the_path() -> None:
    unknown_target = error_of("id: m\ninitial: A\nstates: {A: {on: {X: Nope}}}\n")
    assert unknown_target.path == "states.A.on.X.target" and unknown_target.details == []
    missing_action = error_of("id: m\ninitial: A\nstates: {A: {entry: doIt}}\n")
    assert str(missing_action) == "states.A.entry[0]: unknown action 'doIt': no implementation was provided"
    missing_actor = error_of("id: m\ninitial: A\nstates: {A: {invoke: {src: fetchBook}}}\n")
    assert missing_actor.path == "states.A.invoke[0].src"
    parallel_initial = error_of("id: m\ntype: parallel\ninitial: A\nstates: {A: {}}\n")
    assert parallel_initial.path == "initial"


def test_yaml_1_2_scalars_and_json_keys() -> None:
    config = parse_machine_yaml(
        """
        id: m
        initial: A
        context: {flag: yes, off: no, day: 2024-01-01, 7: seven}
        states:
          A:
            on:
              on: B
              off: A
          B:
            after:
              1000: A
        """
    )
    assert config["context"] == {"flag": "yes", "off": "no", "day": "2024-01-01", "7": "seven"}
    assert set(config["states"]["A"]["on"]) == {"on", "off"}
    assert config["states"]["B"]["after"] == {"1000": "A"}


# ------------------------------------------------------------------------------------------------ input
CONTEXT_MACHINE = """
id: ctx
initial: A
context:
  a: 1
  nested: {b: 2}
states:
  A: {}
"""


def test_input_is_merged_over_the_yaml_context() -> None:
    machine = create_machine_yaml(CONTEXT_MACHINE)
    assert create_actor(machine, input={"nested": 3, "d": 4}).start().get_snapshot().context == {
        "a": 1, "nested": 3, "d": 4,
    }
    assert create_actor(machine).start().get_snapshot().context == {"a": 1, "nested": {"b": 2}}
    no_context = create_machine_yaml("id: m\ninitial: A\nstates: {A: {}}\n")
    assert create_actor(no_context, input={"x": 1}).start().get_snapshot().context == {"x": 1}


def test_each_actor_gets_its_own_copy_of_the_yaml_context() -> None:
    machine = create_machine_yaml(CONTEXT_MACHINE)
    first = create_actor(machine).start()
    first.get_snapshot().context["nested"]["b"] = 99  # a misbehaving caller
    assert create_actor(machine).start().get_snapshot().context["nested"] == {"b": 2}


def test_input_that_is_not_an_object_fails_the_actor() -> None:
    actor = create_actor(create_machine_yaml(CONTEXT_MACHINE), input=[1], logger=lambda *a: None).start()
    snapshot = actor.get_snapshot()
    assert snapshot.status == "error" and "must be an object, not list" in str(snapshot.error)


async def test_an_init_context_becomes_the_input() -> None:
    machine = create_machine_yaml("id: ctx\nversion: 1.0.0\ninitial: A\ncontext: {a: 1, b: 1}\nstates: {A: {}}\n")
    result = await orchestrate_cloud_events(
        statemachine={"version": "1.0.0", "logic": machine}, storage=memory(),
        inits=[{"subject": "p", "context": {"b": 2}}],
    )
    assert result.subjects["p"].context == {"a": 1, "b": 2}


# ------------------------------------------------------------------------------- what the original refused
def test_meta_tags_description_output_and_guard_and_action_params() -> None:
    seen: list[Any] = []
    machine = create_machine_yaml(
        """
        id: m
        description: all the keys the original refused
        initial: A
        output: {done: true}
        states:
          A:
            meta: {owner: team-a, page: 3}
            tags: [waiting]
            on:
              GO:
                - target: B
                  guard: {type: atLeast, params: {n: 2}}
                  actions: [{type: note, params: {msg: big}}]
                - target: A
                  reenter: true
                  actions: note
          B:
            type: final
            output: {state: B}
        """,
        guards={"atLeast": lambda a, p: a.event["n"] >= p["n"]},
        actions={"note": lambda a, p: seen.append(p)},
    )
    actor = create_actor(machine).start()
    snapshot = actor.get_snapshot()
    assert snapshot.get_meta() == {"m.A": {"owner": "team-a", "page": 3}} and snapshot.has_tag("waiting")
    actor.send({"type": "GO", "n": 1})
    assert actor.get_snapshot().value == "A" and seen == [None]
    actor.send({"type": "GO", "n": 2})
    assert actor.get_snapshot().status == "done" and actor.get_snapshot().output == {"done": True}
    assert seen == [None, {"msg": "big"}]


def test_history_states() -> None:
    machine = create_machine_yaml(
        """
        id: player
        initial: Off
        states:
          On:
            initial: Playing
            states:
              Playing:
                initial: Normal
                states:
                  Normal: {on: {FAST: Fast}}
                  Fast: {}
              Paused: {}
              Deep: {type: history, history: deep}
              Shallow: {history: shallow, target: Paused}
            on:
              PAUSE: .Paused
          Off:
            on:
              POWER: On
              RESUME_DEEP: On.Deep
              RESUME_SHALLOW: On.Shallow
        on:
          OFF: .Off
        """
    )
    fresh = create_actor(machine).start()
    fresh.send({"type": "RESUME_SHALLOW"})  # no history yet: the history state's default target
    assert fresh.get_snapshot().value == {"On": "Paused"}
    actor = create_actor(machine).start()
    actor.send({"type": "POWER"})
    actor.send({"type": "FAST"})
    actor.send({"type": "OFF"})
    actor.send({"type": "RESUME_DEEP"})
    assert actor.get_snapshot().value == {"On": {"Playing": "Fast"}}
    actor.send({"type": "OFF"})
    actor.send({"type": "RESUME_SHALLOW"})
    assert actor.get_snapshot().value == {"On": {"Playing": "Normal"}}


def test_after_with_numbers_and_named_delays() -> None:
    machine = create_machine_yaml(
        """
        id: timer
        initial: A
        states:
          A:
            after:
              1000: B
          B:
            after:
              long: {target: C}
          C: {type: final}
        """,
        delays={"long": 5000},
    )
    clock = SimulatedClock()
    actor = create_actor(machine, clock=clock).start()
    clock.increment(1000)
    assert actor.get_snapshot().value == "B"
    clock.increment(4999)
    assert actor.get_snapshot().value == "B"
    clock.increment(1)
    assert actor.get_snapshot().value == "C"


FETCHER = """
id: Fetcher
version: 1.0.0
initial: Fetching
states:
  Fetching:
    invoke:
      id: fetch
      src: fetchBook
      input: {bookId: saad.pdf}
      onDone: {target: Done, actions: keepOutput}
      onError: Failed
    after:
      patience: TimedOut
  Done: {type: final}
  Failed: {type: final}
  TimedOut: {type: final}
"""


def fetcher() -> Any:
    return create_machine_yaml(
        FETCHER,
        actors={"fetchBook": from_remote_service(
            "books.com.fetch", done="books.evt.fetch.success", error="books.evt.fetch.error"
        )},
        actions={"keepOutput": assign(lambda a, p: {"book": a.event["output"]})},
        delays={"patience": 60_000},
    )


async def test_invoke_a_remote_service_across_runs() -> None:
    storage = memory()
    statemachine = {"version": "1.0.0", "logic": fetcher()}
    started = await orchestrate_cloud_events(statemachine=statemachine, storage=storage,
                                             inits=[{"subject": "p1", "context": {}}])
    [command] = started.events_to_emit
    assert (command.get_type(), command.get_data(), command.get_extension("correlationid")) == (
        "books.com.fetch", {"bookId": "saad.pdf"}, "fetch",
    )
    await confirm_published(storage, "p1", [command.get_id()])
    reply = create_cloud_event(subject="p1", source="/books", type="books.evt.fetch.success",
                               data={"text": "once upon a time"}, correlationid="fetch")
    done = await orchestrate_cloud_events(statemachine=statemachine, storage=storage, events=[reply])
    assert done.subjects["p1"].error is None and done.subjects["p1"].status == "done"
    assert done.subjects["p1"].context == {"book": {"text": "once upon a time"}}
    assert done.events_to_emit == []


async def test_after_fires_in_a_later_run() -> None:
    storage = memory()
    statemachine = {"version": "1.0.0", "logic": fetcher()}
    start = 1_000_000.0
    await orchestrate_cloud_events(statemachine=statemachine, storage=storage, clock=DurableClock(lambda: start),
                                   inits=[{"subject": "p2", "context": {}}])
    stored = await storage.read("p2.json")
    assert stored is not None and len(json.loads(stored.data)["timers"]) == 1
    later = await orchestrate_cloud_events(statemachine=statemachine, storage=storage,
                                           clock=DurableClock(lambda: start + 60_000),
                                           events=[create_cloud_event(subject="p2", source="/t", type="tick")])
    assert later.subjects["p2"].status == "done"
    stored = await storage.read("p2.json")
    assert stored is not None and json.loads(stored.data)["snapshot"]["value"] == "TimedOut"


# --------------------------------------------------------------------------------------------- built-ins
LOGGED = """
id: Logged
initial: Open
states:
  Open:
    on:
      note:
        actions: [updateContext, updateLogs]
      close: Closed
  Closed: {type: final}
"""


def test_update_context_leaves_out_type_and_the_cloudevent() -> None:
    actor = CloudOrchestrationActor(create_machine_yaml(LOGGED), id="c1", version="1.0.0").start()
    actor.cloudevent(create_cloud_event(subject="c1", source="/t", type="note", data={"n": 1, "who": "me"}))
    context = actor.get_snapshot().context
    assert {k: v for k, v in context.items() if k != "__machineLogs"} == {"n": 1, "who": "me"}
    assert update_context is not None and callable(update_logs)


def test_update_logs_is_bounded() -> None:
    clock = SimulatedClock(now=1_700_000_000_000)
    machine = create_machine_yaml(LOGGED, log_limit=3)
    actor = CloudOrchestrationActor(machine, id="c2", version="1.0.0", clock=clock).start()
    sent = []
    for n in range(5):
        ce = create_cloud_event(subject="c2", source="/t", type="note", data={"n": n})
        sent.append(ce)
        actor.cloudevent(ce)
        clock.increment(1000)
    logs = actor.get_snapshot().context["__machineLogs"]
    assert [entry["event"]["n"] for entry in logs] == [2, 3, 4]
    last = logs[-1]
    assert set(last) == {"cloudeventId", "event", "context", "timestamp", "isoTime"}
    assert last["cloudeventId"] == sent[4].get_id()
    assert last["event"] == {"type": "note", "n": 4}
    assert last["context"] == {"n": 4}  # no __machineLogs, no __cloudevent
    assert last["timestamp"] == 1_700_000_004_000 and last["isoTime"] == "2023-11-14T22:13:24.000Z"
    json.dumps(actor.get_persisted_snapshot())  # the log stays JSON


def test_update_logs_defaults_to_50_and_refuses_a_bad_limit() -> None:
    actor = create_actor(create_machine_yaml(LOGGED)).start()
    for n in range(60):
        actor.send({"type": "note", "n": n})
    logs = actor.get_snapshot().context["__machineLogs"]
    assert len(logs) == 50 and logs[0]["event"]["n"] == 10 and logs[0]["cloudeventId"] is None
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            update_logs(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive integer"):
        create_machine_yaml(LOGGED, log_limit=0)


def test_an_action_of_the_same_name_replaces_a_built_in() -> None:
    machine = create_machine_yaml(LOGGED, actions={"updateLogs": assign({"custom": True})})
    actor = create_actor(machine).start()
    actor.send({"type": "note", "n": 1})
    assert actor.get_snapshot().context == {"n": 1, "custom": True}


# ------------------------------------------------------------------------------------ summary.yaml
def test_summary_yaml_is_the_summary_config() -> None:
    assert parse_machine_yaml(summary.yaml_text()) == summary.CONFIG
    machine = summary.load_yaml_machine()
    assert (machine.id, machine.version) == (summary.machine.id, summary.machine.version) == ("Summary", "0.0.1")


def _comparable(result: OrchestrationResult) -> dict[str, Any]:
    return {
        subject: {
            "events": [{k: v for k, v in event_to_dict(e).items() if k != "time"} for e in r.events_to_emit],
            "context": r.context,
            "status": r.status,
            "error": None if r.error is None else str(r.error),
        }
        for subject, r in result.subjects.items()
    } | {"outcomes": [(o.status, None if o.error is None else str(o.error)) for o in result.outcomes]}


def _ids_as_ordinals(value: Any, names: dict[str, str]) -> Any:
    """Command ids mix in each record's random life nonce: name them by order of appearance instead."""
    if isinstance(value, dict):
        return {k: _ids_as_ordinals(v, names) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_ids_as_ordinals(v, names) for v in value]
    if isinstance(value, str) and _UUID.fullmatch(value):
        return names.setdefault(value, f"<command {len(names)}>")
    return value


_UUID = __import__("re").compile(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")


async def _stored(storage: LockableStorage, subject: str) -> dict[str, Any]:
    stored = await storage.read(f"{subject}.json")
    assert stored is not None
    record: dict[str, Any] = json.loads(stored.data)
    for entry in record["outbox"]:  # wall-clock times differ between the two runs
        entry.pop("emittedAt")
        entry["event"].pop("time")
    for entry in record.get("journal", []):  # the journal too: times, and the ids of emitted commands
        entry.pop("at")
        for emitted in entry["emitted"]:
            emitted.pop("time", None)
            emitted.pop("id", None)
        if "snapshot" in entry:
            entry["snapshot"].get("context", {}).pop("_emitted", None)
    return {k: v for k, v in record.items() if k not in ("createdAt", "updatedAt", "life", "journalBytes")}


async def test_the_yaml_and_python_summary_machines_behave_the_same() -> None:
    """The original scenario, step by step, on both machines: same commands (ids by order of appearance,
    as each record's life nonce differs), contexts, statuses, errors and stored records."""
    subject = "saad.pdf"

    def reply(type_: str, data: dict[str, Any] | None = None, **ext: Any) -> Any:
        return create_cloud_event(subject=subject, source="/test", type=type_, data=data or {}, **ext)

    steps: list[dict[str, Any]] = [
        {"inits": [{"subject": subject, "context": {"bookId": "saad.pdf"}}]},
        {"events": [reply("books.evt.fetch.success", {"bookData": ["saad", "ahmad"]})]},
        {"events": [reply("gpt.evt.summary.success", {"summary": "short"}, statemachineversion="1.0.1")]},
        {"events": [reply("unrelated.event")]},
        {"events": [reply("gpt.evt.summary.success", {"summary": "short"}, statemachineversion="0.0.1")]},
        {"events": [reply("regulations.evt.summaryGrounded.success")]},
        {"events": [reply("regulations.evt.summaryCompliance.success")]},
    ]
    machines = {"python": summary.STATEMACHINE, "yaml": {"version": "0.0.1", "logic": summary.load_yaml_machine()}}
    stores = {name: memory() for name in machines}
    names: dict[str, dict[str, str]] = {name: {} for name in machines}
    for step in steps:
        seen = {}
        for name, statemachine in machines.items():
            result = await orchestrate_cloud_events(
                statemachine=statemachine, storage=stores[name], on_orchestration_state=summary.ORCHESTRATION,
                **step,
            )
            seen[name] = _ids_as_ordinals((_comparable(result), await _stored(stores[name], subject)), names[name])
            ids = [e.get_id() for e in result.events_to_emit]
            if ids:
                await confirm_published(stores[name], subject, ids)
        assert seen["python"] == seen["yaml"]
    final = await _stored(stores["yaml"], subject)
    assert final["snapshot"]["status"] == "done"
    assert final["snapshot"]["context"] == {"bookId": "saad.pdf", "bookData": ["saad", "ahmad"], "summary": "short"}
