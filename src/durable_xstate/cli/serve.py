"""``serve``: the local web inspector (durable_xstate.inspector; needs the ``inspector`` extra)."""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated

import typer
from rich.text import Text

from ..loader import load_machine
from ..stores import LockableStorage
from .app import (
    DEFAULT_STORE,
    CliError,
    LockOption,
    MachinesOption,
    StoreOption,
    _friendly_errors,
    _redact,
    _stdout,
    app,
    open_cli_store,
)


@app.command()
@_friendly_errors
def serve(
    store: StoreOption = DEFAULT_STORE,
    lock: LockOption = None,
    machine: MachinesOption = None,
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535,
                                      help="Port to listen on (0: any free port).")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Address to bind; beyond loopback a token is required.")]
    = "127.0.0.1",
    allow_send: Annotated[bool, typer.Option("--allow-send", help="Let the page send events to actors.")] = False,
    token: Annotated[str | None, typer.Option(
        "--token", envvar="DURABLE_XSTATE_INSPECTOR_TOKEN",
        help="Require this token of every request (made up and printed when binding beyond loopback).",
    )] = None,
    poll: Annotated[float, typer.Option("--poll", min=0.2, metavar="SECONDS",
                                        help="How often the page looks for changes.")] = 1.0,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=500, help="Actors per page of the list.")]
    = 50,
) -> None:
    """A local web page over the store's actors: statechart, context, timers, outbox, journal.

    For each actor: its statechart with the active states marked, context, timers, outbox and journal
    (time travel by revision). Ctrl-C stops it."""
    try:
        from ..inspector import create_app
        from ..inspector.server import bind, is_loopback
        from ..inspector.server import serve as run_server
    except ImportError as err:
        raise CliError(f"the web inspector needs the 'inspector' extra: pip install 'durable-xstate[inspector]' "
                       f"({err.name} is missing)") from None
    machines = [load_machine(spec) for spec in machine or []]
    loopback = is_loopback(host)
    if not loopback and not token:
        token = secrets.token_urlsafe(24)

    def opener() -> LockableStorage:
        return open_cli_store(store, lock)

    # a bad URL, a missing extra or a store that is not there is a one-line error now, not at the first request
    asyncio.run(open_cli_store(store, lock, must_exist=True).close())
    application = create_app(opener, machines, allow_send=allow_send, token=token, loopback=loopback,
                             poll_seconds=poll, page_size=page_size, store_name=_redact(store))
    try:
        sock = bind(host, port)
    except OSError as err:
        raise CliError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    bound_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{bound_port}/" + (f"?token={token}" if token else "")

    def started() -> None:
        console = _stdout()
        console.print(Text.assemble(("durable-xstate inspector ", "bold"), address))
        console.print(Text(f"store {_redact(store)}; machines: "
                           f"{', '.join(f'{m.id}@{m.version}' for m in machines) or 'none given (-m MACHINE)'}; "
                           f"sending events {'allowed' if allow_send else 'off (--allow-send)'}", style="dim"))

    run_server(application, sock, on_started=started)
