"""CloudOrchestrationActor: CloudEvents in, commands (CloudEvents) out.

The orchestration middleware is called once for every *newly entered* active leaf state of a
macrostep (a state exited and entered again by a transition counts as newly entered), in document
order, read from the microsteps the engine reports (``Actor.last_macrostep``); never for an event
that changed nothing and never when resuming from a snapshot. Emitted events carry the
``statemachineversion`` extension, ``subject`` = the actor id, and a stable id derived from the actor
id, the record revision and the state key, so a re-delivered batch produces the same ids.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..actors.actor import Actor
from ..errors import (
    CloudEventError,
    InvalidArgumentType,
    InvalidCloudEvent,
    MachineConfigError,
    StateMachineVersionMismatch,
)
from ..machine.node import StateNode
from .events import CLOUDEVENTS_JSON, CloudEvent, event_from_dict, event_to_dict, stable_event_id

__all__ = [
    "CloudEventError",
    "CloudOrchestrationActor",
    "check_orchestration_keys",
    "create_cloud_orchestration_actor",
    "state_key",
    "state_keys",
]

SEMVER = re.compile(r"^\d+\.\d+\.\d+$")

CloudEventMiddleware = Callable[[CloudEvent], Mapping[str, Any]]
OrchestrationMiddleware = Callable[[str, str, Any], Any]


def state_key(node: StateNode) -> str:
    """The original's state key: ``FetchData`` at the top, ``#Regulate.#Grounded.Check`` when nested."""
    path = node.path
    return ".".join([*(f"#{p}" for p in path[:-1]), path[-1]])


def state_keys(value: str | Mapping[str, Any]) -> list[str]:
    """The state keys of the active leaves of a state value, in document order.

    The original's ``getAllPaths`` (which listed them in reverse): ``{"a": {"b": "c"}, "x": "y"}`` gives
    ``["#a.#b.c", "#x.y"]``, ``"FetchData"`` gives ``["FetchData"]``. Anything but a string or a
    mapping of them raises TypeError.
    """
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Mapping):
        raise InvalidArgumentType(
            f"[state_keys] the 'value' type must be 'str' or a mapping. "
            f"The given value is '{value!r}' of type '{type(value).__name__}'"
        )
    keys: list[str] = []

    def walk(node: Mapping[str, Any], ancestors: tuple[str, ...]) -> None:
        for key, child in node.items():
            if isinstance(child, str):
                keys.append(".".join([*(f"#{a}" for a in (*ancestors, key)), child]))
            elif isinstance(child, Mapping) and child:
                walk(child, (*ancestors, key))
            elif isinstance(child, Mapping):  # an atomic region of a parallel state: {"a": {}}
                keys.append(".".join([*(f"#{a}" for a in ancestors), key]))
            else:
                raise InvalidArgumentType(
                    f"[state_keys] the 'value' type must be 'str' or a mapping. "
                    f"The given value is '{child!r}' of type '{type(child).__name__}'"
                )

    walk(value, ())
    return keys


def check_orchestration_keys(logic: Any, keys: Iterable[str]) -> None:
    """Refuse orchestration middleware keys that name no state of ``logic``, as unknown implementation names
    are refused: MachineConfigError (a ValueError) naming the key, the nearest state key and the known ones.

    The middleware runs for entered leaf states only, so the known keys are those of the atomic and final
    states. Logic that is not a state machine (no ``id_map``) is not checked."""
    id_map = getattr(logic, "id_map", None)
    if not isinstance(id_map, Mapping):
        return
    nodes = [node for node in id_map.values() if node.type != "history"]
    known = [state_key(node) for node in nodes if node.is_atomic]
    inner = {state_key(node): node.type for node in nodes if not node.is_atomic and node.parent is not None}
    for key in keys:
        if key in known:
            continue
        if key in inner:
            why = f"{key!r} is a {inner[key]} state, and the middleware runs for entered leaf states only."
        else:
            near = difflib.get_close_matches(str(key), known, n=1)
            why = f"no state of machine {getattr(logic, 'id', '?')!r} has it" + (
                f"; did you mean {near[0]!r}?" if near else "."
            )
        raise MachineConfigError(
            f"middleware.orchestration[{key!r}]",
            f"unknown state key {key!r}: {why} The leaf state keys: {', '.join(known)}",
        )


class CloudOrchestrationActor(Actor):
    """An actor driven by CloudEvents that emits the commands of the states it enters."""

    def __init__(
        self,
        logic: Any,
        *,
        id: str | None = None,
        version: str | None = None,
        middleware: Mapping[str, Mapping[str, Callable[..., Any]]] | None = None,
        snapshot: Mapping[str, Any] | None = None,
        input: Any = None,
        inspect: Any = None,
        clock: Any = None,
        logger: Any = None,
        source: str | None = None,
    ) -> None:
        if not id:
            raise CloudEventError("The orchestrator must have an id. This must be the orchestration process id")
        if not isinstance(version, str) or not SEMVER.match(version):
            raise CloudEventError(f"The state machine version must look like '1.2.3', got {version!r}")
        self.version = version
        middleware = middleware or {}
        self.cloudevent_middleware: Mapping[str, CloudEventMiddleware] = middleware.get("cloudevent") or {}
        self.orchestration_middleware: Mapping[str, OrchestrationMiddleware] = middleware.get("orchestration") or {}
        check_orchestration_keys(logic, self.orchestration_middleware)
        self.source = source or f"/durable-xstate/{getattr(logic, 'id', 'machine')}/{version}"
        # the record revision this run writes ("life/revision" once the subject has a life): part of every
        # command id, so ids are stable across redeliveries; set by orchestrate_cloud_events
        self.revision_key: Any = 0
        self.events_to_emit: list[CloudEvent] = []
        self._restored = snapshot is not None
        self._collect_on_change = False  # set once started, cleared while cloudevent() collects itself
        self._entered: list[StateNode] = []  # entered since the last collect_emissions, in entry order
        self._occurrences: dict[str, int] = {}
        super().__init__(logic, id=id, snapshot=snapshot, input=input, inspect=inspect, clock=clock, logger=logger)
        # observers see every macrostep; a state entered on the actor's own (a promise settling, a timer
        # firing between calls) emits through the same path as one entered by cloudevent()
        self.subscribe(self._on_snapshot)

    def _on_snapshot(self, snapshot: Any) -> None:
        for step in self.last_macrostep:
            self._entered.extend(step.entered)
        if self._collect_on_change:
            self.collect_emissions()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> CloudOrchestrationActor:
        was_running = self.is_running
        super().start()
        if not was_running and not self._restored:
            # a fresh process: the initial active leaves are newly entered
            self._entered = [n for n in self.get_snapshot().nodes if n.is_atomic] + self._entered
        self.collect_emissions()
        self._collect_on_change = self.is_running
        return self

    # ------------------------------------------------------------------ events in
    def check(self, event: CloudEvent) -> None:
        """Raise InvalidCloudEvent if this actor refuses ``event`` (content type, state machine version)."""
        content_type = event.get_datacontenttype()
        where = {"event_id": event.get_id(), "subject": event.get_subject()}
        if not content_type or not (
            "application/cloudevents+json" in content_type or "application/json" in content_type
        ):
            raise InvalidCloudEvent(
                "[cloudevent][Invalid content type] The 'datacontenttype' must be either "
                "'application/cloudevents+json' or 'application/json'. "
                f"The given is datacontenttype={content_type}",
                **where,
            )
        expected = event.get_extension("statemachineversion")
        if expected and expected != self.version:
            raise StateMachineVersionMismatch(
                f"[cloudevent][Invalid state machine version] The event expects state machine version={expected}, "
                f"however, the state machine is version={self.version}",
                expected=str(expected), found=self.version, **where,
            )

    def cloudevent(self, event: CloudEvent | Mapping[str, Any]) -> None:
        """Apply one CloudEvent. Refused events (InvalidCloudEvent: content type, version) change nothing."""
        ce = event_from_dict(event)
        self.check(ce)
        self._collect_on_change = False  # collected below, where a middleware's error reaches the caller
        try:
            self._apply(ce)
        finally:
            self._collect_on_change = self.is_running

    def _apply(self, ce: CloudEvent) -> None:
        transform = self.cloudevent_middleware.get(ce.get_type())
        transformed = transform(ce) if transform is not None else None
        data = (transformed or {}).get("data") if transformed else None
        if data is None:
            raw = ce.get_data()
            data = raw if isinstance(raw, Mapping) else ({} if raw is None else {"data": raw})
        event_type = (transformed or {}).get("type") or ce.get_type()
        if not self._route_to_remote_child(ce):
            self.send({**data, "type": event_type, "__cloudevent": event_to_dict(ce)})
        snapshot = self.get_snapshot()
        if snapshot.status == "error":
            err = snapshot.error
            raise CloudEventError(f"[cloudevent] processing {ce.get_type()!r} failed: {err}") from (
                err if isinstance(err, BaseException) else None
            )
        self.collect_emissions()

    def _route_to_remote_child(self, ce: CloudEvent) -> bool:
        correlation = ce.get_extension("correlationid")
        if not correlation:
            return False
        child = self.get_snapshot().children.get(correlation)
        receive = getattr(getattr(child, "logic", None), "accepts", None)
        if child is None or receive is None or not receive(ce):
            return False
        self.system.relay(self, child, {"type": "remote.reply", "cloudevent": event_to_dict(ce)})
        return True

    # ------------------------------------------------------------------ events out
    def collect_emissions(self) -> list[CloudEvent]:
        """Call the orchestration middleware for the leaves entered since the last call."""
        entered, self._entered = self._entered, []
        snapshot = self.get_snapshot()
        active = set(snapshot.nodes)
        seen: set[StateNode] = set()
        leaves = []
        for node in entered:
            if node.is_atomic and node in active and node not in seen:
                seen.add(node)
                leaves.append(node)
        out = []
        for node in sorted(leaves, key=lambda n: n.order):
            key = state_key(node)
            fn = self.orchestration_middleware.get(key)
            if fn is None:
                continue
            produced = fn(self.id, key, snapshot)
            if produced is None:
                continue
            out.append(self._stamp(produced, key))
        self.events_to_emit.extend(out)
        return out

    def queue_command(self, event: CloudEvent | Mapping[str, Any], key: str) -> CloudEvent:
        """Emit a command event from inside the actor (remote invokes use this)."""
        stamped = self._stamp(event, key)
        self.events_to_emit.append(stamped)
        return stamped

    def _stamp(self, produced: CloudEvent | Mapping[str, Any], key: str) -> CloudEvent:
        if isinstance(produced, CloudEvent):
            attrs = dict(produced.get_attributes())
            data = produced.get_data()
        else:
            attrs = {k: v for k, v in produced.items() if k != "data"}
            data = produced.get("data")
        n = self._occurrences.get(key, 0)
        self._occurrences[key] = n + 1
        attrs["id"] = stable_event_id(self.id, self.revision_key, key, n)
        attrs["subject"] = self.id
        attrs["statemachineversion"] = self.version
        attrs.setdefault("source", self.source)
        attrs.setdefault("datacontenttype", CLOUDEVENTS_JSON)
        if attrs.get("time", True) is None:
            del attrs["time"]
        return CloudEvent(attrs, data)


def create_cloud_orchestration_actor(logic: Any, **options: Any) -> CloudOrchestrationActor:
    """The original's ``createCloudOrchestrationActor``."""
    return CloudOrchestrationActor(logic, **options)
