"""orchestrate_cloud_events: apply batches of CloudEvents to durable orchestration actors.

- Every event gets an outcome (``result.outcomes``, in input order): applied, duplicate, invalid or
  failed, with ``permanent`` telling whether delivering it again could ever succeed. A malformed
  event (:class:`InvalidCloudEvent`) is reported and never stops the others.
- Inits create a process with a create-only write: a second init of the same subject fails, even when
  both race; an init redelivered with the same ``id`` is a duplicate and hands out the pending
  commands. Events need an existing process.
- One subject's events are applied in order under that subject's lock; subjects are independent.
  An event the machine refuses (content type, state machine version) is skipped as invalid; an event
  whose processing fails fails its subject: nothing of that subject is saved in this run.
- Idempotent: an event whose ``source`` + ``id`` was already applied to the subject is skipped.
- Transactional outbox: emitted commands are stored in the record in the same write as the new
  snapshot and handed to the caller; they stay until ``confirm_published`` removes them, so a crash
  between save and publish loses nothing: the next run hands them out again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import InvalidCloudEvent, InvalidKey, OrchestrationError, SubjectError, WriteConflict
from ..persistence import telemetry
from ..persistence.actor import Locking, PersistableActor
from ..stores.base import LockableStorage, validate_key
from .actor import CloudOrchestrationActor, check_orchestration_keys
from .events import CloudEvent, event_from_dict, event_to_dict
from .validation import read_cloud_event

__all__ = [
    "EventOutcome",
    "OrchestrationError",
    "OrchestrationResult",
    "SubjectError",
    "SubjectResult",
    "confirm_published",
    "is_permanent",
    "orchestrate_cloud_events",
    "pending_commands",
]

OutcomeStatus = Literal["applied", "duplicate", "invalid", "failed"]


def is_permanent(error: BaseException | None) -> bool:
    """True when delivering the event again can never succeed: it is invalid or refused by the machine.

    Everything else (store unavailable, lock busy, lease lost, write conflict, a subject not yet
    initiated, a corrupt record or a failing action) may succeed on a later delivery."""
    return isinstance(error, InvalidCloudEvent)


@dataclass
class EventOutcome:
    """What became of one event (or init) of a batch.

    ``status``: ``applied`` (saved), ``duplicate`` (applied by an earlier delivery), ``invalid``
    (refused; ``error`` is an InvalidCloudEvent, ``permanent`` is True) or ``failed`` (its subject's
    run failed and nothing of it was saved; ``permanent`` per :func:`is_permanent`)."""

    event_id: str | None
    subject: str | None
    status: OutcomeStatus
    error: BaseException | None = None
    permanent: bool = False


@dataclass
class SubjectResult:
    subject: str
    #: every command of this subject not yet confirmed as published (earlier runs' included)
    events_to_emit: list[CloudEvent] = field(default_factory=list)
    context: Any = None
    status: str | None = None
    error: BaseException | None = None
    applied: int = 0
    duplicates: int = 0


@dataclass
class OrchestrationResult:
    subjects: dict[str, SubjectResult] = field(default_factory=dict)
    #: one outcome per event, in the order the events were given
    outcomes: list[EventOutcome] = field(default_factory=list)
    #: one outcome per init, in the order the inits were given (``event_id`` is the init's ``id``)
    init_outcomes: list[EventOutcome] = field(default_factory=list)

    @property
    def events_to_emit(self) -> list[CloudEvent]:
        return [e for r in self.subjects.values() for e in r.events_to_emit]

    @property
    def errors(self) -> dict[str, BaseException]:
        return {s: r.error for s, r in self.subjects.items() if r.error is not None}

    @property
    def invalid(self) -> list[EventOutcome]:
        """The outcomes of events refused as invalid (permanent failures)."""
        return [o for o in self.outcomes if o.status == "invalid"]


def _init_seen_key(init_id: str) -> str:
    return f"@init#{init_id}"


def _read_init(init: Any) -> tuple[str, str | None]:
    """(subject, id) of an init, or InvalidCloudEvent."""
    if not isinstance(init, Mapping):
        raise InvalidCloudEvent(f"an init must be an object with a 'subject', got {type(init).__name__}")
    init_id = init.get("id")
    if init_id is not None and (not isinstance(init_id, str) or not init_id):
        raise InvalidCloudEvent(f"an init's 'id' must be a non-empty string, got {init_id!r}")
    subject = init.get("subject")
    if not isinstance(subject, str) or not subject:
        raise InvalidCloudEvent(f"an init must have a non-empty string 'subject', got {subject!r}", event_id=init_id)
    try:
        validate_key(f"{subject}.json")
    except InvalidKey as err:
        raise InvalidCloudEvent(f"init subject {subject!r} cannot name a stored process: {err.reason}",
                                event_id=init_id, subject=subject) from None
    return subject, init_id


async def orchestrate_cloud_events(
    *,
    statemachine: Mapping[str, Any],
    storage: LockableStorage,
    events: Iterable[CloudEvent | Mapping[str, Any]] = (),
    inits: Iterable[Mapping[str, Any]] = (),
    on_cloud_event: Mapping[str, Callable[..., Any]] | None = None,
    on_orchestration_state: Mapping[str, Callable[..., Any]] | None = None,
    locking: Locking = "read-write",
    on_snapshot: Callable[[str, Any], Any] | None = None,
    acquire_lock_timeout: float = 10.0,
    lease_seconds: float = 30.0,
    clock: Any = None,
) -> OrchestrationResult:
    """Apply ``inits`` (``{"subject": id, "context": {...}, "id": optional}``) and ``events`` to their
    subjects' actors. ``lease_seconds`` bounds how long a crashed holder blocks a subject (read-write).

    An ``on_orchestration_state`` key that names no leaf state raises MachineConfigError before anything
    is read or written."""
    version = statemachine["version"]
    logic = statemachine["logic"]
    middleware = {"cloudevent": dict(on_cloud_event or {}), "orchestration": dict(on_orchestration_state or {})}
    check_orchestration_keys(logic, middleware["orchestration"])  # a typo fails the call, not each subject
    result = OrchestrationResult()

    valid_inits: list[tuple[int, str, str | None, Mapping[str, Any]]] = []
    for n, init in enumerate(list(inits)):
        try:
            subject, init_id = _read_init(init)
        except InvalidCloudEvent as err:
            result.init_outcomes.append(EventOutcome(err.event_id, err.subject, "invalid", err, True))
            continue
        result.init_outcomes.append(EventOutcome(init_id, subject, "applied"))
        valid_inits.append((n, subject, init_id, init))
    init_subjects = [subject for _, subject, _, _ in valid_inits]
    if len(set(init_subjects)) != len(init_subjects):
        raise OrchestrationError(
            "Duplicate subject ids found in initialization objects. Each init object must have a unique subject id."
        )
    by_subject: dict[str, list[tuple[int, CloudEvent]]] = {}
    for n, raw in enumerate(list(events)):
        try:
            ce = read_cloud_event(raw)
        except InvalidCloudEvent as err:
            result.outcomes.append(EventOutcome(err.event_id, err.subject, "invalid", err, True))
            continue
        routed = ce.get_subject()
        assert routed is not None  # read_cloud_event refuses events without one
        result.outcomes.append(EventOutcome(ce.get_id(), routed, "applied"))
        by_subject.setdefault(routed, []).append((n, ce))
    if set(init_subjects) & set(by_subject):
        raise OrchestrationError("Overlap detected: A subject id used for initialization cannot be used for events.")

    async def run(subject: str, init: tuple[int, str | None, Mapping[str, Any]] | None,
                  batch: list[tuple[int, CloudEvent]]) -> None:
        outcome = SubjectResult(subject)
        result.subjects[subject] = outcome
        restored_by_init = False

        def creator(id: str, snapshot: Any) -> CloudOrchestrationActor:
            nonlocal restored_by_init
            if init is not None and snapshot is not None:
                if init[1] is None:
                    raise SubjectError(f"The subject={id} already exists so it cannot be initiated")
                restored_by_init = True  # perhaps this very init, redelivered: decided once the record is read
            if init is None and snapshot is None:
                raise SubjectError(f"The subject={id} not already initiated.")
            return CloudOrchestrationActor(
                logic, id=id, version=version, middleware=middleware, snapshot=snapshot,
                input=None if init is None else init[2].get("context"),
            )

        pa: PersistableActor | None = None
        trace_token = _continue_trace(init[2] if init is not None else None, batch)

        def prepare(actor: Any, revision: int) -> None:
            # command ids: stable across redeliveries of one revision, unique per life of the subject
            life = getattr(pa.record, "life", None) if pa is not None else None
            actor.revision_key = f"{life}/{revision}" if life else revision

        try:
            pa = PersistableActor(
                id=subject, storage=storage, actor_creator=creator, locking=locking,
                acquire_lock_timeout=acquire_lock_timeout, lease_seconds=lease_seconds, clock=clock,
                prepare=prepare,
            )
            actor = await pa.init()
            assert isinstance(actor, CloudOrchestrationActor)
            if init is not None and init[1] is not None:
                if pa.mark_seen(_init_seen_key(init[1])) and restored_by_init:
                    raise SubjectError(f"The subject={subject} already exists so it cannot be initiated")
                if restored_by_init:
                    outcome.duplicates += 1
                    result.init_outcomes[init[0]].status = "duplicate"
            actor.collect_emissions()  # timers that fell due while loading
            for n, ce in batch:
                try:
                    actor.check(ce)
                except InvalidCloudEvent as err:
                    result.outcomes[n] = EventOutcome(ce.get_id(), subject, "invalid", err, True)
                    continue
                if not pa.mark_seen(f"{ce.get_source()}#{ce.get_id()}"):
                    outcome.duplicates += 1
                    result.outcomes[n].status = "duplicate"
                    continue
                actor.cloudevent(ce)
                outcome.applied += 1
            for ce in actor.events_to_emit:
                pa.add_to_outbox(telemetry.with_traceparent(event_to_dict(ce), pa), id=ce.get_id())
            snapshot = actor.get_snapshot()
            if on_snapshot is not None:
                on_snapshot(subject, snapshot)
            try:
                await pa.save()
            except WriteConflict:
                if init is not None and init[1] is None:
                    raise SubjectError(f"The subject={subject} already exists so it cannot be initiated") from None
                raise  # a racing delivery of this init: the retry finds it applied
            outcome.context = snapshot.context
            outcome.status = snapshot.status
            outcome.events_to_emit = [
                event_from_dict(o["event"]) for o in pa.outbox if o.get("kind") == "cloudevent"
            ]
        except Exception as err:  # one subject's failure does not lose another's results
            outcome.error = err
            outcome.applied = 0
            failed = [result.init_outcomes[init[0]]] if init is not None else []
            failed += [result.outcomes[n] for n, _ in batch]
            for o in failed:
                if o.status == "applied":
                    o.status, o.error, o.permanent = "failed", err, is_permanent(err)
        finally:
            if pa is not None:
                await pa.close()
            telemetry.detach(trace_token)

    jobs = [run(subject, (n, init_id, init), []) for n, subject, init_id, init in valid_inits]
    jobs += [run(s, None, batch) for s, batch in by_subject.items()]
    await asyncio.gather(*jobs)
    return result


def _continue_trace(init: Mapping[str, Any] | None, batch: list[tuple[int, CloudEvent]]) -> Any:
    """Make the W3C trace context of the init, or of the first event of the batch that carries one
    (CloudEvents distributed tracing extension), the current one: the step's span continues it."""
    if telemetry.active() is None:
        return None
    if init is not None:
        return telemetry.attach_traceparent(init)
    for _, ce in batch:
        traceparent = ce.get_extension("traceparent")
        if traceparent:
            return telemetry.attach_traceparent(
                {"traceparent": traceparent, "tracestate": ce.get_extension("tracestate")}
            )
    return None


async def pending_commands(storage: LockableStorage, subject: str) -> list[CloudEvent]:
    """The subject's commands stored but not yet confirmed as published (e.g. after a crash)."""
    from ..persistence.record import StoredRecord

    key = validate_key(f"{subject}.json")
    stored = await storage.read(key)
    if stored is None:
        return []
    record = StoredRecord.decode(stored.data, key=key, version=stored.version)
    return [event_from_dict(o["event"]) for o in record.outbox if o.get("kind") == "cloudevent"]


async def confirm_published(
    storage: LockableStorage, subject: str, event_ids: Iterable[str], *, locking: Locking = "read-write",
    lease_seconds: float = 30.0,
) -> None:
    """Remove published commands from the subject's outbox (after the caller handed them over)."""
    ids = list(event_ids)

    def creator(id: str, snapshot: Any) -> Any:
        raise SubjectError("confirm_published does not load actors")

    pa = PersistableActor(id=subject, storage=storage, actor_creator=creator, locking=locking,
                          lease_seconds=lease_seconds)
    await pa.confirm_outbox_only(ids)
