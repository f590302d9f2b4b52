"""An AWS Lambda handler for CloudEvents delivered by SQS or EventBridge.

``handler = make_lambda_handler(statemachine=..., storage=open_store(...), on_orchestration_state=...,
publish=send_to_my_bus)`` returns ``handler(event, context)``. It accepts:

- SQS batches: each record's ``body`` is a structured CloudEvent (JSON with ``specversion``), or binary
  mode with the attributes in ``messageAttributes`` named ``ce-<attr>`` (or ``ce_<attr>``) and the data
  in the body; a body that is an EventBridge envelope is unwrapped as below.
- EventBridge events: ``detail`` is a structured CloudEvent, or the envelope maps to one
  (``id``, ``source``, ``detail-type`` as type, ``time``, ``detail`` as data, ``detail.subject``).

Every record gets its own outcome (an :class:`EventOutcome`); one bad record never stops the others.
It returns ``{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}`` naming the SQS records to
retry: those whose failure is *transient* (store unavailable, lock busy, lease lost, a subject not yet
initiated, a failing action: nothing of that subject was saved, and idempotency makes the retry safe).

A *permanent* failure (an invalid record or CloudEvent: not JSON, no ``id``, no subject, a wrong
``specversion`` or state machine version...) can never succeed, so SQS must not redeliver it until
it reaches a dead-letter queue: it is reported as handled and given to
``on_permanent_failure(outcome, record)`` (default: nothing beyond the log line below), where it may be
parked somewhere for a human.

Every failed record is logged on the ``durable_xstate.cloud`` logger, one line each with its message id,
event id, subject and reason: a permanent failure at ERROR, a transient one at WARNING.

A transient failure that cannot be named in ``batchItemFailures`` (an SQS record without a
``messageId``, or an EventBridge event, which is retried per invocation) raises
:class:`InvocationFailed` after the rest of the batch was applied and published, so the whole
invocation is retried (the events already applied are then duplicates). With ``publish`` the
commands are handed over and then confirmed; without it they stay in each record's outbox.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidCloudEvent, InvocationFailed, short_repr
from ..persistence.actor import Locking
from ..stores.base import LockableStorage
from ..stores.sync import background_loop
from .actor import check_orchestration_keys
from .events import CloudEvent
from .orchestrate import EventOutcome, confirm_published, orchestrate_cloud_events
from .validation import read_cloud_event

__all__ = ["LambdaRecord", "log_permanent_failure", "make_lambda_handler", "parse_lambda_event"]

_log = logging.getLogger("durable_xstate.cloud")

PermanentFailureHandler = Callable[[EventOutcome, Any], Any]


@dataclass
class LambdaRecord:
    """One delivered item: the SQS ``message_id`` (None for EventBridge, or when the record has none),
    the raw ``record``, and either its ``event`` or the ``error`` that made it unreadable."""

    message_id: str | None
    record: Any
    event: CloudEvent | None = None
    error: InvalidCloudEvent | None = None


def _one_line(outcome: EventOutcome, message_id: str | None) -> str:
    error = outcome.error
    reason = f"{type(error).__name__}: {error}" if error is not None else outcome.status
    return (f"(message {message_id}, event {outcome.event_id}, subject {outcome.subject}): "
            + " ".join(reason.split()))  # one line, whatever the error's text holds


def log_permanent_failure(outcome: EventOutcome, record: Any) -> None:
    """The line the adapter logs for a permanent failure: one ERROR line on the ``durable_xstate.cloud`` logger."""
    message_id = record.get("messageId") if isinstance(record, Mapping) else None
    _log.error("CloudEvent dropped for good %s", _one_line(outcome, message_id))


def _log_transient_failure(outcome: EventOutcome, message_id: str | None) -> None:
    retry = "SQS redelivers it" if message_id is not None else "the invocation fails to be retried whole"
    _log.warning("CloudEvent not applied, %s %s", retry, _one_line(outcome, message_id))


def _structured(body: Any) -> Mapping[str, Any] | None:
    return body if isinstance(body, Mapping) and "specversion" in body else None


def _from_eventbridge(envelope: Mapping[str, Any]) -> CloudEvent:
    detail = envelope.get("detail")
    structured = _structured(detail)
    if structured is not None:
        return read_cloud_event(structured)
    data = detail if isinstance(detail, Mapping) else {}
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": envelope.get("id"),
        "source": envelope.get("source"),
        "type": envelope.get("detail-type"),
        "datacontenttype": "application/json",
        "data": data,
    }
    if envelope.get("time"):
        attributes["time"] = envelope["time"]
    if "subject" in data:
        attributes["subject"] = data["subject"]
    return read_cloud_event(attributes)


def _from_sqs(record: Mapping[str, Any]) -> CloudEvent:
    raw = record.get("body")
    if not isinstance(raw, str):
        raise InvalidCloudEvent(f"an SQS record's body must be a string, got {type(raw).__name__}")
    not_json: json.JSONDecodeError | None = None  # reported below, never dropped: a binary body may be text
    try:
        body: Any = json.loads(raw)
    except json.JSONDecodeError as err:
        body, not_json = raw, err
    structured = _structured(body)
    if structured is not None:
        return read_cloud_event(structured)
    if isinstance(body, Mapping) and "detail-type" in body:
        return _from_eventbridge(body)
    attributes: dict[str, Any] = {}
    message_attributes = record.get("messageAttributes")
    for name, value in (message_attributes.items() if isinstance(message_attributes, Mapping) else ()):
        lowered = str(name).lower()
        if lowered.startswith(("ce-", "ce_")):
            attributes[lowered[3:]] = value.get("stringValue") if isinstance(value, Mapping) else value
    event_id = attributes.get("id") if isinstance(attributes.get("id"), str) else None
    subject = attributes.get("subject") if isinstance(attributes.get("subject"), str) else None
    if "specversion" not in attributes:
        why = f"; the body is not JSON either ({not_json})" if not_json is not None else ""
        raise InvalidCloudEvent(
            f"not a CloudEvent: no specversion in the body or in ce-* message attributes{why}", event_id=event_id
        )
    content_type = attributes.setdefault("datacontenttype", "application/json")
    if not_json is not None and _is_json(content_type):
        raise InvalidCloudEvent(
            f"a binary-mode CloudEvent with datacontenttype {short_repr(content_type)} whose body is not JSON: "
            f"{not_json}", event_id=event_id, subject=subject,
        )
    attributes["data"] = body
    return read_cloud_event(attributes)


def _is_json(content_type: Any) -> bool:
    """``application/json``, ``text/json`` or ``+json`` types, parameters ignored (as the CloudEvents spec)."""
    if not isinstance(content_type, str):
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("application/json", "text/json") or media.endswith("+json")


def _read(message_id: str | None, record: Any, read: Callable[[Any], CloudEvent]) -> LambdaRecord:
    try:
        return LambdaRecord(message_id, record, event=read(record))
    except InvalidCloudEvent as err:
        return LambdaRecord(message_id, record, error=err)
    except RecursionError:
        return LambdaRecord(message_id, record, error=InvalidCloudEvent("a record nested too deeply to read"))


def parse_lambda_event(event: Any) -> list[LambdaRecord]:
    """Every delivered item of a Lambda event (SQS batch, EventBridge event or a bare CloudEvent), read.

    Never raises for bad input: an unreadable item (or event) comes back with its ``error``."""
    if not isinstance(event, Mapping):
        return [_read(None, event, lambda _: _unknown(event))]
    if "Records" in event:
        records = event["Records"]
        if not isinstance(records, list):
            return [_read(None, event, lambda _: _unknown(event, f"'Records' must be a list, got {records!r:.40}"))]
        out = []
        for record in records:
            message_id = record.get("messageId") if isinstance(record, Mapping) else None
            if not isinstance(message_id, str) or not message_id:
                message_id = None
            if isinstance(record, Mapping):
                out.append(_read(message_id, record, _from_sqs))
            else:
                out.append(_read(None, record, lambda r: _unknown(r, "an SQS record must be an object")))
        return out
    if "detail-type" in event:
        return [_read(None, event, _from_eventbridge)]
    if "specversion" in event:
        return [_read(None, event, read_cloud_event)]
    return [_read(None, event, lambda _: _unknown(event))]


def _unknown(event: Any, why: str | None = None) -> CloudEvent:
    raise InvalidCloudEvent(why or "unknown Lambda event: neither SQS records, an EventBridge event nor a CloudEvent")


def make_lambda_handler(
    *,
    statemachine: Mapping[str, Any],
    storage: LockableStorage | Callable[[], LockableStorage],
    on_orchestration_state: Mapping[str, Callable[..., Any]] | None = None,
    on_cloud_event: Mapping[str, Callable[..., Any]] | None = None,
    publish: Callable[[list[CloudEvent]], Any] | None = None,
    locking: Locking = "read-write",
    lease_seconds: float = 30.0,
    acquire_lock_timeout: float = 10.0,
    on_permanent_failure: PermanentFailureHandler | None = None,
) -> Callable[[Mapping[str, Any], Any], dict[str, Any]]:
    """A Lambda entry point applying the delivered CloudEvents with ``orchestrate_cloud_events``.

    ``lease_seconds`` bounds how long a crashed invocation blocks its subjects (with read-write locking).
    An ``on_orchestration_state`` key that names no leaf state raises MachineConfigError here, at cold start."""
    check_orchestration_keys(statemachine["logic"], on_orchestration_state or {})

    async def handle(event: Mapping[str, Any]) -> dict[str, Any]:
        store = storage() if callable(storage) else storage
        items = parse_lambda_event(event)
        readable = [item for item in items if item.event is not None]
        result = await orchestrate_cloud_events(
            statemachine=statemachine,
            storage=store,
            events=[item.event for item in readable if item.event is not None],
            on_orchestration_state=on_orchestration_state,
            on_cloud_event=on_cloud_event,
            locking=locking,
            lease_seconds=lease_seconds,
            acquire_lock_timeout=acquire_lock_timeout,
        )
        applied = iter(result.outcomes)
        outcomes: list[tuple[LambdaRecord, EventOutcome]] = []
        for item in items:
            if item.error is not None:
                outcomes.append((item, EventOutcome(item.error.event_id, item.error.subject, "invalid",
                                                    item.error, True)))
            else:
                outcomes.append((item, next(applied)))
        if publish is not None:
            for subject, subject_result in result.subjects.items():
                if subject_result.error is None and subject_result.events_to_emit:
                    sent = publish(subject_result.events_to_emit)
                    if inspect.isawaitable(sent):
                        await sent
                    await confirm_published(store, subject, [e.get_id() for e in subject_result.events_to_emit],
                                            locking=locking, lease_seconds=lease_seconds)
        failures: list[str] = []
        unreportable: list[EventOutcome] = []
        for item, outcome in outcomes:
            if outcome.status in ("applied", "duplicate"):
                continue
            if outcome.permanent:
                log_permanent_failure(outcome, item.record)
                if on_permanent_failure is not None and on_permanent_failure is not log_permanent_failure:
                    handled = on_permanent_failure(outcome, item.record)
                    if inspect.isawaitable(handled):
                        await handled
                continue
            _log_transient_failure(outcome, item.message_id)
            if item.message_id is not None:
                failures.append(item.message_id)
            else:
                unreportable.append(outcome)
        if unreportable:
            # EventBridge retries a failed invocation as a whole, and SQS a record it cannot name: raise
            raise InvocationFailed(f"CloudEvent not applied: {unreportable[0].error}",
                                   [o for _, o in outcomes])
        return {"batchItemFailures": [{"itemIdentifier": m} for m in dict.fromkeys(failures)]}

    def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        # one loop per process, kept across warm invocations (store connections stay usable)
        return background_loop().run(handle(event))

    return handler
