"""The actor system: session ids, system ids, inspection, relaying events, and the scheduler."""

from __future__ import annotations

import itertools
import logging
import random
import weakref
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from ..errors import ActorError, DuplicateId
from .clock import Clock, ThreadTimer

if TYPE_CHECKING:
    from .actor import Actor

__all__ = ["ActorSystem", "DeferredTimers", "ScheduledEvent", "Scheduler"]

_log = logging.getLogger("durable_xstate")

_random_bits = random.getrandbits

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


class ScheduledEvent(TypedDict):
    """A delayed event the scheduler holds (armed, not yet fired or cancelled). Read-only for callers."""

    source: Actor
    target: Actor
    event: Any
    delay: float
    id: str
    startedAt: float


class Scheduler:
    """Delayed events, keyed ``<source session id>.<send id>`` as in xstate.

    An event scheduled without an id gets a random one, as in xstate: a restored actor's stored timers
    keep their ids, so ids counted from zero in each run would collide with them.

    Public API for the layers above (persistence): :meth:`pending` lists the armed events,
    :meth:`schedule` arms one (``started_at`` keeps a stored timer's due time), :meth:`keep_deferred`
    hands the scheduler timers to arm only when needed, :meth:`arm_deferred` arms them now and
    :meth:`forget_deferred` drops them without cancelling anything."""

    def __init__(self, system: ActorSystem) -> None:
        # weak: the system owns its scheduler, and a pending timer keeps the system alive through the
        # actors of its event; no cycle, so a stopped actor's system is freed without the garbage collector
        self._system = weakref.ref(system)
        self._events: dict[str, ScheduledEvent] = {}
        self._timers: dict[str, Any] = {}
        self._deferred: DeferredTimers | None = None

    @property
    def system(self) -> ActorSystem:
        """The system this scheduler belongs to."""
        system = self._system()
        if system is None:  # only a scheduler kept beyond its system's life
            raise ActorError("The actor system of this scheduler no longer exists")
        return system

    def pending(self) -> Iterator[ScheduledEvent]:
        """The armed delayed events, in the order they were armed (deferred ones are not armed: call
        :meth:`arm_deferred` first to include them). Do not schedule or cancel while iterating."""
        return iter(self._events.values())

    def has_pending(self) -> bool:
        """Whether any delayed event is armed."""
        return bool(self._events)

    @property
    def deferred(self) -> DeferredTimers | None:
        """The timers handed over with :meth:`keep_deferred` and not yet armed, or None."""
        return self._deferred

    def keep_deferred(self, timers: DeferredTimers) -> None:
        """Hold ``timers`` without arming them (see :class:`DeferredTimers`); replaces any held before."""
        self._deferred = timers

    def forget_deferred(self) -> None:
        """Drop the deferred timers without arming or cancelling them (they stay wherever they are stored)."""
        self._deferred = None

    def arm_deferred(self) -> None:
        """Arm the deferred timers now (nothing if there are none); arming them is not a change.

        Deferred timers come first in :meth:`pending`, as if armed before this run's."""
        deferred = self._deferred
        if deferred is None:
            return
        self._deferred = None
        current, self._events = self._events, {}
        handles = dict(self._timers)
        changes = self.system._changes
        deferred.arm(self)
        self.system._changes = changes  # arming what was stored changes nothing
        for key, ev in current.items():  # this run's timers were set later: on the same key they win
            stored = self._timers.get(key)
            if stored is not None and stored is not handles[key]:
                self.system.clock.clear_timeout(stored)
            self._timers[key] = handles[key]
            self._events[key] = ev

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
            id = f"{_random_bits(48):012x}"  # as xstate's Math.random ids: unique, not secret (no syscall)
            key = f"{source.session_id}.{id}"
        else:
            key = f"{source.session_id}.{id}"
            if self._deferred is not None and key not in self._events:
                self._deferred.remove(source, id)  # replaced, as an armed one would be
        system = self.system
        clock = system.clock
        now = clock.now()
        start = now if started_at is None else started_at
        system._changes += 1
        scheduled: ScheduledEvent = {
            "source": source,
            "target": target,
            "event": event,
            "delay": delay,
            "id": id,
            "startedAt": start,
        }
        self._events[key] = scheduled
        # a partial, not a closure: many pending timers stay small (no cells), so firing them stays fast
        handle = clock.set_timeout(partial(_fire_timer, self, key, scheduled), max(start + delay - now, 0))
        self._timers[key] = handle
        if type(handle) is ThreadTimer:
            system.adopt_lock(handle.lock)

    def _fire_timer(self, key: str, scheduled: ScheduledEvent) -> None:
        """A delayed event falls due: forget it and deliver it."""
        system = self.system
        system._changes += 1
        self._timers.pop(key, None)
        self._events.pop(key, None)
        system.relay(scheduled["source"], scheduled["target"], scheduled["event"])

    def cancel(self, source: Actor, id: str) -> None:
        key = f"{source.session_id}.{id}"
        if self._deferred is not None and key not in self._events and self._deferred.remove(source, id):
            self.system._changes += 1
            return
        timer = self._timers.pop(key, None)
        if self._events.pop(key, None) is not None:
            self.system._changes += 1
        if timer is not None:
            self.system.clock.clear_timeout(timer)

    def cancel_all(self, actor: Actor) -> None:
        self.arm_deferred()
        for _key, ev in list(self._events.items()):
            if ev["source"] is actor:
                self.cancel(actor, ev["id"])


_fire_timer = Scheduler._fire_timer  # what a timer's partial calls (no bound method: no cycle, one call)


class ActorSystem:
    """Shared by a root actor and all its descendants."""

    def __init__(self, clock: Clock, logger: Callable[..., None] | None = None) -> None:
        self.clock = clock
        #: taken around every actor's ``start``/``send``/``stop`` once a delayed event was armed on the
        #: timer thread (AsyncioClock without a running loop); None until then
        self.lock: Any = None
        self._held_until_idle = False
        self._starting = 0
        self.logger = logger or default_logger
        self._actors: dict[str, Actor] = {}
        self._keyed: dict[str, Actor] = {}
        self._observers: list[Any] = []
        self.inspecting = False
        self._root: weakref.ref[Actor] | None = None
        self.scheduler = Scheduler(self)
        self._changes = 0

    def adopt_lock(self, lock: Any) -> None:
        """A timer was armed on the timer thread by a caller that holds ``lock`` (once more).

        The first time, the system starts locking: the caller keeps the lock until no actor of the system
        is busy (its outermost ``start``/``send``/``stop`` ends, see :meth:`settle`), since those calls
        began unlocked; the timer thread waits for it. Later timers give the extra hold back at once."""
        if self.lock is None:
            self.lock = lock
            self._held_until_idle = True
        else:
            lock.release()

    def settle(self) -> None:
        """Called when an unlocked ``start``/``send``/``stop`` ends after the system began locking:
        release the arming hold once nothing in the system is busy."""
        if self._held_until_idle and not self._starting and not any(a._processing for a in self._actors.values()):
            self._held_until_idle = False
            self.lock.release()

    @property
    def root(self) -> Actor | None:
        """The root actor (held weakly: the root holds its system, so no cycle keeps either alive)."""
        ref = self._root
        return ref() if ref is not None else None

    @root.setter
    def root(self, actor: Actor | None) -> None:
        self._root = weakref.ref(actor) if actor is not None else None

    @property
    def changes(self) -> int:
        """A counter bumped whenever any actor of the system gets a new snapshot or a delayed event is
        scheduled, cancelled or fired: equal readings mean nothing a persisted record holds has changed."""
        return self._changes

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
        observer = target._event_observer
        if observer is not None:
            observer(source, event)
        target._send(event)
