"""The ``durable-xstate`` command line: durable actors on the embedded default store, or any store URL.

    durable-xstate send MACHINE ID EVENT [--data JSON]   create the actor if absent, apply EVENT, save
    durable-xstate show ID [--json]                      the stored record
    durable-xstate list [--json]                         every actor in the store
    durable-xstate tick [--machine MACHINE ...]          fire the timers that fell due, delete expired actors
    durable-xstate worker -m MACHINE ... [--poll S]      tick in a loop, sleeping until the next due time
    durable-xstate history ID [--json]                   the actor's journal: revisions, events, states
    durable-xstate replay ID -m MACHINE [--to REV]       re-run the journal: does MACHINE reproduce it?
    durable-xstate reindex                               write every actor's index entry again
    durable-xstate delete ID --yes                       delete an actor's record
    durable-xstate diagram MACHINE [ID] [--format F]     Mermaid (or DOT, SVG, PNG), ID's active states marked
    durable-xstate serve [-m MACHINE ...] [--port N]     a local web inspector of the store's actors
    durable-xstate demo                                  an order machine, one short-lived process per event

MACHINE is a JSON/YAML config file or ``package.module:attribute`` (see :mod:`durable_xstate.loader`).
Every command takes ``--store URL`` (default ``file://.durable-xstate``, or ``$DURABLE_XSTATE_STORE``)
and ``--lock URL`` for stores without locks of their own. Errors from the library print one line
and exit with status 1; ``send`` of an event the actor does not handle exits with status 2. The
reading commands (list, show, history, diagram ID, replay, serve) never create a store.

Modules: ``app`` (the Typer app, options, plumbing), ``render`` (tables and values), ``step`` (send),
``records`` (show, list, reindex, delete), ``journal`` (history, replay), ``timers`` (tick), ``worker`` (worker), ``machines`` (diagram, demo), ``serve`` (the web inspector).
"""

from __future__ import annotations

from . import importer, journal, machines, records, serve, step, timers, worker  # noqa: F401  (each registers its commands on the app)
from .app import DEFAULT_STORE, CliError, app, normalize_store_url
from .render import format_value, render_record
from .step import StepOutcome, apply_event
from .timers import TickReport, tick_store

__all__ = [
    "DEFAULT_STORE",
    "CliError",
    "StepOutcome",
    "TickReport",
    "app",
    "apply_event",
    "format_value",
    "main",
    "normalize_store_url",
    "render_record",
    "tick_store",
]


def main() -> None:
    """Entry point of the ``durable-xstate`` console script."""
    app()


if __name__ == "__main__":
    main()
