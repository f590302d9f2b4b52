"""The side-by-side benchmark harness speaks its protocol on both sides (nothing here is timed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import sidebyside as sbs  # noqa: E402

SETTINGS = sbs.Settings(target_seconds=0.005, rounds=5, warmup_seconds=0.005)


def count_side(name: str, kind: str, module: str) -> sbs.Side:
    return sbs.Side(name, kind, module, "count", {"per_unit": 50})


def test_python_and_node_take_turns_on_the_same_work() -> None:
    pair = sbs.compare(count_side("python", "python", "sidebyside"), count_side("node", "node", "selftest.mjs"),
                       SETTINGS)
    assert len(pair.a.rates) == len(pair.b.rates) == len(pair.ratios) == 5
    assert pair.a.observed == pair.b.observed == {"start": 0}
    # Both sides ran every sizing, warm-up and timed batch: the same total, a whole number of batches.
    assert pair.a.final == pair.b.final
    assert pair.a.final["total"] >= 5 * pair.ops_per_batch
    assert all(r > 0 for r in pair.a.rates + pair.b.rates)
    assert pair.ratio == pytest.approx(pair.a.median / pair.b.median)


def test_a_worker_failure_names_the_side() -> None:
    with pytest.raises(sbs.HarnessError, match=r"node: setup failed: .*unknown workload nope"):
        sbs.compare(count_side("python", "python", "sidebyside"),
                    sbs.Side("node", "node", "selftest.mjs", "nope"), SETTINGS)


def test_the_load_gate_refuses_a_busy_machine_unless_forced() -> None:
    quiet = sbs.LoadGate((0.4, 1.0, 1.0), 1.5, force=False)
    assert quiet.refuse() is None and quiet.banner() == []
    busy = sbs.LoadGate((3.2, 1.0, 1.0), 1.5, force=False)
    assert busy.refuse() is not None and "3.20" in (busy.refuse() or "")
    forced = sbs.LoadGate((3.2, 1.0, 1.0), 1.5, force=True)
    assert forced.refuse() is None
    assert "busy machine (load 3.20)" in forced.banner()[0]
