"""The Typer app, its shared options, and the plumbing every command uses (errors, consoles, URLs)."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import (
    CliError,
    DurableXStateError,
    LockTimeout,
    StoreNotConfigured,
    WriteConflict,
)
from ..persistence import StoredRecord
from ..stores import LockableStorage, open_store, validate_key

__all__ = ["DEFAULT_STORE", "CliError", "app", "normalize_store_url"]

DEFAULT_STORE = "file://.durable-xstate"
_OWNER = f"durable-xstate-cli:{os.getpid()}"

app = typer.Typer(
    name="durable-xstate",
    help="Durable, lockable xstate actors: send events, inspect and tick stored actors, draw machines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


# ---------------------------------------------------------------------------------------------- options
StoreOption = Annotated[
    str,
    typer.Option("--store", "-s", metavar="URL", envvar="DURABLE_XSTATE_STORE",
                 help="Store URL: file://DIR, memory://NAME, sqlite:///PATH, redis://..., s3://..., ..."),
]
LockOption = Annotated[
    str | None,
    typer.Option("--lock", metavar="URL", envvar="DURABLE_XSTATE_LOCK",
                 help="Lock URL, for stores that have no locks of their own (e.g. S3)."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
MachinesOption = Annotated[list[str] | None, typer.Option(
    "--machine", "-m", metavar="MACHINE",
    help="A machine whose actors may be advanced (file or package.module:attribute); repeat for more.",
)]
LockTimeoutOption = Annotated[
    float, typer.Option("--lock-timeout", metavar="SECONDS", help="How long to wait for the actor's lock.")
]


# ---------------------------------------------------------------------------------------------- plumbing
P = ParamSpec("P")
R = TypeVar("R")

_HINTS: list[tuple[type[BaseException], str]] = [
    (LockTimeout, "another process holds the actor; try again, or raise --lock-timeout"),
    (WriteConflict, "someone else saved the actor in between; nothing was written, run it again"),
    (StoreNotConfigured, "this store has no locks of its own; pass --lock URL"),
]


def _one_line(err: BaseException) -> str:
    message = " ".join(str(err).split())
    if isinstance(err, DurableXStateError) and not isinstance(err, CliError):  # CliError speaks for itself
        message = f"{type(err).__name__}: {message}"
    for kind, hint in _HINTS:
        if isinstance(err, kind):
            return f"{message} ({hint})"
    return message


def _friendly_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Library errors and CliError become one line on stderr and exit status 1, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            with _library_logging(logging.WARNING):
                return fn(*args, **kwargs)
        except DurableXStateError as err:  # CliError included
            _stderr().print(f"[bold red]error:[/] {escape(_one_line(err))}", soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


class _OneLineHandler(logging.Handler):
    """Writes ``level (logger): message`` to the current sys.stderr (the traceback of exc_info is left out)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = " ".join(record.getMessage().split())
            sys.stderr.write(f"{record.levelname.lower()} ({record.name}): {message}\n")
        except Exception:  # a log line must never break the command
            self.handleError(record)


def _stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


def normalize_store_url(url: str) -> str:
    """``file://.name`` means the directory ``.name`` here (``file://./.name``), as the docs promise."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "file" and parts.netloc.startswith(".") and parts.netloc not in (".", ".."):
        return urlunsplit(("file", ".", f"/{parts.netloc}{parts.path}", parts.query, parts.fragment))
    return url


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@contextlib.asynccontextmanager
async def _opened(url: str, lock: str | None) -> AsyncIterator[LockableStorage]:
    try:
        store = open_store(normalize_store_url(url), lock=normalize_store_url(lock) if lock else None)
    except (ValueError, ImportError) as err:
        raise CliError(f"cannot open store {_redact(url)}: {' '.join(str(err).split())}") from None
    try:
        yield store
    finally:
        await store.close()


def _key(actor_id: str) -> str:
    return validate_key(f"{actor_id}.json")


async def _read_record(store: LockableStorage, actor_id: str) -> StoredRecord | None:
    key = _key(actor_id)
    stored = await store.read(key)
    if stored is None:
        return None
    return StoredRecord.decode(stored.data, key=key, version=stored.version)


async def _require_record(store: LockableStorage, actor_id: str, url: str) -> StoredRecord:
    record = await _read_record(store, actor_id)
    if record is None:
        raise CliError(f"no actor {actor_id!r} in {_redact(url)}")
    return record


def _parse_json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise typer.BadParameter(f"not JSON: {err}", param_hint=what) from None
    if not isinstance(value, dict):
        raise typer.BadParameter(f"must be a JSON object, got {type(value).__name__}", param_hint=what)
    return value


def _event(event: str, data: str | None) -> dict[str, Any]:
    if event.lstrip().startswith("{"):
        if data is not None:
            raise typer.BadParameter("give the event either as a JSON object or as TYPE with --data", param_hint="EVENT")
        parsed = _parse_json_object(event, "EVENT")
        if not isinstance(parsed.get("type"), str):
            raise typer.BadParameter("a JSON event needs a string 'type'", param_hint="EVENT")
        return parsed
    extra = _parse_json_object(data, "--data") if data is not None else {}
    if "type" in extra and extra["type"] != event:
        raise typer.BadParameter(f"--data has type {extra['type']!r} but EVENT is {event!r}", param_hint="--data")
    return {"type": event, **{k: v for k, v in extra.items() if k != "type"}}


@contextlib.contextmanager
def _library_logging(level: int) -> Iterator[None]:
    """The library's log for the duration of a command: one line per message on stderr, no tracebacks."""
    logger = logging.getLogger("durable_xstate")
    saved = logger.level, logger.propagate
    handler = None
    if not any(isinstance(h, _OneLineHandler) for h in logger.handlers):
        handler = _OneLineHandler()
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield
    finally:
        if handler is not None:
            logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
