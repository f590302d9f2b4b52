"""Typed machines under mypy --strict (run through mypy's API): the typed example checks clean, and a
misspelt event key, a missing event field, an unknown event type and a wrong context key are reported."""

from __future__ import annotations

import re
from pathlib import Path

import mypy.api

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
GOOD = HERE / "typed_machine.py"


def run_mypy(path: Path) -> tuple[str, int]:
    stdout, stderr, status = mypy.api.run(
        ["--strict", "--no-error-summary", "--show-error-codes", "--config-file", "", str(path)]
    )
    return stdout + stderr, status


def test_the_typed_example_checks_clean() -> None:
    out, status = run_mypy(GOOD)
    assert status == 0, out
    assert out.strip() == ""


BAD_LINES = {
    "tipe": 'actor.send({"tipe": "INC", "by": 1})',
    "missing field": 'actor.send({"type": "INC"})',
    "unknown type": 'actor.send({"type": "DEC", "by": 1})',
    "wrong field type": 'actor.send({"type": "INC", "by": "one"})',
    "context key": 'print(actor.get_snapshot().context["cont"])',
    "context type": 'wrong: int = actor.get_snapshot().context["label"]',
}


def test_wrong_events_and_context_are_type_errors(tmp_path: Path) -> None:
    lines = GOOD.read_text().splitlines()
    first_bad = len(lines) + 1
    bad = tmp_path / "typed_machine_bad.py"
    bad.write_text("\n".join([*lines, *BAD_LINES.values()]) + "\n")
    out, status = run_mypy(bad)
    assert status == 1, out
    reported = {int(m.group(1)) for m in re.finditer(r"typed_machine_bad\.py:(\d+): error", out)}
    expected = set(range(first_bad, first_bad + len(BAD_LINES)))
    assert reported == expected, out  # each bad line, and nothing in the good part
    assert re.search(rf':{first_bad}: error: Argument 1 to "send" of "Actor" .*expected "Inc \| Reset"', out), out
    assert 'TypedDict "Counter" has no key "cont"' in out
