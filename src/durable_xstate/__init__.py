"""durable-xstate: persistable, lockable statechart actors that behave exactly like xstate v5."""

from .actors import (
    Actor,
    ActorSnapshot,
    AsyncioClock,
    SimulatedClock,
    create_actor,
    from_callback,
    from_observable,
    from_promise,
    from_transition,
    initial_transition,
    transition,
)
from .errors import (
    AcquireLockError,
    ActorError,
    DurableXStateError,
    InvalidEvent,
    InvalidKey,
    LeaseLost,
    LockTimeout,
    MachineConfigError,
    MachineMismatch,
    PersistenceError,
    RecordError,
    SnapshotError,
    StoreError,
    StoreUnavailable,
    WriteConflict,
)
from .machine import (
    MachineSnapshot,
    StateMachine,
    and_,
    assign,
    cancel,
    create_machine,
    emit,
    enqueue_actions,
    forward_to,
    log,
    matches_state,
    not_,
    or_,
    raise_,
    send_parent,
    send_to,
    setup,
    spawn_child,
    state_in,
    stop_child,
)
from .persistence import PersistableActor, with_persistable_actor

__version__ = "0.1.0"

# The cloud layer (CloudEvents SDK, jsonschema) loads on first use, keeping `import durable_xstate` light.
_CLOUD = {
    "CloudOrchestrationActor",
    "create_cloud_orchestration_actor",
    "orchestrate_cloud_events",
    "create_machine_yaml",
    "create_cloud_event",
}


def __getattr__(name: str) -> object:
    if name in _CLOUD:
        from . import cloud

        return getattr(cloud, name)
    raise AttributeError(f"module 'durable_xstate' has no attribute {name!r}")

__all__ = [
    "AcquireLockError",
    "Actor",
    "ActorError",
    "ActorSnapshot",
    "AsyncioClock",
    "CloudOrchestrationActor",
    "DurableXStateError",
    "InvalidEvent",
    "InvalidKey",
    "LeaseLost",
    "LockTimeout",
    "MachineConfigError",
    "MachineMismatch",
    "MachineSnapshot",
    "PersistableActor",
    "PersistenceError",
    "RecordError",
    "SimulatedClock",
    "SnapshotError",
    "StateMachine",
    "StoreError",
    "StoreUnavailable",
    "WriteConflict",
    "and_",
    "assign",
    "cancel",
    "create_actor",
    "create_cloud_event",
    "create_cloud_orchestration_actor",
    "create_machine",
    "create_machine_yaml",
    "emit",
    "enqueue_actions",
    "forward_to",
    "from_callback",
    "from_observable",
    "from_promise",
    "from_transition",
    "initial_transition",
    "log",
    "matches_state",
    "not_",
    "or_",
    "orchestrate_cloud_events",
    "raise_",
    "send_parent",
    "send_to",
    "setup",
    "spawn_child",
    "state_in",
    "stop_child",
    "transition",
    "with_persistable_actor",
]
