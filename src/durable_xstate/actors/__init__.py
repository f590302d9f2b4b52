"""The actor runtime: live actors, the actor system, the scheduler, clocks and actor logic creators."""

from .actor import Actor, Subscription, create_actor
from .clock import AsyncioClock, Clock, DurableClock, SimulatedClock
from .creators import from_callback, from_observable, from_promise, from_transition
from .logic import ActorLogic, ActorSnapshot
from .pure import initial_transition, transition
from .system import ActorSystem, Scheduler
from .waiting import to_promise, to_promise_sync, wait_for, wait_for_sync

__all__ = [
    "Actor",
    "ActorLogic",
    "ActorSnapshot",
    "ActorSystem",
    "AsyncioClock",
    "Clock",
    "DurableClock",
    "Scheduler",
    "SimulatedClock",
    "Subscription",
    "create_actor",
    "from_callback",
    "from_observable",
    "from_promise",
    "from_transition",
    "initial_transition",
    "to_promise",
    "to_promise_sync",
    "transition",
    "wait_for",
    "wait_for_sync",
]
