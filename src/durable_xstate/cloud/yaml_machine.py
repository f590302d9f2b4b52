"""Machines written in YAML: ``create_machine_yaml(text, actions=..., guards=...)`` (the original's
``createMachineYaml``).

The text is parsed with the loader of :mod:`durable_xstate.yaml_loader` (PyYAML's safe loader, YAML 1.2
booleans so the key ``on`` stays a string, and limits on nodes with aliases expanded and on nesting), and
also: timestamps stay strings (a context must stay JSON), non-string
keys become strings (``after: {1000: ...}``), and a key repeated in one mapping is an error instead of
silently keeping the last one. The document is then validated against :data:`MACHINE_YAML_SCHEMA`
(JSON Schema draft 2020-12) and built with the engine.

Every problem raises :class:`CreateMachineYamlError` (a ``MachineConfigError``, so also a ``ValueError``)
whose message starts with the config path of the first problem in document order, e.g.
``states.FetchData.on.X[0].target: expected a string or a list of strings, got an integer``; ``.details``
holds every jsonschema error. Differences from the original:

- ``input`` is merged over the YAML's ``context`` (``{**context, **input}``); the original dropped it.
- ``invoke``, ``after``, history states, ``meta``, ``output``, ``tags``, targetless transitions and
  guards/actions with ``params`` are accepted (the original's schema refused them).
- The implementations the YAML names are checked when the machine is built, so a missing action, guard,
  delay or actor is an error here, naming its path, rather than in a later run.
- ``updateContext`` does not copy ``__cloudevent`` into the context, and ``updateLogs`` keeps the last
  ``log_limit`` entries (see :mod:`durable_xstate.cloud.context_actions`). An action of the same name in
  ``actions=`` replaces a built-in.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import InvalidArgumentType, MachineConfigError
from ..machine.limits import check_config_depth
from ..machine.machine import Implementations, StateMachine
from ..yaml_loader import YamlLimitError, yaml_loader
from .context_actions import DEFAULT_LOG_LIMIT, update_context, update_logs

if TYPE_CHECKING:
    from jsonschema import ValidationError

__all__ = [
    "MACHINE_YAML_SCHEMA",
    "CreateMachineYamlError",
    "create_machine_yaml",
    "parse_machine_yaml",
]


class CreateMachineYamlError(MachineConfigError):
    """A YAML machine that cannot be built. ``path`` names the first problem (``states.A.on.GO[0].target``),
    ``details`` holds every JSON Schema error (empty for YAML syntax errors and engine errors)."""

    def __init__(self, path: str, problem: str, details: Iterable[ValidationError] = ()) -> None:
        super().__init__(path, problem)
        self.details: list[ValidationError] = list(details)


# ---------------------------------------------------------------------------------------------- schema
def _by_type(**branches: Mapping[str, Any]) -> dict[str, Any]:
    """Accept the listed JSON types; each type's own schema applies only to values of that type (so an
    error names the deepest path, not 'not valid under any of the given schemas')."""
    schema: dict[str, Any] = {"type": list(branches)}
    checks = [{"if": {"type": t}, "then": dict(s)} for t, s in branches.items() if s]
    if checks:
        schema["allOf"] = checks
    return schema


_NAME = {"type": "string", "minLength": 1}
_REF = {name: {"$ref": f"#/$defs/{name}"} for name in (
    "action", "actions", "actionObject", "guard", "target", "transition", "transitionObject",
    "transitions", "invoke", "invokeObject", "initial", "states", "state", "tags",
)}

_HISTORY_TARGET = "target belongs to history states"

_STATE_COMMON: dict[str, Any] = {
    "id": _NAME,
    "description": {"type": "string"},
    "initial": _REF["initial"],
    "states": _REF["states"],
    "on": _REF["transitions"],
    "always": _REF["transition"],
    "after": _REF["transitions"],
    "invoke": _REF["invoke"],
    "onDone": _REF["transition"],
    "entry": _REF["actions"],
    "exit": _REF["actions"],
    "tags": _REF["tags"],
    "meta": {"type": "object"},
    "output": {},
}

#: The JSON Schema (draft 2020-12) a YAML machine must satisfy before the engine builds it.
MACHINE_YAML_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:durable-xstate:machine-yaml:1",
    "title": "durable-xstate machine (YAML)",
    "type": "object",
    "required": ["id"],
    "properties": {
        **_STATE_COMMON,
        "id": _NAME,
        "version": {"type": "string"},
        "type": {"enum": ["compound", "parallel"]},
        "context": {"type": "object"},
    },
    "additionalProperties": False,
    "$defs": {
        "actionObject": {
            "type": "object",
            "required": ["type"],
            "properties": {"type": _NAME, "params": {}},
            "additionalProperties": False,
        },
        "action": _by_type(string={"minLength": 1}, object=_REF["actionObject"]),
        "actions": _by_type(
            string={"minLength": 1}, object=_REF["actionObject"], array={"items": _REF["action"]}
        ),
        "guard": _by_type(
            string={"minLength": 1},
            object={"required": ["type"], "properties": {"type": _NAME, "params": {}}, "additionalProperties": False},
        ),
        "target": _by_type(string={}, array={"items": {"type": "string"}}),
        "transitionObject": {
            "type": "object",
            "properties": {
                "target": _REF["target"],
                "actions": _REF["actions"],
                "guard": _REF["guard"],
                "reenter": {"type": "boolean"},
                "description": {"type": "string"},
                "meta": {"type": "object"},
            },
            "additionalProperties": False,
        },
        "transition": _by_type(
            null={},
            string={},
            object=_REF["transitionObject"],
            array={"items": _by_type(string={}, object=_REF["transitionObject"])},
        ),
        "transitions": {
            "type": "object",
            "propertyNames": {"minLength": 1},
            "additionalProperties": _REF["transition"],
        },
        "invokeObject": {
            "type": "object",
            "required": ["src"],
            "properties": {
                "src": _NAME,
                "id": _NAME,
                "systemId": _NAME,
                "input": {},
                "onDone": _REF["transition"],
                "onError": _REF["transition"],
                "onSnapshot": _REF["transition"],
            },
            "additionalProperties": False,
        },
        "invoke": _by_type(object=_REF["invokeObject"], array={"items": _REF["invokeObject"]}),
        "initial": _by_type(
            string={"minLength": 1},
            object={
                "required": ["target"],
                "properties": {"target": _NAME, "actions": _REF["actions"]},
                "additionalProperties": False,
            },
        ),
        "tags": _by_type(string={}, array={"items": {"type": "string"}}),
        "states": {
            "type": "object",
            "propertyNames": {"minLength": 1},
            "additionalProperties": _REF["state"],
        },
        "state": {
            "type": "object",
            "properties": {
                **_STATE_COMMON,
                "type": {"enum": ["atomic", "compound", "parallel", "final", "history"]},
                "history": {"enum": ["shallow", "deep", True, False]},
                "target": _REF["target"],
            },
            "additionalProperties": False,
            # `history` and `target` belong to history states only
            "dependentSchemas": {"history": {"properties": {"type": {"const": "history"}}}},
            "if": {"required": ["target"], "not": {"required": ["history"]}},
            "then": {"$comment": _HISTORY_TARGET, "required": ["type"], "properties": {"type": {"const": "history"}}},
        },
    },
}

_VALIDATOR: Any = None


def _validator() -> Any:
    """The schema's validator, built on first use (jsonschema is imported only when YAML is used)."""
    global _VALIDATOR
    if _VALIDATOR is None:
        from jsonschema import Draft202012Validator

        _VALIDATOR = Draft202012Validator(MACHINE_YAML_SCHEMA)
    return _VALIDATOR


# ---------------------------------------------------------------------------------------------- parsing
def _machine_loader() -> Any:
    """The loader of :mod:`durable_xstate.yaml_loader` (with its limits), minus timestamps, refusing duplicate keys."""
    global _LOADER
    if _LOADER is None:
        base = yaml_loader()
        timestamp = "tag:yaml.org,2002:timestamp"
        merge = "tag:yaml.org,2002:merge"

        class MachineLoader(base):  # type: ignore[misc, valid-type]
            def construct_mapping(self, node: Any, deep: bool = False) -> Any:
                if isinstance(node, yaml.MappingNode):
                    seen: set[Any] = set()
                    for key_node, _ in node.value:
                        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == merge:
                            continue
                        key = self.construct_object(key_node, deep=True)
                        if key in seen:
                            raise yaml.constructor.ConstructorError(
                                None, None, f"duplicate key {key!r} in one mapping", key_node.start_mark
                            )
                        seen.add(key)
                return super().construct_mapping(node, deep=deep)

        MachineLoader.yaml_implicit_resolvers = {
            first: [(tag, regexp) for tag, regexp in resolvers if tag != timestamp]
            for first, resolvers in base.yaml_implicit_resolvers.items()
        }
        _LOADER = MachineLoader
    return _LOADER


_LOADER: Any = None


def _string_keys(value: Any) -> Any:
    """Mapping keys as JSON has them: ``1000`` -> ``"1000"``, ``true`` -> ``"true"``."""
    if isinstance(value, dict):
        return {(k if isinstance(k, str) else _key_text(k)): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    return value


def _key_text(key: Any) -> str:
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    return str(key)


def parse_machine_yaml(text: str | bytes) -> dict[str, Any]:
    """Parse and validate a YAML machine; the config as a plain dict (CreateMachineYamlError otherwise)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if not isinstance(text, str):
        raise CreateMachineYamlError("", f"expected the YAML text of a machine, got {type(text).__name__}")
    try:
        document = yaml.load(text, Loader=_machine_loader())  # a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"<yaml line {mark.line + 1}, column {mark.column + 1}>" if mark is not None else "<yaml>"
        if isinstance(err, YamlLimitError):
            raise CreateMachineYamlError(where, str(err.problem)) from None
        if isinstance(err, yaml.MarkedYAMLError) and err.problem:
            problem = f"{err.context}: {err.problem}" if err.context else err.problem
        else:
            problem = " ".join(str(err).split())
        raise CreateMachineYamlError(where, f"invalid YAML: {problem}") from None
    document = _string_keys(document)
    if isinstance(document, Mapping):
        try:
            check_config_depth(document)  # before the schema's validation, which recurses per level
        except MachineConfigError as err:
            raise CreateMachineYamlError(err.path, err.problem) from None
    errors: list[ValidationError] = list(_validator().iter_errors(document))
    if errors:
        order = _document_order(document)
        ranked = sorted(errors, key=lambda e: order.get(_location(e), len(order)))
        first = _deepest(ranked[0])
        total = len(errors)
        more = f" ({total - 1} more problem{'s' if total > 2 else ''} in .details)" if total > 1 else ""
        raise CreateMachineYamlError(
            _format_path(_location(first)), f"YAML validation error: {_describe(first)}{more}", ranked
        )
    assert isinstance(document, dict)
    return document


def _location(error: ValidationError) -> tuple[Any, ...]:
    """The instance path of an error; an unknown key's error points at the key itself."""
    path = tuple(error.absolute_path)
    if _is_history_target(error):
        return (*path[: len(path) - (error.validator == "const")], "target")
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        extra = [k for k in error.instance if k not in allowed]
        if extra and isinstance(error.validator_value, bool):
            return (*path, extra[0])
    return path


def _deepest(error: ValidationError) -> ValidationError:
    if not error.context:
        return error
    from jsonschema.exceptions import best_match

    best = best_match(error.context)
    return best if best is not None else error


def _document_order(document: Any) -> dict[tuple[Any, ...], int]:
    order: dict[tuple[Any, ...], int] = {}

    def walk(value: Any, path: tuple[Any, ...]) -> None:
        order[path] = len(order)
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, (*path, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, (*path, i))

    walk(document, ())
    return order


def _format_path(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_TYPE_NAMES = {
    "string": "a string", "object": "an object", "array": "a list", "null": "null",
    "boolean": "true or false", "integer": "an integer", "number": "a number",
}


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _is_history_target(error: ValidationError) -> bool:
    if isinstance(error.schema, Mapping) and error.schema.get("$comment") == _HISTORY_TARGET:
        return True  # the rule's `required: [type]`
    # the rule's `type: const history`
    return error.validator == "const" and error.validator_value == "history" and "then" in error.relative_schema_path


def _describe(error: ValidationError) -> str:
    v = error.validator
    value: Any = error.validator_value
    instance: Any = error.instance
    if _is_history_target(error):
        return ("'target' belongs to history states (type: history, or history: shallow/deep); a transition's "
                "target goes under 'on', 'always', 'after' or 'onDone'")
    if "propertyNames" in error.relative_schema_path:
        return f"invalid key {instance!r}" + (": a key must not be empty" if instance == "" else "")
    if v == "type":
        expected = value if isinstance(value, list) else [value]
        names = [_TYPE_NAMES.get(str(t), str(t)) for t in expected]
        if names == ["a string", "a list"] and _is_string_list_schema(error):
            wanted = "a string or a list of strings"
        else:
            wanted = ", ".join(names[:-1]) + (" or " if len(names) > 1 else "") + names[-1]
        return f"expected {wanted}, got {_kind(instance)}"
    if v == "additionalProperties" and isinstance(instance, Mapping):
        allowed = sorted(error.schema.get("properties", {})) if isinstance(error.schema, Mapping) else []
        extra = [k for k in instance if k not in allowed]
        return f"unknown key {extra[0]!r}" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    if v == "required" and isinstance(instance, Mapping):
        missing = [k for k in value if k not in instance]
        return f"missing required key {missing[0]!r}" if missing else error.message
    if v == "enum":
        options = ", ".join(json.dumps(o) for o in value)
        return f"must be one of {options}, got {json.dumps(instance, default=str)}"
    if v == "const":
        return f"must be {json.dumps(value)}, got {json.dumps(instance, default=str)}"
    if v == "minLength":
        return "must not be empty"
    message = error.message
    return message if len(message) <= 200 else message[:197] + "..."


def _is_string_list_schema(error: ValidationError) -> bool:
    checks = error.schema.get("allOf", []) if isinstance(error.schema, Mapping) else []
    return any(c.get("then", {}).get("items") == {"type": "string"} for c in checks)


# ---------------------------------------------------------------------------------------------- machine
def create_machine_yaml(
    text: str | bytes,
    *,
    actions: Mapping[str, Any] | None = None,
    guards: Mapping[str, Any] | None = None,
    delays: Mapping[str, Any] | None = None,
    actors: Mapping[str, Any] | None = None,
    log_limit: int = DEFAULT_LOG_LIMIT,
) -> StateMachine:
    """A machine from YAML text. Its context is ``{**yaml_context, **input}`` (a fresh copy per actor).

    ``updateContext`` and ``updateLogs`` (bounded to ``log_limit`` entries) are available by name.
    """
    config = parse_machine_yaml(text)
    base_context = config.get("context") or {}

    def context(args: Any) -> dict[str, Any]:
        given = args.input
        if given is None:
            given = {}
        if not isinstance(given, Mapping):
            raise InvalidArgumentType(
                f"the input of machine {config['id']!r} is merged into its context, so it must be an "
                f"object, not {type(given).__name__}"
            )
        return {**copy.deepcopy(base_context), **given}

    implementations = Implementations(
        actions={"updateContext": update_context, "updateLogs": update_logs(log_limit), **(actions or {})},
        guards=guards,
        actors=actors,
        delays=delays,
    )
    try:
        machine = StateMachine({**config, "context": context}, implementations)
        machine.check_implementations()
    except CreateMachineYamlError:
        raise
    except MachineConfigError as err:
        raise CreateMachineYamlError(err.path, err.problem) from err
    return machine
