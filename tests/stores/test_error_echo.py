"""Errors that echo a key, an id or a value cut it short (``short_repr``), and a key or prefix that is not
a string is an InvalidKey (never an AttributeError or TypeError from deep inside a backend)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable_xstate.errors import (
    InvalidKey,
    LeaseLost,
    LockTimeout,
    UnsafePath,
    ValueTooLarge,
    WriteConflict,
    short_repr,
)
from durable_xstate.stores import Lease, MemoryStore
from durable_xstate.stores.base import check_lease_key, validate_key, validate_prefix
from durable_xstate.stores.local import LocalFileStore

HUGE = "k" * 10_000_000


@given(st.one_of(st.text(), st.binary(), st.lists(st.text()), st.integers()), st.integers(10, 200))
def test_short_repr_is_repr_when_short_and_bounded_when_long(value: object, limit: int) -> None:
    text = short_repr(value, limit)
    if len(repr(value)) <= limit:
        assert text == repr(value)
    else:
        # the repr of at most ``limit`` characters (an escape such as \U000e0000 takes 10), then the length
        assert len(text) <= 10 * limit + 40
        assert text.endswith((" chars)", " bytes)"))


def test_short_repr_survives_a_failing_repr() -> None:
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert "Hostile" in short_repr(Hostile())


@pytest.mark.parametrize(
    "make",
    [
        lambda: InvalidKey(HUGE, "too long"),
        lambda: UnsafePath(HUGE, HUGE, "a FIFO"),
        lambda: WriteConflict(HUGE, HUGE, HUGE),
        lambda: LeaseLost(HUGE, "expired"),
        lambda: ValueTooLarge(HUGE, 1, 0),
        lambda: LockTimeout(HUGE),
    ],
    ids=["InvalidKey", "UnsafePath", "WriteConflict", "LeaseLost", "ValueTooLarge", "LockTimeout"],
)
def test_no_error_echoes_a_10_mb_key_whole(make: object) -> None:
    err = make()  # type: ignore[operator]
    message = str(err)
    assert len(message) < 600, len(message)
    assert "10000000 chars" in message  # says how long the whole was
    assert err.key is HUGE  # the attribute keeps the whole key for code that needs it


def test_the_10_mb_key_through_validation_and_stores(tmp_path: Path) -> None:
    with pytest.raises(InvalidKey) as info:
        validate_key(HUGE)
    assert len(str(info.value)) < 300
    with pytest.raises(LeaseLost) as lost:
        check_lease_key(Lease(HUGE, "me", 1, 0.0, 1.0), "k")
    assert len(str(lost.value)) < 300


@pytest.mark.parametrize("bad", [None, 42, b"bytes", ["a"], object()], ids=repr)
async def test_a_key_or_prefix_that_is_not_a_string_is_an_invalid_key(tmp_path: Path, bad: object) -> None:
    with pytest.raises(InvalidKey):
        validate_prefix(bad)
    for store in (MemoryStore(), LocalFileStore(tmp_path)):
        for call in (  # coroutines: the key is checked when each is awaited
            store.read(bad),  # type: ignore[arg-type]
            store.exists(bad),  # type: ignore[arg-type]
            store.write(bad, b"x"),  # type: ignore[arg-type]
            store.delete(bad),  # type: ignore[arg-type]
            store.list_page(bad),  # type: ignore[arg-type]
            store.try_acquire(bad, "me", 1.0),  # type: ignore[arg-type]
            store.is_locked(bad),  # type: ignore[arg-type]
        ):
            with pytest.raises(InvalidKey):
                await call
