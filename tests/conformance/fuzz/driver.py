"""Run generated cases on xstate (Node, ``oracle.mjs --batch``) and on durable-xstate; compare.

Each worker process keeps one Node ``--batch`` process alive and runs the Python side in-process.
``run_campaign`` streams results, then shrinks a few mismatches of each class (``shrink.py``) and
writes the minimal cases with the oracle's output beside them, named like the corpus
(``NAME.json`` + ``NAME.out.jsonl``): moving them into ``cases/fuzz/`` makes them corpus cases.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFORMANCE = Path(__file__).resolve().parent.parent
if str(CONFORMANCE) not in sys.path:
    sys.path.insert(0, str(CONFORMANCE))

from compare import diff_lines, normalize_line  # noqa: E402
from runner import Unsupported, run_case  # noqa: E402

from .generator import generate_case  # noqa: E402
from .profiles import profile_for  # noqa: E402
from .shrink import shrink  # noqa: E402

# a promise actor stopped before its coroutine ran: harmless here, and noisy on the terminal
warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)

ORACLE = CONFORMANCE / "oracle" / "oracle.mjs"
CASE_TIMEOUT = 120.0  # seconds, per side: a cap for a hang only (a case takes well under a second on a quiet
# machine, but a loaded one made xstate take over 10 s, which is no divergence)
SHRINK_TIMEOUT = 2.0  # per side, for shrinking candidates (dropping a fuel guard makes loops)


class Oracle:
    """One long-lived ``node oracle.mjs --batch`` process: one JSON line in, one line out."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.lines: queue.Queue[str] = queue.Queue()

    def _start(self) -> subprocess.Popen[str]:
        proc = subprocess.Popen(["node", str(ORACLE), "--batch"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.lines = queue.Queue()
        lines = self.lines

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        return proc

    def run(self, case: dict[str, Any], timeout: float = CASE_TIMEOUT) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(case) + "\n")
        self.proc.stdin.flush()
        try:
            return json.loads(self.lines.get(timeout=timeout))  # type: ignore[no-any-return]
        except queue.Empty:
            self.close()
            return {"error": f"timeout: xstate took more than {timeout}s"}

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


class CaseTimeout(BaseException):
    """A BaseException, so that the engine's error handling (an action raising makes the actor
    fail) cannot swallow it and keep looping."""


def _alarm(signum: int, frame: Any) -> None:
    raise CaseTimeout("durable-xstate took too long")


def run_python(case: dict[str, Any], timeout: float = CASE_TIMEOUT) -> list[dict[str, Any]]:
    """Our lines; a CaseTimeout after CASE_TIMEOUT seconds (main thread only)."""
    main = threading.current_thread() is threading.main_thread()
    if main:
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return list(run_case(json.loads(json.dumps(case))))
    finally:
        if main:
            signal.setitimer(signal.ITIMER_REAL, 0)


def check(oracle: Oracle, case: dict[str, Any], expect: str | None = None,
          timeout: float = CASE_TIMEOUT) -> dict[str, Any]:
    """{kind, sig, detail, golden}: kind is ok | mismatch | oracle-error | unsupported.

    With ``expect`` (a signature being shrunk) a candidate that cannot reproduce it is rejected
    early: our side runs first (it is much cheaper), and when it raises although the expected
    mismatch is not a crash of ours, the oracle is not asked at all.
    """
    actual: list[dict[str, Any]] | None = None
    failure: dict[str, Any] | None = None
    try:
        actual = run_python(case, timeout)
    except Unsupported as e:
        failure = {"kind": "unsupported", "sig": "unsupported", "detail": str(e)}
    except CaseTimeout as e:
        failure = {"kind": "mismatch", "sig": "python timeout", "detail": str(e)}
    except Exception as e:  # a crash on our side (a mismatch, when xstate gave lines)
        failure = {"kind": "mismatch", "sig": f"python {type(e).__name__}",
                   "detail": f"{type(e).__name__}: {e}"[:2000], "exception": True}
    if expect is not None and failure is not None and failure["sig"] != expect:
        return {"kind": "rejected", "sig": "rejected", "detail": ""}
    res = oracle.run(case, timeout)
    if "error" in res:
        return {"kind": "oracle-error", "sig": "oracle-error", "detail": res["error"][:2000]}
    golden = res["lines"]
    if failure is not None:
        return {**failure, "golden": golden} if failure["kind"] == "mismatch" else failure
    assert actual is not None
    problem = diff_lines(golden, actual)
    if problem is None:
        return {"kind": "ok", "sig": "ok"}
    return {"kind": "mismatch", "sig": signature(golden, actual), "detail": problem, "golden": golden}


def signature(golden: list[dict[str, Any]], actual: list[dict[str, Any]]) -> str:
    """A mismatch's class: which keys (and sub-keys) of the first differing line differ, and the
    status xstate reports there (so that shrinking cannot trade the bug for an error state)."""
    for e, a in zip(golden, actual, strict=False):
        ne, na = normalize_line(e), normalize_line(a)
        if ne == na:
            continue
        parts = []
        for k in sorted(set(ne) | set(na)):
            x, y = ne.get(k), na.get(k)
            if x == y:
                continue
            if isinstance(x, dict) and isinstance(y, dict) and k in ("probes", "persisted"):
                parts.append(k + "." + "/".join(sorted(j for j in set(x) | set(y) if x.get(j) != y.get(j))))
            else:
                parts.append(k)
        where = "restore line" if "restore" in ne else f"status {ne.get('status')}"
        return f"{', '.join(parts)} ({where})"
    return "line count"


# ----------------------------------------------------------------------------- worker side

_ORACLE: Oracle | None = None


def _oracle() -> Oracle:
    global _ORACLE
    if _ORACLE is None:
        _ORACLE = Oracle()
    return _ORACLE


def run_task(task: tuple[Any, int, str]) -> dict[str, Any]:
    seed, index, profile = task
    prof = profile_for(profile, index)
    case = generate_case(seed, index, profile)
    res = check(_oracle(), case)
    res.update(index=index, profile=prof)
    res.pop("golden", None)
    if res["kind"] != "ok":
        res["case"] = case
    return res


def shrink_task(item: dict[str, Any]) -> dict[str, Any]:
    oracle = _oracle()
    sig = item["sig"]

    def still_fails(cand: dict[str, Any]) -> bool:
        return check(oracle, cand, sig, SHRINK_TIMEOUT)["sig"] == sig

    small, tried = shrink(item["case"], still_fails, seconds=item.get("shrink_seconds", 90.0))
    res = check(oracle, small)
    return {**item, "small": small, "tried": tried, "small_detail": res.get("detail", ""),
            "golden": res.get("golden")}


# ----------------------------------------------------------------------------- campaign


@dataclass
class Report:
    seed: Any
    count: int
    per_profile: Counter[str] = field(default_factory=Counter)
    kinds: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    oracle_errors: list[dict[str, Any]] = field(default_factory=list)
    unsupported: Counter[str] = field(default_factory=Counter)
    findings: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def classes(self) -> Counter[str]:
        return Counter(m["sig"] for m in self.mismatches)

    def summary(self) -> str:
        out = [f"seed {self.seed}: {self.count} cases in {self.seconds:.0f}s"]
        for prof in sorted(self.per_profile):
            k = self.kinds[prof]
            out.append(f"  {prof:9} {self.per_profile[prof]:5} cases: {k['ok']} ok, {k['mismatch']} mismatches "
                       f"({k['exception']} python exceptions), {k['oracle-error']} oracle errors, "
                       f"{k['unsupported']} unsupported")
        out.append(f"mismatches: {len(self.mismatches)} in {len(self.classes())} classes")
        for sig, n in self.classes().most_common():
            out.append(f"  {n:5}  {sig}")
        if self.oracle_errors:
            out.append(f"oracle errors (generator bugs): {len(self.oracle_errors)}")
            for e in self.oracle_errors[:5]:
                out.append(f"  index {e['index']} ({e['profile']}): {e['detail'].splitlines()[0][:200]}")
        if self.unsupported:
            out.append(f"unsupported: {sum(self.unsupported.values())}")
            for msg, n in self.unsupported.most_common(5):
                out.append(f"  {n:5}  {msg[:150]}")
        for f in self.findings:
            out.append(f"finding {f['path']}  [{f['sig']}] (index {f['index']}, {f['profile']}, "
                       f"{f['tried']} candidates)")
        return "\n".join(out)


def _pool(jobs: int) -> Any:
    return multiprocessing.get_context("fork").Pool(jobs)


def run_campaign(seed: Any, count: int, profile: str = "all", jobs: int = 2, out: Path | None = None,
                 shrink_per_class: int = 2, shrink_total: int = 30, shrink_seconds: float = 90.0,
                 progress: int = 200, start: int = 0, log: Any = sys.stderr,
                 indices: list[int] | None = None) -> Report:
    report = Report(seed, count)
    t0 = time.monotonic()
    tasks = [(seed, i, profile) for i in (indices if indices is not None else range(start, start + count))]
    report.count = len(tasks)
    with _pool(jobs) as pool:
        for n, res in enumerate(pool.imap_unordered(run_task, tasks, chunksize=4), 1):
            prof, kind = res["profile"], res["kind"]
            report.per_profile[prof] += 1
            report.kinds[prof][kind] += 1
            if res.get("exception"):
                report.kinds[prof]["exception"] += 1
            if kind == "mismatch":
                report.mismatches.append(res)
            elif kind == "oracle-error":
                report.oracle_errors.append(res)
            elif kind == "unsupported":
                report.unsupported[res["detail"]] += 1
            if progress and n % progress == 0:
                print(f"[fuzz] {n}/{report.count} cases, {len(report.mismatches)} mismatches, "
                      f"{len(report.oracle_errors)} oracle errors, {time.monotonic() - t0:.0f}s",
                      file=log, flush=True)
        picked: list[dict[str, Any]] = []
        per: Counter[str] = Counter()
        for m in sorted(report.mismatches, key=lambda m: len(json.dumps(m["case"]))):
            if per[m["sig"]] < shrink_per_class and len(picked) < shrink_total:
                per[m["sig"]] += 1
                picked.append({**m, "shrink_seconds": shrink_seconds})
        if picked and out is not None:
            print(f"[fuzz] shrinking {len(picked)} mismatches ...", file=log, flush=True)
            for res in pool.imap_unordered(shrink_task, picked):
                report.findings.append(write_finding(out, seed, res))
    report.seconds = time.monotonic() - t0
    if out is not None:
        write_index(out, report)
    return report


def write_finding(out: Path, seed: Any, res: dict[str, Any]) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    name = f"fuzz_{seed}_{res['index']:05d}_{res['profile']}"
    detail = res["small_detail"] or res["detail"]
    small = {"description": f"fuzz seed {seed} index {res['index']} profile {res['profile']}: "
                            f"[{res['sig']}] {' | '.join(detail.splitlines()[:3])}",
             **{k: v for k, v in res["small"].items() if k != "description"}}
    (out / f"{name}.json").write_text(json.dumps(small, indent=1) + "\n")
    if res.get("golden") is not None:
        (out / f"{name}.out.jsonl").write_text(
            "".join(json.dumps(x, separators=(",", ":"), ensure_ascii=False) + "\n" for x in res["golden"]))
    return {"path": str(out / f"{name}.json"), "sig": res["sig"], "index": res["index"],
            "profile": res["profile"], "tried": res["tried"], "detail": detail}


def write_index(out: Path, report: Report) -> None:
    """mismatches.jsonl: every mismatch (seed/index/profile regenerate it); summary.txt."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "mismatches.jsonl").open("w") as f:
        for m in report.mismatches + report.oracle_errors:
            f.write(json.dumps({"seed": report.seed, "index": m["index"], "profile": m["profile"],
                                "kind": m["kind"], "sig": m["sig"],
                                "detail": m["detail"].splitlines()[:3]}) + "\n")
    (out / "summary.txt").write_text(report.summary() + "\n")
