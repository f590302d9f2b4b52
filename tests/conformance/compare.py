"""Compare the runner's lines with the oracle's golden lines, after parsing and normalising.

Normalisation (the same on both sides): keys whose value is None/undefined are dropped, the
lists inside ``historyValue`` are compared as sets (xstate's order follows an internal node set),
and object key order is ignored (dict equality).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CASES = Path(__file__).parent / "cases"


def normalize(v: Any, key: str | None = None) -> Any:
    if isinstance(v, dict):
        out = {k: normalize(x, k) for k, x in v.items() if x is not None}
        return out
    if isinstance(v, list):
        items = [normalize(x) for x in v]
        if key is not None and key.startswith("__hv__"):
            return sorted(items, key=lambda x: json.dumps(x, sort_keys=True))
        return items
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def normalize_line(line: dict[str, Any]) -> Any:
    line = json.loads(json.dumps(line))
    for holder in (line.get("persisted"), line.get("from")):
        if isinstance(holder, dict) and isinstance(holder.get("historyValue"), dict):
            holder["historyValue"] = {
                k: sorted(v, key=lambda x: json.dumps(x, sort_keys=True)) for k, v in holder["historyValue"].items()
            }
    return normalize(line)


def load_golden(case: Path) -> list[dict[str, Any]]:
    golden = case.with_name(case.name[: -len(".json")] + ".out.jsonl")
    return [json.loads(x) for x in golden.read_text().splitlines() if x.strip()]


def all_cases() -> list[Path]:
    return sorted(p for p in CASES.rglob("*.json") if p.with_name(p.name[:-5] + ".out.jsonl").exists())


def diff_lines(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> str | None:
    """None when equal, else a short description of the first differing line and key."""
    for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
        ne, na = normalize_line(e), normalize_line(a)
        if ne != na:
            keys = sorted(set(ne) | set(na))
            bad = [k for k in keys if ne.get(k) != na.get(k)]
            parts = [f"line {i}: keys {bad}"]
            for k in bad[:3]:
                parts.append(f"  {k}: expected {json.dumps(ne.get(k))[:400]}")
                parts.append(f"  {k}:   actual {json.dumps(na.get(k))[:400]}")
            return "\n".join(parts)
    if len(expected) != len(actual):
        return f"expected {len(expected)} lines, got {len(actual)}"
    return None
