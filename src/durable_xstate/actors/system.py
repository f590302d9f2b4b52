"""The actor system: session ids, system ids, inspection, relaying events, and the scheduler."""

from __future__ import annotations

import itertools
import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import DuplicateId
from .clock import Clock

if TYPE_CHECKING:
    from .actor import Actor

__all__ = ["ActorSystem", "DeferredTimers", "Scheduler"]

_log = logging.getLogger("durable_xstate")

# Session ids ("x:0", "x:1", ...) come from one process-wide counter, as in xstate.
_session_ids = itertools.count()


def reset_session_ids() -> None:
    """Restart session ids at ``x:0`` (for tests that compare ids with a fresh xstate process)."""
    global _session_ids
    _session_ids = itertools.count()


def default_logger(*args: Any) -> None:
    _log.info(" ".join(str(a) for a in args))


class DeferredTimers(Protocol):
    """Timers a scheduler holds without having armed them (a stored actor's, not yet parsed).

    Scheduling or cancelling an id this run did not schedule first removes a deferred timer of that
    key (a schedule replaces it, as it would replace an armed one); :meth:`arm` (once, then the
    scheduler forgets them) schedules all of them, when they all may matter: an actor stopping, a
    listing, or the clock about to fire (the persistence layer decides that)."""

    def remove(self, source: Actor, send_id: str) -> bool:
        """Drop the deferred timer ``send_id`` of ``source``; False if there is none."""
        ...

    def arm(self, scheduler: Scheduler) -> None: ...


class Scheduler:
    """Delayed events, keyed ``<source session id>.<send id>`` as in xstate.

    An event scheduled without an id gets a random one, as in xstate: a restored actor's stored timers
    keep their ids, so ids counted from zero in each run would collide with them."""

    def __init__(self, system: ActorSystem) -> None:
        self.system = system
        self.scheduled_events: dict[str, dict[str, Any]] = {}
        self._timers: dict[str, Any] = {}
        self.deferred: DeferredTimers | None = None

    def arm_deferred(self) -> None:
        """Arm the deferred timers now.

        Deferred timers come first in :attr:`scheduled_events`, as if armed before this run's."""
        deferred = self.deferred
        if deferred is None:
            return
        self.deferred = None
        current, self.scheduled_events = self.scheduled_events, {}
        handles = dict(self._timers)
        changes = self.system.changes
        deferred.arm(self)
        self.system.changes = changes  # arming what was stored changes nothing
        for key, ev in current.items():  # this run's timers were set later: on the same key they win
            stored = self._timers.get(key)
            if stored is not None and stored is not handles[key]:
                self.system.clock.clear_timeout(stored)
            self._timers[key] = handles[key]
            self.scheduled_events[key] = ev

    def schedule(
        self,
        source: Actor,
        target: Actor,
        event: Any,
        delay: float,
        id: str | None = None,
        *,
        started_at: float | None = None,
    ) -> None:
        """Deliver ``event`` from ``source`` to ``target`` after ``delay`` ms (counted from ``started_at``,
        default now: a restored timer keeps its original due time)."""
        if id is None:
            id = secrets.token_hex(6)
            key = f"{source.session_id}.{id}"
        else:
            key = f"{source.session_id}.{id}"
            if self.deferred is not None and key not in self.scheduled_events:
                self.deferred.remove(source, id)  # replaced, as an armed one would be
        clock = self.system.clock
        now = clock.now()
        start = now if started_at is None else started_at
        self.system.changes += 1
        self.scheduled_events[key] = {
            "source": source,
            "target": target,
            "event": event,
            "delay": delay,
            "id": id,
            "startedAt": start,
        }

        def fire() -> None:
            self.system.changes += 1
            self._timers.pop(key, None)
            self.scheduled_events.pop(key, None)
            self.system.relay(source, target, event)

        self._timers[key] = clock.set_timeout(fire, max(start + delay - now, 0))

    def cancel(self, source: Actor, id: str) -> None:
        key = f"{source.session_id}.{id}"
        if self.deferred is not None and key not in self.scheduled_events and self.deferred.remove(source, id):
            self.system.changes += 1
            return
        timer = self._timers.pop(key, None)
        if self.scheduled_events.pop(key, None) is not None:
            self.system.changes += 1
        if timer is not None:
            self.system.clock.clear_timeout(timer)

    def cancel_all(self, actor: Actor) -> None:
        self.arm_deferred()
        for _key, ev in list(self.scheduled_events.items()):
            if ev["source"] is actor:
                self.cancel(actor, ev["id"])


class ActorSystem:
    """Shared by a root actor and all its descendants."""

    def __init__(self, clock: Clock, logger: Callable[..., None] | None = None) -> None:
        self.clock = clock
        self.logger = logger or default_logger
        self._actors: dict[str, Actor] = {}
        self._keyed: dict[str, Actor] = {}
        self._observers: list[Any] = []
        self.inspecting = False
        self.root: Actor | None = None
        self.scheduler = Scheduler(self)
        #: bumped whenever any actor of the system gets a new snapshot or a delayed event is scheduled,
        #: cancelled or fired: equal readings mean nothing a persisted record holds has changed
        self.changes = 0

    def book_id(self) -> str:
        return f"x:{next(_session_ids)}"

    def register(self, session_id: str, actor: Actor) -> None:
        self._actors[session_id] = actor

    def unregister(self, actor: Actor) -> None:
        self._actors.pop(actor.session_id, None)
        sid = actor.system_id
        if sid is not None and self._keyed.get(sid) is actor:
            del self._keyed[sid]

    def set(self, system_id: str, actor: Actor) -> None:
        existing = self._keyed.get(system_id)
        if existing is not None and existing is not actor:
            raise DuplicateId(system_id, f"Actor with system ID '{system_id}' already exists.")
        self._keyed[system_id] = actor

    def get(self, system_id: str) -> Actor | None:
        """The actor registered under ``system_id``, or None."""
        return self._keyed.get(system_id)

    def get_all(self) -> dict[str, Actor]:
        return dict(self._keyed)

    def inspect(self, observer: Any) -> None:
        self._observers.append(observer)
        self.inspecting = True

    def send_inspection_event(self, event: dict[str, Any]) -> None:
        root = self.root
        event["rootId"] = root.session_id if root is not None else None
        for obs in self._observers:
            fn = obs if callable(obs) else getattr(obs, "next", None)
            if fn is not None:
                fn(event)

    def relay(self, source: Actor | None, target: Actor, event: Any) -> None:
        if self.inspecting:
            self.send_inspection_event(
                {"type": "@xstate.event", "sourceRef": source, "actorRef": target, "event": event}
            )
        target._send(event)
