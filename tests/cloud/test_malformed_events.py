"""Malformed CloudEvents in a batch: each gets its own outcome, the others are applied (issue 11)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_xstate import assign, setup
from durable_xstate.cloud import (
    InvalidCloudEvent,
    event_to_dict,
    orchestrate_cloud_events,
    read_cloud_event,
)
from durable_xstate.cloud.validation import MAX_DATA_DEPTH
from durable_xstate.errors import CloudEventError
from durable_xstate.stores import LockableStorage, MemoryStore
from durable_xstate.stores.sync import background_loop

collector = setup(actions={
    "add": assign({"items": lambda a, p: [*a.context["items"], a.event["n"]]}),
}).create_machine({
    "id": "collector", "version": "1.0.0", "initial": "collecting", "context": {"items": []},
    "states": {"collecting": {"on": {"item.added": {"actions": "add"}}}},
})
COLLECTOR = {"version": "1.0.0", "logic": collector}


def item(to: str, n: int, **overrides: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": f"{to}-{n}", "source": "/shop", "type": "item.added",
            "subject": to, "datacontenttype": "application/json", "data": {"n": n}, **overrides}


def without(event: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != name}


def nested(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth):
        value = {"a": value}
    return value


async def items_of(store: LockableStorage, subject: str) -> list[int]:
    stored = await store.read(f"{subject}.json")
    assert stored is not None
    result: list[int] = json.loads(stored.data)["snapshot"]["context"]["items"]
    return result


MALFORMED: dict[str, Any] = {
    "empty subject": item("a", 10, subject=""),
    "missing source": without(item("a", 11), "source"),
    "specversion 0.3": item("a", 12, specversion="0.3"),
    "deeply nested data": item("a", 13, data={"n": 13, "deep": nested(10_000)}),
    "subject ..": item("a", 14, subject=".."),
    "not an object": ["a", "list"],
    "null": None,
    "missing id": without(item("a", 15), "id"),
    "missing subject": without(item("a", 16), "subject"),
    "data not JSON": item("a", 17, data={"n": {1, 2}}),
}


async def test_one_malformed_event_never_stops_the_batch(store: LockableStorage) -> None:
    init = await orchestrate_cloud_events(statemachine=COLLECTOR, storage=store,
                                          inits=[{"subject": "a"}, {"subject": "b"}])
    assert not init.errors
    events = [item("a", 1), *MALFORMED.values(), item("b", 2), item("a", 3)]
    r = await orchestrate_cloud_events(statemachine=COLLECTOR, storage=store, events=events)
    assert [o.status for o in r.outcomes] == ["applied", *["invalid"] * len(MALFORMED), "applied", "applied"]
    for name, outcome in zip(MALFORMED, r.outcomes[1:-2], strict=True):
        assert isinstance(outcome.error, InvalidCloudEvent) and isinstance(outcome.error, CloudEventError), name
        assert isinstance(outcome.error, ValueError) and outcome.permanent, name
    assert r.outcomes[0].permanent is False and r.outcomes[0].error is None
    assert await items_of(store, "a") == [1, 3]
    assert await items_of(store, "b") == [2]


async def test_an_event_without_id_is_refused_every_time_it_is_delivered(store: LockableStorage) -> None:
    """The SDK would invent a random id, so each redelivery would be applied again."""
    await orchestrate_cloud_events(statemachine=COLLECTOR, storage=store, inits=[{"subject": "a"}])
    no_id = without(item("a", 1), "id")
    for _ in range(2):
        r = await orchestrate_cloud_events(statemachine=COLLECTOR, storage=store, events=[no_id])
        [outcome] = r.outcomes
        assert outcome.status == "invalid" and outcome.permanent and "'id'" in str(outcome.error)
    assert await items_of(store, "a") == []


def test_read_cloud_event_names_what_is_wrong() -> None:
    for name, raw in MALFORMED.items():
        try:
            read_cloud_event(raw)
        except InvalidCloudEvent as err:
            assert str(err), name
        else:
            raise AssertionError(f"{name} was accepted")
    assert read_cloud_event(item("a", 1, data=nested(MAX_DATA_DEPTH - 1))).get_id() == "a-1"
    too_deep = item("a", 1, data=nested(MAX_DATA_DEPTH + 1))
    try:
        read_cloud_event(too_deep)
    except InvalidCloudEvent as err:
        assert f"deeper than {MAX_DATA_DEPTH}" in str(err) and err.event_id == "a-1" and err.subject == "a"
    else:
        raise AssertionError("too deep data was accepted")


# ------------------------------------------------------------------ property: random batches, delivered twice
SUBJECTS = ["s0", "s1", "s2"]
json_leaf = st.none() | st.booleans() | st.integers(-10, 10) | st.text(max_size=5)
json_data = st.recursive(json_leaf, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(
    st.text(max_size=3), kids, max_size=3), max_leaves=8)


@st.composite
def good_event(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(0, 10_000))
    subject = draw(st.sampled_from(SUBJECTS))
    return item(subject, n, id=draw(st.text(min_size=1, max_size=8)) + f"#{n}",
                data={"n": n, "extra": draw(json_data)})


@st.composite
def malformed_event(draw: st.DrawFn) -> Any:
    base = draw(good_event())
    how = draw(st.sampled_from(["drop", "odd", "not an object", "deep"]))
    if how == "drop":
        return without(base, draw(st.sampled_from(["id", "source", "type", "subject"])))
    if how == "odd":
        name = draw(st.sampled_from(["id", "source", "type", "subject", "specversion"]))
        odd_strings = {"subject": ["..", "a/../b", "/abs", "a\\b"], "specversion": ["0.3", "1"]}.get(name, [])
        return {**base, name: draw(st.sampled_from(["", None, 7, ["x"], *odd_strings]))}
    if how == "deep":
        return {**base, "data": nested(MAX_DATA_DEPTH + draw(st.integers(1, 50)))}
    return draw(st.none() | st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=2))


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.booleans(), good_event(), malformed_event()), min_size=1, max_size=8))
def test_random_batches_every_event_has_an_outcome_good_ones_apply_exactly_once(
    draws: list[tuple[bool, dict[str, Any], Any]],
) -> None:
    batch = [good if is_good else bad for is_good, good, bad in draws]
    memory = MemoryStore()
    store = LockableStorage(memory, memory)

    async def scenario() -> None:
        await orchestrate_cloud_events(statemachine=COLLECTOR, storage=store,
                                       inits=[{"subject": s} for s in SUBJECTS])
        first = await orchestrate_cloud_events(statemachine=COLLECTOR, storage=store, events=batch)
        second = await orchestrate_cloud_events(statemachine=COLLECTOR, storage=store, events=batch)
        for result in (first, second):
            assert len(result.outcomes) == len(batch) and not result.errors
        expected: dict[str, list[int]] = {s: [] for s in SUBJECTS}
        seen: set[tuple[str, str]] = set()
        for is_good, ev, o1, o2 in zip([g for g, _, _ in draws], batch, first.outcomes, second.outcomes, strict=True):
            if not is_good:
                assert o1.status == o2.status == "invalid" and o1.permanent and o2.permanent
                continue
            key = (ev["subject"], ev["id"])
            assert o1.status == ("duplicate" if key in seen else "applied")
            assert o2.status == "duplicate"
            if key not in seen:
                seen.add(key)
                expected[ev["subject"]].append(ev["data"]["n"])
        for s in SUBJECTS:
            assert await items_of(store, s) == expected[s]

    background_loop().run(scenario())


def test_a_cloud_event_object_passes_unchanged() -> None:
    from durable_xstate.cloud import create_cloud_event

    ce = create_cloud_event(subject="a", source="/s", type="t", data={"n": 1}, id="x")
    assert read_cloud_event(ce) is ce
    assert event_to_dict(read_cloud_event(event_to_dict(ce))) == event_to_dict(ce)
