"""``worker``: a long-running ``tick`` that sleeps until the next due time (persistence.run_worker)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from collections.abc import Iterator
from typing import Annotated

import typer

from ..loader import load_machine
from ..machine.machine import StateMachine
from ..persistence import WorkerStats, run_worker
from .app import (
    DEFAULT_STORE,
    CliError,
    LockOption,
    MachinesOption,
    StoreOption,
    _friendly_errors,
    _opened,
    app,
)

_FIELDS = ("event", "actor", "machine", "error")


class _WorkerLogHandler(logging.Handler):
    """One line per message on the current sys.stderr: ``TIME LEVEL message``, or a JSON object with --json."""

    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def emit(self, record: logging.LogRecord) -> None:
        try:
            when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
            message = " ".join(record.getMessage().split())
            if self.as_json:
                line = {"time": when, "level": record.levelname.lower(), "logger": record.name, "message": message}
                line.update({f: getattr(record, f) for f in _FIELDS if hasattr(record, f)})
                text = json.dumps(line, ensure_ascii=False)
            else:
                text = f"{when} {record.levelname.lower()} {message}"
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
        except Exception:  # a log line must never break the worker
            self.handleError(record)


@contextlib.contextmanager
def _worker_logging(as_json: bool, verbose: bool) -> Iterator[None]:
    """The worker's lines (and, with --verbose, the library's) through one handler; nothing else."""
    logger = logging.getLogger("durable_xstate")
    saved = logger.level, logger.propagate, list(logger.handlers)
    handler = _WorkerLogHandler(as_json)
    logger.handlers = [handler]
    logger.propagate = False
    # run_due logs what it skips or fails on; the worker says the same in its own lines
    logger.setLevel(logging.INFO if verbose else logging.ERROR)
    worker_logger = logging.getLogger("durable_xstate.worker")
    saved_worker = worker_logger.level
    worker_logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    try:
        yield
    finally:
        worker_logger.setLevel(saved_worker)
        logger.handlers = saved[2]
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


async def _serve(
    store_url: str, lock: str | None, machines: list[StateMachine], poll: float, lease: float
) -> WorkerStats | None:
    """The worker until a signal: None when a second signal cut the actor in hand short."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    signals = (signal.SIGTERM, signal.SIGINT)

    def on_signal() -> None:
        if stop.is_set() and main is not None:
            main.cancel()  # a second signal: give up the actor in hand (its lease is still released)
        stop.set()

    for sig in signals:
        loop.add_signal_handler(sig, on_signal)
    try:
        async with _opened(store_url, lock) as store:
            return await run_worker(store, machines, poll=poll, stop=stop, lease_seconds=lease)
    except asyncio.CancelledError:
        return None
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


@app.command()
@_friendly_errors
def worker(
    machine: MachinesOption = None,
    store: StoreOption = DEFAULT_STORE,
    lock: LockOption = None,
    poll: Annotated[float, typer.Option(
        "--poll", metavar="SECONDS", min=0.001,
        help="The longest sleep between passes: how soon a timer written by another process is noticed "
             "(and the only schedule on a store without an index).",
    )] = 30.0,
    lease: Annotated[float, typer.Option(
        "--lease", metavar="SECONDS", min=0.001,
        help="The lease taken on each actor while it is advanced: how long a killed worker holds it up.",
    )] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="Log JSON lines (time, level, event, actor, ...).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show the library's log too.")] = False,
) -> None:
    """Fire due timers and delete expired actors until SIGTERM/SIGINT, sleeping until the next due time.

    Logs one line per fired actor and per failure on stderr (--json: JSON lines). Safe to run several
    on one store, and to kill and restart: all its state is in the store. SIGTERM or SIGINT finishes
    the actor in hand, releases its lease and exits 0.
    """
    machines = [load_machine(spec) for spec in machine or []]
    with _worker_logging(as_json, verbose):
        stats = asyncio.run(_serve(store, lock, machines, poll, lease))
    if stats is None:
        raise CliError("stopped by a second signal: the actor in hand was not saved (its lease was released)")
