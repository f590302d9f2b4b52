"""``python -m fuzz`` (from tests/conformance) / ``scripts/fuzz``: a differential fuzz campaign."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .driver import run_campaign

REPO = Path(__file__).resolve().parents[3]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/fuzz", description=__doc__)
    ap.add_argument("--seed", default="1", help="campaign seed (case i depends on (seed, i) alone)")
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--start", type=int, default=0, help="first case index")
    ap.add_argument("--indices", help="only these case indices (comma-separated), e.g. to re-shrink")
    ap.add_argument("--profile", default="all", help="a profile name, or `all` to cycle through them")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "fuzz-findings")
    ap.add_argument("--shrink-per-class", type=int, default=2)
    ap.add_argument("--shrink-total", type=int, default=30)
    ap.add_argument("--shrink-seconds", type=float, default=90.0)
    args = ap.parse_args(argv)
    report = run_campaign(args.seed, args.count, args.profile, args.jobs, args.out,
                          shrink_per_class=args.shrink_per_class, shrink_total=args.shrink_total,
                          shrink_seconds=args.shrink_seconds, start=args.start,
                          indices=[int(x) for x in args.indices.split(",")] if args.indices else None)
    print(report.summary())
    print(f"findings and mismatches.jsonl in {args.out}")
    return 1 if report.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
