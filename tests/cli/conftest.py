"""Fixtures shared by the command-line tests: a runner, a temporary file store, the toggle machine file,
and the wall clock the commands read, moved only by the test (``FakeTime``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import TOGGLE_YAML, FakeTime
from typer.testing import CliRunner


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"file://{tmp_path / 'store'}"


@pytest.fixture
def toggle(tmp_path: Path) -> str:
    path = tmp_path / "toggle.yaml"
    path.write_text(TOGGLE_YAML)
    return str(path)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    return FakeTime(monkeypatch)
