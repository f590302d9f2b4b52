"""The Lambda adapter: SQS batches (structured and binary CloudEvents, EventBridge envelopes) and
EventBridge events, with partial batch failures."""

from __future__ import annotations

import json
from typing import Any

import pytest

from durable_xstate.cloud import (
    create_cloud_event,
    event_to_dict,
    make_lambda_handler,
    orchestrate_cloud_events,
)
from durable_xstate.examples.summary import ORCHESTRATION, STATEMACHINE
from durable_xstate.stores import LockableStorage, MemoryStore
from durable_xstate.stores.sync import background_loop


@pytest.fixture
def store() -> LockableStorage:
    m = MemoryStore()
    s = LockableStorage(m, m)
    background_loop().run(orchestrate_cloud_events(
        statemachine=STATEMACHINE, storage=s, inits=[{"subject": "book-1"}, {"subject": "book-2"}],
        on_orchestration_state=ORCHESTRATION))
    return s


def sqs(message_id: str, body: Any, attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"messageId": message_id, "body": body if isinstance(body, str) else json.dumps(body),
            "messageAttributes": attributes or {}, "eventSource": "aws:sqs"}


def test_sqs_batch_with_partial_failures(store: LockableStorage) -> None:
    published: list[str] = []
    dropped: list[Any] = []
    handler = make_lambda_handler(statemachine=STATEMACHINE, storage=store, on_orchestration_state=ORCHESTRATION,
                                  publish=lambda events: published.extend(e.get_type() for e in events),
                                  on_permanent_failure=lambda outcome, record: dropped.append(record["messageId"]))
    structured = event_to_dict(create_cloud_event(subject="book-1", source="/books", type="books.evt.fetch.success",
                                                  data={"text": "t"}))
    binary = sqs("m2", {"text": "u"}, {
        "ce-specversion": {"stringValue": "1.0", "dataType": "String"},
        "ce-id": {"stringValue": "b-1", "dataType": "String"},
        "ce-source": {"stringValue": "/books", "dataType": "String"},
        "ce-type": {"stringValue": "books.evt.fetch.success", "dataType": "String"},
        "ce-subject": {"stringValue": "book-2", "dataType": "String"},
    })
    missing = event_to_dict(create_cloud_event(subject="nobody", source="/books", type="books.evt.fetch.success"))
    batch = {"Records": [sqs("m1", structured), binary, sqs("m3", "not json at all"), sqs("m4", missing)]}
    result = handler(batch, None)
    # m3 can never be read: handled (not retried) and handed to on_permanent_failure; m4's subject may
    # be initiated later: retried
    assert result == {"batchItemFailures": [{"itemIdentifier": "m4"}]}
    assert dropped == ["m3"]
    assert sorted(published) == ["books.com.fetch", "books.com.fetch", "gpt.com.summary", "gpt.com.summary"]
    # redelivery of the same batch applies nothing twice and publishes nothing new
    published.clear()
    assert handler(batch, None) == result
    assert published == []


def test_eventbridge_event(store: LockableStorage) -> None:
    handler = make_lambda_handler(statemachine=STATEMACHINE, storage=store, on_orchestration_state=ORCHESTRATION)
    envelope = {"version": "0", "id": "eb-1", "detail-type": "books.evt.fetch.success", "source": "books",
                "time": "2026-11-28T10:00:00Z", "detail": {"subject": "book-1", "text": "x"}}
    assert handler(envelope, None) == {"batchItemFailures": []}
    with pytest.raises(RuntimeError, match="not applied"):
        handler({**envelope, "id": "eb-2", "detail": {"subject": "nobody"}}, None)
