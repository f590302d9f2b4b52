"""The live actor: ``create_actor(machine)``, ``start``, ``send``, ``subscribe``, ``on``, ``stop``.

Run-to-completion: events go through a mailbox and are processed one at a time; effects that xstate
defers (emits, scheduling, sends) run after the new snapshot is committed, then observers are told.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Generic, Self

from ..errors import ActorError, InvalidArgumentType, MachineLookupError
from ..machine.actions import ActionArgs, BuiltinAction, BuiltinExecutable, ExecutableAction
from ..machine.algorithm import Macrostep, Microstep
from ..machine.algorithm import macrostep as algorithm_macrostep
from ..machine.callables import call_impl
from ..machine.children import SendTo, resolve_referenced_actor
from ..machine.events import XSTATE_STOP, init_event
from ..machine.limits import SCALAR_TYPES, check_event_depth
from ..machine.machine import StateMachine
from ..machine.snapshot import MachineSnapshot
from ..machine.types import TContext, TEvent
from .clock import AsyncioClock, Clock
from .logic import ActorSnapshot
from .system import ActorSystem

__all__ = ["Actor", "Subscription", "create_actor"]

_log = logging.getLogger("durable_xstate")

NOT_STARTED, RUNNING, STOPPED = 0, 1, 2

_NO_OBSERVERS: tuple[()] = ()  # shared by every actor nobody subscribed to


class Subscription:
    __slots__ = ("_fn",)

    def __init__(self, fn: Callable[[], None]) -> None:
        self._fn = fn

    def unsubscribe(self) -> None:
        self._fn()


class _Observer:
    __slots__ = ("complete", "error", "next")

    def __init__(self, next: Any = None, error: Any = None, complete: Any = None) -> None:
        self.next = next
        self.error = error
        self.complete = complete


def report_unhandled_error(err: BaseException | Any) -> None:
    _log.error("unhandled error in actor: %r", err, exc_info=err if isinstance(err, BaseException) else None)


class LiveActorScope:
    """What the logic sees of its live actor (xstate's ``actorScope``): implements the engine's
    :class:`~durable_xstate.machine.scope.ActorScope` protocol for one :class:`Actor`."""

    __slots__ = (
        "action_executor", "actor", "defer", "execute_builtin", "id", "logger", "self", "session_id", "system"
    )

    def __init__(self, actor: Actor) -> None:
        self.actor = actor
        self.self = actor
        self.id = actor.id
        self.session_id = actor.session_id
        self.system = actor.system
        self.logger = actor.logger
        self.defer = actor._deferred.append
        self.action_executor = actor._execute_action
        self.execute_builtin = actor._execute_builtin

    def emit(self, event: Any) -> None:
        self.actor._emit(event)

    @property
    def parent(self) -> Actor | None:
        return self.actor._parent

    def relay(self, target: Actor, event: Mapping[str, Any]) -> None:
        system = self.system
        if system.inspecting or target._event_observer is not None:
            system.relay(self.actor, target, event)
        else:  # what system.relay comes down to
            target._send(event)

    def schedule(self, target: Actor, event: Mapping[str, Any], delay: float, send_id: str | None) -> None:
        self.system.scheduler.schedule(self.actor, target, event, delay, send_id)

    def cancel(self, send_id: str) -> None:
        self.system.scheduler.cancel(self.actor, send_id)

    def unregister(self, actor: Actor) -> None:
        self.system.unregister(actor)

    def stop_child(self, child: Actor) -> None:
        if child.parent is not self.actor:
            raise ActorError(f"Cannot stop child actor {child.id} of {self.actor.id} because it is not a child")
        child._stop()

    def spawn_child(
        self,
        logic: Any,
        *,
        id: str | None,
        src: Any,
        sync_snapshot: bool | None,
        system_id: str | None,
        input: Any,
        snapshot: Any = None,
    ) -> Actor:
        return Actor(
            logic, id=id, parent=self.actor, src=src, sync_snapshot=sync_snapshot, system_id=system_id,
            input=input, snapshot=snapshot,
        )

    def restore_child(self, machine: Any, child_id: str, data: Mapping[str, Any]) -> Actor | None:
        """A persisted child, recreated from its snapshot; None when its ``src`` no longer resolves (as xstate)."""
        src = data.get("src")
        logic = resolve_referenced_actor(machine, src) if isinstance(src, str) else None
        if logic is None:
            return None
        return self.spawn_child(
            logic, id=child_id, src=src, sync_snapshot=data.get("syncSnapshot"), system_id=data.get("systemId"),
            input=None, snapshot=data["snapshot"],
        )

    def create_spawner(self, snapshot: Any, event: Any, spawned: dict[str, Any]) -> Callable[..., Actor]:
        """The ``spawn`` given to ``assign`` implementations (xstate's ``createSpawner``)."""
        machine = snapshot.machine

        def spawn(
            src: Any,
            *,
            id: str | None = None,
            input: Any = None,
            system_id: str | None = None,
            sync_snapshot: bool | None = None,
        ) -> Actor:
            if isinstance(src, str):
                logic = resolve_referenced_actor(machine, src)
                if logic is None:
                    raise MachineLookupError(f"Actor logic '{src}' not implemented in machine '{machine.id}'")
                if callable(input):
                    input = call_impl(input, _MapperArgs(snapshot.context, event, self.actor), None)
            else:
                logic = src
            ref = self.spawn_child(
                logic, id=id, src=src, sync_snapshot=sync_snapshot, system_id=system_id, input=input
            )
            spawned[ref.id] = ref

            def start() -> None:
                if not ref.is_stopped:
                    ref.start()

            self.defer(start)
            return ref

        return spawn


class _MapperArgs:
    __slots__ = ("context", "event", "self")

    def __init__(self, context: Any, event: Any, self_: Any) -> None:
        self.context = context
        self.event = event
        self.self = self_

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


class Actor(Generic[TContext, TEvent]):
    """A running instance of a machine (xstate's ``Actor``).

    ``TContext`` and ``TEvent`` come from the machine (``create_actor(StateMachine[Ctx, Ev])``): they type
    ``get_snapshot().context`` and ``send(event)`` for the type checker only."""

    __xstate_actor__ = True

    # slots and lazily made containers (the mailbox on the first queued event, observer and listener
    # collections on the first subscribe/on): a live actor costs little memory
    __slots__ = (
        "__weakref__",
        "_deferred",
        "_direct",
        "_event_observer",
        "_last_macrostep",
        "_listeners",
        "_macrostep",
        "_mailbox",
        "_mailbox_active",
        "_observers",
        "_parent",
        "_processing",
        "_scope",
        "_snapshot",
        "_status",
        "id",
        "logger",
        "logic",
        "options_input",
        "session_id",
        "src",
        "sync_snapshot",
        "system",
        "system_id",
    )

    def __init__(
        self,
        logic: Any,
        *,
        id: str | None = None,
        input: Any = None,
        snapshot: Mapping[str, Any] | None = None,
        inspect: Any = None,
        clock: Clock | None = None,
        logger: Callable[..., None] | None = None,
        parent: Actor | None = None,
        system_id: str | None = None,
        sync_snapshot: bool | None = None,
        src: Any = None,
    ) -> None:
        self.logic = logic
        if parent is not None:
            self.system: ActorSystem = parent.system
        else:
            self.system = ActorSystem(clock or AsyncioClock(), logger)
            self.system.root = self
            if inspect is not None:
                self.system.inspect(inspect)
        self.session_id = self.system.book_id()
        self.id: str = id if id is not None else self.session_id
        self.logger = logger or self.system.logger
        self._parent = parent
        self.sync_snapshot = sync_snapshot
        self.src = src if src is not None else logic
        self.system_id = system_id
        self.options_input = input
        self._status = NOT_STARTED
        # callables, and (target, event) pairs: a send to deliver (see _execute_builtin)
        self._deferred: list[Any] = []
        self._mailbox: deque[Any] | None = None  # made by the first event that has to wait
        self._processing = False
        self._mailbox_active = False
        self._observers: list[_Observer] | tuple[()] = _NO_OBSERVERS
        self._listeners: dict[str, list[Callable[[Any], None]]] | None = None
        self._scope = LiveActorScope(self)
        # a machine reports the microsteps of each event it processes (see last_macrostep)
        self._macrostep = logic.macrostep if isinstance(logic, StateMachine) else None
        # StateMachine.macrostep not overridden: call the algorithm without the method in between
        self._direct = self._macrostep is not None and type(logic).macrostep is StateMachine.macrostep
        self._last_macrostep: Macrostep | None = None
        self._event_observer: Callable[[Actor | None, Any], None] | None = None
        if self.system.inspecting:
            self.system.send_inspection_event({"type": "@xstate.actor", "actorRef": self})
        if system_id:
            self.system.set(system_id, self)
        if isinstance(logic, StateMachine):
            logic.check_implementations()
        self._snapshot: Any = self._init_state(snapshot)
        if system_id and self._snapshot.status != "active":
            self.system.unregister(self)

    @property
    def clock(self) -> Clock:
        """The clock of the actor's system (every actor of a system uses its root's)."""
        return self.system.clock

    def use_clock(self, clock: Clock) -> None:
        """Run the system's delayed events on ``clock`` from now on: call it on a root actor before it
        starts and before anything was scheduled (the persistence layer gives a restored actor the clock
        its stored timers live on). ActorError otherwise: armed timers cannot move to another clock."""
        if self._parent is not None:
            raise ActorError(f"Only a root actor can change the clock; {self.id} has a parent")
        if self._status != NOT_STARTED or self.system.scheduler.has_pending():
            raise ActorError(f"The clock of actor {self.id} can only change before it starts and schedules")
        self.system.clock = clock

    def _init_state(self, persisted: Mapping[str, Any] | None) -> Any:
        logic = self.logic
        if persisted is not None:
            # A snapshot that does not fit the logic is a caller error: raise, build nothing.
            if isinstance(logic, StateMachine):
                # a snapshot handed over by its only holder is used without a copy, once
                # (the HandedOverSnapshot protocol, checked by its one method: a runtime isinstance() of a
                # Protocol costs ~10 µs, a fifth of a durable step)
                take = None if type(persisted) is dict else getattr(persisted, "take_ownership", None)
                adopt = take is not None and bool(take())
                return logic.restore_snapshot(persisted, self._scope, adopt=adopt)
            restore = getattr(logic, "restore_snapshot", None)
            return restore(persisted, self._scope) if restore is not None else persisted
        if isinstance(logic, StateMachine):
            return logic.get_initial_snapshot(self._scope, self.options_input)  # catches its own errors
        try:
            return logic.get_initial_snapshot(self._scope, self.options_input)
        except Exception as err:
            return ActorSnapshot("error", error=err)

    # ------------------------------------------------------------------ action execution
    def _execute_action(self, action: ExecutableAction) -> None:
        if self._status == RUNNING:
            if type(action) is BuiltinExecutable and not self.system.inspecting:
                # the usual built-in (send_to, raise_ ...): no function made for it (action.run())
                action.action.execute(action.scope, action.params)
                return
            self._run_action(action)
        else:
            self._deferred.append(lambda: self._run_action(action))

    def _execute_builtin(self, action: BuiltinAction, params: Any, context: Any, event: Any) -> None:
        """``_execute_action(BuiltinExecutable(...))`` without the executable when it runs at once."""
        if self._status == RUNNING and not self.system.inspecting:
            if type(action) is SendTo and params["delay"] is None:
                # what SendTo.execute defers, without a closure: (target, event), delivered by the
                # deferred loop of _process/_update as LiveActorScope.relay would (params are final here:
                # the engine's compiled steps, which call this, resolve no target later)
                event = params["event"]
                if event.get("type") != "xstate.error":
                    self._deferred.append((params["to"], event))
                    return
            action.execute(self._scope, params)
            return
        scope = getattr(self, "_scope", None) or LiveActorScope(self)
        self._execute_action(BuiltinExecutable(action, ActionArgs(context, event, self, self.system), params, scope))

    def _run_action(self, action: ExecutableAction) -> None:
        if self.system.inspecting:
            self.system.send_inspection_event(
                {"type": "@xstate.action", "actorRef": self, "action": {"type": action.type, "params": action.params}}
            )
        if type(action) is BuiltinExecutable:
            action.run()
            return
        fn = action.exec
        if fn is None:
            return
        if action.builtin:
            fn()
        else:
            call_impl(fn, action.info, action.params)

    def _emit(self, event: Any) -> None:
        all_listeners = self._listeners
        if not all_listeners:
            return
        listeners = all_listeners.get(event["type"])
        wildcard = all_listeners.get("*")
        if not listeners and not wildcard:
            return
        for handler in [*(listeners or ()), *(wildcard or ())]:
            try:
                handler(event)
            except Exception as err:
                report_unhandled_error(err)

    # ------------------------------------------------------------------ public API
    def start(self) -> Self:
        """Start the actor: run the deferred initial actions, notify observers, process queued events."""
        if self._status == RUNNING:
            return self
        system = self.system
        lock = system.lock
        if lock is not None:
            with lock:  # a delayed event may fire on the timer thread (AsyncioClock without a loop)
                return self._start()
        system._starting += 1
        try:
            return self._start()
        finally:
            system._starting -= 1
            if system.lock is not None:
                system.settle()

    def _start(self) -> Self:
        if not hasattr(self, "_scope"):  # dropped when this root stopped
            self._scope = LiveActorScope(self)
        if self.sync_snapshot and self._parent is not None:
            parent = self._parent

            def relay(snap: Any) -> None:
                if snap.status == "active":
                    self.system.relay(self, parent, {"type": f"xstate.snapshot.{self.id}", "snapshot": snap})

            self.subscribe(relay, lambda _e: None)
        self.system.register(self.session_id, self)
        if self.system_id:
            self.system.set(self.system_id, self)
        self._status = RUNNING
        ev = init_event(self.options_input)
        if self.system.inspecting:
            self.system.send_inspection_event(
                {"type": "@xstate.event", "sourceRef": self._parent, "actorRef": self, "event": ev}
            )
        status = self._snapshot.status
        if status == "done":
            self._update(self._snapshot, ev)
            return self
        if status == "error":
            self._error(self._snapshot.error)
            return self
        start = getattr(self.logic, "start", None)
        if start is not None:
            try:
                start(self._snapshot, self._scope)
            except Exception as err:
                self._snapshot = self._snapshot._replace(status="error", error=err)
                self.system._changes += 1
                self._error(err)
                return self
        self._update(self._snapshot, ev)
        self._mailbox_active = True
        self._drain()
        return self

    def send(self, event: TEvent) -> None:
        """Send an event (a dict with ``type``). Events sent before ``start()`` are queued.

        An event nested deeper than :data:`~durable_xstate.machine.limits.MAX_NESTING` raises InvalidEvent
        here, before anything changed (the snapshot, the mailbox, inspection).
        """
        if isinstance(event, str):
            raise InvalidArgumentType(f'Only event objects may be sent to actors; use send({{"type": "{event}"}}) instead')
        if type(event) is dict:  # the usual flat event costs one loop here, not a call
            for value in event.values():  # type: ignore[attr-defined]  # (a TEvent known to be a dict)
                if type(value) not in SCALAR_TYPES:
                    check_event_depth(event)
                    break
        else:
            check_event_depth(event)
        system = self.system
        lock = system.lock
        if lock is None:
            try:
                system.relay(None, self, event)
            finally:
                if system.lock is not None:  # this event armed the system's first timer-thread timer
                    system.settle()
        else:
            with lock:  # one thing at a time with a delayed event firing on the timer thread
                system.relay(None, self, event)

    def _send(self, event: Any) -> None:
        if self._status == STOPPED:
            return
        mailbox = self._mailbox
        if self._processing or not self._mailbox_active or mailbox:
            if mailbox is None:
                mailbox = self._mailbox = deque()
            mailbox.append(event)
            if self._mailbox_active and not self._processing:
                self._drain()
            return
        # an idle running actor with nothing queued: process the event now, without queueing it
        self._processing = True
        try:
            self._process(event)
            mailbox = self._mailbox
            if mailbox:
                while mailbox:
                    self._process(mailbox.popleft())
        finally:
            self._processing = False

    def _drain(self) -> None:
        if self._processing:
            return
        mailbox = self._mailbox
        if not mailbox:
            return
        self._processing = True
        try:
            while mailbox:
                self._process(mailbox.popleft())
        finally:
            self._processing = False

    def _process(self, event: Any) -> None:
        macrostep = self._macrostep
        try:
            if macrostep is not None:
                if self._direct:
                    last = self._last_macrostep = algorithm_macrostep(self._snapshot, event, self._scope, [])
                else:
                    last = self._last_macrostep = macrostep(self._snapshot, event, self._scope)
                next_snapshot = last.snapshot
            else:
                next_snapshot = self.logic.transition(self._snapshot, event, self._scope)
        except Exception as err:
            self._last_macrostep = None
            self._deferred.clear()
            self._snapshot = self._snapshot._replace(status="error", error=err)
            self.system._changes += 1
            self._error(err)
            return
        self._commit(next_snapshot)
        # notify only when there is something to do: an active snapshot nobody observes or inspects has none
        if self._observers or self.system.inspecting or self._snapshot.status != "active":
            self._notify(next_snapshot, event)
        if event["type"] == XSTATE_STOP:
            self._stop_procedure()
            self._complete()

    def _update(self, snapshot: Any, event: Any) -> None:
        self._commit(snapshot)
        self._notify(snapshot, event)

    def _commit(self, snapshot: Any) -> None:
        """Make ``snapshot`` current, then run what its step deferred (sends, effects) in order; a deferred
        item that raises fails the actor and drops the rest."""
        system = self.system
        if snapshot is not self._snapshot:
            system._changes += 1
        self._snapshot = snapshot
        deferred = self._deferred
        while deferred:
            fn = deferred.pop(0)
            try:
                if type(fn) is tuple:  # a send (see _execute_builtin): LiveActorScope.relay, inline
                    target, ev = fn
                    if system.inspecting or target._event_observer is not None:
                        system.relay(self, target, ev)
                    else:
                        target._send(ev)
                else:
                    fn()
            except Exception as err:
                deferred.clear()
                self._snapshot = snapshot._replace(status="error", error=err)
                system._changes += 1

    def _notify(self, snapshot: Any, event: Any) -> None:
        """After a commit: tell the observers, finish a done or failed actor, inspect."""
        system = self.system
        status = self._snapshot.status
        if status == "active":
            if self._observers:
                for obs in list(self._observers):
                    if obs.next is not None:
                        try:
                            obs.next(snapshot)
                        except Exception as err:
                            report_unhandled_error(err)
        elif status == "done":
            for obs in list(self._observers):
                if obs.next is not None:
                    try:
                        obs.next(snapshot)
                    except Exception as err:
                        report_unhandled_error(err)
            self._stop_procedure()
            self._complete()
            if self._parent is not None:
                done = {"type": f"xstate.done.actor.{self.id}", "output": self._snapshot.output, "actorId": self.id}
                self.system.relay(self, self._parent, done)
        elif status == "error":
            self._error(self._snapshot.error)
        if system.inspecting:
            system.send_inspection_event(
                {"type": "@xstate.snapshot", "actorRef": self, "event": event, "snapshot": snapshot}
            )

    def stop(self) -> Self:
        """Stop the actor (no exit actions run, as in xstate); status becomes ``stopped``."""
        if self._parent is not None:
            raise ActorError("A non-root actor cannot be stopped directly.")
        lock = self.system.lock
        if lock is None:
            return self._stop()  # stopping arms nothing
        with lock:
            return self._stop()

    def _stop(self) -> Self:
        if self._status == STOPPED:
            return self
        if self._mailbox:
            # drop what is queued (while processing, the event being processed was already taken);
            # the stop goes behind it
            self._mailbox.clear()
        if self._status == NOT_STARTED:
            self._status = STOPPED
            if self._parent is None:
                del self._scope  # as in _stop_procedure
            return self
        self._send({"type": XSTATE_STOP})
        return self

    def _stop_procedure(self) -> None:
        if self._status != RUNNING:
            return
        self.system.scheduler.cancel_all(self)
        if self._mailbox:
            self._mailbox.clear()
        self._mailbox_active = False
        self._status = STOPPED
        self.system.unregister(self)
        if self._parent is None:
            # the scope and the actor point at each other: a stopped root drops its scope (a scope in use
            # keeps its actor) so it is freed without the garbage collector; a restart makes a new one
            del self._scope

    def _complete(self) -> None:
        for obs in list(self._observers):
            if obs.complete is not None:
                try:
                    obs.complete()
                except Exception as err:
                    report_unhandled_error(err)
        self._observers = _NO_OBSERVERS
        self._listeners = None

    def _report_error(self, err: Any) -> None:
        if not self._observers:
            if self._parent is None:
                report_unhandled_error(err)
            self._listeners = None
            return
        report = False
        for obs in list(self._observers):
            if obs.error is None:
                report = True
            else:
                try:
                    obs.error(err)
                except Exception as err2:
                    report_unhandled_error(err2)
        self._observers = _NO_OBSERVERS
        self._listeners = None
        if report:
            report_unhandled_error(err)

    def _error(self, err: Any) -> None:
        self._stop_procedure()
        self._report_error(err)
        if self._parent is not None:
            self.system.relay(self, self._parent, {"type": f"xstate.error.actor.{self.id}", "error": err, "actorId": self.id})

    def subscribe(
        self,
        next: Any = None,
        error: Callable[[Any], None] | None = None,
        complete: Callable[[], None] | None = None,
    ) -> Subscription:
        """Observe snapshots: ``subscribe(fn)``, ``subscribe(next, error, complete)`` or an observer object."""
        if next is not None and not callable(next) and any(
            hasattr(next, k) for k in ("next", "error", "complete")
        ):
            obs = _Observer(getattr(next, "next", None), getattr(next, "error", None), getattr(next, "complete", None))
        else:
            obs = _Observer(next, error, complete)
        if self._status != STOPPED:
            if not self._observers:
                self._observers = []
            self._observers.append(obs)
        else:
            status = self._snapshot.status
            if status == "done" and obs.complete is not None:
                obs.complete()
            elif status == "error":
                if obs.error is None:
                    report_unhandled_error(self._snapshot.error)
                else:
                    obs.error(self._snapshot.error)

        def unsubscribe() -> None:
            if obs in self._observers:
                self._observers.remove(obs)  # type: ignore[union-attr]  # (a list once not empty)

        return Subscription(unsubscribe)

    def on(self, type: str, handler: Callable[[Any], None]) -> Subscription:
        """Receive events the machine emits with ``emit`` (``"*"`` receives them all)."""
        if self._listeners is None:
            self._listeners = {}
        lst = self._listeners.setdefault(type, [])
        lst.append(handler)

        def unsubscribe() -> None:
            current = self._listeners.get(type) if self._listeners is not None else None
            if current is not None and handler in current:
                current.remove(handler)

        return Subscription(unsubscribe)

    def get_snapshot(self) -> MachineSnapshot[TContext]:
        """The current snapshot (a MachineSnapshot for a machine; other logic has its own snapshot type)."""
        snapshot: MachineSnapshot[TContext] = self._snapshot
        return snapshot

    @property
    def last_macrostep(self) -> tuple[Microstep, ...]:
        """The microsteps of the last event this actor processed (a machine's; empty for other logic).

        Each :class:`~durable_xstate.machine.algorithm.Microstep` has the ``event``, the ``snapshot``
        after it, the ``transitions`` taken and the state nodes ``exited`` and ``entered``, in the order
        their actions ran. Read it from an observer (``subscribe``): it changes with every event.
        """
        last = self._last_macrostep
        return tuple(last.microsteps) if last is not None else ()

    def observe_events(self, observer: Callable[[Actor | None, Any], None] | None) -> None:
        """Call ``observer(source, event)`` for every event delivered to this actor, before it is processed:
        ``source`` is None for an event sent from outside, else the actor that sent or scheduled it.
        Raised (internal) events are not delivered, they follow from these. The persistence layer's
        journal uses it; one observer per actor (None removes it)."""
        self._event_observer = observer

    def get_persisted_snapshot(self) -> dict[str, Any]:
        """The same dict as xstate's ``actor.getPersistedSnapshot()``."""
        persisted: dict[str, Any] = self.logic.get_persisted_snapshot(self._snapshot)
        return persisted

    @property
    def parent(self) -> Actor | None:
        return self._parent

    @property
    def is_running(self) -> bool:
        return self._status == RUNNING

    @property
    def is_stopped(self) -> bool:
        return self._status == STOPPED

    def get_scheduled_events(self) -> list[dict[str, Any]]:
        """Delayed events this actor scheduled and that have not fired, with absolute due times (ms).

        xstate keeps these out of the persisted snapshot; the persistence layer stores them beside it.
        """
        out = []
        self.system.scheduler.arm_deferred()
        for ev in self.system.scheduler.pending():
            if ev["source"] is self:
                out.append(
                    {
                        "id": ev["id"],
                        "event": ev["event"],
                        "target": ev["target"].id if ev["target"] is not None else None,
                        "delay": ev["delay"],
                        "startedAt": ev["startedAt"],
                        "dueAt": ev["startedAt"] + ev["delay"],
                    }
                )
        return out

    def __repr__(self) -> str:
        return f"<Actor {self.id!r} {self._snapshot.status}>"


def create_actor(
    logic: StateMachine[TContext, TEvent],
    *,
    id: str | None = None,
    input: Any = None,
    snapshot: Mapping[str, Any] | None = None,
    inspect: Any = None,
    clock: Clock | None = None,
    logger: Callable[..., None] | None = None,
    system_id: str | None = None,
) -> Actor[TContext, TEvent]:
    """Create an actor for ``logic`` (xstate's ``createActor``). Restores from ``snapshot`` when given."""
    return Actor(
        logic, id=id, input=input, snapshot=snapshot, inspect=inspect, clock=clock, logger=logger,
        system_id=system_id,
    )
