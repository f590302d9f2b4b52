"""The edge: raw CloudEvent input checked before the SDK sees it.

The SDK fills in what the spec requires and the input lacks (a random ``id``, ``specversion``), so a
redelivered event without an id would look new every time. ``read_cloud_event`` checks the raw input
first and raises :class:`InvalidCloudEvent` (a permanent failure: delivering it again cannot succeed)
for anything orchestration cannot apply exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidCloudEvent, InvalidKey
from ..stores.base import validate_key
from .events import CloudEvent, event_from_dict

__all__ = ["MAX_DATA_DEPTH", "check_data_depth", "read_cloud_event"]

#: how deeply an event's data may nest (objects and lists); deeper data is refused before anything
#: recursive (the SDK's JSON codec, deep copies of the context, the record's encoder) touches it
MAX_DATA_DEPTH = 64


def check_data_depth(data: Any, limit: int = MAX_DATA_DEPTH) -> int | None:
    """The first depth over ``limit`` found in ``data`` (iteratively, so any depth is safe), or None."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, Mapping):
            children: Any = value.values()
        elif isinstance(value, list | tuple):
            children = value
        else:
            continue
        if depth + 1 > limit:
            return depth + 1
        stack.extend((child, depth + 1) for child in children)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _check_subject(subject: Any, event_id: str | None) -> None:
    if subject is None:
        raise InvalidCloudEvent(
            f"CloudEvent id={event_id!r} has no 'subject': it names the process to apply it to",
            event_id=event_id,
        )
    if not isinstance(subject, str) or not subject:
        raise InvalidCloudEvent(
            f"CloudEvent id={event_id!r}: 'subject' must be a non-empty string, got {subject!r}",
            event_id=event_id, subject=_text(subject),
        )
    try:
        validate_key(f"{subject}.json")
    except InvalidKey as err:
        raise InvalidCloudEvent(
            f"CloudEvent id={event_id!r}: subject {subject!r} cannot name a stored process: {err.reason}",
            event_id=event_id, subject=subject,
        ) from None


def read_cloud_event(raw: Any) -> CloudEvent:
    """An SDK event from raw structured JSON (or an SDK event), or InvalidCloudEvent saying what is wrong.

    Required: an object with ``specversion`` "1.0", non-empty string ``id``, ``source`` and ``type``, a
    ``subject`` that is a valid store key, and data nested at most :data:`MAX_DATA_DEPTH` deep. An SDK
    ``CloudEvent`` passes the same subject and data checks (its id cannot be checked: the SDK made it).
    """
    if isinstance(raw, CloudEvent):
        made_id = raw.get_id()
        _check_subject(raw.get_subject(), made_id)
        too_deep = check_data_depth(raw.get_data())
        if too_deep is not None:
            raise InvalidCloudEvent(
                f"CloudEvent id={made_id!r}: data nested deeper than {MAX_DATA_DEPTH} levels",
                event_id=made_id, subject=raw.get_subject(),
            )
        return raw
    if not isinstance(raw, Mapping):
        raise InvalidCloudEvent(f"a CloudEvent must be an object, got {type(raw).__name__}: {raw!r:.80}")
    event_id, subject = _text(raw.get("id")), _text(raw.get("subject"))
    for name in ("id", "source", "type"):
        value = raw.get(name)
        if not isinstance(value, str) or not value:
            why = " (without one a redelivery could not be recognised)" if name == "id" else ""
            got = "it is missing" if name not in raw else f"got {value!r:.80}"
            raise InvalidCloudEvent(
                f"CloudEvent id={event_id!r}: the spec requires a non-empty string {name!r}{why}; {got}",
                event_id=event_id, subject=subject,
            )
    specversion = raw.get("specversion")
    if specversion != "1.0":
        raise InvalidCloudEvent(
            f"CloudEvent id={event_id!r}: specversion must be '1.0', got {specversion!r}",
            event_id=event_id, subject=subject,
        )
    _check_subject(raw.get("subject"), event_id)
    too_deep = check_data_depth(raw.get("data"))
    if too_deep is not None:
        raise InvalidCloudEvent(
            f"CloudEvent id={event_id!r}: data nested deeper than {MAX_DATA_DEPTH} levels",
            event_id=event_id, subject=subject,
        )
    try:
        return event_from_dict(raw)
    except Exception as err:  # the SDK's validation errors, or data that is not JSON
        raise InvalidCloudEvent(
            f"CloudEvent id={event_id!r}: {' '.join(str(err).split())}", event_id=event_id, subject=subject
        ) from err
