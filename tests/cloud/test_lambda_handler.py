"""The Lambda adapter: SQS batches (structured and binary CloudEvents, EventBridge envelopes) and
EventBridge events, with partial batch failures."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from durable_xstate.cloud import (
    InvocationFailed,
    create_cloud_event,
    event_to_dict,
    make_lambda_handler,
    orchestrate_cloud_events,
    parse_lambda_event,
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


def good(subject: str, n: int) -> dict[str, Any]:
    return event_to_dict(create_cloud_event(subject=subject, source="/books", type="books.evt.fetch.success",
                                            data={"text": "t"}, id=f"{subject}-{n}"))


def test_malformed_records_each_get_their_own_outcome(store: LockableStorage) -> None:
    dropped: list[tuple[str, Any]] = []
    handler = make_lambda_handler(statemachine=STATEMACHINE, storage=store, on_orchestration_state=ORCHESTRATION,
                                  on_permanent_failure=lambda outcome, record: dropped.append((outcome.status, record)))
    no_id = {k: v for k, v in good("book-1", 9).items() if k != "id"}
    batch = {"Records": [None, "a string", sqs("m1", good("book-1", 1)), sqs("m2", no_id),
                         {"body": json.dumps(good("book-2", 1))}, sqs("m3", good("nobody", 1))]}
    assert handler(batch, None) == {"batchItemFailures": [{"itemIdentifier": "m3"}]}
    assert [status for status, _ in dropped] == ["invalid"] * 3
    assert [r for _, r in dropped][:2] == [None, "a string"] and dropped[2][1]["messageId"] == "m2"
    assert handler({"Records": None}, None) == {"batchItemFailures": []}  # reported, not raised
    assert len(dropped) == 4


def test_a_record_without_message_id_that_must_be_retried_fails_the_invocation(store: LockableStorage) -> None:
    handler = make_lambda_handler(statemachine=STATEMACHINE, storage=store, on_orchestration_state=ORCHESTRATION)
    with pytest.raises(InvocationFailed, match="not applied") as caught:
        handler({"Records": [sqs("m1", good("book-1", 1)), {"body": json.dumps(good("nobody", 1))}]}, None)
    assert [o.status for o in caught.value.outcomes] == ["applied", "failed"]  # type: ignore[attr-defined]


def test_eventbridge_without_id_is_a_permanent_failure_not_a_crash(
    store: LockableStorage, caplog: pytest.LogCaptureFixture
) -> None:
    handler = make_lambda_handler(statemachine=STATEMACHINE, storage=store, on_orchestration_state=ORCHESTRATION)
    envelope = {"version": "0", "detail-type": "books.evt.fetch.success", "source": "books",
                "detail": {"subject": "book-1", "text": "x"}}
    with caplog.at_level(logging.ERROR, logger="durable_xstate.cloud"):
        assert handler(envelope, None) == {"batchItemFailures": []}
        assert handler(envelope, None) == {"batchItemFailures": []}
    assert len([r for r in caplog.records if "'id'" in r.getMessage()]) == 2
    stored = background_loop().run(store.read("book-1.json"))
    assert stored is not None and json.loads(stored.data)["snapshot"]["value"] == "FetchData"  # nothing applied


def test_a_version_mismatch_is_dropped_not_retried(store: LockableStorage) -> None:
    dropped: list[Any] = []
    handler = make_lambda_handler(statemachine=STATEMACHINE, storage=store, on_orchestration_state=ORCHESTRATION,
                                  on_permanent_failure=lambda outcome, record: dropped.append(outcome))
    wrong = {**good("book-1", 1), "statemachineversion": "9.9.9"}
    assert handler({"Records": [sqs("m1", wrong), sqs("m2", good("book-2", 1))]}, None) == {"batchItemFailures": []}
    assert [type(o.error).__name__ for o in dropped] == ["StateMachineVersionMismatch"]


BINARY_ATTRIBUTES = {
    "ce-specversion": {"stringValue": "1.0", "dataType": "String"},
    "ce-id": {"stringValue": "b-9", "dataType": "String"},
    "ce-source": {"stringValue": "/books", "dataType": "String"},
    "ce-type": {"stringValue": "books.evt.fetch.success", "dataType": "String"},
    "ce-subject": {"stringValue": "book-1", "dataType": "String"},
}


@pytest.mark.parametrize("body", ['{"text": "t"', "not json", "{'text': 't'}"])
def test_a_binary_json_body_that_does_not_parse_is_reported_not_applied(
    store: LockableStorage, body: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The parse error used to be swallowed: the raw text went on as the event's data and was applied."""
    items = parse_lambda_event({"Records": [sqs("m1", body, BINARY_ATTRIBUTES)]})
    assert items[0].event is None and items[0].error is not None
    assert "body is not JSON" in str(items[0].error) and items[0].error.event_id == "b-9"
    assert items[0].error.subject == "book-1"
    handler = make_lambda_handler(statemachine=STATEMACHINE, storage=store, on_orchestration_state=ORCHESTRATION)
    with caplog.at_level(logging.ERROR, logger="durable_xstate.cloud"):
        assert handler({"Records": [sqs("m1", body, BINARY_ATTRIBUTES)]}, None) == {"batchItemFailures": []}
    assert any("body is not JSON" in r.getMessage() for r in caplog.records)
    stored = background_loop().run(store.read("book-1.json"))
    assert stored is not None and json.loads(stored.data)["snapshot"]["value"] == "FetchData"  # nothing applied


def test_a_binary_text_body_is_still_data_and_a_non_cloud_event_names_the_json_error() -> None:
    text = {**BINARY_ATTRIBUTES, "ce-datacontenttype": {"stringValue": "text/plain", "dataType": "String"}}
    items = parse_lambda_event({"Records": [sqs("m1", "plain words", text)]})
    assert items[0].error is None and items[0].event is not None and items[0].event.get_data() == "plain words"
    items = parse_lambda_event({"Records": [sqs("m2", "{oops")]})
    assert items[0].error is not None and "no specversion" in str(items[0].error)
    assert "not JSON either" in str(items[0].error)


class BusyStore(MemoryStore):
    """A real MemoryStore where another writer rewrites every value right after each read, so each
    compare-and-set made with the version just read loses."""

    async def read(self, key: str) -> Any:
        got = await super().read(key)
        if got is not None:
            await super().write(key, got.data, got.version)
        return got


def test_confirming_published_commands_against_a_busy_writer_says_why_it_gave_up() -> None:
    from durable_xstate.cloud import confirm_published, pending_commands
    from durable_xstate.errors import WriteConflict

    busy = BusyStore()
    s = LockableStorage(busy, busy)
    background_loop().run(orchestrate_cloud_events(statemachine=STATEMACHINE, storage=s, inits=[{"subject": "b"}],
                                                   on_orchestration_state=ORCHESTRATION))
    ids = [e.get_id() for e in background_loop().run(pending_commands(s, "b"))]
    assert ids  # the init left commands in the outbox
    with pytest.raises(WriteConflict) as info:
        background_loop().run(confirm_published(s, "b", ids, locking="write"))
    assert info.value.reason is not None and "20 compare-and-set writes in a row" in str(info.value)
    assert "expected version nothing" not in str(info.value) and "found nothing" not in str(info.value)


def test_every_failed_record_is_logged_on_one_line_with_its_id_and_reason(
    store: LockableStorage, caplog: pytest.LogCaptureFixture
) -> None:
    parked: list[str] = []
    for handler_options in ({}, {"on_permanent_failure": lambda outcome, record: parked.append(record["messageId"])}):
        caplog.clear()
        handler = make_lambda_handler(statemachine=STATEMACHINE, storage=store, on_orchestration_state=ORCHESTRATION,
                                      **handler_options)
        batch = {"Records": [sqs("ok", good("book-1", 1)), sqs("bad-json", "{not json\nat all"),
                             sqs("no-subject", good("nobody", 1))]}
        with caplog.at_level(logging.WARNING, logger="durable_xstate.cloud"):
            assert handler(batch, None) == {"batchItemFailures": [{"itemIdentifier": "no-subject"}]}
        lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "durable_xstate.cloud"]
        assert len(lines) == 2 and all("\n" not in message for _, message in lines)
        (permanent_level, permanent), (transient_level, transient) = lines
        assert permanent_level == logging.ERROR
        assert "message bad-json" in permanent and "InvalidCloudEvent: not a CloudEvent" in permanent
        assert transient_level == logging.WARNING
        assert "SQS redelivers it" in transient and "message no-subject" in transient
        assert "event nobody-1" in transient and "SubjectError: The subject=nobody not already initiated" in transient
    assert parked == ["bad-json"]  # the custom handler is called besides the log line, not instead of it


def test_a_failed_eventbridge_event_is_logged_before_the_invocation_fails(
    store: LockableStorage, caplog: pytest.LogCaptureFixture
) -> None:
    handler = make_lambda_handler(statemachine=STATEMACHINE, storage=store, on_orchestration_state=ORCHESTRATION)
    envelope = {"version": "0", "id": "eb-9", "detail-type": "books.evt.fetch.success", "source": "books",
                "time": "2026-11-28T10:00:00Z", "detail": {"subject": "nobody"}}
    with caplog.at_level(logging.WARNING, logger="durable_xstate.cloud"), pytest.raises(InvocationFailed):
        handler(envelope, None)
    [record] = [r for r in caplog.records if r.name == "durable_xstate.cloud"]
    assert record.levelno == logging.WARNING
    assert "retried whole" in record.getMessage() and "event eb-9" in record.getMessage()
    assert "not already initiated" in record.getMessage()
