"""An AWS Lambda handler for CloudEvents delivered by SQS or EventBridge.

``handler = make_lambda_handler(statemachine=..., storage=open_store(...), on_orchestration_state=...,
publish=send_to_my_bus)`` returns ``handler(event, context)``. It accepts:

- SQS batches: each record's ``body`` is a structured CloudEvent (JSON with ``specversion``), or binary
  mode with the attributes in ``messageAttributes`` named ``ce-<attr>`` (or ``ce_<attr>``) and the data
  in the body; a body that is an EventBridge envelope is unwrapped as below.
- EventBridge events: ``detail`` is a structured CloudEvent, or the envelope maps to one
  (``id``, ``source``, ``detail-type`` as type, ``time``, ``detail`` as data, ``detail.subject``).

It returns ``{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}`` naming the SQS records to
retry: unparsable records, events without a subject, and every record of a subject whose processing
failed (nothing of that subject was saved, and idempotency makes the retry safe). With ``publish`` the
commands are handed over and then confirmed; without it they stay in each record's outbox.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

from ..persistence.actor import Locking
from ..stores.base import LockableStorage
from ..stores.sync import background_loop
from .events import CloudEvent, event_from_dict
from .orchestrate import confirm_published, orchestrate_cloud_events

__all__ = ["make_lambda_handler", "parse_lambda_event"]


def _structured(body: Any) -> Mapping[str, Any] | None:
    return body if isinstance(body, Mapping) and "specversion" in body else None


def _from_eventbridge(envelope: Mapping[str, Any]) -> CloudEvent:
    detail = envelope.get("detail")
    structured = _structured(detail)
    if structured is not None:
        return event_from_dict(structured)
    data = detail if isinstance(detail, Mapping) else {}
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": envelope["id"],
        "source": envelope["source"],
        "type": envelope["detail-type"],
        "datacontenttype": "application/json",
        "data": data,
    }
    if envelope.get("time"):
        attributes["time"] = envelope["time"]
    subject = data.get("subject") if isinstance(data, Mapping) else None
    if subject:
        attributes["subject"] = subject
    return event_from_dict(attributes)


def _from_sqs(record: Mapping[str, Any]) -> CloudEvent:
    raw = record.get("body") or ""
    try:
        body: Any = json.loads(raw)
    except json.JSONDecodeError:
        body = raw
    structured = _structured(body)
    if structured is not None:
        return event_from_dict(structured)
    if isinstance(body, Mapping) and "detail-type" in body:
        return _from_eventbridge(body)
    attributes: dict[str, Any] = {}
    for name, value in (record.get("messageAttributes") or {}).items():
        lowered = name.lower()
        if lowered.startswith(("ce-", "ce_")):
            attributes[lowered[3:]] = value.get("stringValue") if isinstance(value, Mapping) else value
    if "specversion" not in attributes:
        raise ValueError("not a CloudEvent: no specversion in the body or in ce-* message attributes")
    attributes.setdefault("datacontenttype", "application/json")
    attributes["data"] = body
    return event_from_dict(attributes)


def parse_lambda_event(event: Mapping[str, Any]) -> tuple[list[tuple[str | None, CloudEvent]], list[str]]:
    """``([(sqs message id or None, CloudEvent)], [message ids that could not be parsed])``."""
    parsed: list[tuple[str | None, CloudEvent]] = []
    failed: list[str] = []
    if "Records" in event:
        for record in event["Records"]:
            message_id = str(record.get("messageId"))
            try:
                parsed.append((message_id, _from_sqs(record)))
            except Exception:
                failed.append(message_id)
    elif "detail-type" in event:
        parsed.append((None, _from_eventbridge(event)))
    elif "specversion" in event:
        parsed.append((None, event_from_dict(event)))
    else:
        raise ValueError("unknown Lambda event: neither SQS records, an EventBridge event nor a CloudEvent")
    return parsed, failed


def make_lambda_handler(
    *,
    statemachine: Mapping[str, Any],
    storage: LockableStorage | Callable[[], LockableStorage],
    on_orchestration_state: Mapping[str, Callable[..., Any]] | None = None,
    on_cloud_event: Mapping[str, Callable[..., Any]] | None = None,
    publish: Callable[[list[CloudEvent]], Any] | None = None,
    locking: Locking = "read-write",
) -> Callable[[Mapping[str, Any], Any], dict[str, Any]]:
    """A Lambda entry point applying the delivered CloudEvents with ``orchestrate_cloud_events``."""

    async def handle(event: Mapping[str, Any]) -> dict[str, Any]:
        store = storage() if callable(storage) else storage
        parsed, failed = parse_lambda_event(event)
        result = await orchestrate_cloud_events(
            statemachine=statemachine,
            storage=store,
            events=[ce for _, ce in parsed],
            on_orchestration_state=on_orchestration_state,
            on_cloud_event=on_cloud_event,
            locking=locking,
        )
        bad_subjects = set(result.errors)
        unrouted = {id(ce) for ce in result.unrouted}
        for message_id, ce in parsed:
            if message_id is None:
                continue
            if id(ce) in unrouted or (ce.get_subject() in bad_subjects):
                failed.append(message_id)
        if publish is not None:
            for subject, outcome in result.subjects.items():
                if outcome.error is None and outcome.events_to_emit:
                    sent = publish(outcome.events_to_emit)
                    if asyncio.iscoroutine(sent):
                        await sent
                    await confirm_published(store, subject, [e.get_id() for e in outcome.events_to_emit],
                                            locking=locking)
        if "Records" not in event and (failed or result.errors or result.unrouted):
            # EventBridge retries a failed invocation as a whole: raise so it does
            first = next(iter(result.errors.values()), None)
            raise RuntimeError(f"CloudEvent not applied: {first or 'no subject'}")
        return {"batchItemFailures": [{"itemIdentifier": m} for m in dict.fromkeys(failed)]}

    def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        # one loop per process, kept across warm invocations (store connections stay usable)
        return background_loop().run(handle(event))

    return handler
