"""Built-in actions: ``assign``, ``raise_``, ``emit``, ``log``, ``cancel``, ``enqueue_actions``.

Each built-in has a pure ``resolve`` (run during the microstep against the intermediate snapshot)
and, where xstate has one, an ``execute`` (the side effect, which the actor runs at once or defers).
Built-ins with an ``execute`` are reported to inspection as ``@xstate.action``; ``assign`` is not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ActorError, InvalidArgumentType, MachineLookupError
from .callables import arity, call_impl
from .guards import evaluate_guard
from .js import js_items

if TYPE_CHECKING:
    from .scope import ActorScope
    from .snapshot import MachineSnapshot

__all__ = [
    "ActionArgs",
    "BuiltinAction",
    "BuiltinExecutable",
    "ExecutableAction",
    "assign",
    "cancel",
    "emit",
    "enqueue_actions",
    "log",
    "raise_",
]


Resolution = tuple["MachineSnapshot", Any, "list[Any] | None"]


class ResolveExtra:
    """Passed to every built-in's ``resolve``: the internal queue, and the ids of invokes being started
    in the same entry set (a ``send_to`` may name one before it exists)."""

    __slots__ = ("deferred_actor_ids", "internal_queue")

    def __init__(self, internal_queue: list[Any], deferred_actor_ids: list[str] | None) -> None:
        self.internal_queue = internal_queue
        self.deferred_actor_ids = deferred_actor_ids


class ActionArgs:
    """The first argument of every action implementation: ``context``, ``event``, ``self``, ``system``."""

    __slots__ = ("context", "event", "self", "system")

    def __init__(self, context: Any, event: Any, self_: Any, system: Any) -> None:
        self.context = context
        self.event = event
        self.self = self_
        self.system = system

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


class AssignArgs(ActionArgs):
    """``assign`` implementations also get ``spawn`` (made on first use: most assigns never spawn)."""

    __slots__ = ("_scope", "_snapshot", "_spawn", "spawned")

    def __init__(self, context: Any, event: Any, self_: Any, system: Any, scope: ActorScope, snapshot: Any) -> None:
        # the four ActionArgs fields set here, not through super().__init__: one assign per event, hot path
        self.context = context
        self.event = event
        self.self = self_
        self.system = system
        self._scope = scope
        self._snapshot = snapshot
        self._spawn: Any = None
        #: the children spawned through ``spawn`` (None until it is first used)
        self.spawned: dict[str, Any] | None = None

    @property
    def spawn(self) -> Any:
        if self._spawn is None:
            self.spawned = {}
            self._spawn = self._scope.create_spawner(self._snapshot, self.event, self.spawned)
        return self._spawn


class ExecutableAction:
    """An action ready to run: what ``transition()`` returns and what inspection reports."""

    __slots__ = ("builtin", "exec", "info", "params", "type")

    def __init__(
        self,
        type_: str,
        info: ActionArgs | None,
        params: Any,
        exec_: Callable[..., Any] | None,
        builtin: bool = False,
    ):
        self.type = type_
        self.info = info
        self.params = params
        self.exec = exec_
        #: a built-in's bound execute: call it as ``exec()``, not as a user implementation
        self.builtin = builtin

    def __repr__(self) -> str:
        return f"<ExecutableAction {self.type} {self.params!r}>"


class BuiltinExecutable(ExecutableAction):
    """A built-in action with an ``execute``, ready to run: ``run()`` calls ``action.execute(scope, params)``.

    ``exec`` (a function named after the built-in) is made only when read: the live actor calls
    ``run`` and needs no function per action."""

    __slots__ = ("action", "scope")

    def __init__(self, action: BuiltinAction, info: ActionArgs | None, params: Any, scope: ActorScope) -> None:
        self.type = action.type
        self.info = info
        self.params = params
        self.builtin = True
        self.action = action
        self.scope = scope

    @property
    def exec(self) -> Callable[..., Any]:  # type: ignore[override]  # (read-only: made from the built-in)
        action, scope, params = self.action, self.scope, self.params

        def run(_info: Any = None, _params: Any = None) -> None:
            action.execute(scope, params)

        run.__name__ = action.type
        return run

    def run(self) -> None:
        self.action.execute(self.scope, self.params)


class BuiltinAction:
    """Base of the built-in actions. Subclasses set ``type`` and implement ``resolve``."""

    type: str = "xstate.builtin"
    has_execute = False

    def resolve(
        self,
        scope: ActorScope,
        snapshot: MachineSnapshot,
        args: ActionArgs,
        params: Any,
        extra: ResolveExtra,
    ) -> Resolution:
        raise NotImplementedError

    def execute(self, scope: ActorScope, params: Any) -> None:
        """The side effect; only called when ``has_execute`` is true."""

    def __call__(self, *args: Any) -> None:
        raise InvalidArgumentType(f"{self.type} is a built-in action; put it in a machine config, do not call it")

    def __repr__(self) -> str:
        return f"<{self.type}>"


def resolve_delay(delay: Any, snapshot: MachineSnapshot, args: ActionArgs, params: Any) -> Any:
    """A delay name (through ``setup(delays=...)``), a function of ``(args, params)``, or a number."""
    if isinstance(delay, str):
        delays = snapshot.machine.implementations.delays
        if delay not in delays and snapshot.machine.strict:
            raise MachineLookupError(f"Delay '{delay}' is not implemented in machine '{snapshot.machine.id}'")
        return _resolve_value(delays.get(delay), args, params)
    if callable(delay):
        return call_impl(delay, args, params)
    return delay


def _resolve_value(value: Any, args: ActionArgs, params: Any) -> Any:
    return call_impl(value, args, params) if callable(value) else value


class Assign(BuiltinAction):
    type = "xstate.assign"

    def __init__(self, assignment: Any) -> None:
        if not (callable(assignment) or isinstance(assignment, Mapping)):
            raise InvalidArgumentType("assign() takes a function or a mapping of property assigners")
        self.is_fn = callable(assignment)
        # property assigners run in Object.keys order (integer-like keys first): a spawn in one of them
        # takes the next actor id in that order
        self.assignment: Any = assignment if self.is_fn else dict(js_items(assignment))
        # (key, value, how many arguments the value takes or -1 for a plain value), made on first use
        self._assigners: tuple[tuple[str, Any, int], ...] | None = None

    def assigners(self) -> tuple[tuple[str, Any, int], ...]:
        """The property assigners as (key, value, arity or -1 for a plain value), made once."""
        assigners = self._assigners
        if assigners is None:
            assigners = self._assigners = tuple(
                (k, v, arity(v) if callable(v) else -1) for k, v in self.assignment.items()
            )
        return assigners

    def resolve(
        self, scope: ActorScope, snapshot: MachineSnapshot, args: ActionArgs, params: Any, extra: ResolveExtra
    ) -> Resolution:
        return self.assign(scope, snapshot, args.event, args.self, args.system, params), None, None

    def assign(
        self, scope: ActorScope, snapshot: MachineSnapshot, event: Any, self_: Any, system: Any, params: Any
    ) -> MachineSnapshot:
        """The snapshot with the assigned context (``resolve`` without the resolution tuple)."""
        context = snapshot.context
        if context is None:
            raise InvalidArgumentType(
                "Cannot assign to undefined `context`. Ensure that `context` is defined in the machine config."
            )
        a_args = AssignArgs(context, event, self_, system, scope, snapshot)
        if self.is_fn:
            partial = call_impl(self.assignment, a_args, params)
        else:
            assigners = self._assigners
            if assigners is None:
                assigners = self.assigners()
            partial = {}
            for k, v, n in assigners:
                partial[k] = v(a_args, params) if n == 2 else v if n < 0 else v(a_args) if n == 1 else v()
        new_context = {**context, **partial} if partial else dict(context)
        spawned = a_args.spawned
        if spawned:
            return snapshot._replace(context=new_context, children={**snapshot.children, **spawned})
        return snapshot._with_context(new_context)


def _no_spawn(*_: Any, **__: Any) -> Any:
    raise ActorError("spawn() is only available while an actor resolves an assign")


class Raise(BuiltinAction):
    type = "xstate.raise"
    has_execute = True

    def __init__(self, event: Any, id: str | None = None, delay: Any = None) -> None:
        if isinstance(event, str):
            raise InvalidArgumentType(
                f'Only event objects may be used with raise; use raise_({{"type": "{event}"}}) instead'
            )
        self.event = event
        self.id = id
        self.delay = delay

    def resolve(
        self, scope: ActorScope, snapshot: MachineSnapshot, args: ActionArgs, params: Any, extra: ResolveExtra
    ) -> Resolution:
        event = _resolve_value(self.event, args, params)
        delay = resolve_delay(self.delay, snapshot, args, params)
        if not isinstance(delay, int | float) or isinstance(delay, bool):
            delay = None
            extra.internal_queue.append(event)
        return snapshot, {"event": event, "id": self.id, "delay": delay}, None

    def execute(self, scope: ActorScope, params: Any) -> None:
        delay = params["delay"]
        if delay is not None:
            event, send_id = params["event"], params["id"]

            def schedule() -> None:
                scope.schedule(scope.self, event, delay, send_id)

            scope.defer(schedule)


class Emit(BuiltinAction):
    type = "xstate.emit"
    has_execute = True

    def __init__(self, event: Any) -> None:
        self.event = event

    def resolve(
        self, scope: ActorScope, snapshot: MachineSnapshot, args: ActionArgs, params: Any, extra: ResolveExtra
    ) -> Resolution:
        return snapshot, {"event": _resolve_value(self.event, args, params)}, None

    def execute(self, scope: ActorScope, params: Any) -> None:
        event = params["event"]
        scope.defer(lambda: scope.emit(event))


def _default_log(args: ActionArgs) -> Any:
    return {"context": args.context, "event": args.event}


class Log(BuiltinAction):
    type = "xstate.log"
    has_execute = True

    def __init__(self, value: Any = None, label: str | None = None) -> None:
        self.value = _default_log if value is None else value
        self.label = label

    def resolve(
        self, scope: ActorScope, snapshot: MachineSnapshot, args: ActionArgs, params: Any, extra: ResolveExtra
    ) -> Resolution:
        return snapshot, {"value": _resolve_value(self.value, args, params), "label": self.label}, None

    def execute(self, scope: ActorScope, params: Any) -> None:
        if params["label"]:
            scope.logger(params["label"], params["value"])
        else:
            scope.logger(params["value"])


class Cancel(BuiltinAction):
    type = "xstate.cancel"
    has_execute = True

    def __init__(self, send_id: Any) -> None:
        self.send_id = send_id

    def resolve(
        self, scope: ActorScope, snapshot: MachineSnapshot, args: ActionArgs, params: Any, extra: ResolveExtra
    ) -> Resolution:
        return snapshot, {"sendId": _resolve_value(self.send_id, args, params)}, None

    def execute(self, scope: ActorScope, params: Any) -> None:
        send_id = params["sendId"]
        scope.defer(lambda: scope.cancel(send_id))


class Enqueue:
    """The ``enqueue`` callable given to ``enqueue_actions``; also has ``.assign``, ``.raise_``, ``.emit``..."""

    __slots__ = ("actions",)

    def __init__(self) -> None:
        self.actions: list[Any] = []

    def __call__(self, action: Any) -> None:
        self.actions.append(action)

    def assign(self, assignment: Any) -> None:
        self.actions.append(Assign(assignment))

    def raise_(self, event: Any, id: str | None = None, delay: Any = None) -> None:
        self.actions.append(Raise(event, id=id, delay=delay))

    def emit(self, event: Any) -> None:
        self.actions.append(Emit(event))

    def cancel(self, send_id: Any) -> None:
        self.actions.append(Cancel(send_id))

    def log(self, value: Any = None, label: str | None = None) -> None:
        self.actions.append(Log(value, label))


class EnqueueArgs(ActionArgs):
    __slots__ = ("check", "enqueue")

    def __init__(self, base: ActionArgs, enqueue: Enqueue, check: Callable[[Any], bool]) -> None:
        super().__init__(base.context, base.event, base.self, base.system)
        self.enqueue = enqueue
        self.check = check


class EnqueueActions(BuiltinAction):
    type = "xstate.enqueueActions"

    def __init__(self, collect: Callable[..., Any]) -> None:
        self.collect = collect

    def resolve(
        self, scope: ActorScope, snapshot: MachineSnapshot, args: ActionArgs, params: Any, extra: ResolveExtra
    ) -> Resolution:
        enqueue = Enqueue()
        # check() sees the snapshot as it was before the enqueued actions run
        event = args.event

        def check(guard: Any) -> bool:
            return evaluate_guard(guard, snapshot.context, event, snapshot)

        call_impl(self.collect, EnqueueArgs(args, enqueue, check), params)
        return snapshot, None, enqueue.actions


def assign(assignment: Any) -> BuiltinAction:
    """Shallow-merge a partial context: ``assign({"n": lambda a, p: a.context["n"] + 1})`` or a function."""
    return Assign(assignment)


def raise_(event: Any, *, id: str | None = None, delay: Any = None) -> BuiltinAction:
    """Put ``event`` on the internal queue (or schedule it on the actor itself after ``delay`` ms)."""
    return Raise(event, id=id, delay=delay)


def emit(event: Any) -> BuiltinAction:
    """Emit ``event`` to the handlers registered with ``actor.on(type, handler)``."""
    return Emit(event)


def log(value: Any = None, label: str | None = None) -> BuiltinAction:
    """Log a value (default: context and event) through the actor's logger."""
    return Log(value, label)


def cancel(send_id: Any) -> BuiltinAction:
    """Cancel a delayed event this actor scheduled with ``id=send_id``."""
    return Cancel(send_id)


def enqueue_actions(collect: Callable[..., Any]) -> BuiltinAction:
    """Decide at run time which actions to run: ``collect(args, params)`` calls ``args.enqueue(...)``."""
    return EnqueueActions(collect)
