"""The original's scenario end to end on S3 storage with a DynamoDB lock (moto server) and on local files,
with the Python and the YAML machine: every command published once, in order, the outbox emptied by
confirmations. (Remote-service invokes and timers across runs: test_yaml_machine.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from harness import BackendUnderTest

from durable_xstate.cloud import confirm_published, create_cloud_event, orchestrate_cloud_events
from durable_xstate.examples.summary import ORCHESTRATION, STATEMACHINE, load_yaml_machine


def reply(subject: str, type_: str, n: int, data: dict[str, Any] | None = None) -> Any:
    return create_cloud_event(subject=subject, source="/services", type=type_, data=data or {}, id=f"r-{n}")


@pytest.mark.parametrize("backend", ["file", "s3"], indirect=True)
@pytest.mark.parametrize("flavour", ["python", "yaml"])
async def test_summary_scenario_end_to_end(backend: BackendUnderTest, flavour: str) -> None:
    statemachine = STATEMACHINE if flavour == "python" else {"version": STATEMACHINE["version"],
                                                              "logic": load_yaml_machine()}
    store = backend.open()
    common = {"statemachine": statemachine, "storage": store, "on_orchestration_state": ORCHESTRATION}
    published: list[str] = []

    async def step(**kw: Any) -> Any:
        result = await orchestrate_cloud_events(**common, **kw)
        assert not result.errors, result.errors
        for subject, outcome in result.subjects.items():
            published.extend(e.get_type() for e in outcome.events_to_emit)
            await confirm_published(store, subject, [e.get_id() for e in outcome.events_to_emit])
        return result

    try:
        await step(inits=[{"subject": "saad.pdf", "context": {"bookId": "saad.pdf"}}])
        await step(events=[reply("saad.pdf", "books.evt.fetch.success", 1, {"text": "a long book"})])
        await step(events=[reply("saad.pdf", "gpt.evt.summary.success", 2, {"summary": "short"})])
        last = await step(events=[reply("saad.pdf", "regulations.evt.summaryGrounded.success", 3),
                                  reply("saad.pdf", "regulations.evt.summaryCompliance.success", 4)])
        assert published == ["books.com.fetch", "gpt.com.summary", "regulations.com.summaryGrounded",
                             "regulations.com.summaryCompliance"]
        assert last.subjects["saad.pdf"].status == "done"
        stored = await store.read("saad.pdf.json")
        assert stored is not None
        record = json.loads(stored.data)
        assert record["outbox"] == [] and record["snapshot"]["value"] == "Done"
        assert record["snapshot"]["context"] == {"bookId": "saad.pdf", "text": "a long book", "summary": "short"}
    finally:
        await store.close()
