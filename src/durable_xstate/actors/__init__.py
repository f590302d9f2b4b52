"""The actor runtime: live actors, the actor system, the scheduler and clocks."""

from .actor import Actor, Subscription, create_actor
from .clock import Clock, SimulatedClock
from .system import ActorSystem, Scheduler

__all__ = ["Actor", "ActorSystem", "Clock", "Scheduler", "SimulatedClock", "Subscription", "create_actor"]
