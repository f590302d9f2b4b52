"""The in-memory backend needs no server."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import BackendUnderTest


def make_backend(request: pytest.FixtureRequest, namespace: str, tmp_path: Path) -> BackendUnderTest:
    return BackendUnderTest("memory", f"memory://{namespace}", shared_across_processes=False)
