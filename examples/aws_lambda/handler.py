"""AWS Lambda: CloudEvents from SQS or EventBridge drive orchestration actors stored in DynamoDB; the
commands of the states they enter go out to an SQS queue.

Two functions: ``handler`` (the event source mapping of your replies queue, or an EventBridge rule)
and ``start`` (starts a process: ``{"subject": "book-1", "context": {...}, "id": "start-1"}``).
Environment: DURABLE_XSTATE_STORE (``dynamodb://table?region=...``), COMMANDS_QUEUE_URL.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

from durable_xstate.cloud import (
    CloudEvent,
    confirm_published,
    event_to_dict,
    make_lambda_handler,
    orchestrate_cloud_events,
)
from durable_xstate.examples.summary import ORCHESTRATION, STATEMACHINE  # your machine, middleware
from durable_xstate.stores import open_store
from durable_xstate.stores.sync import background_loop

store = open_store(os.environ["DURABLE_XSTATE_STORE"])  # once per cold start, kept while the function is warm
sqs = boto3.client("sqs")


def publish(commands: list[CloudEvent]) -> None:
    """Hand the commands over: one structured CloudEvent (JSON) per SQS message."""
    for command in commands:
        sqs.send_message(QueueUrl=os.environ["COMMANDS_QUEUE_URL"], MessageBody=json.dumps(event_to_dict(command)))


# SQS batches: enable ReportBatchItemFailures on the event source mapping, so only the records that
# failed for a passing reason come back; a record that can never apply is logged and dropped
handler = make_lambda_handler(
    statemachine=STATEMACHINE,
    storage=store,
    on_orchestration_state=ORCHESTRATION,
    publish=publish,
    lease_seconds=15,  # how long a crashed invocation can hold a subject
)


def start(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Start one process; the same ``id`` again is a duplicate that publishes the pending commands."""

    async def run() -> dict[str, Any]:
        result = await orchestrate_cloud_events(
            statemachine=STATEMACHINE, storage=store, inits=[event], on_orchestration_state=ORCHESTRATION
        )
        [outcome] = result.init_outcomes
        if outcome.error is not None:
            raise outcome.error
        for subject, subject_result in result.subjects.items():
            publish(subject_result.events_to_emit)
            await confirm_published(store, subject, [e.get_id() for e in subject_result.events_to_emit])
        return {"subject": outcome.subject, "status": outcome.status}

    # durable-xstate has no synchronous orchestrate_cloud_events: run it on the loop the handler uses
    return background_loop().run(run())
