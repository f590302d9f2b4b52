"""The inspector's web app (Starlette): the page, its assets, and a small JSON API over one store.

    GET  /                    the page (``/?token=T`` sets the token cookie and drops it from the URL)
    GET  /static/...          its script, style and the vendored Mermaid bundle
    GET  /api/info            the store, the machines given, whether sending is allowed
    GET  /api/actors          a page of actors: ?machine= &status= &state= &prefix= &after= &limit=
    GET  /api/actor?id=       one actor: state, context, timers, outbox, diagram; ``&known=VERSION``
                              answers ``{"unchanged": true}`` while the record is still that version
    GET  /api/journal?id=     its journal, oldest first
    GET  /api/revision?id=&rev=   the state at a revision of its journal, diagram marked
    POST /api/replay          {"id", "to"}: re-run the journal on the machine given (its actions run)
    POST /api/send            {"id", "event"}: one durable step (only with ``allow_send``)

Guards (:class:`Guard`): requests must name a loopback host when the app is bound to loopback (a page
on another site cannot reach it by DNS rebinding); with a token, every request carries it (cookie or
``Authorization: Bearer``); a POST must carry the ``X-Durable-XState`` header, which a cross-site form
or a simple fetch cannot send without a CORS preflight this app never grants.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..actors.actor import Actor, create_actor
from ..errors import (
    DurableXStateError,
    InvalidArgument,
    InvalidEvent,
    InvalidKey,
    LockTimeout,
    RecordError,
    StoreUnavailable,
    WriteConflict,
)
from ..machine.machine import StateMachine
from ..persistence import StoredRecord, list_actors, replay, with_persistable_actor
from ..persistence.index import state_label
from ..stores import LockableStorage, validate_key
from .views import Machines, actor_detail, actor_summary, journal_view, replay_view, revision_view

__all__ = ["SEND_HEADER", "TOKEN_COOKIE", "Guard", "create_app"]

STATIC = Path(__file__).parent / "static"
TOKEN_COOKIE = "durable_xstate_token"
SEND_HEADER = "x-durable-xstate"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
#: The page runs only its own script; Mermaid styles its SVG inline.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
MAX_LIMIT = 500
MAX_BODY = 1 << 20

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Guard:
    """ASGI middleware: host check on loopback, token when configured, the header on every POST."""

    def __init__(self, app: ASGIApp, *, token: str | None, loopback: bool) -> None:
        self.app, self.token, self.loopback = app, token, loopback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = self._refusal(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if self.token is not None and request.url.path == "/" and "token" in request.query_params:
            response = RedirectResponse("/", status_code=303)  # keep the token out of the address bar
            response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, request: Request) -> Response | None:
        host = (request.url.hostname or "").lower()
        if self.loopback and host not in LOOPBACK_HOSTS:
            return _error(421, f"this inspector answers only at 127.0.0.1 or localhost, not {host!r}")
        if self.token is not None and not self._has_token(request):
            return _error(401, "this inspector needs its token: open the address it printed (…/?token=…)")
        if request.method not in ("GET", "HEAD") and request.headers.get(SEND_HEADER) != "1":
            return _error(403, f"a request that changes anything needs the {SEND_HEADER} header")
        return None

    def _has_token(self, request: Request) -> bool:
        assert self.token is not None
        offered = [request.cookies.get(TOKEN_COOKIE, ""), request.query_params.get("token", "")]
        authorization = request.headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            offered.append(authorization[7:].strip())
        return any(secrets.compare_digest(o.encode(), self.token.encode()) for o in offered if o)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _one_line(err: BaseException) -> str:
    return f"{type(err).__name__}: {' '.join(str(err).split())}"


#: How a library error maps to an HTTP status (the first class that matches).
_STATUS: list[tuple[type[BaseException], int]] = [
    (InvalidKey, 400), (InvalidEvent, 400), (InvalidArgument, 400), (RecordError, 422),
    (LockTimeout, 409), (WriteConflict, 409), (StoreUnavailable, 503),
]


def _failure(err: DurableXStateError) -> JSONResponse:
    status = next((code for kind, code in _STATUS if isinstance(err, kind)), 500)
    return _error(status, _one_line(err))


def create_app(
    store: LockableStorage | Callable[[], LockableStorage],
    machines: Iterable[StateMachine] = (),
    *,
    allow_send: bool = False,
    token: str | None = None,
    loopback: bool = True,
    poll_seconds: float = 1.0,
    page_size: int = 50,
    store_name: str = "",
) -> ASGIApp:
    """The inspector over ``store``: an open store (the caller closes it), or a function that opens
    one, called at startup in the server's event loop and closed at shutdown.

    ``machines`` draw the actors they wrote and let replay and send run; ``allow_send`` lets the page
    send events (off by default); ``token`` is required of every request when given (the CLI makes one
    whenever it binds beyond loopback); ``loopback`` refuses requests naming another host."""
    known = Machines(machines)
    opener = None if isinstance(store, LockableStorage) else store
    opened: list[LockableStorage] = [] if opener is not None else [store]  # type: ignore[list-item]

    def current() -> LockableStorage:
        return opened[0]

    async def page(request: Request) -> Response:
        return Response((STATIC / "index.html").read_bytes(), media_type="text/html; charset=utf-8",
                        headers={"content-security-policy": CSP, "x-content-type-options": "nosniff",
                                 "referrer-policy": "no-referrer", "cache-control": "no-store"})

    async def info(request: Request) -> Response:
        return JSONResponse({"store": store_name, "machines": known.names(), "allowSend": allow_send,
                             "pollMs": int(poll_seconds * 1000), "pageSize": page_size})

    async def actors(request: Request) -> Response:
        q = request.query_params
        labels = {k: q[k] for k in ("machine", "status", "state") if q.get(k)}
        if labels.get("state", "").startswith(("{", "[")):
            try:
                labels["state"] = state_label(json.loads(labels["state"]))
            except ValueError:
                return _error(400, f"state {labels['state']!r} is neither a state name nor JSON")
        try:
            limit = min(max(int(q.get("limit", str(page_size))), 1), MAX_LIMIT)
        except ValueError:
            return _error(400, "limit must be a whole number")
        found, more = await list_actors(current(), labels, prefix=q.get("prefix", ""), after=q.get("after") or None,
                                        limit=limit)
        return JSONResponse({"actors": [actor_summary(a) for a in found],
                             "next": found[-1].id if more and found else None})

    async def read(actor_id: str) -> StoredRecord | None:
        key = validate_key(f"{actor_id}.json")
        stored = await current().read(key)
        return None if stored is None else StoredRecord.decode(stored.data, key=key, version=stored.version)

    async def actor(request: Request) -> Response:
        actor_id = request.query_params.get("id", "")
        key = validate_key(f"{actor_id}.json")
        stored = await current().read(key)
        if stored is None:
            return _error(404, f"no actor {actor_id!r}")
        if stored.version is not None and request.query_params.get("known") == stored.version:
            return JSONResponse({"unchanged": True, "version": stored.version})
        record = StoredRecord.decode(stored.data, key=key, version=stored.version)
        return JSONResponse(actor_detail(record, known))

    async def journal(request: Request) -> Response:
        actor_id = request.query_params.get("id", "")
        record = await read(actor_id)
        if record is None:
            return _error(404, f"no actor {actor_id!r}")
        return JSONResponse({"id": actor_id, "entries": journal_view(record)})

    async def revision(request: Request) -> Response:
        actor_id = request.query_params.get("id", "")
        try:
            rev = int(request.query_params.get("rev", ""))
        except ValueError:
            return _error(400, "rev must be a whole number")
        record = await read(actor_id)
        if record is None:
            return _error(404, f"no actor {actor_id!r}")
        view = revision_view(record, rev, known)
        if view is None:
            return _error(404, f"revision {rev} of {actor_id!r} is not in its journal")
        return JSONResponse(view)

    async def body(request: Request) -> dict[str, Any] | Response:
        data = await request.body()
        if len(data) > MAX_BODY:
            return _error(413, f"a request body is at most {MAX_BODY} bytes")
        try:
            parsed = json.loads(data)
        except ValueError as err:
            return _error(400, f"the body is not JSON: {err}")
        if not isinstance(parsed, dict) or not isinstance(parsed.get("id"), str):
            return _error(400, 'the body must be a JSON object with a string "id"')
        return parsed

    async def machine_of(actor_id: str) -> tuple[StoredRecord, StateMachine] | Response:
        record = await read(actor_id)
        if record is None:
            return _error(404, f"no actor {actor_id!r}")
        machine, why = known.find(record)
        if machine is None:
            return _error(409, why or "no machine")
        return record, machine

    async def replay_route(request: Request) -> Response:
        parsed = await body(request)
        if isinstance(parsed, Response):
            return parsed
        to = parsed.get("to")
        if to is not None and not isinstance(to, int):
            return _error(400, '"to" must be a revision number')
        found = await machine_of(parsed["id"])
        if isinstance(found, Response):
            return found
        record, machine = found
        report = replay(record, lambda i, s: create_actor(machine, id=i, snapshot=s), to=to)
        return JSONResponse(replay_view(report))

    async def send_route(request: Request) -> Response:
        if not allow_send:
            return _error(403, "sending events is off: start the inspector with --allow-send")
        parsed = await body(request)
        if isinstance(parsed, Response):
            return parsed
        event = parsed.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str) or not event["type"]:
            return _error(400, 'the event must be a JSON object with a string "type"')
        found = await machine_of(parsed["id"])
        if isinstance(found, Response):
            return found
        _, machine = found

        def step(a: Actor) -> dict[str, Any]:
            handled = a.get_snapshot().status == "active" and bool(a.get_snapshot().can(event))
            a.send(event)
            after = a.get_snapshot()
            return {"handled": handled, "state": after.value, "status": after.status}

        outcome: dict[str, Any] = await with_persistable_actor(
            step, id=parsed["id"], storage=current(), locking="read-write", acquire_lock_timeout=5.0,
            actor_creator=lambda i, s: create_actor(machine, id=i, snapshot=s),
            meta={"by": "durable-xstate inspector"},
        )
        after = await read(parsed["id"])
        outcome["revision"] = after.revision if after else None
        return JSONResponse(outcome)

    def guarded(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except DurableXStateError as err:  # one bad record or id is an answer, not a crash
                return _failure(err)

        return run

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if opener is not None:
            opened[:] = [opener()]
        try:
            yield
        finally:
            if opener is not None:
                await opened.pop().close()

    async def icon(request: Request) -> Response:
        return Response((STATIC / "icon.svg").read_bytes(), media_type="image/svg+xml")

    routes = [
        Route("/", page),
        Route("/favicon.ico", icon),
        Route("/api/info", guarded(info)),
        Route("/api/actors", guarded(actors)),
        Route("/api/actor", guarded(actor)),
        Route("/api/journal", guarded(journal)),
        Route("/api/revision", guarded(revision)),
        Route("/api/replay", guarded(replay_route), methods=["POST"]),
        Route("/api/send", guarded(send_route), methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    return Guard(Starlette(routes=routes, lifespan=lifespan), token=token, loopback=loopback)
