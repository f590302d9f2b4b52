"""Invoking a remote service through events, across short-lived runs.

``from_remote_service("books.com.fetch", done="books.evt.fetch.success", error="books.evt.fetch.error")``
is actor logic for ``invoke``: on start it emits a command event (type from the service, data from
the invoke ``input``, extension ``correlationid`` = the invoke id) through the orchestrating actor,
then waits, persisted like any child. A reply CloudEvent carrying the same ``correlationid`` and a
done type completes it (``xstate.done.actor.<id>`` with the reply's data as ``output``); an error type
fails it (``xstate.error.actor.<id>``). Leaving the state stops it and, when ``cancel`` is given, emits a
cancel command. A restored wait does not send its command again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from ..actors.logic import ActorSnapshot, BaseLogic
from ..errors import ActorError, RemoteServiceError
from .events import CloudEvent, event_from_dict

__all__ = ["CommandQueue", "RemoteServiceLogic", "from_remote_service"]


@runtime_checkable
class CommandQueue(Protocol):
    """An actor that emits command events for the actors below it (``CloudOrchestrationActor`` is one)."""

    def queue_command(self, event: CloudEvent | Mapping[str, Any], key: str) -> CloudEvent: ...


def _command_queue(actor: Any) -> CommandQueue:
    """The nearest ancestor of ``actor`` that queues commands; ActorError when none does."""
    node = actor.parent
    while node is not None:
        if isinstance(node, CommandQueue):
            return node
        node = node.parent
    raise ActorError(
        f"remote service actor {actor.id!r} needs an ancestor that queues commands (a CloudOrchestrationActor, "
        "e.g. through orchestrate_cloud_events); it runs under none"
    )


class RemoteServiceLogic(BaseLogic):
    kind = "remote"

    def __init__(self, command: str, done: Iterable[str], error: Iterable[str], cancel: str | None) -> None:
        self.command = command
        self.done_types = frozenset(done)
        self.error_types = frozenset(error)
        self.cancel = cancel

    def accepts(self, ce: CloudEvent) -> bool:
        return ce.get_type() in self.done_types or ce.get_type() in self.error_types

    def get_initial_snapshot(self, scope: Any, input: Any) -> ActorSnapshot:
        return ActorSnapshot("active", input=input, context={"commandId": None})

    def start(self, snapshot: ActorSnapshot, scope: Any) -> None:
        context = snapshot.context if isinstance(snapshot.context, dict) else {}
        if snapshot.status != "active" or context.get("commandId"):
            return  # restored while waiting: the command went out in an earlier run
        command = _command_queue(scope.self).queue_command(
            {"type": self.command, "data": snapshot.input, "correlationid": scope.self.id},
            f"invoke:{scope.self.id}",
        )
        snapshot.context = {"commandId": command.get_id()}

    def transition(self, snapshot: ActorSnapshot, event: Any, scope: Any) -> ActorSnapshot:
        if snapshot.status != "active":
            return snapshot
        if event.get("type") == "remote.reply":
            ce = event_from_dict(event["cloudevent"])
            if ce.get_type() in self.done_types:
                return snapshot._replace(status="done", output=ce.get_data(), input=None)
            return snapshot._replace(status="error", error=RemoteServiceError(ce.get_type(), ce.get_data()), input=None)
        if event.get("type") == "xstate.stop":
            if self.cancel:
                _command_queue(scope.self).queue_command(
                    {"type": self.cancel, "data": snapshot.input, "correlationid": scope.self.id},
                    f"cancel:{scope.self.id}",
                )
            return snapshot._replace(status="stopped", input=None)
        return snapshot


def from_remote_service(
    command: str, *, done: str | Iterable[str], error: str | Iterable[str] = (), cancel: str | None = None
) -> RemoteServiceLogic:
    """Logic for ``invoke``: emit ``command``, wait for a ``done`` or ``error`` reply CloudEvent."""
    done_types = [done] if isinstance(done, str) else list(done)
    error_types = [error] if isinstance(error, str) else list(error)
    return RemoteServiceLogic(command, done_types, error_types, cancel)
