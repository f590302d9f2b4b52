#!/usr/bin/env python3
"""Check the xstate goldens of the SCXML cases against the fixtures' expected configurations.

For every case ``tests/conformance/cases/scxml/<group>/<name>.json`` (written by ``convert.py``)
and its golden ``<name>.out.jsonl`` (written by the oracle), the full set of active atomic state
ids, derived from the golden ``value`` at each step listed in ``scxml.checkSteps``, must equal the
fixture's configuration (``scxml.expected``; the fixtures list atomic states, ids sanitized as
xstate does: ``.`` -> ``$``). This is stricter than xstate's own scxml.test.ts, which only checks
that the first id of ``nextConfiguration`` is active and never checks ``initialConfiguration``.

The golden is the truth for the Python port; a mismatch means xstate (through its SCXML
converter) disagrees with the fixture. The mismatches are recorded in ``xstate_failures.json``
beside this script, and the check fails when the current set differs from the recorded one.

Usage::

    python tests/conformance/scxml/check_expected.py              # check (exit 1 on change)
    python tests/conformance/scxml/check_expected.py --regen      # rerun the oracle first
    python tests/conformance/scxml/check_expected.py --write-known  # record the failures
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CASES = HERE.parent / "cases" / "scxml"
ORACLE_DIR = HERE.parent / "oracle"
KNOWN = HERE / "xstate_failures.json"


def atomic_ids(value: Any) -> set[str]:
    """Keys of the atomic states in a state value (every state id equals its key here)."""
    if isinstance(value, str):
        return {value}
    out: set[str] = set()
    if isinstance(value, dict):
        for key, sub in value.items():
            if isinstance(sub, str):
                out.add(sub)
            elif isinstance(sub, dict) and not sub:
                out.add(key)  # atomic region of a parallel state: {"b": {}}
            else:
                out |= atomic_ids(sub)
    return out


def golden_path(case: Path) -> Path:
    return case.with_name(case.name[: -len(".json")] + ".out.jsonl")


def run_oracle(case: Path) -> str | None:
    """Regenerate the golden of one case; returns an error message or None."""
    proc = subprocess.run(
        ["node", "oracle.mjs", str(case)],
        cwd=ORACLE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        return proc.stderr.strip().splitlines()[0] if proc.stderr.strip() else "oracle failed"
    golden_path(case).write_text(proc.stdout, encoding="utf-8")
    return None


def check_case(case: Path) -> list[dict[str, Any]]:
    """Mismatching steps of one case: [{step, expected, actual, value}]."""
    spec = json.loads(case.read_text(encoding="utf-8"))
    meta = spec["scxml"]
    if not golden_path(case).exists():
        return [{"step": None, "expected": [], "actual": [], "status": "missing golden (--regen)"}]
    lines = [json.loads(x) for x in golden_path(case).read_text(encoding="utf-8").splitlines()]
    steps = {line["step"]: line for line in lines if "step" in line}
    bad: list[dict[str, Any]] = []
    for expected, step in zip(meta["expected"], meta["checkSteps"], strict=True):
        want = {s.replace(".", "$") for s in expected}
        line = steps.get(step)
        got = atomic_ids(line["value"]) if line is not None else set()
        if got != want:
            bad.append(
                {
                    "step": step,
                    "expected": sorted(want),
                    "actual": sorted(got),
                    "status": None if line is None else line["status"],
                }
            )
    return bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--regen", action="store_true", help="rerun the oracle for every case first")
    ap.add_argument("--write-known", action="store_true", help=f"record failures in {KNOWN.name}")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every mismatching step")
    args = ap.parse_args(argv)

    cases = sorted(CASES.glob("*/*.json"))
    if not cases:
        print(f"no cases under {CASES}", file=sys.stderr)
        return 1
    if args.regen:
        with ThreadPoolExecutor(max_workers=4) as pool:
            errors = dict(zip(cases, pool.map(run_oracle, cases), strict=True))
        broken = {str(c.relative_to(CASES)): e for c, e in errors.items() if e}
        for name, err in broken.items():
            print(f"oracle error {name}: {err}", file=sys.stderr)
        if broken:
            return 1

    failures: dict[str, list[dict[str, Any]]] = {}
    per_group: dict[str, list[int]] = {}
    for case in cases:
        rel = case.relative_to(CASES).as_posix()[: -len(".json")]
        group = rel.split("/")[0]
        bad = check_case(case)
        stats = per_group.setdefault(group, [0, 0])
        stats[0 if not bad else 1] += 1
        if bad:
            failures[rel] = bad

    print(f"{'group':34} {'match':>5} {'differ':>6}")
    for group, (ok, ko) in sorted(per_group.items()):
        print(f"{group:34} {ok:5} {ko:6}")
    total_ok = sum(s[0] for s in per_group.values())
    total_ko = sum(s[1] for s in per_group.values())
    print(f"{'TOTAL':34} {total_ok:5} {total_ko:6}")
    for rel, bad in failures.items():
        first = bad[0]
        print(
            f"differs {rel}: {len(bad)} step(s), first at step {first['step']}: "
            f"expected {first['expected']} got {first['actual']} ({first['status']})"
        )
        if args.verbose:
            for b in bad[1:]:
                print(f"    step {b['step']}: expected {b['expected']} got {b['actual']}")

    if args.write_known:
        KNOWN.write_text(json.dumps(failures, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {KNOWN}")
        return 0
    known = json.loads(KNOWN.read_text(encoding="utf-8")) if KNOWN.exists() else {}
    if known != failures:
        new = sorted(set(failures) - set(known))
        gone = sorted(set(known) - set(failures))
        changed = sorted(k for k in set(known) & set(failures) if known[k] != failures[k])
        print(f"recorded xstate failures changed: new={new} gone={gone} changed={changed}")
        return 1
    print(f"{total_ok} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
