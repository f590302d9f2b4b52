"""Every case in cases/ must match xstate's golden output, line by line.

Where Node and the oracle's node_modules are present, the oracle is also re-run live on every case
and a golden that differs from what xstate prints today fails the suite (a stale golden).
Cases that need child actors (the next engine issue) are reported as xfail with the reason, never
as passing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from compare import CASES, all_cases, diff_lines, load_golden
from runner import Unsupported, run_case

ORACLE_DIR = Path(__file__).parent / "oracle"
CASE_FILES = all_cases()


def _case_id(p: Path) -> str:
    return str(p.relative_to(CASES))[: -len(".json")]


def test_corpus_is_large_enough() -> None:
    groups = {p.relative_to(CASES).parts[0] for p in CASE_FILES}
    assert len(CASE_FILES) >= 100, len(CASE_FILES)
    assert {"actions", "transient", "parallel", "history", "final", "guards", "scxml"} <= groups


@pytest.mark.parametrize("case", CASE_FILES, ids=_case_id)
def test_case_matches_xstate(case: Path) -> None:
    spec = json.loads(case.read_text())
    try:
        actual = list(run_case(spec))
    except Unsupported as e:
        pytest.xfail(f"needs a feature not built yet: {e}")
    problem = diff_lines(load_golden(case), actual)
    assert problem is None, problem


def _oracle_available() -> bool:
    return shutil.which("node") is not None and (ORACLE_DIR / "node_modules" / "xstate").is_dir()


def _run_oracle_batch(cases: list[Path]) -> list[list[dict[str, Any]]]:
    """xstate's output for each case, from one Node process (``oracle.mjs --batch``)."""
    requests = "".join(json.dumps({"path": str(case)}) + "\n" for case in cases)
    out = subprocess.run(
        ["node", str(ORACLE_DIR / "oracle.mjs"), "--batch"],
        input=requests, capture_output=True, text=True, timeout=1800, check=True,
    )
    results = [json.loads(x) for x in out.stdout.splitlines() if x.strip()]
    assert len(results) == len(cases), out.stderr[-2000:]
    for case, result in zip(cases, results, strict=True):
        assert "error" not in result, f"{_case_id(case)}: the oracle failed: {result.get('error')}"
    return [result["lines"] for result in results]


@pytest.fixture(scope="session")
def live_oracle() -> dict[Path, list[dict[str, Any]]]:
    if not _oracle_available():
        if os.environ.get("CI"):
            pytest.fail("CI must run the live oracle: node or tests/conformance/oracle/node_modules is missing")
        pytest.skip("node or the oracle's node_modules is not installed")
    from harness import announce

    announce(f"running the {len(CASE_FILES)} cases on the real xstate (two Node processes) ...")
    # Two Node processes (this machine has two cores), each running half of the corpus.
    halves = [CASE_FILES[0::2], CASE_FILES[1::2]]
    with ThreadPoolExecutor(max_workers=2) as pool:
        outputs = list(pool.map(_run_oracle_batch, halves))
    live: dict[Path, list[dict[str, Any]]] = {}
    for half, lines in zip(halves, outputs, strict=True):
        live.update(zip(half, lines, strict=True))
    return live


@pytest.mark.slow
def test_goldens_are_what_xstate_prints_today(live_oracle: dict[Path, list[dict[str, Any]]]) -> None:
    stale = []
    for case, lines in live_oracle.items():
        problem = diff_lines(load_golden(case), lines)
        if problem is not None:
            stale.append(f"{_case_id(case)}: {problem}")
    assert not stale, "stale goldens (regenerate with the oracle):\n" + "\n".join(stale[:10])
