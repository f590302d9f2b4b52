"""Actor logic that is not a machine: the snapshot they share and the protocol every logic follows.

Every logic offers ``get_initial_snapshot(scope, input)``, ``transition(snapshot, event, scope)``,
optionally ``start(snapshot, scope)``, ``get_persisted_snapshot(snapshot)`` and
``restore_snapshot(persisted, scope)``, exactly as xstate's ``ActorLogic``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from ..errors import SnapshotError
from ..machine.machine import json_error

__all__ = ["ActorLogic", "ActorSnapshot", "HandedOverSnapshot", "LogicArgs"]

_MISSING: Any = object()


@runtime_checkable
class ActorLogic(Protocol):
    def get_initial_snapshot(self, scope: Any, input: Any) -> Any: ...

    def transition(self, snapshot: Any, event: Any, scope: Any) -> Any: ...

    def get_persisted_snapshot(self, snapshot: Any) -> dict[str, Any]: ...


@runtime_checkable
class HandedOverSnapshot(Protocol):
    """A persisted snapshot (a mapping) whose only holder hands it over to the actor restored from it.

    ``take_ownership()`` answers whether the actor may keep the data as it is instead of copying it:
    True at most once, and only when nothing else holds the data and no actor reference marks are
    inside its context. The persistence layer passes records it just decoded this way; an actor given
    a plain dict always copies it (``StateMachine.restore_snapshot(..., adopt=...)``)."""

    def take_ownership(self) -> bool: ...


class ActorSnapshot:
    """The snapshot of promise, callback, observable and transition actors.

    Persisted as xstate does: ``{status, output?, error?, context?, input?}`` with absent values dropped.
    """

    __slots__ = ("context", "error", "input", "output", "status", "subscription")

    def __init__(
        self,
        status: str = "active",
        *,
        output: Any = None,
        error: Any = None,
        context: Any = None,
        input: Any = None,
    ) -> None:
        self.status = status
        self.output = output
        self.error = error
        self.context = context
        self.input = input
        self.subscription: Any = None

    def _replace(self, **changes: Any) -> ActorSnapshot:
        clone = ActorSnapshot(
            changes.get("status", self.status),
            output=changes.get("output", self.output),
            error=changes.get("error", self.error),
            context=changes.get("context", self.context),
            input=changes.get("input", self.input),
        )
        clone.subscription = changes.get("subscription", self.subscription)
        return clone

    @property
    def children(self) -> dict[str, Any]:
        return {}

    def to_persisted(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        for key in ("output", "error", "context", "input"):
            value = getattr(self, key)
            if value is not None:
                out[key] = json_error(value) if key == "error" else value
        return out

    def to_json(self) -> dict[str, Any]:
        """The snapshot as xstate's object serialises: the persisted fields, plus ``_subscription`` while an
        observable actor is subscribed (xstate keeps the subscription on the snapshot; its JSON form is an
        object without data, ``{}``). ``to_persisted`` leaves it out, as ``getPersistedSnapshot`` does."""
        out = self.to_persisted()
        if self.subscription is not None:
            out["_subscription"] = {}
        return out

    @classmethod
    def from_persisted(cls, persisted: Any) -> ActorSnapshot:
        if not isinstance(persisted, Mapping):
            raise SnapshotError("", f"a persisted snapshot must be an object, got {type(persisted).__name__}")
        status = persisted.get("status")
        if status not in ("active", "done", "error", "stopped"):
            raise SnapshotError("status", f"unknown status {status!r}")
        return cls(
            status,
            output=persisted.get("output"),
            error=persisted.get("error"),
            context=persisted.get("context"),
            input=persisted.get("input"),
        )

    def __repr__(self) -> str:
        return f"<ActorSnapshot {self.status} context={self.context!r}>"


class LogicArgs:
    """What a promise/callback/observable creator receives: ``input``, ``system``, ``self``, ``emit`` (+ extras)."""

    __slots__ = ("emit", "input", "receive", "self", "send_back", "system")

    def __init__(
        self,
        input: Any,
        system: Any,
        self_: Any,
        emit: Any,
        send_back: Any = None,
        receive: Any = None,
    ) -> None:
        self.input = input
        self.system = system
        self.self = self_
        self.emit = emit
        self.send_back = send_back
        self.receive = receive

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


class BaseLogic:
    """Shared persistence for the non-machine logics."""

    def get_persisted_snapshot(self, snapshot: ActorSnapshot) -> dict[str, Any]:
        return snapshot.to_persisted()

    def restore_snapshot(self, persisted: Any, scope: Any) -> ActorSnapshot:
        return ActorSnapshot.from_persisted(persisted)
