"""The SQLite backend needs no server: each test gets a fresh database file under tmp_path."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from harness import BackendUnderTest


def make_backend(request: pytest.FixtureRequest, namespace: str, tmp_path: Path) -> BackendUnderTest:
    db = tmp_path / f"{namespace}.db"
    # dead: a database file inside a directory that does not exist, so SQLite cannot open it
    dead = tmp_path / f"{namespace}-missing-dir" / "store.db"
    return BackendUnderTest("sqlite", "sqlite://" + quote(str(db)), dead_url="sqlite://" + quote(str(dead)))
