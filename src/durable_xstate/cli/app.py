"""The Typer app, its shared options, and the plumbing every command uses (errors, consoles, URLs)."""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import inspect
import json
import logging
import os
import re
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

import typer
import typer.core
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
from ..stores.local import LocalFileStore
from ..stores.sqlite import SQLiteStore

__all__ = ["DEFAULT_STORE", "CliError", "app", "normalize_store_url"]

DEFAULT_STORE = "file://.durable-xstate"
_OWNER = f"durable-xstate-cli:{os.getpid()}"


def _tidy_help(command: Any, ctx: Any) -> None:
    """Typer's rich help prints a flag's type (``--json <bool>``) as if it took a value, an argument's
    Python type beside its name (``ID <str>``), a required argument in braces (``{ID}``) and keeps the
    docstring's line breaks. Give every flag (``--help`` included) an empty metavar, so it shows as
    ``--json``; show arguments by name (``send MACHINE ID EVENT``); let paragraphs flow to the width."""
    if isinstance(getattr(command, "help", None), str):
        command.help = re.sub(r"(?<!\n)\n(?!\n)[ \t]*", " ", inspect.cleandoc(command.help))
    for param in [*getattr(command, "params", ()), command.get_help_option(ctx)]:
        if getattr(param, "is_flag", False) and getattr(param, "metavar", None) is None:
            param.metavar = ""
        elif isinstance(param, typer.core.TyperOption) and param.metavar is None and param.name and re.fullmatch(
            r"<(str|int|float)( range)?>", str(getattr(param, "display_type_rich", lambda ctx: None)(ctx=ctx))
        ):  # (typer releases before 0.2x print click's own names: nothing to do there)
            param.metavar = param.name.upper()  # --limit LIMIT [x>=1], not --limit <int range> [x>=1]
        if isinstance(param, typer.core.TyperArgument) and param.metavar and param.nargs == 1:
            name = param.metavar if param.required else f"[{param.metavar}]"
            param.__dict__["display_type_rich"] = lambda ctx=None: None
            param.__dict__["_usage_display_name"] = lambda name=name: name


class _Group(typer.core.TyperGroup):
    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _tidy_help(command, ctx)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _tidy_help(self, ctx)
        super().format_help(ctx, formatter)


app = typer.Typer(
    name="durable-xstate",
    cls=_Group,
    help="Durable, lockable xstate actors: send events, inspect and tick stored actors, draw machines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def version_text() -> str:
    """``durable-xstate 0.1.0``: the installed distribution's version (the package's own when not installed)."""
    try:
        version = importlib.metadata.version("durable-xstate")
    except importlib.metadata.PackageNotFoundError:
        from .. import __version__ as version
    return f"durable-xstate {version}"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


#: Options given before the command that every store the command opens uses (``--codec``).
_GLOBAL: dict[str, str | None] = {"codec": None}


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True, help="Print the version and exit.",
    )] = False,
    codec: Annotated[str | None, typer.Option(
        "--codec", metavar="NAMES", envvar="DURABLE_XSTATE_CODEC",
        help="Record codecs of the store, e.g. gzip,aes-gcm (key in $DURABLE_XSTATE_KEY); before the command.",
    )] = None,
) -> None:
    """Durable, lockable xstate actors: send events, inspect and tick stored actors, draw machines."""
    _GLOBAL["codec"] = codec


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
            raise typer.Exit(getattr(err, "exit_code", 1)) from None

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


def missing_store(store: LockableStorage) -> str | None:
    """Where a file or SQLite store would be, when nothing is there yet (else None). Opening one creates
    it, so the read-only commands (list, show, history, diagram, replay, serve) ask first: a typo'd path
    is "no such store", not a new empty store. Other backends are servers: nothing to check here."""
    storage = store.storage
    if isinstance(storage, LocalFileStore):
        return None if os.path.isdir(storage.root) else storage.root
    if isinstance(storage, SQLiteStore):
        return None if os.path.isfile(storage.path) else storage.path
    return None


def open_cli_store(url: str, lock: str | None, *, must_exist: bool = False) -> LockableStorage:
    """``open_store`` with the command line's URL forms and one-line errors; ``must_exist``: refuse a file
    or SQLite store that is not there rather than create it."""
    try:
        store = open_store(normalize_store_url(url), lock=normalize_store_url(lock) if lock else None,
                           codec=_GLOBAL["codec"] or None)
    except (ValueError, ImportError) as err:
        raise CliError(f"cannot open store {_redact(url)}: {' '.join(str(err).split())}") from None
    if must_exist and missing_store(store) is not None:
        raise CliError(f"no such store: {_redact(url)}")
    return store


@contextlib.asynccontextmanager
async def _opened(url: str, lock: str | None, *, must_exist: bool = False) -> AsyncIterator[LockableStorage]:
    store = open_cli_store(url, lock, must_exist=must_exist)
    try:
        yield store
    finally:
        await store.close()


def actor_id_arg(actor_id: str) -> str:
    """The ID argument, refused before any store is opened when empty or only blanks (its record would be
    ``.json``) or when it is no valid key (``../x``: InvalidKey)."""
    if not actor_id.strip():
        raise CliError(f"the actor id is empty ({actor_id!r}): give ID, e.g. order-1")
    validate_key(f"{actor_id}.json")
    return actor_id


def _key(actor_id: str) -> str:
    return f"{actor_id_arg(actor_id)}.json"


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
