"""Backends under test, shared by the stores contract suite and the persistence reliability suite.

The contract suite runs against every backend on its real server.

Each backend has a provider module ``stores/provider_<name>.py``: it starts (or finds,
through ``DURABLE_XSTATE_TEST_<NAME>_URL``) its server in a session fixture and defines
``make_backend(request, namespace, tmp_path) -> BackendUnderTest`` giving a fresh namespace for
one test. A backend whose provider is missing or whose server cannot start FAILS the run; none is
skipped.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import settings

HERE = Path(__file__).parent / "stores"
sys.path.insert(0, str(HERE))

import harness  # noqa: E402
from harness import BACKENDS, BackendUnderTest, announce, make_backend  # noqa: E402

from durable_xstate.stores import LockableStorage  # noqa: E402

# Providers' session fixtures (servers) become fixtures of this directory.
for _name in BACKENDS:
    if (HERE / f"provider_{_name}.py").exists():
        _module = importlib.import_module(f"provider_{_name}")
        for _attr in dir(_module):
            if _attr.endswith("_server") and not _attr.startswith("_"):
                globals()[_attr] = getattr(_module, _attr)


# Property tests (hypothesis): no per-example deadline, since CI may run on a loaded machine and a
# deadline there measures the machine, not the code; a fixed example count keeps runs comparable.
settings.register_profile("durable", deadline=None, max_examples=100, print_blob=True)
settings.load_profile("durable")


def pytest_configure(config: pytest.Config) -> None:
    harness._pytest_config = config


#: Backends that need a server the suite starts (or finds through ``DURABLE_XSTATE_TEST_<NAME>_URL``).
SERVER_BACKENDS = frozenset({"s3", "dynamodb", "redis", "postgres", "azure"})


def needs_a_server(item: pytest.Item) -> bool:
    """Runs on a backend with a server (its ``backend`` parameter), or asks for a server fixture."""
    callspec = getattr(item, "callspec", None)
    backend = callspec.params.get("backend") if callspec is not None else None
    if isinstance(backend, str) and backend.partition("+")[0] in SERVER_BACKENDS:
        return True
    return any(name.endswith("_server") for name in getattr(item, "fixturenames", ()))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``servers`` marks every test that needs PostgreSQL, redis, moto or Azurite: ``-m "not slow and not servers"``
    is the developer's loop (the engine, the actors, persistence, the CLI and cloud on the in-memory,
    file and SQLite stores; docs/testing.md)."""
    for item in items:
        if needs_a_server(item):
            item.add_marker(pytest.mark.servers)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A line before each slow test (8-process races, kill trials), so a long wait is never silent."""
    if item.get_closest_marker("slow") is not None:
        announce(f"[slow] {item.nodeid} ...")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> BackendUnderTest:
    return make_backend(request.param, request, tmp_path)


@pytest_asyncio.fixture
async def store(backend: BackendUnderTest) -> AsyncIterator[LockableStorage]:
    s = backend.open()
    try:
        yield s
    finally:
        await s.close()
