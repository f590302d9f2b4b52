"""A WriteConflict from an optimistic durable step says why it happened and what to do."""

from __future__ import annotations

from typing import Any

import pytest

from durable_xstate import WriteConflict, assign, create_actor, setup, with_persistable_actor
from durable_xstate.persistence import PersistableActor
from durable_xstate.stores import open_store

machine = setup(actions={"add": assign({"n": lambda args, params: args.context["n"] + 1})}).create_machine(
    {"id": "hint", "initial": "a", "context": {"n": 0}, "states": {"a": {"on": {"ADD": {"actions": "add"}}}}}
)


def creator(id: str, snapshot: Any) -> Any:
    return create_actor(machine, id=id, snapshot=snapshot)


@pytest.mark.parametrize("locking", [None, "write"])
async def test_a_lost_race_names_the_remedies(locking: str | None) -> None:
    store = open_store("memory://conflict-hint-" + str(locking))
    options: dict[str, Any] = {"id": "x", "storage": store, "actor_creator": creator, "locking": locking}
    await with_persistable_actor(lambda a: None, **options)
    first, second = PersistableActor(**options), PersistableActor(**options)
    await first.init()
    await second.init()
    first.actor.send({"type": "ADD"})
    second.actor.send({"type": "ADD"})
    await first.save()
    with pytest.raises(WriteConflict) as caught:
        await second.save()
    message = str(caught.value)
    assert "another writer saved this actor after it was loaded" in message
    assert "retries_on_conflict" in message and "locking='read-write'" in message
    assert caught.value.hint is not None and isinstance(caught.value.__cause__, WriteConflict)
    await first.close()
    await second.close()


async def test_retries_used_up_says_how_many_attempts() -> None:
    store = open_store("memory://conflict-hint-retries")
    options: dict[str, Any] = {"id": "x", "storage": store, "actor_creator": creator}
    await with_persistable_actor(lambda a: None, **options)

    async def always_overtaken(actor: Any) -> None:
        # another writer saves between this step's read and its write, every time
        await with_persistable_actor(lambda a: a.send({"type": "ADD"}), **options)
        actor.send({"type": "ADD"})

    with pytest.raises(WriteConflict, match=r"on each of 3 attempts; raise retries_on_conflict"):
        await with_persistable_actor(always_overtaken, retries_on_conflict=2, **options)
