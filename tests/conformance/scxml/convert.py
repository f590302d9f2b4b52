#!/usr/bin/env python3
"""Convert the SCION/W3C SCXML test fixtures into oracle conformance cases.

Usage::

    python tests/conformance/scxml/convert.py FIXTURES_TEST_DIR [--out DIR] [--only GROUP ...]

``FIXTURES_TEST_DIR`` is ``<@scion-scxml/test-framework>/test`` (it holds ``<group>/<name>.scxml``
with ``<name>.json``). For every fixture that can be expressed in the oracle's case format, a case
``tests/conformance/cases/scxml/<group>/<name>.json`` is written. Its ``machine`` is the xstate
config that xstate's own converter (``packages/core/src/scxml.ts``) builds from the SCXML, so the
``value`` of the golden is comparable to the fixture's configurations:

* every state node gets an explicit ``id`` equal to its key (the SCXML id with ``.`` -> ``$``),
  the root id is ``(machine)``; targets are ``#id``; transitions get ``reenter: true`` unless
  ``type="internal"``; a transition without ``event`` becomes ``always``; ``done.state.X`` becomes
  ``xstate.done.state.X``; every event descriptor except ``*`` and ``foo.*`` gets ``.*`` appended
  (scxml.ts does that after building the machine, ``appendWildcards``);
* ``initial`` is the ``initial`` attribute, else the target of ``<initial>``, else the first child
  state (document order); ``<history>`` keeps only the first target of its default transition;
* ``<raise>`` -> ``raise``; ``<send>`` to ``#_internal`` -> ``raise`` (delay ignored, as in
  scxml.ts); ``<send>`` without target -> ``sendTo: "#_internal"`` (xstate's self target: the
  external queue) with ``delay``/``id``; ``<assign>``, ``<log>``, ``<cancel>``, ``<if>`` map to
  assign / log / cancel / enqueue; ``cond="In('x')"`` -> ``stateIn: "#x"``;
* the root ``<datamodel>`` becomes ``context``; ECMAScript expressions are translated into the
  oracle's expression language when they are simple enough (see ``Translator``).

Events: ``{"type": name}`` per fixture event, preceded by ``{"$advance": after}`` when the fixture
has ``after``. W3C fixtures (no events, expected ``["pass"]``) run to completion: when the machine
has delayed sends, ``$advance`` steps are appended and the last step is checked.

The extra key ``scxml`` carries ``group``, ``name``, ``expected`` (``[initialConfiguration,
nextConfiguration...]``), ``checkSteps`` (the oracle step whose ``value`` must match each
``expected`` entry), ``xstateEnabled`` (whether xstate's scxml.test.ts runs the fixture) and
``features`` (engine features the case needs, e.g. ``send-to-self``, ``delayed-send``,
``advance``, ``history``) and ``notes`` (places where scxml.ts, and so the case, deviates from a
literal reading of the SCXML).

Fixtures that cannot be expressed are skipped; the reasons are printed (``--report FILE`` writes
them as JSON). Standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parent / "cases" / "scxml"
DEFAULT_OVERRIDES = HERE / "overrides"
FIXTURE_PACKAGE = "@scion-scxml/test-framework@2.0.16"

JSON = Any  # a JSON value (the oracle's expression language is JSON)


class Unsupported(Exception):
    """The expression (or SCXML construct) cannot be expressed in the oracle's case format."""


# ---------------------------------------------------------------- tokenizer

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<op>===|!==|==|!=|<=|>=|&&|\|\||[-+*/%<>!()\[\]{},.:?;])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Tok:
    kind: str  # num | str | name | op | end
    text: str


def tokenize(src: str) -> list[Tok]:
    toks: list[Tok] = []
    pos = 0
    while pos < len(src):
        m = _TOKEN_RE.match(src, pos)
        if m is None:
            raise Unsupported(f"cannot tokenize JS {src!r} at {pos}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind == "ws":
            continue
        toks.append(Tok(kind, m.group()))
    # a single trailing ';' is harmless (e.g. expr="x;")
    if toks and toks[-1] == Tok("op", ";"):
        toks.pop()
    toks.append(Tok("end", ""))
    return toks


def _unquote(s: str) -> str:
    body = s[1:-1]
    out: list[str] = []
    i = 0
    simple = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt not in simple:
                raise Unsupported(f"string escape \\{nxt}")
            out.append(simple[nxt])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------- AST

Node = tuple[Any, ...]
UNDEFINED: JSON = {"var": "$undefined"}  # no such path in the oracle's scope: undefined
# ("num", float|int) ("str", s) ("bool", b) ("null",) ("name", n) ("member", obj, prop)
# ("call", callee, [args]) ("unary", op, x) ("bin", op, a, b) ("cond", c, a, b)
# ("array", [items]) ("object", [(key, value)]) ("typeof", x)

_BINARY_PREC: dict[str, int] = {
    "||": 1,
    "&&": 2,
    "==": 3,
    "!=": 3,
    "===": 3,
    "!==": 3,
    "<": 4,
    "<=": 4,
    ">": 4,
    ">=": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
    "%": 6,
}


class Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = tokenize(src)
        self.i = 0

    def peek(self) -> Tok:
        return self.toks[self.i]

    def next(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, text: str) -> None:
        t = self.next()
        if t.text != text or t.kind not in ("op",):
            raise Unsupported(f"expected {text!r} in JS {self.src!r}")

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise Unsupported("empty JS expression")
        node = self.expression()
        if self.peek().kind != "end":
            raise Unsupported(f"unsupported JS syntax in {self.src!r}")
        return node

    def expression(self) -> Node:
        cond = self.binary(1)
        if self.peek() == Tok("op", "?"):
            self.next()
            a = self.expression()
            self.expect(":")
            b = self.expression()
            return ("cond", cond, a, b)
        return cond

    def binary(self, min_prec: int) -> Node:
        left = self.unary()
        while True:
            t = self.peek()
            prec = _BINARY_PREC.get(t.text) if t.kind == "op" else None
            if prec is None or prec < min_prec:
                return left
            self.next()
            right = self.binary(prec + 1)
            left = ("bin", t.text, left, right)

    def unary(self) -> Node:
        t = self.peek()
        if t.kind == "op" and t.text in ("!", "-", "+"):
            self.next()
            return ("unary", t.text, self.unary())
        if t == Tok("name", "typeof"):
            self.next()
            return ("typeof", self.unary())
        if t.kind == "name" and t.text in ("new", "delete", "void", "function", "in", "instanceof"):
            raise Unsupported(f"JS keyword {t.text!r}")
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            t = self.peek()
            if t == Tok("op", "."):
                self.next()
                name = self.next()
                if name.kind != "name":
                    raise Unsupported(f"bad member access in {self.src!r}")
                node = ("member", node, name.text)
            elif t == Tok("op", "["):
                self.next()
                key = self.expression()
                self.expect("]")
                if key[0] == "str":
                    node = ("member", node, key[1])
                elif key[0] == "num" and isinstance(key[1], int):
                    node = ("member", node, str(key[1]))
                else:
                    raise Unsupported(f"computed member access in {self.src!r}")
            elif t == Tok("op", "("):
                self.next()
                args: list[Node] = []
                if self.peek() != Tok("op", ")"):
                    args.append(self.expression())
                    while self.peek() == Tok("op", ","):
                        self.next()
                        args.append(self.expression())
                self.expect(")")
                node = ("call", node, args)
            else:
                return node

    def primary(self) -> Node:
        t = self.next()
        if t.kind == "num":
            v = float(t.text)
            return ("num", int(v) if v.is_integer() and "e" not in t.text.lower() else v)
        if t.kind == "str":
            return ("str", _unquote(t.text))
        if t.kind == "name":
            if t.text in ("true", "false"):
                return ("bool", t.text == "true")
            if t.text == "null":
                return ("null",)
            return ("name", t.text)
        if t == Tok("op", "("):
            e = self.expression()
            self.expect(")")
            return e
        if t == Tok("op", "["):
            items: list[Node] = []
            while self.peek() != Tok("op", "]"):
                items.append(self.expression())
                if self.peek() == Tok("op", ","):
                    self.next()
                elif self.peek() != Tok("op", "]"):
                    raise Unsupported(f"bad array literal in {self.src!r}")
            self.next()
            return ("array", items)
        if t == Tok("op", "{"):
            pairs: list[tuple[str, Node]] = []
            while self.peek() != Tok("op", "}"):
                k = self.next()
                if k.kind == "str":
                    key = _unquote(k.text)
                elif k.kind in ("name", "num"):
                    key = k.text
                else:
                    raise Unsupported(f"bad object literal in {self.src!r}")
                self.expect(":")
                pairs.append((key, self.expression()))
                if self.peek() == Tok("op", ","):
                    self.next()
                elif self.peek() != Tok("op", "}"):
                    raise Unsupported(f"bad object literal in {self.src!r}")
            self.next()
            return ("object", pairs)
        raise Unsupported(f"unsupported JS syntax {t.text!r} in {self.src!r}")


def parse_js(src: str) -> Node:
    return Parser(src).parse()


# ---------------------------------------------------------------- constants


def constant_value(node: Node) -> Any:
    """The JSON value of a constant JS literal, or raise Unsupported."""
    kind = node[0]
    if kind in ("num", "str", "bool"):
        return node[1]
    if kind == "null":
        return None
    if kind == "unary" and node[1] == "-" and node[2][0] == "num":
        return -node[2][1]
    if kind == "array":
        return [constant_value(x) for x in node[1]]
    if kind == "object":
        return {k: constant_value(v) for k, v in node[1]}
    raise Unsupported("datamodel value is not a constant literal")


def js_type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "num"
    if isinstance(value, str):
        return "str"
    if value is None:
        return "null"
    return "obj"


# ---------------------------------------------------------------- translation


@dataclass
class Scope:
    """What identifiers mean: the root datamodel's variables and their (initial) JS types."""

    variables: dict[str, str] = field(default_factory=dict)  # name -> num|str|bool|obj|unknown


class Translator:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def translate(self, src: str) -> JSON:
        expr, _ = self.node(parse_js(src))
        return expr

    # returns (expression, static type)
    def node(self, n: Node) -> tuple[JSON, str]:
        kind = n[0]
        if kind in ("num", "str", "bool"):
            return n[1], js_type_of(n[1])
        if kind == "null":
            return None, "null"
        if kind == "name":
            return self.name(n[1])
        if kind == "member":
            return self.member(n)
        if kind == "array":
            return [self.node(x)[0] for x in n[1]], "obj"
        if kind == "object":
            return {"obj": [[k, self.node(v)[0]] for k, v in n[1]]}, "obj"
        if kind == "unary":
            return self.unary(n[1], n[2])
        if kind == "bin":
            return self.binary(n[1], n[2], n[3])
        if kind == "cond":
            c, _ = self.node(n[1])
            a, ta = self.node(n[2])
            b, tb = self.node(n[3])
            return {"if": [c, a, b]}, ta if ta == tb else "unknown"
        if kind == "call":
            return self.call(n[1], n[2])
        if kind == "typeof":
            raise Unsupported("typeof outside `typeof x === 'undefined'`")
        raise Unsupported(f"unsupported JS node {kind}")

    def name(self, name: str) -> tuple[JSON, str]:
        if name in self.scope.variables:
            return {"var": f"context.{name}"}, self.scope.variables[name]
        if name == "undefined":
            return UNDEFINED, "undef"
        if name == "_sessionid":
            # scxml.ts declares `const _sessionid = "NOT_IMPLEMENTED";`
            return "NOT_IMPLEMENTED", "str"
        if name == "_event":
            return (
                {"obj": [["name", {"var": "event.type"}], ["data", {"var": "event"}]]},
                "obj",
            )
        raise Unsupported(f"unknown JS identifier {name!r}")

    def member(self, n: Node) -> tuple[JSON, str]:
        path: list[str] = []
        cur = n
        while cur[0] == "member":
            path.insert(0, cur[2])
            cur = cur[1]
        if cur[0] != "name":
            raise Unsupported("member access on a non-identifier")
        root = cur[1]
        if any(p in ("length", "constructor", "prototype", "__proto__") for p in path):
            raise Unsupported(f"JS built-in property in {'.'.join([root, *path])}")
        if root == "_event":
            head, rest = path[0], path[1:]
            if head == "name" and not rest:
                return {"var": "event.type"}, "str"
            if head == "data":
                return {"var": ".".join(["event", *rest])}, "unknown"
            if not rest:
                # scxml.ts binds `_event` to {name, data}: every other field is undefined
                return UNDEFINED, "undef"
            raise Unsupported(f"_event.{head}.{'.'.join(rest)} reads a property of undefined")
        if root in self.scope.variables:
            return {"var": ".".join(["context", root, *path])}, "unknown"
        raise Unsupported(f"unknown JS identifier {root!r}")

    def call(self, callee: Node, args: list[Node]) -> tuple[JSON, str]:
        # Math.pow(x, n) with a small non-negative integer literal n -> x * x * ... (exact for
        # the integer values the fixtures use)
        if (
            callee == ("member", ("name", "Math"), "pow")
            and len(args) == 2
            and args[1][0] == "num"
            and isinstance(args[1][1], int)
            and 0 <= args[1][1] <= 8
        ):
            base, _ = self.node(args[0])
            exp = args[1][1]
            if exp == 0:
                return 1, "num"
            if exp == 1:
                return {"+": [base]}, "num"
            return {"*": [base] * exp}, "num"
        raise Unsupported("JS function call")

    def unary(self, op: str, x: Node) -> tuple[JSON, str]:
        if op == "-" and x[0] == "num":
            return -x[1], "num"
        e, t = self.node(x)
        if op == "!":
            return {"!": e}, "bool"
        if op == "-":
            if t not in ("num", "unknown"):
                raise Unsupported("unary minus on a non-number")
            return {"-": [e]}, "num"
        raise Unsupported(f"unary {op}")

    def binary(self, op: str, a: Node, b: Node) -> tuple[JSON, str]:
        if op in ("===", "!==", "==", "!=") and (a[0] == "typeof" or b[0] == "typeof"):
            operand, other = (a[1], b) if a[0] == "typeof" else (b[1], a)
            if other != ("str", "undefined"):
                raise Unsupported("typeof compared with something else than 'undefined'")
            # `typeof x === 'undefined'` -> x == undefined (the oracle's == compares JSON
            # encodings, and only undefined encodes to undefined)
            e, _ = self.node(operand)
            return {"==" if op in ("===", "==") else "!=": [e, UNDEFINED]}, "bool"
        ea, ta = self.node(a)
        eb, tb = self.node(b)
        if op == "&&":
            return {"and": [ea, eb]}, ta if ta == tb else "unknown"
        if op == "||":
            return {"or": [ea, eb]}, ta if ta == tb else "unknown"
        if op == "+":
            if "str" in (ta, tb):
                if "obj" in (ta, tb) or "mixed" in (ta, tb):
                    raise Unsupported(f"string + {ta if tb == 'str' else tb}")
                # `cat` would drop undefined; JS writes "undefined"
                if ta == "undef":
                    ea = "undefined"
                if tb == "undef":
                    eb = "undefined"
                parts: list[JSON] = []
                for e in (ea, eb):
                    if isinstance(e, dict) and list(e) == ["cat"]:
                        parts.extend(e["cat"])
                    else:
                        parts.append(e)
                return {"cat": parts}, "str"
            if ta in ("num", "unknown", "bool") and tb in ("num", "unknown", "bool"):
                return {"+": [ea, eb]}, "num"
            raise Unsupported(f"JS + on {ta} and {tb}")
        if op in ("-", "*", "/", "%"):
            if ta not in ("num", "unknown") or tb not in ("num", "unknown"):
                raise Unsupported(f"JS {op} on {ta} and {tb}")
            return {op: [ea, eb]}, "num"
        if op in ("<", "<=", ">", ">="):
            return {op: [ea, eb]}, "bool"
        if op in ("===", "!=="):
            if "obj" in (ta, tb) or "mixed" in (ta, tb):
                raise Unsupported("identity comparison of objects (or a mixed-type variable)")
            return {"==" if op == "===" else "!=": [ea, eb]}, "bool"
        if op in ("==", "!="):
            # loose equality equals strict equality when both sides have the same primitive
            # type; refuse when the types are known to differ or may be null/undefined
            if "obj" in (ta, tb) or "null" in (ta, tb) or "mixed" in (ta, tb):
                raise Unsupported("loose equality with an object, null or a mixed-type variable")
            if "undef" in (ta, tb) and "unknown" in (ta, tb):
                raise Unsupported("loose equality with undefined (null == undefined in JS)")
            if "undef" in (ta, tb):
                pass  # undefined == <number|string|boolean> is false, as is the oracle's ==
            elif ta != "unknown" and tb != "unknown" and ta != tb:
                raise Unsupported("loose equality between different types")
            return {op: [ea, eb]}, "bool"
        raise Unsupported(f"JS operator {op}")


# ---------------------------------------------------------------- xstate's enabled fixtures

# The fixtures that packages/core/test/scxml.test.ts runs (its `testGroups`, commented-out
# entries omitted). Only used to label the cases (`scxml.xstateEnabled`).
_XSTATE_ENABLED_SRC: dict[str, str] = {
    "actionSend": "send1 send2 send3 send4 send4b send7 send7b send8 send8b send9",
    "assign-current-small-step": "test0 test1 test2 test3 test4",
    "basic": "basic0 basic1 basic2",
    "cond-js": "test0 test1 test2 TestConditionalTransition",
    "default-initial-state": "initial1 initial2",
    "delayedSend": "send1 send2 send3",
    "documentOrder": "documentOrder0",
    "hierarchy": "hier0 hier1 hier2",
    "hierarchy+documentOrder": "test0 test1",
    "history": "history0 history1 history2 history3 history4 history4b history5 history6",
    "if-else": "test0",
    "in": "TestInPredicate",
    "internal-transitions": "test0 test1",
    "more-parallel": (
        "test0 test1 test2 test2b test3 test3b test4 test5 test6 test6b test7 test8 test9 "
        "test10 test10b"
    ),
    "multiple-events-per-transition": "test1",
    "parallel": "test0 test1 test2 test3",
    "parallel+interrupt": (
        "test0 test1 test2 test3 test4 test5 test6 test7 test7b test8 test9 test10 test11 "
        "test12 test13 test14 test15 test16 test17 test18 test19 test20 test21 test21b "
        "test21c test22 test23 test24 test25 test27 test28 test29 test30 test31"
    ),
    "targetless-transition": "test0 test1 test2 test3",
    "w3c-ecma": (
        "test144.txml test147.txml test148.txml test149.txml test158.txml test172.txml "
        "test173.txml test174.txml test175.txml test176.txml test185.txml test186.txml "
        "test187.txml test189.txml test190.txml test191.txml test192.txml test193.txml "
        "test200.txml test201.txml test205.txml test208.txml test220.txml test232.txml "
        "test235.txml test237.txml test247.txml test287.txml test318.txml test333.txml "
        "test335.txml test336.txml test337.txml test339.txml test342.txml test347.txml "
        "test348.txml test349.txml test355.txml test372.txml test375.txml test377.txml "
        "test387.txml test396.txml test399.txml test403a.txml test403b.txml test403c.txml "
        "test404.txml test405.txml test406.txml test407.txml test416.txml test417.txml "
        "test419.txml test421.txml test423.txml test445.txml test449.txml test453.txml "
        "test495.txml test503.txml test504.txml test505.txml test560.txml test570.txml"
    ),
}
XSTATE_ENABLED: dict[str, frozenset[str]] = {
    group: frozenset(names.split()) for group, names in _XSTATE_ENABLED_SRC.items()
}


# ---------------------------------------------------------------- SCXML -> xstate config

STATE_TAGS = ("state", "parallel", "final", "history")


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def kids(el: ET.Element, *names: str) -> list[ET.Element]:
    out = [c for c in el if isinstance(c.tag, str)]
    if names:
        out = [c for c in out if local(c.tag) in names]
    return out


def has_text(el: ET.Element) -> bool:
    """xml-js turns non-blank text into a child element (which scxml.ts cannot map)."""
    if el.text and el.text.strip():
        return True
    return any(c.tail and c.tail.strip() for c in el)


def has_child_nodes(el: ET.Element) -> bool:
    return bool(kids(el)) or has_text(el)


def sanitize_state_id(state_id: str) -> str:
    return state_id.replace(".", "$")


def delay_to_ms(delay: str | int | float | None) -> int | float | None:
    """Mirror of scxml.ts `delayToMs`."""
    if not delay:
        return None
    if isinstance(delay, int | float):
        return delay
    m = re.search(r"(\d+)ms", delay)
    if m:
        return int(m.group(1))
    m = re.search(r"(\d*)(\.?)(\d+)s", delay)
    if m:
        if not m.group(2):
            return int(m.group(3)) * 1000
        seconds = int(m.group(1)) * 1000 if m.group(1) else 0
        millis = int(m.group(3).ljust(3, "0"))
        if millis >= 1000:
            raise Unsupported(f"delay {delay!r} cannot be parsed by scxml.ts")
        return seconds + millis
    raise Unsupported(f"delay {delay!r} cannot be parsed by scxml.ts")


def js_type_join(a: str, b: str) -> str:
    if a == b or b == "undef":
        return a
    if a == "undef":
        return b
    if "mixed" in (a, b):
        return "mixed"
    if "unknown" in (a, b):
        return "unknown"
    return "mixed"


@dataclass
class Converter:
    """Builds one case: machine config plus named implementations."""

    scope: Scope
    actions: dict[str, JSON] = field(default_factory=dict)
    guards: dict[str, JSON] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    delays: list[int | float] = field(default_factory=list)
    if_count: int = 0

    def __post_init__(self) -> None:
        self.js = Translator(self.scope)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    # -- implementations

    def add_action(self, name: str, spec: JSON) -> str:
        base, n = name, 1
        while name in self.actions and self.actions[name] != spec:
            n += 1
            name = f"{base} #{n}"
        self.actions[name] = spec
        return name

    def guard(self, cond: str) -> JSON:
        """A transition `cond` as scxml.ts converts it."""
        if cond.startswith("In"):
            m = re.match(r"^In\('(.*)'\)", cond.strip())
            if not m:
                # scxml.ts leaves the transition unguarded when the regex does not match
                self.note(f"cond {cond!r} is dropped by scxml.ts (In() regex does not match)")
                return None
            return {"stateIn": f"#{m.group(1)}"}
        if cond.startswith("!In"):
            m = re.match(r"^!In\('(.*)'\)", cond.strip())
            if not m:
                self.note(f"cond {cond!r} is dropped by scxml.ts (!In() regex does not match)")
                return None
            return {"not": {"stateIn": f"#{m.group(1)}"}}
        return self.named_guard(cond)

    def named_guard(self, cond: str) -> str:
        if re.search(r"\bIn\s*\(", cond):
            raise Unsupported(
                f"In() in the JS condition {cond!r}: scxml.ts only converts a transition cond "
                "that starts with In(); elsewhere In is an undefined JS function"
            )
        expr = self.js.translate(cond)
        name = cond.strip()
        if name in self.guards and self.guards[name] != expr:
            raise Unsupported(f"guard name clash for {name!r}")
        self.guards[name] = expr
        return name

    # -- executable content

    def map_actions(self, elements: list[ET.Element]) -> list[str]:
        return [self.map_action(e) for e in elements]

    def container_actions(self, el: ET.Element) -> list[str]:
        if has_text(el):
            raise Unsupported(f"text inside <{local(el.tag)}> (scxml.ts cannot map text nodes)")
        return self.map_actions(kids(el))

    def event_expr(self, el: ET.Element) -> JSON:
        """The event of a <send>: {type, params...}."""
        event = el.get("event")
        eventexpr = el.get("eventexpr")
        params: list[tuple[str, JSON]] = []
        for child in kids(el):
            cname = local(child.tag)
            if cname == "content":
                raise Unsupported("<content> inside <send> (scxml.ts throws)")
            if cname != "param":
                raise Unsupported(f"<{cname}> inside <send>")
            pname = child.get("name")
            pexpr = child.get("expr")
            if pname is None or pexpr is None or not re.fullmatch(r"[A-Za-z_$][\w$]*", pname):
                raise Unsupported("<param> without name/expr (scxml.ts builds `name:undefined`)")
            params.append((pname, self.js.translate(pexpr)))
        if has_text(el):
            raise Unsupported("text inside <send>")
        if event is not None:
            type_expr: JSON = event
        elif eventexpr is not None:
            type_expr = self.js.translate(eventexpr)
        else:
            raise Unsupported("<send> without event/eventexpr")
        if el.get("namelist") is not None:
            self.note("<send namelist> is ignored by scxml.ts")
        if not params and isinstance(type_expr, str):
            return {"type": type_expr}
        return {"obj": [["type", type_expr], *[[k, v] for k, v in params]]}

    def map_action(self, el: ET.Element) -> str:
        name = local(el.tag)
        if name == "raise":
            event = el.get("event")
            if event is None:
                raise Unsupported("<raise> without event")
            return self.add_action(f"raise {event}", {"raise": {"type": event}})
        if name == "assign":
            location = el.get("location")
            expr = el.get("expr")
            if location is None or location.strip() not in self.scope.variables:
                raise Unsupported(
                    f"<assign location={location!r}> is not a root datamodel variable "
                    "(scxml.ts only assigns top-level context keys)"
                )
            if expr is None:
                raise Unsupported("<assign> without expr (scxml.ts ignores child content)")
            location = location.strip()
            assigned = self.js.translate(expr)
            return self.add_action(
                f"assign {location} = {expr.strip()}", {"assign": {location: assigned}}
            )
        if name == "log":
            label = el.get("label")
            expr = el.get("expr")
            if expr is None:
                value: JSON = UNDEFINED  # `return undefined;`
            else:
                try:
                    value = self.js.translate(expr)
                except Unsupported as e:
                    value = {"lit": f"<untranslated JS: {expr}>"}
                    self.note(
                        f"<log expr={expr!r}> replaced by a literal ({e}); logs do not affect configurations"
                    )
            spec: dict[str, JSON] = {"log": value}
            if label is not None:
                spec["label"] = label
            return self.add_action(f"log {label or ''}: {expr or ''}".strip(), spec)
        if name == "cancel":
            sendid = el.get("sendid")
            if sendid is None:
                sexpr = el.get("sendidexpr")
                if sexpr is None:
                    raise Unsupported("<cancel> without sendid")
                try:
                    sendid = constant_value(parse_js(sexpr))
                except Unsupported as e:
                    raise Unsupported(f"<cancel sendidexpr={sexpr!r}> is not a constant") from e
                if not isinstance(sendid, str):
                    raise Unsupported("<cancel sendidexpr> is not a constant string")
                self.note(f"<cancel sendidexpr={sexpr!r}> folded to the constant {sendid!r}")
            return self.add_action(f"cancel {sendid}", {"cancel": sendid})
        if name == "send":
            return self.map_send(el)
        if name == "if":
            return self.map_if(el)
        raise Unsupported(f"<{name}> in executable content (scxml.ts throws)")

    def map_send(self, el: ET.Element) -> str:
        target = el.get("target")
        ev = self.event_expr(el)
        label = el.get("event") or el.get("eventexpr") or ""
        if target == "#_internal":
            if el.get("delay") or el.get("delayexpr"):
                self.note(
                    "delay of <send target='#_internal'> is ignored by scxml.ts (plain raise)"
                )
            return self.add_action(f"send {label} to #_internal", {"raise": ev})
        if target is not None:
            raise Unsupported(f"<send target={target!r}> (needs other actors)")
        if el.get("targetexpr") is not None:
            self.note("<send targetexpr> is ignored by scxml.ts (sends to itself)")
        if el.get("idlocation") is not None:
            self.note("<send idlocation> is ignored by scxml.ts")
        spec: dict[str, JSON] = {"sendTo": "#_internal", "event": ev}
        desc = f"send {label}"
        delay: int | float | None = None
        if "delay" in el.attrib:
            delay = delay_to_ms(el.get("delay"))
        elif el.get("delayexpr"):
            try:
                raw = constant_value(parse_js(el.get("delayexpr") or ""))
            except Unsupported as e:
                raise Unsupported(
                    f"<send delayexpr={el.get('delayexpr')!r}> is not a constant "
                    "(delayToMs of a runtime string is not expressible)"
                ) from e
            if not isinstance(raw, str | int | float) or isinstance(raw, bool):
                raise Unsupported("<send delayexpr> is not a constant")
            delay = delay_to_ms(raw)
            self.note(f"<send delayexpr={el.get('delayexpr')!r}> folded to {delay} ms")
        if delay is not None:
            spec["delay"] = delay
            self.delays.append(delay)
            desc += f" after {delay}ms"
        send_id = el.get("id")
        if send_id is not None:
            spec["id"] = send_id
            desc += f" id={send_id}"
        return self.add_action(desc, spec)

    def map_if(self, el: ET.Element) -> str:
        cond = el.get("cond")
        if cond is None:
            raise Unsupported("<if> without cond")
        branches: list[tuple[str | None, list[str]]] = []
        current: tuple[str | None, list[str]] = (self.named_guard(cond), [])
        for child in kids(el):
            cname = local(child.tag)
            if cname == "elseif":
                branches.append(current)
                c = child.get("cond")
                if c is None:
                    raise Unsupported("<elseif> without cond")
                current = (self.named_guard(c), [])
            elif cname == "else":
                branches.append(current)
                current = (None, [])
            else:
                current[1].append(self.map_action(child))
        if has_text(el):
            raise Unsupported("text inside <if>")
        branches.append(current)
        steps: list[JSON] = []
        for guard, acts in reversed(branches):
            if guard is None:
                steps = list(acts)
            else:
                steps = [{"if": guard, "then": list(acts), "else": steps}]
        self.if_count += 1
        return self.add_action(f"if {cond.strip()} #{self.if_count}", {"enqueue": steps})

    # -- states

    def transition(self, el: ET.Element) -> dict[str, JSON]:
        config: dict[str, JSON] = {}
        target = el.get("target")
        if target:
            config["target"] = [f"#{sanitize_state_id(t)}" for t in re.split(r"\s+", target)]
        if has_child_nodes(el):
            config["actions"] = self.container_actions(el)
        cond = el.get("cond")
        if cond:
            g = self.guard(cond)
            if g is not None:
                config["guard"] = g
        if el.get("type") != "internal":
            config["reenter"] = True
        return config

    def state(self, el: ET.Element, state_id: str) -> dict[str, JSON]:
        name = local(el.tag)
        parallel = name == "parallel"
        initial = None if parallel else el.get("initial")

        if name == "history":
            config: dict[str, JSON] = {"id": state_id, "history": el.get("type") or "shallow"}
            if not has_child_nodes(el):
                return config
            trans = kids(el, "transition")
            if not trans:
                raise Unsupported("<history> without a default <transition> (scxml.ts crashes)")
            if has_child_nodes(trans[0]):
                self.note(
                    "executable content of a <history> default transition is ignored by scxml.ts"
                )
            target = trans[0].get("target")
            if target:
                config["target"] = f"#{sanitize_state_id(target)}"
            return config

        if not has_child_nodes(el):
            config = {"id": state_id}
            if name == "final":
                config["type"] = "final"
            return config

        if has_text(el):
            raise Unsupported(f"text inside <{name}> (scxml.ts cannot map text nodes)")
        if kids(el, "invoke"):
            raise Unsupported("<invoke> (needs child actors)")
        if name != "scxml" and kids(el, "datamodel"):
            raise Unsupported("nested <datamodel> (scxml.ts only reads the root datamodel)")
        if kids(el, "donedata"):
            self.note("<donedata> is ignored by scxml.ts")

        state_elements = kids(el, *STATE_TAGS)
        states: dict[str, ET.Element] = {}
        for child in state_elements:
            states[sanitize_state_id(str(child.get("id", "undefined")))] = child

        initial_elements = [] if initial else kids(el, "initial")
        if initial_elements and has_child_nodes(initial_elements[0]):
            trans = kids(initial_elements[0], "transition")
            if not trans:
                raise Unsupported("<initial> without <transition> (scxml.ts crashes)")
            if has_child_nodes(trans[0]):
                self.note("executable content of an <initial> transition is ignored by scxml.ts")
            initial = trans[0].get("target")
        elif not initial and not initial_elements and state_elements:
            initial = state_elements[0].get("id")

        always: list[JSON] = []
        on: dict[str, list[JSON]] = {}
        for t_el in kids(el, "transition"):
            config_t = self.transition(t_el)
            for event_type in re.split(r"\s+", t_el.get("event") or ""):
                if event_type == "":
                    always.append(config_t)
                    continue
                if re.match(r"^done\.state(\.|$)", event_type):
                    event_type = f"xstate.{event_type}"
                elif re.match(r"^done\.invoke(\.|$)", event_type):
                    event_type = re.sub(r"^done\.invoke", "xstate.done.actor", event_type)
                on.setdefault(event_type, []).append(config_t)
        # appendWildcards: `foo` becomes `foo.*` afterwards, replacing (in place) the
        # transitions of an explicit `foo.*` written earlier in the same state
        wildcarded: dict[str, list[JSON]] = {}
        for descriptor, transitions in on.items():
            if descriptor != "*" and not descriptor.endswith(".*"):
                if f"{descriptor}.*" in on:
                    self.note(
                        f"transitions on {descriptor}.* are replaced by those on {descriptor} "
                        "(scxml.ts appendWildcards)"
                    )
                descriptor = f"{descriptor}.*"
            wildcarded[descriptor] = transitions
        on = wildcarded

        entry: list[str] = []
        for oe in kids(el, "onentry"):
            if not has_child_nodes(oe):
                raise Unsupported("empty <onentry> (scxml.ts crashes on it)")
            entry.extend(self.container_actions(oe))
        exit_: list[str] = []
        for ox in kids(el, "onexit"):
            if not has_child_nodes(ox):
                raise Unsupported("empty <onexit> (scxml.ts crashes on it)")
            exit_.extend(self.container_actions(ox))

        config = {"id": sanitize_state_id(state_id)}
        if initial:
            resolved = str(initial).split(" ")
            if len(resolved) > 1:
                raise Unsupported(f"multiple initial states {initial!r} (scxml.ts throws)")
            first = sanitize_state_id(resolved[0])
            if first not in states:
                raise Unsupported(f"deep initial state {initial!r} (xstate needs a child key)")
            config["initial"] = first
        if parallel:
            config["type"] = "parallel"
        if name == "final":
            config["type"] = "final"
        if states:
            config["states"] = {key: self.state(child, key) for key, child in states.items()}
        if on:
            config["on"] = on
        if always:
            config["always"] = always
        if entry:
            config["entry"] = entry
        if exit_:
            config["exit"] = exit_
        return config


def datamodel(root: ET.Element) -> tuple[dict[str, JSON] | None, Scope, list[str]]:
    """The root <datamodel> as xstate context; scxml.ts `eval`s each <data expr>."""
    notes: list[str] = []
    dms = kids(root, "datamodel")
    if not dms:
        return None, Scope(), notes
    context: dict[str, JSON] = {}
    scope = Scope()
    for data in kids(dms[0], "data"):
        data_id = data.get("id")
        if data_id is None:
            raise Unsupported("<data> without id")
        if data.get("src") is not None:
            raise Unsupported("<data src> (scxml.ts throws)")
        expr = data.get("expr")
        if has_child_nodes(data):
            notes.append(
                f"inline content of <data id={data_id!r}> is ignored by scxml.ts (undefined)"
            )
        if expr is None or expr.strip() in ("_sessionid", "undefined"):
            # undefined: the key is absent from the JSON context
            scope.variables[data_id] = "undef"
            continue
        try:
            value = constant_value(parse_js(expr))
        except Unsupported as e:
            raise Unsupported(f"<data id={data_id!r} expr={expr!r}> is not a constant ({e})") from e
        context[data_id] = value
        scope.variables[data_id] = js_type_of(value)
    return context, scope, notes


def infer_types(root: ET.Element, scope: Scope) -> None:
    """Widen each variable's static type with the types of the values assigned to it."""
    assigns = [
        (a.get("location", "").strip(), a.get("expr"))
        for a in root.iter()
        if isinstance(a.tag, str) and local(a.tag) == "assign"
    ]
    for _ in range(4):
        changed = False
        for location, expr in assigns:
            if location not in scope.variables or expr is None:
                continue
            try:
                _, t = Translator(scope).node(parse_js(expr))
            except Unsupported:
                t = "mixed"
            joined = js_type_join(scope.variables[location], t)
            if joined != scope.variables[location]:
                scope.variables[location] = joined
                changed = True
        if not changed:
            return


# ---------------------------------------------------------------- fixtures -> cases


@dataclass
class Fixture:
    group: str
    name: str
    scxml: Path
    expectation: Path


def find_fixtures(test_dir: Path, overrides: Path | None) -> list[Fixture]:
    out: list[Fixture] = []
    for group_dir in sorted(p for p in test_dir.iterdir() if p.is_dir()):
        for scxml in sorted(group_dir.glob("*.scxml")):
            name = scxml.name[: -len(".scxml")]
            expectation = group_dir / f"{name}.json"
            if not expectation.exists():
                continue
            source = scxml
            if overrides is not None:
                candidate = overrides / group_dir.name / scxml.name
                if candidate.exists():
                    source = candidate
            out.append(Fixture(group_dir.name, name, source, expectation))
    return out


def advance_plan(delays: list[int | float]) -> list[int]:
    """$advance steps that let a W3C test's delayed sends fire in order (runs to completion)."""
    ints = [int(d) for d in delays if d and d > 0]
    if not ints:
        return []
    step = 0
    for d in ints:
        step = math.gcd(step, d)
    total = 2 * sum(ints)
    while total // step > 40:
        step *= 2
    return [step] * max(1, -(-total // step))


def features(machine: JSON, actions: dict[str, JSON], events: list[JSON]) -> list[str]:
    """Engine features a case needs (lets the engine's test suite select cases)."""
    found: set[str] = set()

    def walk(node: JSON) -> None:
        if "history" in node:
            found.add("history")
        if node.get("type") == "parallel":
            found.add("parallel")
        if node.get("type") == "final":
            found.add("final")
        if "always" in node:
            found.add("always")
        for transitions in [*node.get("on", {}).values(), node.get("always", [])]:
            for t in transitions:
                if isinstance(t.get("guard"), dict):
                    found.add("stateIn")
                elif "guard" in t:
                    found.add("guard")
                if "target" not in t:
                    found.add("targetless")
                if "reenter" not in t:
                    found.add("internal-transition")
        for child in node.get("states", {}).values():
            walk(child)

    walk(machine)
    if "context" in machine:
        found.add("context")
    for spec in actions.values():
        if "sendTo" in spec:
            found.add("delayed-send" if "delay" in spec else "send-to-self")
        for key in ("raise", "assign", "log", "cancel", "enqueue"):
            if key in spec:
                found.add(key)
    if any("$advance" in e for e in events):
        found.add("advance")
    return sorted(found)


def convert(fixture: Fixture) -> dict[str, JSON]:
    text = fixture.scxml.read_text(encoding="utf-8")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise Unsupported(f"XML parse error: {e}") from e
    if local(root.tag) != "scxml":
        raise Unsupported("root element is not <scxml>")
    if re.search(r"<[A-Za-z_][\w.-]*:[A-Za-z_]", re.sub(r"<!--.*?-->", "", text, flags=re.S)):
        # xml-js keeps prefixes in element names, so scxml.ts finds no <scxml> element
        raise Unsupported("namespace-prefixed element names (scxml.ts cannot find <ns:scxml>)")
    expectation = json.loads(fixture.expectation.read_text(encoding="utf-8"))

    context, scope, notes = datamodel(root)
    infer_types(root, scope)
    conv = Converter(scope)
    for n in notes:
        conv.note(n)
    machine = conv.state(root, "(machine)")
    if context is not None:
        machine["context"] = context

    expected: list[list[str]] = [list(expectation["initialConfiguration"])]
    events: list[JSON] = []
    check_steps = [0]
    for ev in expectation["events"]:
        after = ev.get("after")
        if after:
            events.append({"$advance": after})
        events.append({"type": ev["event"]["name"]})
        expected.append(list(ev["nextConfiguration"]))
        check_steps.append(len(events))
    w3c_style = not expectation["events"] and expectation["initialConfiguration"] == ["pass"]
    if w3c_style:
        # xstate's runner lets the actor run to completion (real timers): advance the clock
        events.extend({"$advance": ms} for ms in advance_plan(conv.delays))
        check_steps = [len(events)]

    case: dict[str, JSON] = {
        "description": (
            f"{FIXTURE_PACKAGE} test/{fixture.group}/{fixture.name}.scxml"
            " (converted as xstate's packages/core/src/scxml.ts does)"
        ),
        "machine": machine,
    }
    implementations: dict[str, JSON] = {}
    if conv.actions:
        implementations["actions"] = conv.actions
    if conv.guards:
        implementations["guards"] = conv.guards
    if implementations:
        case["implementations"] = implementations
    case["events"] = events
    case["scxml"] = {
        "group": fixture.group,
        "name": fixture.name,
        "expected": expected,
        "checkSteps": check_steps,
        "runToCompletion": w3c_style,
        "xstateEnabled": fixture.name in XSTATE_ENABLED.get(fixture.group, frozenset()),
        "override": fixture.scxml.is_relative_to(DEFAULT_OVERRIDES),
        "features": features(machine, conv.actions, events),
        "notes": conv.notes,
    }
    return case


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("fixtures", type=Path, help="<@scion-scxml/test-framework>/test")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (cases/scxml)")
    ap.add_argument("--only", nargs="*", default=None, help="only these groups")
    ap.add_argument(
        "--no-overrides",
        action="store_true",
        help="do not use xstate's fixture overrides in scxml/overrides/",
    )
    ap.add_argument("--report", type=Path, default=None, help="write converted/skipped as JSON")
    args = ap.parse_args(argv)

    fixtures = find_fixtures(args.fixtures, None if args.no_overrides else DEFAULT_OVERRIDES)
    if args.only:
        fixtures = [f for f in fixtures if f.group in args.only]
    converted: dict[str, list[str]] = {}
    skipped: dict[str, dict[str, str]] = {}
    written: set[Path] = set()
    for fx in fixtures:
        try:
            case = convert(fx)
        except Unsupported as e:
            skipped.setdefault(fx.group, {})[fx.name] = str(e)
            continue
        dest = args.out / fx.group / f"{fx.name}.json"
        dest.parent.mkdir(parents=True, exist_ok=True)
        with dest.open("w", encoding="utf-8") as fh:
            json.dump(case, fh, indent=1, ensure_ascii=False)
            fh.write("\n")
        converted.setdefault(fx.group, []).append(fx.name)
        written.add(dest.resolve())

    if not args.only:
        # drop cases (and their goldens) of fixtures that no longer convert
        for stale in sorted(args.out.glob("*/*.json")):
            if stale.resolve() not in written:
                stale.unlink()
                stale.with_name(stale.name[: -len(".json")] + ".out.jsonl").unlink(missing_ok=True)
                print(f"removed stale {stale}", file=sys.stderr)

    groups = sorted({f.group for f in fixtures})
    print(f"{'group':34} converted skipped")
    for g in groups:
        print(f"{g:34} {len(converted.get(g, [])):9} {len(skipped.get(g, {})):7}")
    total_c = sum(map(len, converted.values()))
    total_s = sum(map(len, skipped.values()))
    print(f"{'TOTAL':34} {total_c:9} {total_s:7}")
    for g in groups:
        for name, reason in sorted(skipped.get(g, {}).items()):
            print(f"skip {g}/{name}: {reason}", file=sys.stderr)
    if args.report:
        args.report.write_text(
            json.dumps({"converted": converted, "skipped": skipped}, indent=1) + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
