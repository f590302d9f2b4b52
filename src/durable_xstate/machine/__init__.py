"""The pure statechart engine: configs to state nodes, the transition algorithm, actions, guards, snapshots.

No I/O, no asyncio, no clock reads: the same snapshot and event always give the same step.
"""

from .actions import (
    ActionArgs,
    ExecutableAction,
    assign,
    cancel,
    emit,
    enqueue_actions,
    log,
    raise_,
)
from .children import forward_to, send_parent, send_to, spawn_child, stop_child
from .guards import GuardArgs, and_, not_, or_, state_in
from .machine import Implementations, MachineSetup, StateMachine, create_machine, setup
from .node import StateNode, Transition
from .snapshot import MachineSnapshot, matches_state
from .transition import initial_transition, transition
from .types import MachineTypes

__all__ = [
    "ActionArgs",
    "ExecutableAction",
    "GuardArgs",
    "Implementations",
    "MachineSetup",
    "MachineSnapshot",
    "MachineTypes",
    "StateMachine",
    "StateNode",
    "Transition",
    "and_",
    "assign",
    "cancel",
    "create_machine",
    "emit",
    "enqueue_actions",
    "forward_to",
    "initial_transition",
    "log",
    "matches_state",
    "not_",
    "or_",
    "raise_",
    "send_parent",
    "send_to",
    "setup",
    "spawn_child",
    "state_in",
    "stop_child",
    "transition",
]
