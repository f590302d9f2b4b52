"""One tree of errors for durable-xstate.

    DurableXStateError
    ├── InvalidArgument (ValueError)      a bad argument value (a limit below 1, an unknown option, a clock sent back)
    ├── InvalidArgumentType (TypeError)   an argument of the wrong type (a string where xstate wants an event object)
    ├── MissingDependency (ImportError)   an optional dependency is not installed; ``.extra`` is the extra to install
    ├── MachineConfigError (ValueError)   a machine config that cannot be built; names the config path
    │   ├── MachineLoadError              a MACHINE argument (module:attr, file) that cannot be loaded (durable_xstate.loader)
    │   └── CreateMachineYamlError        a YAML machine that does not validate (durable_xstate.cloud)
    ├── YamlLimitError (yaml ComposerError)  a YAML text over a size or nesting limit (durable_xstate.yaml_loader)
    ├── MachineLookupError (LookupError)  a state, child, delay, actor logic or actor the machine names is not there
    │   └── ImplementationMissing (+ NotImplementedError)  a guard named but not implemented
    ├── DuplicateId (ValueError)          a system id or child id already used by a running actor
    ├── GuardError                        a guard raised; xstate's wording, the guard's error is ``__cause__``
    ├── InfiniteLoop (RuntimeError)       more microsteps than ``max_iterations`` without reaching a stable state
    ├── SnapshotError (ValueError)        a persisted snapshot that does not fit the machine; names the path
    ├── InvalidEvent (ValueError)         an event refused where it enters (e.g. nested too deep); nothing changed
    ├── ActorError (RuntimeError)         misuse of a live actor or its runtime (stopping a non-root actor, no event loop)
    │   └── WaitTimeout (+ TimeoutError)  ``wait_for`` / ``to_promise`` gave up: the timeout passed first
    ├── PersistenceError (RuntimeError)   misuse of a PersistableActor (init twice, actor before init)
    ├── ActorFailed (RuntimeError)        an action, guard or actor raised during a durable run; nothing was saved
    ├── RecordError (ValueError)          a stored record that is corrupt or foreign; names the key and part
    │   ├── MachineMismatch               a record written by another machine id or version
    │   ├── CodecError                    a stored value its record codec cannot decode (wrong key, tampered)
    │   └── UnusableSnapshot (+ SnapshotError)  the record's snapshot does not fit its machine
    ├── RemoteServiceError                a remote service replied with an error event; ``.data`` is its payload
    ├── CloudEventError (ValueError)      a CloudEvent refused, or applying it failed (durable_xstate.cloud)
    │   └── InvalidCloudEvent             malformed or unacceptable here: retrying can never succeed
    │       └── StateMachineVersionMismatch  the event expects another state machine version
    ├── OrchestrationError (ValueError)   a batch that cannot be processed at all (duplicate or overlapping subjects)
    ├── SubjectError (RuntimeError)       a subject that cannot take its events (not initiated, initiated twice)
    ├── InvocationFailed (RuntimeError)   a Lambda invocation that must be retried as a whole; ``.outcomes``
    ├── CliError                          a problem the command line reports in one line (exit status 1)
    │   └── EventNotHandled               ``send``: the actor does not handle the event in its state; nothing written (exit status 2)
    ├── DiagramRenderError (RuntimeError)  a diagram image cannot be made (Graphviz's ``dot`` missing or failing)
    └── StoreError                        anything from durable_xstate.stores
        ├── WriteConflict                 contention: the version expected is not the one stored (or ``.reason``)
        ├── LockTimeout (TimeoutError)    contention: the lock was not acquired in time (alias AcquireLockError)
        ├── LeaseLost                     ownership: the lease expired, was taken over, or is not yours
        ├── InvalidKey (ValueError)       a key that could escape the store's root, or is malformed
        │   └── UnsafePath                a symbolic link, FIFO, ... where the file store's own entry should be
        ├── ValueTooLarge (ValueError)    a value over the backend's limit; nothing was written
        ├── CorruptValue (ValueError)     a stored item the backend cannot read as a value; names the key
        ├── StoreConfigError (ValueError)  a store URL, option or name that cannot be used; nothing was contacted
        ├── StoreNotConfigured (RuntimeError)  a LockableStorage used without the part it needs
        └── StoreUnavailable (ConnectionError)  an infrastructure fault; ``.cause`` is the backend's error

Every error subclasses the builtin it really is, so callers can catch what they already know. Where the
engine raises what xstate throws (a missing state, a string sent as an event, an infinite loop), the
message is xstate's, word for word; only the class is ours. The classes marked with a module live there;
``tests/test_exported_members.py`` checks that this drawing names every exception class of the package.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AcquireLockError",
    "ActorError",
    "ActorFailed",
    "CliError",
    "CloudEventError",
    "CodecError",
    "CorruptValue",
    "DiagramRenderError",
    "DuplicateId",
    "DurableXStateError",
    "EventNotHandled",
    "GuardError",
    "ImplementationMissing",
    "InfiniteLoop",
    "InvalidArgument",
    "InvalidArgumentType",
    "InvalidCloudEvent",
    "InvalidEvent",
    "InvalidKey",
    "InvocationFailed",
    "LeaseLost",
    "LockTimeout",
    "MachineConfigError",
    "MachineLookupError",
    "MachineMismatch",
    "MissingDependency",
    "OrchestrationError",
    "PersistenceError",
    "RecordError",
    "RemoteServiceError",
    "SnapshotError",
    "StateMachineVersionMismatch",
    "StoreConfigError",
    "StoreError",
    "StoreNotConfigured",
    "StoreUnavailable",
    "SubjectError",
    "UnsafePath",
    "UnusableSnapshot",
    "ValueTooLarge",
    "WaitTimeout",
    "WriteConflict",
    "short_repr",
]


_ECHO_LIMIT = 80


def short_repr(value: object, limit: int = _ECHO_LIMIT) -> str:
    """``repr(value)`` cut to about ``limit`` characters, saying how long the whole was: every error that
    echoes a key, an id or a value uses it, so a 10 MB key never makes a 10 MB message."""
    if isinstance(value, str | bytes) and len(value) > limit:  # cut before repr: no copy of the whole
        unit = "chars" if isinstance(value, str) else "bytes"
        return f"{value[:limit]!r}... ({len(value)} {unit})"
    try:
        text = repr(value)
    except Exception as err:  # an error message must not fail because of a user object's __repr__
        text = f"<{type(value).__name__} object; repr failed with {type(err).__name__}>"
    if len(text) > limit:
        return f"{text[:limit]}... ({len(text)} chars)"
    return text


class DurableXStateError(Exception):
    """Base of every error raised by durable-xstate."""


class InvalidArgument(DurableXStateError, ValueError):
    """An argument with a value the call cannot use (a ``limit`` below 1, an unknown option, a clock sent
    back in time). The message names the argument and echoes the value; nothing was changed."""


class InvalidArgumentType(DurableXStateError, TypeError):
    """An argument of the wrong type. Where xstate throws for the same misuse (a string given where an
    event object is needed) the message is xstate's."""


class MissingDependency(DurableXStateError, ImportError):
    """An optional dependency is not installed. ``extra`` is the durable-xstate extra that brings it
    (``pip install 'durable-xstate[<extra>]'``)."""

    def __init__(self, message: str, *, extra: str, name: str | None = None) -> None:
        self.extra = extra
        super().__init__(message, name=name)


class MachineLookupError(DurableXStateError, LookupError):
    """A state, child state, delay, actor logic or actor that a machine names does not exist. The message
    is xstate's where xstate throws (the conformance suite compares it)."""


class ImplementationMissing(MachineLookupError, NotImplementedError):
    """A guard named by a machine but not implemented (xstate's message)."""


class DuplicateId(DurableXStateError, ValueError):
    """A system id or a child id already used by a running actor. ``id`` is the id (xstate's message)."""

    def __init__(self, id: str, message: str) -> None:
        self.id = id
        super().__init__(message)


class GuardError(DurableXStateError):
    """A guard raised; xstate rethrows it with this wording and the actor goes to ``error``. The guard's
    own error is ``__cause__``."""


class InfiniteLoop(DurableXStateError, RuntimeError):
    """More microsteps than the machine's ``max_iterations`` without reaching a stable state (xstate's
    message). ``max_iterations`` is the limit that was passed."""

    def __init__(self, max_iterations: int, message: str) -> None:
        self.max_iterations = max_iterations
        super().__init__(message)


class RemoteServiceError(DurableXStateError):
    """A remote service replied with an error event; ``event_type`` is its type and ``data`` its payload."""

    def __init__(self, event_type: str, data: Any) -> None:
        super().__init__(f"{event_type}: {data!r}")
        self.event_type = event_type
        self.data = data

    def to_json(self) -> Any:
        return {"type": self.event_type, "data": self.data}


class CliError(DurableXStateError):
    """A problem the command line reports in one line (exit status ``exit_code``, 1)."""

    exit_code = 1


class EventNotHandled(CliError):
    """``durable-xstate send``: the actor does not handle the event in its current state, so nothing was
    written (exit status 2; ``--allow-unhandled`` accepts it)."""

    exit_code = 2


class DiagramRenderError(DurableXStateError, RuntimeError):
    """A diagram image cannot be made: Graphviz's ``dot`` is not installed, or it failed."""


class MachineConfigError(DurableXStateError, ValueError):
    """A machine config is malformed. ``path`` is the dotted config path, e.g. ``states.a.on.GO[1].target``."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        where = path or "<root>"
        super().__init__(f"{where}: {problem}")


class SnapshotError(DurableXStateError, ValueError):
    """A persisted snapshot does not fit the machine. ``path`` names the offending part of the snapshot."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"snapshot {path or '<root>'}: {problem}")


class InvalidEvent(DurableXStateError, ValueError):
    """An event refused where it enters an actor or ``transition()``, before anything changed. ``path`` names
    the offending part of the event (``payload.items[3]``), ``event_type`` is its ``type`` if it has one."""

    def __init__(self, event_type: object, path: str, problem: str) -> None:
        self.event_type = event_type
        self.path = path
        self.problem = problem
        super().__init__(f"event {event_type!r} at {path or '<root>'}: {problem}")


class ActorError(DurableXStateError, RuntimeError):
    """A live actor was used in a way xstate forbids."""


class WaitTimeout(ActorError, TimeoutError):
    """``wait_for`` / ``to_promise`` (or their ``*_sync`` forms) gave up waiting: the timeout passed first."""


class PersistenceError(DurableXStateError, RuntimeError):
    """A PersistableActor used out of order (the original's messages are kept)."""


class RecordError(DurableXStateError, ValueError):
    """A stored record that cannot be used: corrupt JSON, an unknown format, a malformed part. Nothing is
    overwritten when this is raised."""

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"record {where}: {problem}")


class MachineMismatch(RecordError):
    """The record was written by another machine id or version and no ``migrate`` function was given."""


class CodecError(RecordError):
    """A stored value that the store's record codecs cannot decode: encrypted with another key, altered
    since it was written, or encoded by a codec this store was not given. ``where`` names the key;
    nothing was changed (durable_xstate.stores.codec)."""


class CloudEventError(DurableXStateError, ValueError):
    """An incoming CloudEvent was refused (content type, version), or processing it failed."""


class InvalidCloudEvent(CloudEventError):
    """A CloudEvent that can never be applied here: malformed (no id, no subject, a subject that is no
    valid key, specversion other than 1.0, data nested too deeply, not an object at all), or refused by
    the machine (content type). Delivering it again cannot succeed, so it is a *permanent* failure.
    ``event_id`` and ``subject`` are what the raw input said (None when absent or not a string)."""

    def __init__(self, problem: str, *, event_id: str | None = None, subject: str | None = None) -> None:
        self.problem = problem
        self.event_id = event_id
        self.subject = subject
        super().__init__(problem)


class StateMachineVersionMismatch(InvalidCloudEvent):
    """The event's ``statemachineversion`` extension names another version than the machine's."""

    def __init__(self, problem: str, *, expected: str, found: str, event_id: str | None = None,
                 subject: str | None = None) -> None:
        self.expected = expected
        self.found = found
        super().__init__(problem, event_id=event_id, subject=subject)


class OrchestrationError(DurableXStateError, ValueError):
    """A batch that cannot be processed at all (overlapping or duplicate init subjects)."""


class SubjectError(DurableXStateError, RuntimeError):
    """A subject that cannot take its events (not initiated, or initiated twice)."""


class InvocationFailed(DurableXStateError, RuntimeError):
    """A Lambda invocation that must be retried as a whole: a transient failure of an event that cannot
    be reported as a batch item failure (an EventBridge event, an SQS record without ``messageId``).
    ``outcomes`` are the per-event outcomes of the invocation."""

    def __init__(self, message: str, outcomes: list[object]) -> None:
        self.outcomes = outcomes
        super().__init__(message)
class UnusableSnapshot(RecordError, SnapshotError):
    """The record's snapshot names this machine but does not fit it (unknown state, malformed part).

    Also a :class:`SnapshotError`; ``path`` is the snapshot part when known, ``__cause__`` the original error."""

    def __init__(self, key: str, path: str, problem: str) -> None:
        self.where = key
        self.path = path
        self.problem = problem
        Exception.__init__(self, f"record {key}: snapshot {path or '<root>'} does not fit the machine: {problem}")


class ActorFailed(DurableXStateError, RuntimeError):
    """An action, guard or invoked logic raised while a PersistableActor ran (xstate puts the actor in
    ``status: "error"``). Nothing was saved for that run unless ``on_error="save"`` was chosen.

    ``actor_id`` names the actor; ``error`` is the original exception (also ``__cause__``)."""

    def __init__(self, actor_id: str, error: BaseException) -> None:
        self.actor_id = actor_id
        self.error = error
        super().__init__(f"actor {actor_id!r} failed: {type(error).__name__}: {_capped(str(error))}")


def _capped(text: str, limit: int = 200) -> str:
    """At most ``limit`` characters of ``text`` (error messages echo user data; keep them short)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class StoreError(DurableXStateError):
    """Base of every error raised by a store."""


class WriteConflict(StoreError):
    """A compare-and-set found another version than the one expected (None means "absent"). ``reason``,
    when given, says what happened where the two versions alone would not (e.g. retries used up);
    ``hint``, when given, says what the caller can do about it (appended in parentheses)."""

    def __init__(self, key: str, expected: str | None, found: str | None, *, reason: str | None = None,
                 hint: str | None = None) -> None:
        self.key = key
        self.expected = expected
        self.found = found
        self.reason = reason
        self.hint = hint
        exp = "nothing (create-only)" if expected is None else short_repr(expected)
        fnd = "nothing" if found is None else short_repr(found)
        if reason is not None:
            message = f"write conflict on {short_repr(key)}: {reason}"
        elif expected == found:  # the store refused, yet shows the version expected: someone changed it in between
            message = (f"write conflict on {short_repr(key)}: expected version {exp}; the store refused the write "
                       f"but shows {fnd} again (a concurrent writer changed it in between)")
        else:
            message = f"write conflict on {short_repr(key)}: expected version {exp}, found {fnd}"
        if hint is not None:
            message = f"{message} ({hint})"
        super().__init__(message)


class LockTimeout(StoreError, TimeoutError):
    """The lock was not acquired before the timeout. The message keeps the original's shape."""

    def __init__(self, key: str, message: str | None = None) -> None:
        self.key = key
        # the original's message shape (the key unquoted); cut like every echo when it is long
        shown = key if isinstance(key, str) and len(key) <= _ECHO_LIMIT else short_repr(key)
        super().__init__(message or f"Could not acquire lock on path {shown}.")


AcquireLockError = LockTimeout


class LeaseLost(StoreError):
    """The lease is no longer ours: it expired and was taken, a newer fencing token exists, or we never held it."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"lease on {short_repr(key)} lost: {reason}")


class InvalidKey(StoreError, ValueError):
    """A key that is malformed or could reach outside the store's root, prefix or table."""

    def __init__(self, key: object, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"invalid key {short_repr(key)}: {reason}")


class UnsafePath(InvalidKey):
    """The file store found something other than its own directory or regular file on a key's path (or at
    its lock files): a symbolic link, a FIFO, a socket, a device. Nothing was followed, read or written
    there. ``path`` is the offending path relative to the store's root."""

    def __init__(self, key: object, path: str, found: str) -> None:
        self.path = path
        self.found = found
        super().__init__(
            key, f"{short_repr(path)} in the store is {found}; refused (the store only uses its own directories "
            "and regular files)"
        )


class ValueTooLarge(StoreError, ValueError):
    """A value over the backend's size limit. Nothing was written."""

    def __init__(self, key: str, size: int, limit: int) -> None:
        self.key = key
        self.size = size
        self.limit = limit
        super().__init__(f"value for {short_repr(key)} is {size} bytes; this backend accepts at most {limit}")


class CorruptValue(StoreError, ValueError):
    """An item in the backend that is not a value this store wrote (e.g. a foreign item in a shared table).
    ``key`` names it; nothing was changed."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"stored value of {short_repr(key)} is unreadable: {problem}")


class StoreConfigError(StoreError, ValueError):
    """A store URL, option, table, bucket or prefix that cannot be used. Raised before the backend is
    contacted; the message names the option and echoes the value."""


class StoreNotConfigured(StoreError, RuntimeError):
    """A LockableStorage was used for storage or locking it was not given."""


class StoreUnavailable(StoreError, ConnectionError):
    """An infrastructure fault (network, permissions, server error). Never reported as contention or absence."""

    def __init__(self, backend: str, operation: str, cause: BaseException) -> None:
        self.backend = backend
        self.operation = operation
        self.cause = cause
        super().__init__(f"{backend} unavailable during {operation}: {type(cause).__name__}: {cause}")
