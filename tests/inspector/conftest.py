"""Fixtures of the inspector tests: a file store holding order actors with journals."""

from __future__ import annotations

from pathlib import Path

import pytest
from order_store import fill


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"file://{tmp_path / 'store'}"
    fill(url)
    return url
