"""The original's orchestration scenario: fetch a book, summarise it, check the summary in two parallel
regulators, done. Each state that needs outside work emits a command CloudEvent (the "books.com"
commands of the original's tests); replies come back as CloudEvents.

The same machine is written in YAML in ``summary.yaml`` (package data); ``load_yaml_machine()`` builds it.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from ..cloud.events import create_cloud_event
from ..cloud.yaml_machine import create_machine_yaml
from ..machine import StateMachine, assign, setup

VERSION = "0.0.1"


def update_context(args: Any, params: Any) -> dict[str, Any]:
    """The original's updateContext: merge the event's data (minus type and the CloudEvent) into context."""
    return {k: v for k, v in args.event.items() if k not in ("type", "__cloudevent")}


CONFIG: dict[str, Any] = {
    "id": "Summary",
    "version": VERSION,
    "initial": "FetchData",
    "context": {},
    "states": {
        "FetchData": {
            "on": {
                "books.evt.fetch.success": {"target": "Summarise", "actions": "updateContext"},
                "books.evt.fetch.error": {"target": "Error", "actions": "updateContext"},
            }
        },
        "Summarise": {
            "on": {
                "gpt.evt.summary.success": {"target": "Regulate", "actions": "updateContext"},
                "gpt.evt.summary.error": {"target": "Error", "actions": "updateContext"},
            }
        },
        "Regulate": {
            "type": "parallel",
            "states": {
                "Grounded": {
                    "initial": "Check",
                    "states": {
                        "Check": {"on": {"regulations.evt.summaryGrounded.success": "Done"}},
                        "Done": {"type": "final"},
                    },
                },
                "Compliant": {
                    "initial": "Check",
                    "states": {
                        "Check": {"on": {"regulations.evt.summaryCompliance.success": "Done"}},
                        "Done": {"type": "final"},
                    },
                },
            },
            "onDone": "Done",
        },
        "Done": {"type": "final"},
        "Error": {"type": "final"},
    },
}

# the init's context becomes the machine's input, merged over the config's context (the original meant to)
machine = setup(actions={"updateContext": assign(update_context)}).create_machine(
    {**CONFIG, "context": lambda args: {**CONFIG["context"], **(args.input or {})}}
)


def _command(type_: str) -> Any:
    def make(id: str, state: str, snapshot: Any) -> Any:
        return create_cloud_event(
            subject=id, source="/durable-xstate/summary", type=type_, data={**snapshot.context, "state": state}
        )

    return make


ORCHESTRATION = {
    "FetchData": _command("books.com.fetch"),
    "Summarise": _command("gpt.com.summary"),
    "#Regulate.#Grounded.Check": _command("regulations.com.summaryGrounded"),
    "#Regulate.#Compliant.Check": _command("regulations.com.summaryCompliance"),
}

STATEMACHINE = {"version": VERSION, "logic": machine}


def yaml_text() -> str:
    """The text of ``summary.yaml``, the YAML form of this machine (shipped with the package)."""
    return resources.files(__package__).joinpath("summary.yaml").read_text(encoding="utf-8")


def load_yaml_machine(**options: Any) -> StateMachine:
    """``summary.yaml`` built by ``create_machine_yaml`` (``options`` are passed on)."""
    return create_machine_yaml(yaml_text(), **options)
