"""A transition's actions run compiled once per plan (``compile_actions``); entry actions take the general
path. Both must resolve alike: the same context, the same executables with the same params."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from durable_xstate import assign, raise_, send_parent, send_to, setup
from durable_xstate.errors import MachineLookupError
from durable_xstate.machine import transition
from durable_xstate.machine.transition import initial_transition

# named actions: assign of property assigners, a function assign, send_to a fixed or computed target,
# send_parent, raise_, and an action given inline with params
ACTIONS: dict[str, Any] = {
    "inc": assign({"n": lambda args, params: args.context["n"] + 1, "fixed": 7}),
    "fn": assign(lambda args: {"m": args.context.get("m", 0) + args.context["n"]}),
    "toSelf": send_to("#_internal", {"type": "PING"}),
    "computed": send_to(lambda args: "#_internal", lambda args: {"type": "N", "n": args.context["n"]}),
    "toParent": send_parent({"type": "PONG"}),
    "again": raise_({"type": "AGAIN"}),
}
NAMES = sorted(ACTIONS)


def _run(actions: list[Any], as_entry: bool) -> tuple[Any, list[tuple[str, Any]]]:
    on_go = {"target": "b"} if as_entry else {"actions": actions}
    config = {
        "id": "m",
        "initial": "a",
        "context": {"n": 0},
        "states": {"a": {"on": {"GO": on_go}}, "b": {"entry": actions}},
    }
    machine = setup(actions=ACTIONS).create_machine(config)
    snapshot, _ = initial_transition(machine)
    results = []
    for _ in range(2):  # the second time from the cached (and compiled) plan
        try:
            out, actions_run = transition(machine, snapshot, {"type": "GO"})
        except MachineLookupError as err:  # no self nor parent in the pure transition: a send to them fails
            results.append(("error", str(err)))
            continue
        results.append((out.context, [(a.type, _plain(a.params)) for a in actions_run]))
    assert results[0] == results[1]
    return results[0]


def _plain(params: Any) -> Any:
    if isinstance(params, dict):
        return {k: (v if isinstance(v, str | int | dict | type(None)) else repr(v)) for k, v in params.items()}
    return params


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(NAMES), min_size=1, max_size=6))
def test_compiled_transition_actions_resolve_as_entry_actions_do(names: list[str]) -> None:
    assert _run(names, as_entry=False) == _run(names, as_entry=True)


def test_a_send_to_a_missing_target_fails_alike_on_both_paths() -> None:
    expected = ("error", "Unable to send event to actor '#_parent' from machine 'm'.")
    assert _run(["inc", "toParent"], as_entry=False) == _run(["inc", "toParent"], as_entry=True) == expected


def test_the_usual_actions_resolve_alike_on_both_paths() -> None:
    names = ["inc", "fn", "again", "inc"]
    context, executed = _run(names, as_entry=False)
    assert context == {"n": 2, "fixed": 7, "m": 1}
    assert [t for t, _ in executed] == ["xstate.raise"]
    assert _run(names, as_entry=True) == (context, executed)


def _live(as_entry: bool) -> list[tuple[str, Any]]:
    from durable_xstate import create_actor, create_machine

    kid = create_machine({"id": "kid", "initial": "k", "states": {"k": {"on": {"HI": {"actions": "toParent"}}}}})
    actions = ["inc", "toKid", "toSelf"]
    config = {
        "id": "m",
        "initial": "a",
        "context": {"n": 0},
        "invoke": {"id": "kid", "src": "kid"},
        "states": {
            "a": {"on": {"GO": {"target": "b"} if as_entry else {"actions": actions}}},
            "b": {"entry": actions},
        },
    }
    named = {**ACTIONS, "toKid": send_to("kid", {"type": "HI"})}
    machine = setup(actions=named, actors={"kid": kid.provide(actions={"toParent": ACTIONS["toParent"]})})
    seen: list[tuple[str, Any]] = []

    def inspect(ev: Any) -> None:
        if ev["type"] == "@xstate.action" and ev["action"]["type"] == "xstate.sendTo":
            params = ev["action"]["params"]
            who = "kid" if ev["actorRef"].id == "kid" else "m"
            seen.append((who, {**params, "to": "kid" if params["to"].id == "kid" else "m"}))

    actor = create_actor(machine.create_machine(config), inspect=inspect).start()
    actor.send({"type": "GO"})
    seen.append(("context", actor.get_snapshot().context))
    return seen


def test_a_live_send_to_a_child_and_back_runs_alike_on_both_paths() -> None:
    compiled = _live(as_entry=False)
    assert compiled == _live(as_entry=True)
    assert [who for who, _ in compiled] == ["m", "m", "kid", "context"]
    assert compiled[0][1] == {"to": "kid", "targetId": "kid", "event": {"type": "HI"}, "id": None, "delay": None}
