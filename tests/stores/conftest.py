"""The store contract suite also runs each backend whose client blocks in ``io=inline`` mode (every call
on the event loop instead of a worker thread): the same contract on the other code path."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import STORE_BACKENDS, BackendUnderTest, make_backend


@pytest.fixture(params=STORE_BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> BackendUnderTest:
    return make_backend(request.param, request, tmp_path)
