"""durable-xstate: persistable, lockable statechart actors that behave exactly like xstate v5."""

from .actors import Actor, SimulatedClock, create_actor
from .errors import ActorError, DurableXStateError, MachineConfigError, SnapshotError
from .machine import (
    MachineSnapshot,
    StateMachine,
    and_,
    assign,
    cancel,
    create_machine,
    emit,
    enqueue_actions,
    initial_transition,
    log,
    matches_state,
    not_,
    or_,
    raise_,
    setup,
    state_in,
    stop_child,
    transition,
)

__version__ = "0.1.0"

__all__ = [
    "Actor",
    "ActorError",
    "DurableXStateError",
    "MachineConfigError",
    "MachineSnapshot",
    "SimulatedClock",
    "SnapshotError",
    "StateMachine",
    "and_",
    "assign",
    "cancel",
    "create_actor",
    "create_machine",
    "emit",
    "enqueue_actions",
    "initial_transition",
    "log",
    "matches_state",
    "not_",
    "or_",
    "raise_",
    "setup",
    "state_in",
    "stop_child",
    "transition",
]
