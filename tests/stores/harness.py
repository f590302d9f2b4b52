"""What a provider hands to the contract suite."""

from __future__ import annotations

import importlib
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from durable_xstate.stores import LockableStorage, open_store


@dataclass
class BackendUnderTest:
    name: str
    url: str  # opens this test's namespace, also from another process
    lock_url: str | None = None
    #: whether several OS processes can share it (False only for the in-process memory backend)
    shared_across_processes: bool = True
    #: a URL of the same backend whose server is down / unreachable (None only for memory)
    dead_url: str | None = None

    def open(self) -> LockableStorage:
        return open_store(self.url, lock=self.lock_url)


BACKENDS = ["memory", "file", "sqlite", "s3", "dynamodb", "redis", "postgres"]
#: backends whose client blocks, so they have an ``io=thread`` (default) / ``io=inline`` choice
BLOCKING = ["file", "sqlite", "s3", "dynamodb"]
#: what the store contract suite runs: every backend, and the blocking ones again in ``io=inline`` mode
STORE_BACKENDS = BACKENDS + [f"{name}+inline" for name in BLOCKING]


def with_io(url: str, mode: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}io={mode}"


def make_backend(param: str, request: Any, tmp_path: Path) -> BackendUnderTest:
    """The backend named ``param`` (``name`` or ``name+io``) in a fresh namespace, from its provider."""
    import pytest

    name, _, io = param.partition("+")
    try:
        provider = importlib.import_module(f"provider_{name}")
    except ImportError as err:
        pytest.fail(f"backend {name!r} has no provider module (tests/stores/provider_{name}.py): {err}")
    namespace = f"t{uuid.uuid4().hex[:12]}"
    result: BackendUnderTest = provider.make_backend(request, namespace, tmp_path)
    if io:
        result = replace(
            result, name=param, url=with_io(result.url, io),
            lock_url=with_io(result.lock_url, io) if result.lock_url else None,
            dead_url=with_io(result.dead_url, io) if result.dead_url else None,
        )
    return result
