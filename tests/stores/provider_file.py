"""The local-file backend needs no server: each test gets a fresh root directory under tmp_path."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from harness import BackendUnderTest


def make_backend(request: pytest.FixtureRequest, namespace: str, tmp_path: Path) -> BackendUnderTest:
    root = tmp_path / namespace
    # dead: the "root" is an existing regular file, so every operation fails with an OS error
    dead = tmp_path / f"{namespace}-not-a-directory"
    dead.write_bytes(b"a regular file where the store root should be\n")
    return BackendUnderTest("file", "file://" + quote(str(root)), dead_url="file://" + quote(str(dead)))
