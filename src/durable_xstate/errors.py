"""One tree of errors for durable-xstate.

    DurableXStateError
    ├── MachineConfigError (ValueError)   a machine config that cannot be built; names the config path
    ├── SnapshotError (ValueError)        a persisted snapshot that does not fit the machine; names the path
    └── ActorError (RuntimeError)         misuse of a live actor (e.g. stopping a non-root actor)

Every error subclasses the builtin it really is, so callers can catch what they already know.
"""

from __future__ import annotations

__all__ = ["ActorError", "DurableXStateError", "MachineConfigError", "SnapshotError"]


class DurableXStateError(Exception):
    """Base of every error raised by durable-xstate."""


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


class ActorError(DurableXStateError, RuntimeError):
    """A live actor was used in a way xstate forbids."""
