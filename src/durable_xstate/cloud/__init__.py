"""CloudEvents in, commands out, across short-lived runs: CloudOrchestrationActor and orchestrate_cloud_events."""

from ..errors import (
    CloudEventError,
    InvalidCloudEvent,
    InvocationFailed,
    StateMachineVersionMismatch,
)
from .actor import (
    CloudOrchestrationActor,
    check_orchestration_keys,
    create_cloud_orchestration_actor,
    state_key,
    state_keys,
)
from .context_actions import update_context, update_logs
from .events import CLOUDEVENTS_JSON, CloudEvent, create_cloud_event, event_from_dict, event_to_dict
from .lambda_handler import (
    LambdaRecord,
    log_permanent_failure,
    make_lambda_handler,
    parse_lambda_event,
)
from .orchestrate import (
    EventOutcome,
    OrchestrationError,
    OrchestrationResult,
    SubjectError,
    SubjectResult,
    confirm_published,
    is_permanent,
    orchestrate_cloud_events,
    pending_commands,
)
from .remote import RemoteServiceLogic, from_remote_service
from .tick_handler import make_tick_handler
from .validation import read_cloud_event
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
    "EventOutcome",
    "InvalidCloudEvent",
    "InvocationFailed",
    "LambdaRecord",
    "OrchestrationError",
    "OrchestrationResult",
    "RemoteServiceLogic",
    "StateMachineVersionMismatch",
    "SubjectError",
    "SubjectResult",
    "check_orchestration_keys",
    "confirm_published",
    "create_cloud_event",
    "create_cloud_orchestration_actor",
    "create_machine_yaml",
    "event_from_dict",
    "event_to_dict",
    "from_remote_service",
    "is_permanent",
    "log_permanent_failure",
    "make_lambda_handler",
    "make_tick_handler",
    "orchestrate_cloud_events",
    "parse_lambda_event",
    "parse_machine_yaml",
    "pending_commands",
    "read_cloud_event",
    "state_key",
    "state_keys",
    "update_context",
    "update_logs",
]
