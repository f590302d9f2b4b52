"""Actor logic creators: ``from_promise``, ``from_callback``, ``from_transition``, ``from_observable``.

Restores behave as in xstate: a promise, callback or observable actor that is still active when its
parent is restored is *started again* (the coroutine or callback runs again with the persisted
input); a transition actor keeps its context; done or errored actors are not restarted.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Any

from ..errors import ActorError, InvalidArgumentType
from ..machine.callables import call_impl
from .logic import ActorSnapshot, BaseLogic, LogicArgs

__all__ = ["from_callback", "from_observable", "from_promise", "from_transition"]

PROMISE_RESOLVE = "xstate.promise.resolve"
PROMISE_REJECT = "xstate.promise.reject"
OBSERVABLE_NEXT = "xstate.observable.next"
OBSERVABLE_ERROR = "xstate.observable.error"
OBSERVABLE_COMPLETE = "xstate.observable.complete"
STOP = "xstate.stop"


def _running_loop(kind: str) -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise ActorError(
            f"{kind} actors run coroutines: start the actor from inside a running asyncio event loop"
        ) from None


class PromiseLogic(BaseLogic):
    """Runs an ``async def creator(args)``; its result becomes ``output``, its exception ``error``."""

    kind = "promise"

    def __init__(self, creator: Callable[[LogicArgs], Awaitable[Any] | Any]) -> None:
        self.creator = creator
        self._tasks: dict[Any, asyncio.Task[Any]] = {}

    def get_initial_snapshot(self, scope: Any, input: Any) -> ActorSnapshot:
        return ActorSnapshot("active", input=input)

    def start(self, snapshot: ActorSnapshot, scope: Any) -> None:
        if snapshot.status != "active":
            return
        me = scope.self
        loop = _running_loop("from_promise")
        result = self.creator(LogicArgs(snapshot.input, scope.system, me, scope.emit))

        async def settle() -> Any:
            return await result if inspect.isawaitable(result) else result

        task = loop.create_task(settle())
        self._tasks[me] = task

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.pop(me, None)
            if t.cancelled() or me.get_snapshot().status != "active":
                return
            err = t.exception()
            if err is not None:
                scope.system.relay(me, me, {"type": PROMISE_REJECT, "data": err})
            else:
                scope.system.relay(me, me, {"type": PROMISE_RESOLVE, "data": t.result()})

        task.add_done_callback(done)

    def transition(self, snapshot: ActorSnapshot, event: Any, scope: Any) -> ActorSnapshot:
        if snapshot.status != "active":
            return snapshot
        t = event.get("type")
        if t == PROMISE_RESOLVE:
            return snapshot._replace(status="done", output=event.get("data"), input=None)
        if t == PROMISE_REJECT:
            return snapshot._replace(status="error", error=event.get("data"), input=None)
        if t == STOP:
            task = self._tasks.pop(scope.self, None)
            if task is not None:
                task.cancel()  # the coroutine sees CancelledError: xstate's AbortSignal
            return snapshot._replace(status="stopped", input=None)
        return snapshot


class CallbackLogic(BaseLogic):
    """Runs ``creator(args)`` with ``args.send_back`` and ``args.receive``; its return value is the cleanup."""

    kind = "callback"

    def __init__(self, creator: Callable[[LogicArgs], Any]) -> None:
        self.creator = creator
        self._state: dict[Any, dict[str, Any]] = {}

    def get_initial_snapshot(self, scope: Any, input: Any) -> ActorSnapshot:
        return ActorSnapshot("active", input=input)

    def start(self, snapshot: ActorSnapshot, scope: Any) -> None:
        me = scope.self
        state: dict[str, Any] = {"receivers": [], "dispose": None}
        self._state[me] = state

        def send_back(event: Any) -> None:
            if me.get_snapshot().status == "stopped":
                return
            if me.parent is not None:
                scope.system.relay(me, me.parent, event)

        def receive(listener: Callable[[Any], None]) -> None:
            state["receivers"].append(listener)

        state["dispose"] = self.creator(LogicArgs(snapshot.input, scope.system, me, scope.emit, send_back, receive))

    def transition(self, snapshot: ActorSnapshot, event: Any, scope: Any) -> ActorSnapshot:
        state = self._state.get(scope.self)
        if event.get("type") == STOP:
            self._state.pop(scope.self, None)
            if state is not None:
                state["receivers"].clear()
                dispose = state["dispose"]
                if callable(dispose):
                    dispose()
            return snapshot._replace(status="stopped", error=None)
        if state is not None:
            for receiver in list(state["receivers"]):
                receiver(event)
        return snapshot


class TransitionLogic(BaseLogic):
    """A reducer: ``reducer(context, event, scope) -> context``. Like xstate it also receives ``xstate.stop``."""

    kind = "transition"

    def __init__(self, reducer: Callable[..., Any], initial: Any) -> None:
        self.reducer = reducer
        self.initial = initial
        try:
            self._arity = len(inspect.signature(reducer).parameters)
        except (TypeError, ValueError):
            self._arity = 3

    def get_initial_snapshot(self, scope: Any, input: Any) -> ActorSnapshot:
        initial = self.initial
        if callable(initial):
            initial = call_impl(initial, LogicArgs(input, scope.system, scope.self, scope.emit), None)
        return ActorSnapshot("active", context=initial)

    def transition(self, snapshot: ActorSnapshot, event: Any, scope: Any) -> ActorSnapshot:
        fn = self.reducer
        context = fn(snapshot.context, event, scope) if self._arity >= 3 else fn(snapshot.context, event)
        return snapshot._replace(context=context)


class ObservableLogic(BaseLogic):
    """Subscribes to what ``creator(args)`` returns; each value becomes ``context``, completion ``done``.

    The source may be an observable-like object (``subscribe(observer)`` returning something with
    ``unsubscribe()``), a plain iterable (values are delivered synchronously, then completion), or an
    async iterable (consumed on the running event loop).
    """

    kind = "observable"

    def __init__(self, creator: Callable[[LogicArgs], Any]) -> None:
        self.creator = creator

    def get_initial_snapshot(self, scope: Any, input: Any) -> ActorSnapshot:
        return ActorSnapshot("active", input=input)

    def restore_snapshot(self, persisted: Any, scope: Any) -> ActorSnapshot:
        return ActorSnapshot.from_persisted(persisted)

    def start(self, snapshot: ActorSnapshot, scope: Any) -> None:
        if snapshot.status == "done":
            return
        me = scope.self
        relay = scope.system.relay

        def next_(value: Any) -> None:
            relay(me, me, {"type": OBSERVABLE_NEXT, "data": value})

        def error(err: Any) -> None:
            relay(me, me, {"type": OBSERVABLE_ERROR, "data": err})

        def complete() -> None:
            relay(me, me, {"type": OBSERVABLE_COMPLETE})

        source = self.creator(LogicArgs(snapshot.input, scope.system, me, scope.emit))
        snapshot.subscription = _subscribe(source, next_, error, complete)

    def transition(self, snapshot: ActorSnapshot, event: Any, scope: Any) -> ActorSnapshot:
        if snapshot.status != "active":
            return snapshot
        t = event.get("type")
        if t == OBSERVABLE_NEXT:
            return snapshot._replace(context=event.get("data"))
        if t == OBSERVABLE_ERROR:
            return snapshot._replace(status="error", error=event.get("data"), input=None, subscription=None)
        if t == OBSERVABLE_COMPLETE:
            return snapshot._replace(status="done", input=None, subscription=None)
        if t == STOP:
            sub = snapshot.subscription
            if sub is not None:
                sub.unsubscribe()
            return snapshot._replace(status="stopped", input=None, subscription=None)
        return snapshot


class _Unsubscribe:
    def __init__(self, fn: Callable[[], None] | None = None) -> None:
        self._fn = fn

    def unsubscribe(self) -> None:
        if self._fn is not None:
            self._fn()


class _Observer:
    __slots__ = ("complete", "error", "next")

    def __init__(self, next_: Any, error: Any, complete: Any) -> None:
        self.next = next_
        self.error = error
        self.complete = complete


def _subscribe(source: Any, next_: Any, error: Any, complete: Any) -> Any:
    if hasattr(source, "subscribe"):
        sub = source.subscribe(_Observer(next_, error, complete))
        return sub if hasattr(sub, "unsubscribe") else _Unsubscribe(sub if callable(sub) else None)
    if isinstance(source, AsyncIterable):
        loop = _running_loop("from_observable (async iterable)")

        async def pump() -> None:
            try:
                async for value in source:
                    next_(value)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                error(err)
                return
            complete()

        task = loop.create_task(pump())

        def cancel() -> None:
            task.cancel()

        return _Unsubscribe(cancel)
    if isinstance(source, Iterable):
        stopped = False

        def stop() -> None:
            nonlocal stopped
            stopped = True

        try:
            for value in source:
                if stopped:
                    break
                next_(value)
        except Exception as err:
            error(err)
            return _Unsubscribe(stop)
        if not stopped:
            complete()
        return _Unsubscribe(stop)
    raise InvalidArgumentType(
        "from_observable needs an observable-like object (subscribe), an iterable or an async iterable, "
        f"got {type(source).__name__}"
    )


def from_promise(creator: Callable[[LogicArgs], Awaitable[Any] | Any]) -> PromiseLogic:
    """Logic for an ``async def creator(args)`` (``args.input``, ``args.self``, ``args.system``, ``args.emit``)."""
    return PromiseLogic(creator)


def from_callback(creator: Callable[[LogicArgs], Any]) -> CallbackLogic:
    """Logic for ``creator(args)`` with ``args.send_back(event)`` and ``args.receive(listener)``; may return a cleanup."""
    return CallbackLogic(creator)


def from_transition(reducer: Callable[..., Any], initial: Any) -> TransitionLogic:
    """Logic for a reducer ``reducer(context, event[, scope])``; ``initial`` is a value or ``fn(args)`` of input."""
    return TransitionLogic(reducer, initial)


def from_observable(creator: Callable[[LogicArgs], Any]) -> ObservableLogic:
    """Logic for an observable-like source, an iterable or an async iterable returned by ``creator(args)``."""
    return ObservableLogic(creator)
