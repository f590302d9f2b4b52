"""One moto server for the S3 and DynamoDB providers, serving ONE request at a time.

moto's stock server is threaded, and then two racing conditional writes can both win (measured: 2 of
300 S3 ``IfMatch`` races, 4 of 100 DynamoDB races). Served by a single-threaded werkzeug server the
conditions are evaluated one request after another, as AWS guarantees.

The launcher binds port 0 and prints the port it got, so there is no window in which another process
could take a port we picked. Its log goes to a file in a temp dir; the process is killed at the end of
the session. A server that does not come up fails the tests (it is never skipped).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from harness import SERVER_START_SECONDS, announce

LAUNCHER = r"""
import sys
from werkzeug.serving import make_server
import moto.backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

# moto's dispatcher lists its own package directory (a listdir and ~180 stats) twice per request to
# route it; the list cannot change while the server runs, so compute it once (a third of the
# server's time per request, measured).
_modules = tuple(moto.backends.list_of_moto_modules())
moto.backends.list_of_moto_modules = lambda: _modules

app = DomainDispatcherApplication(create_backend_app)


class Handler(MotoRequestHandler):
    disable_nagle_algorithm = True


# threaded=False, processes=1: one request at a time (and HTTP/1.0, so no client holds the server
# with a kept-alive connection).
server = make_server("127.0.0.1", 0, app, threaded=False, processes=1, request_handler=Handler)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_port))
server.serve_forever()
"""

REGION = "us-east-1"
BUCKET = "durable-xstate-test"
TABLE = "durable-xstate-test"

# Dummy credentials for moto; real credentials, when present, are left alone (moto accepts any).
DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (for ``dead_url``)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dead_endpoint() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The endpoint URL of a single-threaded moto server (S3 + DynamoDB) with the test bucket and tables."""
    saved = {name: os.environ.get(name) for name in DUMMY_ENV}
    for name, value in DUMMY_ENV.items():
        os.environ.setdefault(name, value)
    logdir = Path(tempfile.mkdtemp(prefix="durable-xstate-moto-"))
    port_file = logdir / "port"
    log = open(logdir / "moto.log", "wb")  # noqa: SIM115 - closed at the end of the session
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(port_file)], stdout=log, stderr=subprocess.STDOUT, cwd=logdir
    )
    try:
        announce("starting the moto server (S3 + DynamoDB) for the tests ...")
        deadline = time.monotonic() + SERVER_START_SECONDS
        port = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if port_file.exists() and port_file.read_text().strip():
                port = int(port_file.read_text())
                break
            time.sleep(0.02)
        if port is None:
            log.flush()
            pytest.fail(f"moto server did not start (exit {proc.poll()}); log:\n{(logdir / 'moto.log').read_text()}")
        endpoint = f"http://127.0.0.1:{port}"
        _prepare(endpoint)
        yield endpoint
    finally:
        proc.kill()
        proc.wait(timeout=10)
        log.close()
        shutil.rmtree(logdir, ignore_errors=True)
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def _prepare(endpoint: str) -> None:
    """Create the bucket and the tables once per session (tests then namespace by prefix)."""
    import asyncio

    from durable_xstate.stores.dynamodb import DynamoDBStore
    from durable_xstate.stores.s3 import S3Storage

    async def run() -> None:
        s3 = S3Storage(BUCKET, "", {"endpoint_url": endpoint, "region": REGION})
        dynamo = DynamoDBStore(TABLE, {"endpoint_url": endpoint, "region": REGION})
        try:
            await s3.ensure_bucket()
            await dynamo.ensure_tables()
        finally:
            await s3.close()
            await dynamo.close()

    try:
        asyncio.run(run())
    except Exception as err:
        pytest.fail(f"could not prepare the moto server at {endpoint}: {err!r}")


def dynamodb_url(endpoint: str, namespace: str, *, extra: str = "") -> str:
    return f"dynamodb://{TABLE}?endpoint_url={endpoint}&region={REGION}&prefix={namespace}{extra}"


def with_namespace(url: str, namespace: str) -> str:
    """``url`` (from a DURABLE_XSTATE_TEST_*_URL variable) narrowed to ``namespace``: appended to the
    S3 bucket prefix, or to the DynamoDB ``prefix`` option."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        return urlunsplit(parts._replace(path=f"{path}{namespace}/"))
    options = dict(parse_qsl(parts.query))
    options["prefix"] = f"{options['prefix'].rstrip('/')}/{namespace}" if options.get("prefix") else namespace
    return urlunsplit(parts._replace(query=urlencode(options)))


def dead_variant(url: str, *, lock: str | None = None) -> str:
    """The same URL with its endpoint moved to a port where nothing listens (one attempt, short timeout)."""
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    options.update(endpoint_url=dead_endpoint(), max_attempts="1", connect_timeout="2")
    if lock is not None:
        options["lock"] = lock
    return urlunsplit(parts._replace(query=urlencode(options)))
