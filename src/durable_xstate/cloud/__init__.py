"""CloudEvents in, commands out, across short-lived runs: CloudOrchestrationActor and orchestrate_cloud_events."""

from .actor import (
    CloudEventError,
    CloudOrchestrationActor,
    create_cloud_orchestration_actor,
    state_key,
    state_keys,
)
from .context_actions import update_context, update_logs
from .events import CLOUDEVENTS_JSON, CloudEvent, create_cloud_event, event_from_dict, event_to_dict
from .lambda_handler import make_lambda_handler, parse_lambda_event
from .orchestrate import (
    OrchestrationError,
    OrchestrationResult,
    SubjectError,
    SubjectResult,
    confirm_published,
    orchestrate_cloud_events,
)
from .remote import RemoteServiceLogic, from_remote_service
from .yaml_machine import (
    MACHINE_YAML_SCHEMA,
    CreateMachineYamlError,
    create_machine_yaml,
    parse_machine_yaml,
)

__all__ = [
    "CLOUDEVENTS_JSON",
    "MACHINE_YAML_SCHEMA",
    "CloudEvent",
    "CloudEventError",
    "CloudOrchestrationActor",
    "CreateMachineYamlError",
    "OrchestrationError",
    "OrchestrationResult",
    "RemoteServiceLogic",
    "SubjectError",
    "SubjectResult",
    "confirm_published",
    "create_cloud_event",
    "create_cloud_orchestration_actor",
    "create_machine_yaml",
    "event_from_dict",
    "event_to_dict",
    "from_remote_service",
    "make_lambda_handler",
    "orchestrate_cloud_events",
    "parse_lambda_event",
    "parse_machine_yaml",
    "state_key",
    "state_keys",
    "update_context",
    "update_logs",
]
