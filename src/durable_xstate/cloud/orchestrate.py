"""orchestrate_cloud_events: apply batches of CloudEvents to durable orchestration actors.

- Inits create a process with a create-only write: a second init of the same subject fails, even when
  both race. Events need an existing process. Events without a subject are reported, not dropped.
- One subject's events are applied in order under that subject's lock; subjects are independent.
- Idempotent: an event whose ``source`` + ``id`` was already applied to the subject is skipped.
- Transactional outbox: emitted commands are stored in the record in the same write as the new
  snapshot and handed to the caller; they stay until ``confirm_published`` removes them, so a crash
  between save and publish loses nothing: the next run hands them out again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import DurableXStateError, WriteConflict
from ..persistence.actor import Locking, PersistableActor
from ..stores.base import LockableStorage
from .actor import CloudOrchestrationActor
from .events import CloudEvent, event_from_dict, event_to_dict

__all__ = [
    "OrchestrationResult",
    "SubjectResult",
    "confirm_published",
    "orchestrate_cloud_events",
    "pending_commands",
]


class OrchestrationError(DurableXStateError, ValueError):
    """A batch that cannot be processed at all (overlapping or duplicate subjects)."""


class SubjectError(DurableXStateError, RuntimeError):
    """A subject that cannot take its events (not initiated, or initiated twice)."""


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
    #: events that had no subject: reported here, never applied
    unrouted: list[CloudEvent] = field(default_factory=list)

    @property
    def events_to_emit(self) -> list[CloudEvent]:
        return [e for r in self.subjects.values() for e in r.events_to_emit]

    @property
    def errors(self) -> dict[str, BaseException]:
        return {s: r.error for s, r in self.subjects.items() if r.error is not None}


def _subject(ce: CloudEvent) -> str | None:
    subject = ce.get_subject()
    return subject if subject else None


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
    clock: Any = None,
) -> OrchestrationResult:
    """Apply ``inits`` (``{"subject": id, "context": {...}}``) and ``events`` to their subjects' actors."""
    version = statemachine["version"]
    logic = statemachine["logic"]
    middleware = {"cloudevent": dict(on_cloud_event or {}), "orchestration": dict(on_orchestration_state or {})}
    result = OrchestrationResult()

    init_list = list(inits)
    init_subjects = [str(i["subject"]) for i in init_list]
    if len(set(init_subjects)) != len(init_subjects):
        raise OrchestrationError(
            "Duplicate subject ids found in initialization objects. Each init object must have a unique subject id."
        )
    by_subject: dict[str, list[CloudEvent]] = {}
    for raw in events:
        ce = event_from_dict(raw)
        subject = _subject(ce)
        if subject is None:
            result.unrouted.append(ce)
            continue
        by_subject.setdefault(subject, []).append(ce)
    if set(init_subjects) & set(by_subject):
        raise OrchestrationError("Overlap detected: A subject id used for initialization cannot be used for events.")

    async def run(subject: str, init: Mapping[str, Any] | None, batch: list[CloudEvent]) -> None:
        outcome = SubjectResult(subject)
        result.subjects[subject] = outcome

        def creator(id: str, snapshot: Any) -> CloudOrchestrationActor:
            if init is not None and snapshot is not None:
                raise SubjectError(f"The subject={id} already exists so it cannot be initiated")
            if init is None and snapshot is None:
                raise SubjectError(f"The subject={id} not already initiated.")
            return CloudOrchestrationActor(
                logic, id=id, version=version, middleware=middleware, snapshot=snapshot,
                input=(init or {}).get("context"),
            )

        def prepare(actor: Any, revision: int) -> None:
            actor.emission_seed = revision

        pa = PersistableActor(
            id=subject, storage=storage, actor_creator=creator, locking=locking,
            acquire_lock_timeout=acquire_lock_timeout, clock=clock, prepare=prepare,
        )
        try:
            actor = await pa.init()
            assert isinstance(actor, CloudOrchestrationActor)
            actor.collect_emissions()  # timers that fell due while loading
            for ce in batch:
                if not pa.mark_seen(f"{ce.get_source()}#{ce.get_id()}"):
                    outcome.duplicates += 1
                    continue
                actor.cloudevent(ce)
                outcome.applied += 1
            for ce in actor.events_to_emit:
                pa.add_to_outbox(event_to_dict(ce), id=ce.get_id())
            snapshot = actor.get_snapshot()
            if on_snapshot is not None:
                on_snapshot(subject, snapshot)
            try:
                await pa.save()
            except WriteConflict:
                if init is not None:
                    raise SubjectError(f"The subject={subject} already exists so it cannot be initiated") from None
                raise
            outcome.context = snapshot.context
            outcome.status = snapshot.status
            outcome.events_to_emit = [
                event_from_dict(o["event"]) for o in pa.outbox if o.get("kind") == "cloudevent"
            ]
        except Exception as err:  # one subject's failure does not lose another's results
            outcome.error = err
        finally:
            await pa.close()

    jobs = [run(s, i, []) for s, i in zip(init_subjects, init_list, strict=True)]
    jobs += [run(s, None, batch) for s, batch in by_subject.items()]
    await asyncio.gather(*jobs)
    return result


async def pending_commands(storage: LockableStorage, subject: str) -> list[CloudEvent]:
    """The subject's commands stored but not yet confirmed as published (e.g. after a crash)."""
    from ..persistence.record import StoredRecord
    from ..stores.base import validate_key

    key = validate_key(f"{subject}.json")
    stored = await storage.read(key)
    if stored is None:
        return []
    record = StoredRecord.decode(stored.data, key=key, version=stored.version)
    return [event_from_dict(o["event"]) for o in record.outbox if o.get("kind") == "cloudevent"]


async def confirm_published(
    storage: LockableStorage, subject: str, event_ids: Iterable[str], *, locking: Locking = "read-write"
) -> None:
    """Remove published commands from the subject's outbox (after the caller handed them over)."""
    ids = list(event_ids)

    def creator(id: str, snapshot: Any) -> Any:
        raise SubjectError("confirm_published does not load actors")

    pa = PersistableActor(id=subject, storage=storage, actor_creator=creator, locking=locking)
    await pa.confirm_outbox_only(ids)
