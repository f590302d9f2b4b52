"""CloudEvents in and out, through the CloudEvents SDK (``cloudevents.core``).

Events are kept as SDK ``CloudEvent`` objects at the edges and as structured-JSON dicts inside records
(the outbox is JSON only).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

__all__ = [
    "CLOUDEVENTS_JSON",
    "CloudEvent",
    "create_cloud_event",
    "event_from_dict",
    "event_to_dict",
    "stable_event_id",
]

CLOUDEVENTS_JSON = "application/cloudevents+json; charset=UTF-8"
_FORMAT = JSONFormat()
_NAMESPACE = uuid.UUID("6f1d6c3e-2b1a-4f4e-9a51-0f3d3c9d1e77")


def create_cloud_event(
    *,
    subject: str,
    source: str,
    type: str,
    data: Any = None,
    statemachineversion: str | None = None,
    id: str | None = None,
    datacontenttype: str = CLOUDEVENTS_JSON,
    **extensions: Any,
) -> CloudEvent:
    """The original's ``createCloudEvent``: a v1.0 event with JSON data (id and time filled in by the SDK)."""
    attributes: dict[str, Any] = {
        **({"subject": subject} if subject else {}),
        "source": source,
        "type": type,
        "datacontenttype": datacontenttype,
        **extensions,
    }
    if statemachineversion is not None:
        attributes["statemachineversion"] = statemachineversion
    if id is not None:
        attributes["id"] = id
    return CloudEvent(attributes, data)


def event_to_dict(event: CloudEvent) -> dict[str, Any]:
    """Structured JSON form (attributes + ``data``) of an event."""
    result: dict[str, Any] = json.loads(_FORMAT.write(event))
    return result


def event_from_dict(data: Mapping[str, Any] | CloudEvent) -> CloudEvent:
    """An SDK event from its structured JSON form (a CloudEvent passes through)."""
    if isinstance(data, CloudEvent):
        return data
    event = _FORMAT.read(CloudEvent, json.dumps(dict(data)).encode())
    assert isinstance(event, CloudEvent)
    return event


def stable_event_id(*parts: Any) -> str:
    """A deterministic id: the same parts (actor, revision, state key) always give the same id."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(str(p) for p in parts)))
