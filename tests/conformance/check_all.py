"""Run every case through the runner and print a summary (a developer tool; pytest does the same)."""

from __future__ import annotations

import sys
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import json

from compare import CASES, all_cases, diff_lines, load_golden
from runner import Unsupported, run_case


def main() -> int:
    verbose = "-v" in sys.argv
    only = [a for a in sys.argv[1:] if not a.startswith("-")]
    results: Counter[str] = Counter()
    failures = []
    for case in all_cases():
        rel = str(case.relative_to(CASES))
        if only and not any(o in rel for o in only):
            continue
        spec = json.loads(case.read_text())
        try:
            actual = list(run_case(spec))
        except Unsupported as e:
            results["unsupported"] += 1
            if verbose:
                print(f"UNSUPPORTED {rel}: {e}")
            continue
        except Exception:
            results["crash"] += 1
            failures.append((rel, traceback.format_exc(limit=6)))
            continue
        d = diff_lines(load_golden(case), actual)
        if d is None:
            results["pass"] += 1
        else:
            results["fail"] += 1
            failures.append((rel, d))
    for rel, d in failures:
        print(f"FAIL {rel}\n{d}\n")
    print(dict(results))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
