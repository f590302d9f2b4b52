"""What used to be a bare ValueError/TypeError/RuntimeError/LookupError is now an error of the tree that
is still that builtin (callers that caught the builtin keep working), with xstate's message unchanged
where xstate throws the same error."""

from __future__ import annotations

import asyncio
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_xstate import (
    DuplicateId,
    DurableXStateError,
    ImplementationMissing,
    InfiniteLoop,
    InvalidArgument,
    InvalidArgumentType,
    MachineLookupError,
    MissingDependency,
    SimulatedClock,
    create_actor,
    create_machine,
    raise_,
    setup,
)
from durable_xstate.errors import StoreConfigError, WriteConflict
from durable_xstate.stores import MemoryStore, open_backend, open_store

ROOT = Path(__file__).resolve().parents[1]


def error_of(actor: Any) -> BaseException:
    error = actor.get_snapshot().error
    assert isinstance(error, BaseException), error
    return error


# ------------------------------------------------------------------ engine errors keep xstate's message
def test_a_string_event_is_an_invalid_argument_type_with_xstates_message() -> None:
    actor = create_actor(create_machine({"initial": "a", "states": {"a": {}}})).start()
    with pytest.raises(TypeError) as info:
        actor.send("GO")  # type: ignore[arg-type]
    assert isinstance(info.value, InvalidArgumentType)
    assert str(info.value) == 'Only event objects may be sent to actors; use send({"type": "GO"}) instead'


def test_an_infinite_loop_is_a_runtime_error_with_xstates_message() -> None:
    machine = create_machine({"initial": "a", "options": {"maxIterations": 50},
                              "states": {"a": {"entry": raise_({"type": "X"}), "on": {"X": "b"}},
                                         "b": {"entry": raise_({"type": "Y"}), "on": {"Y": "a"}}}})
    actor = create_actor(machine)
    actor.subscribe(error=lambda e: None)
    actor.start()
    error = error_of(actor)
    assert isinstance(error, InfiniteLoop) and isinstance(error, RuntimeError)
    assert error.max_iterations == 50
    assert str(error).startswith("Infinite loop detected: the machine has processed more than 50 microsteps")


def test_a_guard_not_implemented_is_a_not_implemented_error_and_a_lookup_error() -> None:
    machine = setup(strict=False).create_machine(
        {"initial": "a", "states": {"a": {"on": {"GO": {"target": "b", "guard": "nope"}}}, "b": {}}})
    actor = create_actor(machine)
    actor.subscribe(error=lambda e: None)
    actor.start()
    actor.send({"type": "GO"})
    cause = error_of(actor).__cause__
    assert isinstance(cause, ImplementationMissing)
    assert isinstance(cause, NotImplementedError) and isinstance(cause, LookupError)
    assert str(cause) == "Guard 'nope' is not implemented.'."  # xstate's wording, stray quote and all


def test_a_delay_not_implemented_is_a_lookup_error() -> None:
    machine = create_machine({"initial": "a", "states": {"a": {"entry": raise_({"type": "X"}, delay="SOON")}}})
    actor = create_actor(machine, clock=SimulatedClock())
    actor.subscribe(error=lambda e: None)
    actor.start()
    error = error_of(actor)
    assert isinstance(error, MachineLookupError) and isinstance(error, LookupError)
    assert str(error) == f"Delay 'SOON' is not implemented in machine '{machine.id}'"


def test_a_taken_system_id_is_a_duplicate_id() -> None:
    child = create_machine({"initial": "a", "states": {"a": {}}})
    machine = setup(actors={"child": child}).create_machine({
        "initial": "a",
        "states": {"a": {"invoke": [{"src": "child", "id": "c1", "systemId": "same"},
                                    {"src": "child", "id": "c2", "systemId": "same"}]}},
    })
    actor = create_actor(machine)
    actor.subscribe(error=lambda e: None)
    actor.start()
    error = error_of(actor)
    assert isinstance(error, DuplicateId) and isinstance(error, ValueError)
    assert error.id == "same" and str(error) == "Actor with system ID 'same' already exists."


def test_a_clock_sent_back_in_time_is_an_invalid_argument() -> None:
    clock = SimulatedClock()
    clock.set(100)
    with pytest.raises(InvalidArgument, match="Unable to travel back in time"):
        clock.set(50)


# ------------------------------------------------------------------ stores
@settings(max_examples=25)
@given(option=st.from_regex(r"[a-z_]{1,12}", fullmatch=True).filter(lambda o: o not in ("fsync", "io")))
def test_an_unknown_file_store_option_is_a_store_config_error(option: str, tmp_path_factory: Any) -> None:
    root = tmp_path_factory.mktemp("store")
    with pytest.raises(StoreConfigError) as info:
        open_store(f"file://{root}?{option}=1")
    assert isinstance(info.value, ValueError) and option in str(info.value)


@pytest.mark.parametrize("url", ["nosuch://x", "sqlite://", "sqlite:///tmp/x.db?timeout=soon",
                                 "dynamodb://table/extra", "s3://Bad_Bucket!"])
def test_bad_store_urls_are_store_config_errors(url: str) -> None:
    with pytest.raises(StoreConfigError) as info:
        open_store(url)
    assert isinstance(info.value, ValueError)


@settings(max_examples=25)
@given(limit=st.integers(max_value=0))
def test_a_page_limit_below_one_is_an_invalid_argument(limit: int) -> None:
    with pytest.raises(InvalidArgument) as info:
        asyncio.run(MemoryStore().list_page(limit=limit))
    assert isinstance(info.value, ValueError) and f"got {limit}" in str(info.value)


def test_store_values_that_are_not_bytes_are_an_invalid_argument_type() -> None:
    with pytest.raises(TypeError) as info:
        asyncio.run(MemoryStore().write("k", "text"))  # type: ignore[arg-type]
    assert isinstance(info.value, InvalidArgumentType)


# ------------------------------------------------------------------ install hints
def extras() -> set[str]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return set(tomllib.load(f)["project"]["optional-dependencies"])


def test_every_install_hint_names_a_real_extra() -> None:
    hints: set[str] = set()
    for folder in ("src", "docs"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".md"):
                hints |= set(re.findall(r"durable-xstate\[([\w{}]+)\]", path.read_text(encoding="utf-8")))
    hints |= set(re.findall(r"durable-xstate\[([\w{}]+)\]", (ROOT / "README.md").read_text(encoding="utf-8")))
    hints.discard("{extra}")  # the formatted hint of open_backend, checked below
    assert "postgres" in hints and "aws" in hints  # the scan found the hints
    assert hints <= extras()


@pytest.mark.parametrize(("scheme", "client", "extra"), [("s3", "boto3", "aws"), ("dynamodb", "boto3", "aws")])
def test_a_missing_client_names_the_extra_that_installs_it(
    scheme: str, client: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert extra in extras()
    # make the client unimportable (None in sys.modules), and the backend module be imported afresh
    monkeypatch.setitem(sys.modules, client, None)
    for name in [n for n in sys.modules if n.startswith(("durable_xstate.stores.s3", "durable_xstate.stores.dynamodb",
                                                         "durable_xstate.stores._aws", "botocore"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "botocore", None)
    with pytest.raises(ImportError) as info:
        open_backend(f"{scheme}://somewhere")
    assert isinstance(info.value, MissingDependency) and isinstance(info.value, DurableXStateError)
    assert info.value.extra == extra and f"pip install 'durable-xstate[{extra}]'" in str(info.value)


# ------------------------------------------------------------------ WriteConflict says what happened
@settings(max_examples=50)
@given(expected=st.none() | st.text(max_size=10), found=st.none() | st.text(max_size=10))
def test_a_write_conflict_never_says_it_found_what_it_expected(expected: str | None, found: str | None) -> None:
    message = str(WriteConflict("k", expected, found))
    if expected == found:
        assert "concurrent writer" in message and ", found" not in message
    else:
        assert "found" in message
    assert str(WriteConflict("k", None, None, reason="why")) == "write conflict on 'k': why"
