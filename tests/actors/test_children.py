"""Child actors on the real runtime: asyncio promises, callbacks, observables, reducers, restore, bad input."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from harness import HANG_SECONDS

from durable_xstate import (
    ActorError,
    MachineConfigError,
    SimulatedClock,
    assign,
    create_actor,
    create_machine,
    from_callback,
    from_observable,
    from_promise,
    from_transition,
    send_to,
    setup,
    spawn_child,
    wait_for_sync,
)


async def settle(actor: Any, status: str = "done", timeout: float = 300.0) -> None:
    """Wait for ``status``; the timeout only catches a hang (a loaded machine may be slow to get there)."""
    async def wait() -> None:
        while actor.get_snapshot().status != status:
            await asyncio.sleep(0.001)

    await asyncio.wait_for(wait(), timeout)


def fetcher_machine(logic: Any) -> Any:
    return setup(actors={"fetch": logic}).create_machine(
        {
            "id": "m",
            "initial": "loading",
            "context": {},
            "states": {
                "loading": {
                    "invoke": {
                        "src": "fetch",
                        "input": lambda a: {"n": 20},
                        "onDone": {"target": "ok", "actions": assign({"result": lambda a, p: a.event["output"]})},
                        "onError": {"target": "failed", "actions": assign({"why": lambda a, p: str(a.event["error"])})},
                    }
                },
                "ok": {"type": "final"},
                "failed": {"type": "final"},
            },
        }
    )


def test_promise_resolves_on_the_event_loop() -> None:
    async def fetch(args: Any) -> int:
        await asyncio.sleep(0.01)
        return int(args.input["n"]) * 2

    async def main() -> dict[str, Any]:
        actor = create_actor(fetcher_machine(from_promise(fetch))).start()
        await settle(actor)
        return dict(actor.get_snapshot().context)

    assert asyncio.run(main()) == {"result": 40}


def test_promise_rejection_reaches_on_error() -> None:
    async def fetch(args: Any) -> int:
        raise ValueError("no route")

    async def main() -> dict[str, Any]:
        actor = create_actor(fetcher_machine(from_promise(fetch))).start()
        await settle(actor)
        return dict(actor.get_snapshot().context)

    assert asyncio.run(main()) == {"why": "no route"}


def test_leaving_the_state_cancels_the_coroutine() -> None:
    cancelled: list[bool] = []

    async def slow(args: Any) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    machine = setup(actors={"slow": from_promise(slow)}).create_machine(
        {"initial": "busy", "states": {"busy": {"invoke": {"src": "slow"}, "on": {"CANCEL": "idle"}}, "idle": {}}}
    )

    async def main() -> None:
        actor = create_actor(machine).start()
        await asyncio.sleep(0.01)
        actor.send({"type": "CANCEL"})
        await asyncio.sleep(0.01)
        assert actor.get_snapshot().children == {}

    asyncio.run(main())
    assert cancelled == [True]


def test_promise_without_event_loop_fails_the_actor_clearly() -> None:
    async def fetch(args: Any) -> int:
        return 1

    # the child fails at start; like any child error it reaches the parent's onError
    actor = create_actor(fetcher_machine(from_promise(fetch))).start()
    snap = actor.get_snapshot()
    assert snap.value == "failed"
    assert "running asyncio event loop" in snap.context["why"]


def test_callback_send_back_receive_and_cleanup() -> None:
    log: list[str] = []

    def ticker(args: Any) -> Any:
        args.send_back({"type": "TICK"})
        args.receive(lambda e: args.send_back({"type": "ECHO", "of": e["type"]}))
        return lambda: log.append("cleanup")

    machine = setup(actors={"ticker": from_callback(ticker)}).create_machine(
        {
            "initial": "on",
            "context": {"seen": []},
            "states": {
                "on": {
                    "invoke": {"id": "t", "src": "ticker"},
                    "on": {
                        "TICK": {"actions": assign({"seen": lambda a, p: [*a.context["seen"], "tick"]})},
                        "PING": {"actions": send_to("t", {"type": "PING"})},
                        "ECHO": {"actions": assign({"seen": lambda a, p: [*a.context["seen"], a.event["of"]]})},
                        "OFF": "off",
                    },
                },
                "off": {},
            },
        }
    )
    actor = create_actor(machine).start()
    actor.send({"type": "PING"})
    actor.send({"type": "OFF"})
    assert actor.get_snapshot().context["seen"] == ["tick", "PING"]
    assert log == ["cleanup"]


def test_observable_from_iterable_and_async_iterable() -> None:
    machine_cfg = {
        "initial": "watching",
        "context": {"values": []},
        "states": {
            "watching": {
                "invoke": {
                    "src": "numbers",
                    "onSnapshot": {
                        "actions": assign({"values": lambda a, p: [*a.context["values"], a.event["snapshot"].context]})
                    },
                    "onDone": "finished",
                }
            },
            "finished": {"type": "final"},
        },
    }
    sync_machine = setup(actors={"numbers": from_observable(lambda args: [1, 2, 3])}).create_machine(machine_cfg)
    actor = create_actor(sync_machine).start()
    assert actor.get_snapshot().status == "done"
    assert actor.get_snapshot().context["values"] == [None, 1, 2, 3]

    async def numbers() -> Any:
        for i in (4, 5):
            await asyncio.sleep(0)
            yield i

    async_machine = setup(actors={"numbers": from_observable(lambda args: numbers())}).create_machine(machine_cfg)

    async def main() -> list[Any]:
        actor = create_actor(async_machine).start()
        await settle(actor)
        return list(actor.get_snapshot().context["values"])

    assert asyncio.run(main()) == [None, 4, 5]


def test_transition_child_keeps_its_context_across_restore() -> None:
    counter = from_transition(lambda n, e: n + e.get("by", 0) if e["type"] == "ADD" else n, 0)
    machine = setup(actors={"counter": counter}).create_machine(
        {"initial": "a", "states": {"a": {"invoke": {"id": "c", "src": "counter"},
                                          "on": {"ADD": {"actions": send_to("c", lambda a, p: a.event)}}}}}
    )
    actor = create_actor(machine).start()
    actor.send({"type": "ADD", "by": 5})
    saved = json.loads(json.dumps(actor.get_persisted_snapshot()))
    assert saved["children"]["c"] == {"snapshot": {"status": "active", "context": 5}, "src": "counter",
                                      "syncSnapshot": False}
    restored = create_actor(machine, snapshot=saved).start()
    restored.send({"type": "ADD", "by": 1})
    assert restored.get_snapshot().children["c"].get_snapshot().context == 6


def test_child_machine_resumes_from_its_snapshot() -> None:
    child = create_machine({"initial": "one", "states": {"one": {"on": {"NEXT": "two"}}, "two": {}}})
    parent = setup(actors={"child": child}).create_machine(
        {"initial": "p", "states": {"p": {"entry": spawn_child("child", id="kid"),
                                          "on": {"FWD": {"actions": send_to("kid", {"type": "NEXT"})}}}}}
    )
    actor = create_actor(parent).start()
    actor.send({"type": "FWD"})
    saved = json.loads(json.dumps(actor.get_persisted_snapshot()))
    assert saved["children"]["kid"]["snapshot"]["value"] == "two"
    restored = create_actor(parent, snapshot=saved).start()
    assert restored.get_snapshot().children["kid"].get_snapshot().value == "two"


def test_inline_spawned_child_cannot_be_persisted() -> None:
    inline = create_machine({"initial": "x", "states": {"x": {}}})
    machine = create_machine(
        {"initial": "a", "context": {}, "states": {"a": {"entry": assign({"ref": lambda a, p: a.spawn(inline, id="k")})}}}
    )
    actor = create_actor(machine).start()
    with pytest.raises(ActorError, match="inline child actor cannot be persisted"):
        actor.get_persisted_snapshot()


def test_scheduled_events_are_exposed_with_due_times() -> None:
    clock = SimulatedClock(now=1_000)
    machine = create_machine({"initial": "wait", "states": {"wait": {"after": {"500": "late"}}, "late": {}}})
    actor = create_actor(machine, clock=clock).start()
    events = actor.get_scheduled_events()
    assert events == [{"id": "xstate.after.500.(machine).wait", "event": {"type": "xstate.after.500.(machine).wait"},
                       "target": actor.id, "delay": 500, "startedAt": 1_000, "dueAt": 1_500}]
    assert "scheduled" not in json.dumps(actor.get_persisted_snapshot())
    clock.increment(499)
    assert actor.get_snapshot().value == "wait"
    clock.increment(1)
    assert actor.get_snapshot().value == "late"
    assert actor.get_scheduled_events() == []


def test_after_on_the_asyncio_clock() -> None:
    machine = create_machine({"initial": "wait", "states": {"wait": {"after": {"20": "late"}}, "late": {"type": "final"}}})

    async def main() -> str:
        actor = create_actor(machine).start()
        await settle(actor)
        return str(actor.get_snapshot().value)

    assert asyncio.run(main()) == "late"


def test_delays_without_an_event_loop_fire_on_the_timer_thread() -> None:
    machine = create_machine({"initial": "wait", "states": {"wait": {"after": {"20": "late"}}, "late": {}}})
    actor = create_actor(machine).start()
    assert actor.get_snapshot().status == "active"
    assert wait_for_sync(actor, lambda s: s.value == "late", timeout=HANG_SECONDS).value == "late"


def test_machines_without_delays_need_no_event_loop() -> None:
    machine = create_machine({"initial": "a", "states": {"a": {"on": {"T": "b"}}, "b": {}}})
    actor = create_actor(machine).start()
    actor.send({"type": "T"})
    assert actor.get_snapshot().value == "b"


def test_system_ids() -> None:
    child = create_machine({"initial": "x", "states": {"x": {}}})
    machine = setup(actors={"child": child}).create_machine(
        {"initial": "a", "states": {"a": {"invoke": {"src": "child", "systemId": "worker"}}}}
    )
    actor = create_actor(machine).start()
    worker = actor.system.get("worker")
    assert worker is not None and worker.parent is actor


# ----------------------------------------------------------------- bad input (strict by default)


def test_unknown_invoke_src_is_a_config_error() -> None:
    machine = create_machine({"initial": "a", "states": {"a": {"invoke": {"src": "nobody"}}}})
    with pytest.raises(MachineConfigError) as info:
        create_actor(machine)
    assert info.value.path == "states.a.invoke[0].src"


def test_unknown_spawn_src_fails_the_actor() -> None:
    machine = create_machine({"initial": "a", "states": {"a": {"entry": spawn_child("nobody", id="k")}}})
    actor = create_actor(machine)
    actor.subscribe(error=lambda e: None)
    actor.start()
    assert actor.get_snapshot().status == "error"
    assert "Actor logic 'nobody' not implemented" in str(actor.get_snapshot().error)


def test_clashing_child_id_fails_the_actor() -> None:
    child = create_machine({"initial": "x", "states": {"x": {}}})
    machine = setup(actors={"child": child}).create_machine(
        {"initial": "a", "states": {"a": {"entry": [spawn_child("child", id="k"), spawn_child("child", id="k")]}}}
    )
    actor = create_actor(machine)
    actor.subscribe(error=lambda e: None)
    actor.start()
    assert "Child id 'k' is already used" in str(actor.get_snapshot().error)


def test_send_to_a_missing_child_fails_the_actor_as_in_xstate() -> None:
    machine = create_machine({"id": "m", "initial": "a", "states": {"a": {"on": {"GO": {"actions": send_to("ghost", {"type": "X"})}}}}})
    actor = create_actor(machine)
    actor.subscribe(error=lambda e: None)
    actor.start()
    actor.send({"type": "GO"})
    assert str(actor.get_snapshot().error) == "Unable to send event to actor 'ghost' from machine 'm'."


def test_send_to_nothing_is_refused_in_strict_mode() -> None:
    machine = create_machine({"initial": "a", "states": {"a": {"on": {"GO": {"actions": send_to(lambda a, p: None, {"type": "X"})}}}}})
    actor = create_actor(machine)
    actor.subscribe(error=lambda e: None)
    actor.start()
    actor.send({"type": "GO"})
    assert "resolved to nothing" in str(actor.get_snapshot().error)


def test_unknown_delay_name() -> None:
    machine = create_machine({"initial": "a", "states": {"a": {"after": {"SOON": "b"}}, "b": {}}})
    with pytest.raises(MachineConfigError) as info:
        create_actor(machine)
    assert info.value.path == "states.a.after.SOON"
    from durable_xstate import raise_

    machine = create_machine({"initial": "a", "states": {"a": {"entry": raise_({"type": "X"}, delay="SOON")}}})
    actor = create_actor(machine, clock=SimulatedClock())
    actor.subscribe(error=lambda e: None)
    actor.start()
    assert "Delay 'SOON' is not implemented" in str(actor.get_snapshot().error)
