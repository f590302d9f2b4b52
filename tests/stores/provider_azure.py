"""Azure Blob Storage on Azurite (Microsoft's emulator, from npm), started per session.

``scripts/test`` installs Azurite into tests/stores/azurite/node_modules (its package.json pins the last
release that runs on Node 20). The server binds port 0 and prints the port it got; its blob data lives in
a temp dir removed at the end; telemetry is off (no traffic beyond 127.0.0.1). Each test gets its own
container prefix. Set DURABLE_XSTATE_TEST_AZURE_URL (an ``azure+http://...`` or ``azure://...`` URL of a
container) to use a running Azurite or a real account instead.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from harness import SERVER_START_SECONDS, BackendUnderTest, announce
from moto_support import free_port

__all__ = ["azurite_server", "make_backend"]

ENV = "DURABLE_XSTATE_TEST_AZURE_URL"
AZURITE_DIR = Path(__file__).parent / "azurite"
CONTAINER = "durable-xstate-test"
_LISTENING = re.compile(rb"listens on http://127\.0\.0\.1:(\d+)")


def azurite_binary() -> Path:
    return AZURITE_DIR / "node_modules" / ".bin" / "azurite-blob"


@pytest.fixture(scope="session")
def azurite_server() -> Iterator[str]:
    """The URL (``azure+http://127.0.0.1:PORT/devstoreaccount1/CONTAINER/``) of a container on Azurite."""
    if os.environ.get(ENV):
        yield os.environ[ENV]
        return
    binary = azurite_binary()
    if not binary.exists():
        pytest.fail(f"Azurite is not installed ({binary}): run scripts/test, or `npm install` in {AZURITE_DIR}")
    announce("starting Azurite (blob service) for the tests ...")
    workdir = Path(tempfile.mkdtemp(prefix="durable-xstate-azurite-"))
    log = open(workdir / "azurite.log", "wb")  # noqa: SIM115 - closed at the end of the session
    proc = subprocess.Popen(
        [str(binary), "--blobHost", "127.0.0.1", "--blobPort", "0", "--location", str(workdir / "data"),
         "--silent", "--skipApiVersionCheck", "--loose", "--disableTelemetry"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
    )
    try:
        port = _wait_for_port(proc, workdir / "azurite.log")
        url = f"azure+http://127.0.0.1:{port}/devstoreaccount1/{CONTAINER}/"
        _prepare(url)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_for_port(proc: subprocess.Popen[bytes], log: Path) -> int:
    import time

    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline and proc.poll() is None:
        found = _LISTENING.search(log.read_bytes()) if log.exists() else None
        if found:
            return int(found.group(1))
        time.sleep(0.05)
    text = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    pytest.fail(f"Azurite did not start (exit {proc.poll()}); log:\n{text}")


def _prepare(url: str) -> None:
    from durable_xstate.stores import open_backend

    async def run() -> None:
        store = open_backend(url)
        try:
            await store.ensure_container()
        finally:
            await store.close()

    try:
        asyncio.run(run())
    except Exception as err:
        pytest.fail(f"could not create the test container on Azurite at {url}: {err!r}")


def with_namespace(url: str, namespace: str) -> str:
    parts = urlsplit(url)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit(parts._replace(path=f"{path}{namespace}/"))


def dead_variant(url: str) -> str:
    """The same container on a port where nothing listens (one attempt, a short timeout)."""
    parts = urlsplit(url)
    sep = "&" if parts.query else ""
    query = f"{parts.query}{sep}max_attempts=1&connect_timeout=2"
    return urlunsplit(parts._replace(netloc=f"127.0.0.1:{free_port()}", query=query))


def make_backend(request: pytest.FixtureRequest, namespace: str, tmp_path: Path) -> BackendUnderTest:
    base: str = request.getfixturevalue("azurite_server")
    url = with_namespace(base, namespace)
    # Azurite is one Node.js process: every request waits for its one event loop, so on a loaded machine it
    # is as serial as moto, and the races are sized down the same way (8 x 250 events took 7 min in full).
    return BackendUnderTest("azure", url, dead_url=dead_variant(url), serial_server=not os.environ.get(ENV))
