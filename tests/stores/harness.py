"""What a provider hands to the contract suite, and the helpers that keep its tests independent of
how fast (or how loaded) the machine is."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from durable_xstate.stores import LockableStorage, open_store


@dataclass
class BackendUnderTest:
    name: str
    url: str  # opens this test's namespace, also from another process
    lock_url: str | None = None
    #: whether several OS processes can share it (False only for the in-process memory backend)
    shared_across_processes: bool = True
    #: a URL of the same backend whose server is down / unreachable (None only for memory)
    dead_url: str | None = None
    #: its server answers one request at a time (moto, see moto_support.py): races are sized down
    serial_server: bool = False

    def open(self) -> LockableStorage:
        return open_store(self.url, lock=self.lock_url)


def _time_factor() -> float:
    raw = os.environ.get("DURABLE_XSTATE_TEST_TIME_FACTOR", "1")
    try:
        factor = float(raw)
    except ValueError:
        factor = float("nan")
    if not factor >= 1:  # also refuses nan
        raise ValueError(f"DURABLE_XSTATE_TEST_TIME_FACTOR must be a number >= 1, got {raw!r}")
    return factor


#: Multiplies every cap below: the caps fit a two-core machine at a load average of 30; set
#: ``DURABLE_XSTATE_TEST_TIME_FACTOR`` (a number >= 1) on a slower or busier one. Caps only catch a
#: hang, so raising them never hides a failure (docs/testing.md, rule 5).
TIME_FACTOR = _time_factor()
#: A lease that outlives any test however loaded the machine is: tests that need a lock to be held
#: take it for this long (and release it); only tests about expiry use short leases, and they only
#: assert expiry after sleeping past it, never that a short lease is still held.
HELD = 600.0 * TIME_FACTOR
#: How long a race or a wait may go without any progress before it is called stuck.
STALL_SECONDS = 300.0 * TIME_FACTOR
#: The cap on a subprocess (or a lock wait) that must end: it catches a hang, it measures nothing.
HANG_SECONDS = 600.0 * TIME_FACTOR

BACKENDS = ["memory", "file", "sqlite", "s3", "dynamodb", "redis", "postgres", "azure"]
#: backends whose client blocks, so they have an ``io=thread`` (default) / ``io=inline`` choice
BLOCKING = ["file", "sqlite", "s3", "dynamodb"]
#: what the store contract suite runs: every backend, and the blocking ones again in ``io=inline`` mode
STORE_BACKENDS = BACKENDS + [f"{name}+inline" for name in BLOCKING]


def with_io(url: str, mode: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}io={mode}"


def make_backend(param: str, request: Any, tmp_path: Path) -> BackendUnderTest:
    """The backend named ``param`` (``name`` or ``name+io``) in a fresh namespace, from its provider."""
    import pytest

    name, _, io = param.partition("+")
    try:
        provider = importlib.import_module(f"provider_{name}")
    except ImportError as err:
        pytest.fail(f"backend {name!r} has no provider module (tests/stores/provider_{name}.py): {err}")
    namespace = f"t{uuid.uuid4().hex[:12]}"
    result: BackendUnderTest = provider.make_backend(request, namespace, tmp_path)
    if io:
        result = replace(
            result, name=param, url=with_io(result.url, io),
            lock_url=with_io(result.lock_url, io) if result.lock_url else None,
            dead_url=with_io(result.dead_url, io) if result.dead_url else None,
        )
    return result


def race_size(backend: BackendUnderTest, full: int) -> int:
    """``full`` operations per racer, or a tenth of that on a server that answers one request at a time
    (moto): eight processes still race on every operation, at a cost the suite can afford on a loaded
    machine, where a CPU-starved single-threaded server spends most of its time on lock polling (one
    read-write race of 8 x 62 steps took 18 min at a load average of 25)."""
    return max(full // 10, 20) if backend.serial_server else full


def wait_for_processes(
    procs: Sequence[subprocess.Popen[str]] | Sequence[subprocess.Popen[bytes]],
    progress: Callable[[], object],
    *,
    stall_seconds: float = STALL_SECONDS,
    poll_seconds: float = 1.0,
) -> None:
    """Wait until every process has exited, however long that takes while they make progress.

    ``progress()`` reads something the processes advance (a shared counter); the wait fails only when
    it has not changed, and no process has exited, for ``stall_seconds``: a deadline on progress, not
    a fixed budget that a slow or loaded machine would miss. A process that exits non-zero fails it.
    """
    import pytest

    last, last_change, running = progress(), time.monotonic(), len(procs)
    while True:
        still = [p for p in procs if p.poll() is None]
        failed = [p.returncode for p in procs if p.returncode not in (None, 0)]
        if failed:
            for p in still:
                p.kill()
            pytest.fail(f"a racing process failed (exit codes {failed})")
        if not still:
            return
        now = progress()
        if now != last or len(still) != running:
            last, last_change, running = now, time.monotonic(), len(still)
        elif time.monotonic() - last_change > stall_seconds:
            for p in still:
                p.kill()
            pytest.fail(f"no progress for {stall_seconds:.0f} s ({len(still)} processes still running at {now!r})")
        time.sleep(poll_seconds)


def start_together(procs: Sequence[subprocess.Popen[str]], *, stall_seconds: float = STALL_SECONDS) -> None:
    """A barrier for racing processes: each prints ``ready`` on its stdout, then waits for a line on its
    stdin; once all are ready, all are released at once. However slowly they start (imports on a
    loaded machine), they race from the same instant, which a start time fixed in advance cannot promise."""
    import pytest

    for p in procs:
        assert p.stdout is not None and p.stdin is not None
        line = p.stdout.readline()  # blocks until this racer is ready (or has died)
        if line.strip() != "ready":
            pytest.fail(f"a racer did not get ready (exit {p.poll()}): {line!r}")
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()


LOCK_RACE = textwrap.dedent(
    """
    import asyncio, sys
    from durable_xstate.stores import open_store

    async def main(url):
        store = open_store(url)
        await store.is_locked("one/lock")  # warm up: connected, schema and directories in place
        print("ready", flush=True)
        sys.stdin.readline()  # released together with the others
        lease = await store.try_acquire("one/lock", sys.argv[2], 600)
        print(lease.token if lease else "-", flush=True)
        await store.close()

    asyncio.run(main(sys.argv[1]))
    """
)


def spawn_scripts(
    tmp_path: Path, name: str, text: str, argvs: Sequence[Sequence[str]], *, stdin: bool = False
) -> list[subprocess.Popen[str]]:
    """One Python process per ``argv``, each running the script ``text`` (written to ``tmp_path/name``)
    with this interpreter and this test run's import path; stdout piped (and stdin, for a barrier)."""
    script = tmp_path / name
    script.write_text(text)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return [
        subprocess.Popen([sys.executable, str(script), *argv], env=env, stdout=subprocess.PIPE, text=True,
                         stdin=subprocess.PIPE if stdin else None)
        for argv in argvs
    ]


def run_lock_race(url: str, tmp_path: Path, n: int = 8) -> list[str]:
    """``n`` processes try to take one lease at the same instant; what each got (a token, or ``-``)."""
    procs = spawn_scripts(tmp_path, "lock_race.py", LOCK_RACE, [[url, f"p{i}"] for i in range(n)], stdin=True)
    start_together(procs)
    wait_for_processes(procs, lambda: None)
    return [p.communicate()[0].strip() for p in procs]


#: How long a server we start may take to answer before it is called broken: generous, because a loaded
#: machine starts PostgreSQL slowly; a server that exits (a port taken) is noticed at once.
SERVER_START_SECONDS = 300.0 * TIME_FACTOR


def wait_until_ready(proc: subprocess.Popen[bytes], ready: Callable[[], bool], *, poll_seconds: float = 0.02) -> bool:
    """Wait until ``ready()`` while ``proc`` runs; False when it exited or never got ready."""
    deadline = time.monotonic() + SERVER_START_SECONDS
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            return True
        time.sleep(poll_seconds)
    return proc.poll() is None and ready()


_pytest_config: Any = None  # set by tests/conftest.py (pytest_configure)


def announce(message: str) -> None:
    """A line on the terminal now, while pytest captures output: servers starting, slow tests beginning,
    so a long run is never a silent terminal."""
    config = _pytest_config
    if config is None:
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    if capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(message)
    else:
        reporter.write_line(message)
