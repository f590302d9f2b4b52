"""CloudEvents in, commands out, across short-lived runs: CloudOrchestrationActor and orchestrate_cloud_events."""

from .actor import (
    CloudEventError,
    CloudOrchestrationActor,
    create_cloud_orchestration_actor,
    state_key,
)
from .events import CLOUDEVENTS_JSON, CloudEvent, create_cloud_event, event_from_dict, event_to_dict
from .orchestrate import (
    OrchestrationError,
    OrchestrationResult,
    SubjectError,
    SubjectResult,
    confirm_published,
    orchestrate_cloud_events,
)
from .remote import RemoteServiceLogic, from_remote_service

__all__ = [
    "CLOUDEVENTS_JSON",
    "CloudEvent",
    "CloudEventError",
    "CloudOrchestrationActor",
    "OrchestrationError",
    "OrchestrationResult",
    "RemoteServiceLogic",
    "SubjectError",
    "SubjectResult",
    "confirm_published",
    "create_cloud_event",
    "create_cloud_orchestration_actor",
    "event_from_dict",
    "event_to_dict",
    "from_remote_service",
    "orchestrate_cloud_events",
    "state_key",
]
