"""PostgreSQL on a real server: a throw-away cluster made with initdb and started per session.

The binaries come from PG_BIN (default /usr/lib/postgresql/15/bin, else from PATH). As root, initdb and
postgres run as the ``postgres`` user through ``runuser`` (the data directory must belong to it). Set
DURABLE_XSTATE_TEST_POSTGRES_URL (e.g. ``postgresql://postgres@127.0.0.1:5432/test``) to use a running
server instead.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import BackendUnderTest, announce, wait_until_ready

ENV = "DURABLE_XSTATE_TEST_POSTGRES_URL"
DATABASE = "durable_xstate_test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _bin_dir() -> Path:
    candidates = [os.environ.get("PG_BIN", ""), "/usr/lib/postgresql/15/bin"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "postgres").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    pytest.fail("PostgreSQL binaries not found (set PG_BIN, or install postgresql-15)")


def _as_postgres(argv: list[str]) -> list[str]:
    """Run as the postgres user when we are root (postgres refuses to run as root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"


def _try_connect(port: int, dbname: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(
            host="127.0.0.1", port=port, user="postgres", dbname=dbname, connect_timeout=2, autocommit=True
        ):
            return True
    except psycopg.Error:
        return False


def _stop(proc: subprocess.Popen[bytes], data: Path) -> None:
    """Fast shutdown of the postmaster (its pid is in postmaster.pid; runuser is only its parent)."""
    pid_file = data / "postmaster.pid"
    postmaster = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        postmaster = int(pid_file.read_text().splitlines()[0])
    if postmaster is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(postmaster, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        if postmaster is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(postmaster, signal.SIGKILL)
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a database on a PostgreSQL server (no query string)."""
    if os.environ.get(ENV):
        yield os.environ[ENV]
        return
    import psycopg

    bindir = _bin_dir()
    announce(f"starting PostgreSQL ({bindir}) for the tests ...")
    # Not under pytest's tmp dir: that one is mode 0700 and owned by root, so postgres could not enter it.
    workdir = Path(tempfile.mkdtemp(prefix="durable-xstate-pg-"))
    data, sockets, log = workdir / "data", workdir / "sockets", workdir / "postgres.log"
    sockets.mkdir()
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (workdir, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
    init = subprocess.run(
        _as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                      "--no-sync", "--no-locale"]),
        capture_output=True, text=True, cwd=workdir,
    )
    if init.returncode != 0:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.fail(f"initdb failed ({init.returncode}):\n{init.stdout[-2000:]}\n{init.stderr[-2000:]}")
    proc: subprocess.Popen[bytes] | None = None
    port = 0
    for _attempt in range(3):  # a free port can be taken between our probe and the server's bind
        port = _free_port()
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                _as_postgres([
                    str(bindir / "postgres"), "-D", str(data), "-p", str(port),
                    "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={sockets}",
                    # a throw-away test cluster: durability buys nothing here
                    "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                    "-c", "max_connections=200",
                ]),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=workdir,
                start_new_session=True,
            )
        if wait_until_ready(proc, lambda port=port: _try_connect(port, "postgres"), poll_seconds=0.05):  # type: ignore[misc]
            break
        _stop(proc, data)
        proc = None
    if proc is None:
        text = _tail(log)
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.fail(f"postgres did not start; log {log}:\n{text}")
    try:
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True) as c:
            c.execute(f"CREATE DATABASE {DATABASE}")
        yield f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}"
    finally:
        _stop(proc, data)
        shutil.rmtree(workdir, ignore_errors=True)


def make_backend(request: pytest.FixtureRequest, namespace: str, tmp_path: Path) -> BackendUnderTest:
    base: str = request.getfixturevalue("postgres_server")
    sep = "&" if "?" in base else "?"
    return BackendUnderTest(
        "postgres",
        f"{base}{sep}prefix={namespace}",
        dead_url=f"postgresql://postgres@127.0.0.1:{_free_port()}/{DATABASE}?prefix={namespace}&connect_timeout=2",
    )
