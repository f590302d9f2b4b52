"""A local web inspector for a store's actors: ``durable-xstate serve`` (extra ``inspector``).

The page lists the actors (paged, filtered by machine, state and status) and, for one actor, draws its
statechart with the active states marked, its context, timers with due times, outbox and journal as a
timeline: choosing a revision shows the state there, and replay checks the machine still reproduces
it. It follows the store live (it polls), sends events only when started with ``--allow-send``, and
loads nothing from the internet (its Mermaid bundle ships in ``static/vendor``).

Modules: ``views`` (records as the page's JSON, pure), ``app`` (the Starlette app, its guards),
``server`` (running it with uvicorn).
"""

from .app import create_app
from .server import serve

__all__ = ["create_app", "serve"]
