"""The differential fuzzer (fuzz/): generator unit tests, and a fixed slice run against xstate.

The slice (marked slow) runs the same driver as ``scripts/fuzz`` on a fixed seed and fails listing
every mismatch between xstate and durable-xstate (and every case xstate rejects: a generator bug).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fuzz.driver import run_campaign
from fuzz.generator import generate_case
from fuzz.profiles import NAMES

ORACLE_DIR = Path(__file__).parent / "oracle"
SLICE_SEED, SLICE_COUNT = 20261204, 300


def _walk(x: Any, key: str | None = None) -> Iterator[tuple[str | None, Any]]:
    yield key, x
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _walk(v, k)
    elif isinstance(x, list):
        for v in x:
            yield from _walk(v, key)


class _Bag(Counter[str]):
    def add(self, x: str) -> None:
        self[x] += 1


def _depth(state: dict[str, Any]) -> int:
    kids = state.get("states") or {}
    return 1 + max((_depth(c) for c in kids.values()), default=-1)


def features(case: dict[str, Any]) -> Counter[str]:
    """How many times a case uses each construct (coarse names, for coverage checks)."""
    out = _Bag()
    m = case["machine"]
    out.add(f"depth{_depth(m)}")
    for key, node in _walk(case):
        if not isinstance(node, dict):
            if isinstance(node, str) and key == "target":
                out.add("target#" if node.startswith("#") else "target." if node.startswith(".") else "target")
            continue
        t = node.get("type")
        if t in ("parallel", "final"):
            out.add(t)
        if t == "history":
            out.add("history-" + node.get("history", "shallow"))
            if "target" in node:
                out.add("history-target")
        if t == "final" and "output" in node:
            out.add("final-output")
        for k in ("onDone", "always", "after", "invoke", "tags", "reenter", "onError", "onSnapshot"):
            if k in node and key not in ("implementations", "actions"):
                out.add(k)
        for k in ("and", "or", "not", "stateIn"):
            if k in node and key in ("guard", "if", "and", "or", "not"):
                out.add("guard-" + k)
        if isinstance(node.get("target"), list):
            out.add("multi-target")
        if key == "on":
            out.update("on-" + e for e in node if e in ("*", "foo.*"))
        if key == "after":
            out.update("after-named" if not k.isdigit() else "after-ms" for k in node)
        if key == "actors":
            out.update(next(iter(spec)) for spec in node.values() if isinstance(spec, dict))
        for k in ("assign", "raise", "sendTo", "sendParent", "forwardTo", "emit", "log", "enqueue",
                  "cancel", "spawnChild", "stopChild", "$spawn", "sendToSystem"):
            if k in node:
                out.add("action-" + k + ("-delayed" if k == "raise" and "delay" in node else ""))
        if "params" in node and key != "implementations":
            out.add("params")
    for ev in case["events"]:
        out.update(k for k in ("$advance", "$flush") if k in ev)
    for k in ("input", "restoreAt", "probes"):
        if k in case:
            out.add(k)
    for k in ("can", "matches", "hasTag"):
        if k in case.get("probes", {}):
            out.add("probe-" + k)
    if any(isinstance(t, list) and any(isinstance(x, str) for x in t) for _, t in _walk(m)):
        out.add("array-with-string")
    return out


def test_generation_is_deterministic() -> None:
    for i in (0, 1, 17, 250):
        a, b = generate_case(5, i, "all"), generate_case(5, i, "all")
        assert json.dumps(a) == json.dumps(b)
    assert json.dumps(generate_case(5, 3, "default")) != json.dumps(generate_case(5, 4, "default"))
    assert json.dumps(generate_case(5, 3, "default")) != json.dumps(generate_case(6, 3, "default"))


def test_cases_are_json_with_the_required_keys() -> None:
    for i in range(150):
        case = json.loads(json.dumps(generate_case("k", i, "all")))
        assert {"description", "machine", "implementations", "events"} <= set(case)
        assert case["machine"]["id"] == "m" and ("states" in case["machine"])
        assert all(isinstance(e, dict) and ({"type", "$advance", "$flush"} & set(e)) for e in case["events"])
        if "restoreAt" in case:
            ats = case["restoreAt"] if isinstance(case["restoreAt"], list) else [case["restoreAt"]]
            assert all(0 <= a < len(case["events"]) for a in ats)


def test_every_construct_is_generated() -> None:
    seen: Counter[str] = Counter()
    for i in range(400):
        seen.update(features(generate_case(11, i, "all")))
    wanted = {
        "depth4", "parallel", "final", "final-output", "history-shallow", "history-deep", "history-target",
        "onDone", "always", "after-ms", "after-named", "invoke", "onError", "onSnapshot", "tags",
        "reenter", "guard-and", "guard-or", "guard-not", "guard-stateIn", "multi-target", "on-*",
        "on-foo.*", "target", "target.", "target#", "promise", "callback", "transition", "observable",
        "machine", "params", "$advance", "$flush", "input", "restoreAt", "probe-can", "probe-matches",
        "probe-hasTag", "array-with-string",
        *("action-" + a for a in ("assign", "raise", "raise-delayed", "sendTo", "sendParent", "forwardTo",
                                  "emit", "log", "enqueue", "cancel", "spawnChild", "stopChild", "$spawn",
                                  "sendToSystem")),
    }
    assert not wanted - set(seen), f"never generated: {sorted(wanted - set(seen))}"


@functools.cache
def _usage(profile: str, n: int = 50) -> Counter[str]:
    total: Counter[str] = Counter()
    for i in range(n):
        total.update(features(generate_case(3, i, profile)))
    return total


@pytest.mark.parametrize(("profile", "construct"), [
    ("history", "history-shallow"), ("history", "history-deep"), ("parallel", "parallel"),
    ("parallel", "multi-target"), ("timers", "after-ms"), ("timers", "action-raise-delayed"),
    ("actors", "invoke"), ("actors", "action-spawnChild"), ("always", "always"),
    ("guards", "guard-and"), ("final", "final-output"), ("deep", "depth4"), ("probes", "probes"),
    ("actions", "action-enqueue"),
])
def test_profiles_push_their_constructs(profile: str, construct: str) -> None:
    """A profile produces its construct much more often than the default profile does."""
    pushed, base = _usage(profile)[construct], _usage("default")[construct]
    assert pushed >= max(6, base * 1.4), (profile, construct, pushed, base)


def test_all_cycles_through_the_profiles() -> None:
    profiles = [generate_case(1, i, "all")["description"].split()[-1] for i in range(len(NAMES))]
    assert sorted(profiles) == NAMES


def _oracle_available() -> bool:
    return shutil.which("node") is not None and (ORACLE_DIR / "node_modules" / "xstate").is_dir()


@pytest.mark.slow
def test_fuzz_slice_matches_xstate(tmp_path: Path) -> None:
    if not _oracle_available():
        if os.environ.get("CI"):
            pytest.fail("CI must run the fuzz slice: node or tests/conformance/oracle/node_modules is missing")
        pytest.skip("node or the oracle's node_modules is not installed")
    report = run_campaign(SLICE_SEED, SLICE_COUNT, "all", jobs=2, out=tmp_path, shrink_total=0, progress=0)
    problems = [f"index {m['index']} ({m['profile']}) [{m['sig']}]: {m['detail'].splitlines()[0]}"
                for m in report.mismatches + report.oracle_errors]
    assert not problems, (
        f"{len(problems)} of {SLICE_COUNT} fuzz cases differ from xstate (seed {SLICE_SEED}; reproduce and "
        f"shrink with scripts/fuzz --seed {SLICE_SEED} --count {SLICE_COUNT}):\n" + "\n".join(problems[:40]))
