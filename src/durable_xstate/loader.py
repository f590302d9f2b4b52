"""Loading a machine named on a command line: a JSON/YAML config file, or ``package.module:attribute``.

A config file holds either a plain machine config (the JSON Stately Studio exports) or::

    {"machine": <config>, "implementations": "package.module:attribute"}

where the attribute is a ``setup(...)`` result, an ``Implementations``, or a mapping with any of
``actions``, ``guards``, ``actors``, ``delays``. ``implementations`` may also be such a mapping whose
values are ``package.module:attribute`` references to mappings. Implementations cannot be written in
JSON (``assign``/``emit`` are Python objects), so a file either needs none or names Python that has them.

``package.module:attribute`` names a ``StateMachine`` (or a function of no arguments returning one).
The current directory is importable, as with ``python -m``.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import MachineConfigError
from .machine.limits import MAX_NESTING
from .machine.machine import Implementations, MachineSetup, StateMachine

__all__ = ["MachineLoadError", "load_machine"]

_REFERENCE = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_IMPLEMENTATION_KINDS = ("actions", "guards", "actors", "delays")
_FILE_KEYS = frozenset({"machine", "implementations", "strict"})


class MachineLoadError(MachineConfigError):
    """The machine could not be loaded: no such file, unparsable, a bad reference. ``path`` names the source."""


def load_machine(spec: str, *, check_implementations: bool = True) -> StateMachine:
    """The machine ``spec`` names (a file path or ``package.module:attribute``).

    With ``check_implementations`` every action, guard and delay the config names must have an
    implementation (MachineConfigError otherwise, naming the source and the config path); a diagram
    does not need them.
    """
    path = Path(spec)
    if path.is_file():
        machine = _from_file(path)
    elif _REFERENCE.fullmatch(spec):
        machine = _as_machine(spec, _resolve(spec, spec))
    elif path.exists():
        raise MachineLoadError(spec, "not a file")
    else:
        raise MachineLoadError(spec, "no such file, and not a package.module:attribute reference")
    if check_implementations:
        try:
            machine.check_implementations()
        except MachineConfigError as err:
            hint = ""
            if "no implementation was provided" in err.problem and path.is_file():
                hint = ' (a config file gets implementations from Python: {"machine": ..., "implementations": "package.module:attribute"})'
            raise MachineConfigError(f"{spec}: {err.path}", f"{err.problem}{hint}") from None
    return machine


def _from_file(path: Path) -> StateMachine:
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise MachineLoadError(where, f"cannot read: {err}") from None
    data = _parse(text, path)
    if not isinstance(data, Mapping):
        raise MachineLoadError(where, f"a machine file holds an object, not {type(data).__name__}")
    config: Any = data
    impl: Any = None
    strict = True
    if "machine" in data:
        unknown = set(data) - _FILE_KEYS
        if unknown:
            raise MachineLoadError(where, f"unknown key(s) {', '.join(sorted(map(str, unknown)))} next to 'machine'; "
                                          f"expected {', '.join(sorted(_FILE_KEYS))}")
        config, impl = data["machine"], data.get("implementations")
        strict = data.get("strict", True)
        if not isinstance(strict, bool):
            raise MachineLoadError(f"{where}: strict", "must be true or false")
        if not isinstance(config, Mapping):
            raise MachineLoadError(f"{where}: machine", "must be an object (a machine config)")
    implementations = _implementations(impl, where)
    try:
        return StateMachine(config, implementations, strict=strict)
    except MachineConfigError as err:
        raise MachineConfigError(f"{where}: {err.path or '<root>'}", err.problem) from None


def _parse(text: str, path: Path) -> Any:
    suffix = path.suffix.lower()
    if suffix == ".json" or (suffix not in (".yaml", ".yml") and text.lstrip().startswith(("{", "["))):
        _check_json_nesting(text, str(path))  # json.loads recurses per level
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise MachineLoadError(str(path), f"invalid JSON: {err}") from None
    import yaml  # only files need it

    from .yaml_loader import YamlLimitError, yaml_loader

    try:
        return yaml.load(text, Loader=yaml_loader())  # a SafeLoader subclass, with size limits
    except YamlLimitError as err:
        mark = err.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise MachineLoadError(str(path), f"{err.problem}{where}") from None
    except yaml.YAMLError as err:
        raise MachineLoadError(str(path), f"invalid YAML: {' '.join(str(err).split())}") from None


# A JSON string (skipped whole) or a bracket.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _check_json_nesting(text: str, where: str) -> None:
    """MachineLoadError if the JSON text nests deeper than MAX_NESTING; a scan, no recursion."""
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_NESTING:
                line = text.count("\n", 0, match.start()) + 1
                column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
                raise MachineLoadError(where, f"nested more than {MAX_NESTING} levels deep (line {line}, column "
                                              f"{column}); a machine config may nest at most {MAX_NESTING} "
                                              "(durable_xstate.machine.limits.MAX_NESTING)")
        elif token in "]}":
            depth -= 1


def _implementations(impl: Any, where: str) -> Implementations | None:
    at = f"{where}: implementations"
    if impl is None:
        return None
    if isinstance(impl, str):
        return _as_implementations(_resolve(impl, at), at)
    if isinstance(impl, Mapping):
        unknown = set(impl) - set(_IMPLEMENTATION_KINDS)
        if unknown:
            raise MachineLoadError(at, f"unknown kind(s) {', '.join(sorted(map(str, unknown)))}; "
                                       f"expected {', '.join(_IMPLEMENTATION_KINDS)}")
        tables: dict[str, Mapping[str, Any]] = {}
        for kind, ref in impl.items():
            if not isinstance(ref, str):
                raise MachineLoadError(f"{at}.{kind}", "must be a package.module:attribute reference (a JSON "
                                                        "file cannot hold Python implementations)")
            table = _resolve(ref, f"{at}.{kind}")
            if not isinstance(table, Mapping):
                raise MachineLoadError(f"{at}.{kind}", f"{ref} is a {type(table).__name__}, not a mapping of names")
            tables[kind] = table
        return Implementations(**tables)
    raise MachineLoadError(at, "must be a package.module:attribute reference or an object of them")


def _as_implementations(obj: Any, at: str) -> Implementations:
    if isinstance(obj, MachineSetup):
        return obj.implementations
    if isinstance(obj, Implementations):
        return obj
    if isinstance(obj, Mapping) and set(obj) <= set(_IMPLEMENTATION_KINDS):
        return Implementations(**obj)
    raise MachineLoadError(at, f"expected setup(...), Implementations or a mapping of {', '.join(_IMPLEMENTATION_KINDS)}; "
                               f"got {type(obj).__name__}")


def _as_machine(spec: str, obj: Any) -> StateMachine:
    if isinstance(obj, StateMachine):
        return obj
    if callable(obj):
        made = obj()
        if isinstance(made, StateMachine):
            return made
        raise MachineLoadError(spec, f"calling it returned a {type(made).__name__}, not a StateMachine")
    raise MachineLoadError(spec, f"is a {type(obj).__name__}, not a StateMachine")


def _resolve(reference: str, at: str) -> Any:
    """Import ``package.module:attribute`` (the current directory importable) and return the attribute."""
    if not _REFERENCE.fullmatch(reference):
        raise MachineLoadError(at, f"{reference!r} is not a package.module:attribute reference")
    module_name, _, attribute = reference.partition(":")
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise MachineLoadError(at, f"cannot import {module_name}: {err}") from None
    finally:
        if added:
            sys.path.remove(cwd)
    obj: Any = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise MachineLoadError(at, f"module {module_name} has no attribute {attribute}") from None
    return obj
