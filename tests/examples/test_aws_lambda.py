"""examples/aws_lambda on the moto server: a process started, then driven to its end by replies arriving
as SQS batches and EventBridge events (the shapes Lambda delivers), its commands read from a real queue."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from typing import Any

import boto3
import pytest
from examples_support import load_example
from moto_support import REGION, dynamodb_url

from durable_xstate.cloud import create_cloud_event, event_to_dict
from durable_xstate.persistence import StoredRecord
from durable_xstate.stores.sync import background_loop

pytestmark = pytest.mark.servers


def sqs_event(*bodies: str) -> dict[str, Any]:
    """An SQS event as Lambda delivers it (the shape of AWS's documentation example)."""
    return {"Records": [{
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "MessageReceiptHandle",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1523232000000",
                       "SenderId": "123456789012", "ApproximateFirstReceiveTimestamp": "1523232000001"},
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:replies",
        "awsRegion": REGION,
    } for body in bodies]}


def eventbridge_event(detail_type: str, source: str, detail: dict[str, Any]) -> dict[str, Any]:
    """An EventBridge event as Lambda delivers it (the shape of AWS's documentation example)."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": source,
            "account": "123456789012", "time": "2026-12-01T12:00:00Z", "region": REGION, "resources": [],
            "detail": detail}


def reply(subject: str, type_: str, data: dict[str, Any]) -> str:
    return json.dumps(event_to_dict(create_cloud_event(subject=subject, source="/services", type=type_, data=data)))


@pytest.fixture
def example(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    sqs = boto3.client("sqs", endpoint_url=moto_server, region_name=REGION)
    queue_url = sqs.create_queue(QueueName=f"commands-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    monkeypatch.setenv("DURABLE_XSTATE_STORE", dynamodb_url(moto_server, f"lambda-example-{uuid.uuid4().hex[:8]}"))
    monkeypatch.setenv("COMMANDS_QUEUE_URL", queue_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_server)
    module = load_example("aws_lambda/handler.py", "aws_lambda_handler")

    def commands() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return [json.loads(message["Body"]) for message in messages]

    module.commands = commands
    yield module
    background_loop().run(module.store.close())


def test_a_process_driven_to_its_end_through_sqs_and_eventbridge(
    example: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert example.start({"subject": "book-1", "id": "start-1", "context": {"title": "Dune"}}) == {
        "subject": "book-1", "status": "applied"}
    [fetch] = example.commands()
    assert (fetch["type"], fetch["subject"], fetch["data"]["title"]) == ("books.com.fetch", "book-1", "Dune")

    # the books service replies through SQS; the batch delivered twice applies once
    batch = sqs_event(reply("book-1", "books.evt.fetch.success", {"text": "A desert planet..."}))
    assert example.handler(batch, None) == {"batchItemFailures": []}
    [summarise] = example.commands()
    assert summarise["type"] == "gpt.com.summary" and summarise["data"]["text"] == "A desert planet..."
    assert example.handler(batch, None) == {"batchItemFailures": []}
    assert example.commands() == []

    # the summariser replies through EventBridge (the envelope maps to a CloudEvent)
    envelope = eventbridge_event("gpt.evt.summary.success", "gpt", {"subject": "book-1", "summary": "Spice."})
    assert example.handler(envelope, None) == {"batchItemFailures": []}
    assert sorted(c["type"] for c in example.commands()) == [
        "regulations.com.summaryCompliance", "regulations.com.summaryGrounded"]

    # both regulators in one SQS batch, with a record that can never apply and one that may later
    with caplog.at_level(logging.WARNING, logger="durable_xstate.cloud"):
        batch = sqs_event(reply("book-1", "regulations.evt.summaryGrounded.success", {}),
                          "not a CloudEvent",
                          reply("book-2", "books.evt.fetch.success", {}),
                          reply("book-1", "regulations.evt.summaryCompliance.success", {}))
        result = example.handler(batch, None)
    ids = [record["messageId"] for record in batch["Records"]]
    assert result == {"batchItemFailures": [{"itemIdentifier": ids[2]}]}  # book-2 may start later: retried
    logged = {record.levelname: record.getMessage() for record in caplog.records}
    assert ids[1] in logged["ERROR"] and ids[2] in logged["WARNING"] and len(caplog.records) == 2

    stored = background_loop().run(example.store.read("book-1.json"))
    record = StoredRecord.decode(stored.data, key="book-1.json", version=stored.version)
    assert record.snapshot is not None and record.snapshot["value"] == "Done"
    assert record.outbox == []  # every command was published and confirmed


def test_starting_twice(example: Any) -> None:
    assert example.start({"subject": "book-9", "id": "start-9"})["status"] == "applied"
    assert len(example.commands()) == 1
    assert example.start({"subject": "book-9", "id": "start-9"})["status"] == "duplicate"
    with pytest.raises(RuntimeError, match="already exists"):
        example.start({"subject": "book-9", "id": "another"})
