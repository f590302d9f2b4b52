"""The stored record of one actor: its persisted snapshot plus what xstate does not persist.

One JSON document per actor at key ``<id>.json`` (see docs/decisions/0003-record-format.md)::

    {
      "format": "durable-xstate.record/1",
      "timersBytes": 1234,
      "timers": [{"id", "source", "target", "event", "delay", "startedAt", "dueAt"}],
      "id": "order-42",
      "machine": {"id": "order", "version": "1.2.0"},
      "snapshot": { ...exactly actor.get_persisted_snapshot()... },
      "nextDueAt": 1732800000000,
      "outbox": [{"id", "event", "emittedAt"}],
      "seen": ["idempotency-key", ...],
      "revision": 7,
      "createdAt": "...", "updatedAt": "...", "expiresAt": null,
      "life": "9f0c..."
    }

``timers`` comes first, one timer per line, after ``"timersBytes"`` (its length in bytes): a record is read and re-written without parsing its timers (see :class:`StoredTimers`), so an
actor with 10,000 pending timers costs little more per event than one with none. Records with the
fields in another order (older versions) read the same way, parsing everything.

``source``/``target`` are actor paths from the root: ``[]`` is the root, ``["kid"]`` its child ``kid``.
``life`` is a random nonce made when the record is created and kept by every save: it tells two lives of
the same id apart (after a delete, ``cleanup`` or ``delete_when_done``). Records written before it existed
have none (``life`` is None) and keep working unchanged. Times are epoch milliseconds (ISO strings for the human-facing created/updated stamps). JSON only:
no pickle, no code.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any, cast

from ..errors import CodecError, RecordError
from ..machine.machine import marking_default
from ..stores.codec import CODEC_MAGIC

__all__ = [
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "RECORD_FORMAT",
    "StoredRecord",
    "StoredTimers",
    "Timer",
    "check_depth",
    "now_iso",
    "parse_json",
]

RECORD_FORMAT = "durable-xstate.record/1"
MAX_DEPTH = 256  # nesting levels of a record's JSON: deeper would overflow Python's stack in the engine
MAX_INT_DIGITS = 4300  # Python's default int <-> str limit, which the decoder applies (sys.set_int_max_str_digits)
_ECHO = 120  # characters of a bad value an error message repeats
#: a JSON text of at most this many bytes cannot nest deeper than MAX_DEPTH (each level takes an opening
#: and a closing bracket), so the depth check is skipped for it: the usual record is shorter
_SHALLOW_BYTES = 2 * MAX_DEPTH + 1
_HEAD = b'{"format":"durable-xstate.record/1","timersBytes":'
_TIMERS_KEY = b'"timers":'
_JOURNAL_HEAD = b'"journalBytes":'
_JOURNAL_KEY = b'"journal":'
_NO_TIMERS = b"[]"
_NO_TIMERS_HEAD = _HEAD + b"2," + _TIMERS_KEY + _NO_TIMERS + b","  # what encode writes before the rest when no timer is pending


_ISO_SECOND: list[Any] = [None, ""]  # (whole second, its "YYYY-MM-DDTHH:MM:SS" text), reused within a second
_ACTOR_MARK = b'"xstate$$type"'


class AdoptableSnapshot(dict):  # type: ignore[type-arg]
    """A persisted snapshot just decoded from JSON: nothing else holds it, so the actor restored from it
    may keep it instead of copying it (the runtime's ``HandedOverSnapshot`` protocol). Only once, and
    only when ``has_refs`` says no actor reference marks are inside (those must be revived in a copy):
    a second restore from the same dict copies, as for any dict."""

    __slots__ = ("adopted", "has_refs")

    def __init__(self, data: Mapping[str, Any], *, has_refs: bool) -> None:
        dict.__init__(self, data)  # not super(): this runs for every record read
        self.has_refs = has_refs
        self.adopted = False

    def take_ownership(self) -> bool:
        if self.has_refs or self.adopted:
            return False
        self.adopted = True
        return True


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise RecordError("", f"a number out of range: {_echo(text)}")  # the caller names the key
    return value


def _parse_constant(text: str) -> Any:
    raise RecordError("", f"{text} is not JSON")


# one decoder object, shared (the persistence actor uses it too): no NaN/Infinity; integers longer than
# Python's int/str limit (MAX_INT_DIGITS by default) fail in the decoder itself, a hook per integer costs 3x
_DECODER = json.JSONDecoder(parse_float=_parse_float, parse_constant=_parse_constant)
decode_json = _DECODER.decode
_scan_once: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def decode_json_fast(text: str) -> Any:
    """``decode_json(text)``, without its whitespace matching when the value fills the text exactly (a
    record as this module writes it). Anything else, including every error, goes the ``decode_json``
    way, so results and errors are the same."""
    try:
        value, end = _scan_once(text, 0)
    except Exception:  # decode_json raises the right error for it
        return decode_json(text)
    return value if end == len(text) else decode_json(text)
_NOT_BRACKET_OR_QUOTE = bytes(b for b in range(256) if b not in b'[]{}"')
_SQUARE = bytes.maketrans(b"{}", b"[]")
#: check_depth counts the brackets first (enough for most texts) only below this size: a larger text
#: almost always has more than ``limit`` of them, so the count would only add a pass
_COUNT_BELOW = 64 * 1024


def check_depth(data: bytes, limit: int = MAX_DEPTH) -> int | None:
    """The nesting depth of the JSON text ``data`` when it exceeds ``limit`` (the count stops at
    ``limit + 1``), else None.

    Iterative (no recursion), and nearly free for the usual record: only a text with more than
    ``limit`` brackets is looked at. Strings are blanked out, brackets kept, and each round removes
    every innermost pair (``[]``) at C speed: the rounds needed are the depth."""
    size = len(data)
    if size <= 2 * limit + 1 or (size < _COUNT_BELOW and data.count(b"[") + data.count(b"{") <= limit):
        return None
    brackets = _brackets_outside_strings(data)
    depth = 0
    while b"[]" in brackets:
        depth += 1
        if depth > limit:
            return depth
        brackets = brackets.replace(b"[]", b"")
    return None


def _brackets_outside_strings(data: bytes) -> bytes:
    """The brackets of a JSON text that are not inside strings, each as ``[`` or ``]``; all C-speed steps.

    Escapes go first (``\\\\`` then ``\\"``: JSON reads them left to right in pairs), then everything
    but brackets and quotes; two adjacent quotes never enclose anything, so they go too, and only strings
    holding brackets are left to cut out."""
    if b"\\" in data:  # (a search for one byte: much cheaper than the replacements)
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    reduced = data.translate(_SQUARE, _NOT_BRACKET_OR_QUOTE)
    reduced = reduced.replace(b'""', b"")
    if b'"' in reduced:
        reduced = b"".join(reduced.split(b'"')[0::2])
    return reduced


def parse_json(data: bytes, *, key: str) -> Any:
    """The JSON value of a stored record's bytes, refusing (RecordError naming ``key``) what is not
    JSON or would hurt to load: nesting deeper than MAX_DEPTH, integers longer than MAX_INT_DIGITS,
    NaN and Infinity."""
    depth = check_depth(data)
    if depth is not None:
        raise RecordError(key, f"nested more than {MAX_DEPTH} levels deep")
    try:
        return decode_json_fast(data.decode("utf-8"))
    except RecordError as err:  # from the decoder hooks, which do not know the key
        raise RecordError(key, f"not a record: {err.problem}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        if data.startswith(CODEC_MAGIC):  # encoded by record codecs the store was not opened with
            names = data[len(CODEC_MAGIC) : data.find(b"\n", 0, 300)].decode("ascii", "replace")
            raise CodecError(key, f"encoded with record codecs {names!r}: open the store with "
                                  f"codec={names!r} (command line: --codec {names})") from None
        raise RecordError(key, f"not a JSON record: {err}") from None
    except ValueError:  # the only ValueError left: an integer over Python's int/str limit
        raise RecordError(key, f"not a record: an integer of more than {sys.get_int_max_str_digits()} digits") from None
    except RecursionError:  # unbalanced brackets the depth check cannot measure
        raise RecordError(key, "not a record: nested too deeply") from None


def _echo(value: Any) -> str:
    """A short repr of a bad value for an error message (records can hold anything)."""
    if isinstance(value, (dict, list)):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'} of {len(value)} items"
    text = repr(value)
    return text if len(text) <= _ECHO else f"{text[:_ECHO]}... ({len(text)} characters)"


def _number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _not_text(value: Any) -> bool:
    """Neither a string nor null (what an optional text field of a record must be)."""
    return value is not None and type(value) is not str


def _strings(value: Any) -> bool:
    return type(value) is list and (not value or all(type(x) is str for x in value))


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_encode_json = _ENCODER.encode
# the record's own fields: the snapshot comes with its contexts as they are (persisted_unmarked), and the
# encoder writes each actor reference in them as xstate's mark while it walks them, in C
_MARKING = marking_default(_ENCODER.default)
_encode_marking = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_MARKING).encode
# the C encoder behind _encode_marking, made once instead of per call, and without its circular-reference
# bookkeeping (see encode_json_fast); None where the C accelerator is missing
_unchecked_encoder = (
    c_make_encoder(None, _MARKING, encode_basestring, None, ":", ",", False, False, False)
    if c_make_encoder is not None
    else None
)


def encode_json_fast(value: Any) -> str:
    """``_encode_json(value)`` with actor references written as xstate's marks (see
    ``marking_default``), with less per-call work. A cyclic value recurses here until RecursionError
    and is then encoded the checking way, which raises what ``_encode_json`` raises (ValueError for a
    cycle, RecursionError for a too deep value): the same results and the same errors."""
    if _unchecked_encoder is None:
        return _encode_marking(value)
    try:
        return "".join(_unchecked_encoder(value, 0))
    except RecursionError:
        return _encode_marking(value)


def now_iso() -> str:
    """The current UTC time as ISO-8601 with milliseconds, e.g. ``2026-11-28T19:40:14.123Z``."""
    now = time.time()
    second = int(now)
    cached = _ISO_SECOND
    if cached[0] != second:
        cached[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        cached[0] = second
    return f"{cached[1]}.{int((now - second) * 1000):03d}Z"


@dataclass(slots=True)
class Timer:
    """A pending delayed event with its absolute due time (epoch ms)."""

    id: str
    source: list[str]
    target: list[str]
    event: dict[str, Any]
    delay: float
    started_at: float

    @property
    def due_at(self) -> float:
        return self.started_at + self.delay

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "target": self.target,
            "event": self.event,
            "delay": self.delay,
            "startedAt": self.started_at,
            "dueAt": self.due_at,
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> Timer:
        """A timer from its JSON; RecordError naming ``where`` and the field for anything malformed."""
        if type(data) is not dict:
            raise RecordError(where, f"a timer must be an object, got {_echo(data)}")
        timer_id, event = data.get("id"), data.get("event")
        source, target = data.get("source", []), data.get("target", [])
        delay, started_at = data.get("delay"), data.get("startedAt")
        if type(timer_id) is not str:
            raise RecordError(where, f"malformed timer: id must be a string, got {_echo(timer_id)}")
        if not _strings(source) or not _strings(target):
            raise RecordError(where, "malformed timer: source and target must be lists of actor ids (strings)")
        if type(event) is not dict or type(event.get("type")) is not str:
            raise RecordError(where, f"malformed timer: event must be an object with a string type, got {_echo(event)}")
        if not _number(delay) or not _number(started_at):
            raise RecordError(where, f"malformed timer: delay and startedAt must be finite numbers, got "
                                     f"{_echo(delay)} and {_echo(started_at)}")
        return cls(timer_id, list(source), list(target), event, float(cast(float, delay)), float(cast(float, started_at)))


def _due(timer: Timer) -> float:
    return timer.due_at


def _timer_lines(timers: Sequence[Timer]) -> list[bytes]:
    return [_encode_json(t.to_json()).encode() for t in sorted(timers, key=_due)]


class StoredTimers(Sequence[Timer]):
    """A record's timers as stored: the JSON array text, one timer per line, parsed on first use.

    Reading a record keeps its timers as bytes; saving writes those bytes back, followed by the run's
    new timers (``more``), unless something needed them parsed (a timer fell due, its id was cancelled,
    a listing). A line is a whole timer because JSON text escapes every newline inside a string."""

    __slots__ = ("_more", "_next_due", "_parsed", "_raw", "_where")

    def __init__(self, raw: bytes, next_due: float | None, where: str, more: Sequence[Timer] = ()) -> None:
        self._raw = raw  # b"[" ... b"]", elements separated by b",\n"
        self._next_due = next_due
        self._where = where
        self._parsed: list[Timer] | None = None
        self._more = list(more)

    def with_more(self, more: Sequence[Timer]) -> StoredTimers:
        """These stored timers (still unparsed) followed by ``more``."""
        return StoredTimers(self._raw, self._next_due, self._where, [*self._more, *more])

    @property
    def next_due(self) -> float | None:
        if not self._more:
            return self._next_due
        dues = [t.due_at for t in self._more]
        if self._next_due is not None:
            dues.append(self._next_due)
        return min(dues, default=None)

    @property
    def is_parsed(self) -> bool:
        return self._parsed is not None

    def remove(self, send_id: str, source: list[str]) -> bool:
        """Drop the stored timer ``send_id`` of the actor at ``source`` without parsing the others.

        Each stored line starts ``{"id":…,"source":…,`` (this module writes them so), so the line of a
        timer is found by its text. The stored next due time is kept: it may now be early, which only
        makes a later run look for due timers and find none."""
        if self._parsed is not None:
            before = len(self._parsed)
            self._parsed = [t for t in self._parsed if not (t.id == send_id and t.source == source)]
            return len(self._parsed) != before
        for i, t in enumerate(self._more):
            if t.id == send_id and t.source == source:
                del self._more[i]
                return True
        raw = self._raw
        start = raw.find(b'\n{"id":' + _encode_json(send_id).encode() + b',"source":' + _encode_json(source).encode() + b",")
        if start < 0:
            return False
        end = raw.find(b"\n", start + 1)  # the next line's start, or the closing b"\n]"
        if raw[end:] != b"\n]":
            self._raw = raw[:start] + raw[end:]
        elif raw[start - 1 : start] == b",":  # the last of several: its predecessor loses its comma
            self._raw = raw[: start - 1] + raw[end:]
        else:
            self._raw = b"[]"
        return True

    def parsed(self) -> list[Timer]:
        if self._parsed is None:
            try:
                items = parse_json(self._raw, key=f"{self._where}: timers")
            except RecordError:
                raise
            except (ValueError, RecursionError) as err:
                raise RecordError(f"{self._where}: timers", f"not a JSON list: {_echo(str(err))}") from None
            if type(items) is not list:
                raise RecordError(f"{self._where}: timers", "must be a list")
            timers = [Timer.from_json(t, f"{self._where}: timers[{i}]") for i, t in enumerate(items)]
            self._parsed = [*timers, *self._more]
        return self._parsed

    def __bool__(self) -> bool:
        if self._parsed is not None:
            return bool(self._parsed)
        return bool(self._more) or self._raw != b"[]"

    def __len__(self) -> int:
        return len(self._parsed) if self._parsed is not None else self._raw.count(b"\n{") + len(self._more)

    def __getitem__(self, index: Any) -> Any:
        return self.parsed()[index]

    def __iter__(self) -> Iterator[Timer]:
        return iter(self.parsed())

    def fresh_text(self) -> bytes:
        """The JSON text of the timers added to the unparsed stored ones."""
        return _timers_text(self._more)

    def json_text(self) -> bytes:
        """The JSON array text of all these timers, the stored ones as they were read."""
        if self._parsed is not None:
            return _timers_text(self._parsed)
        if not self._more:
            return self._raw
        lines = b",\n".join(_timer_lines(self._more))
        if self._raw.count(b"\n{") == 0:
            return b"[\n" + lines + b"\n]"
        return self._raw[:-2] + b",\n" + lines + b"\n]"


def _timers_text(timers: Sequence[Timer]) -> bytes:
    return b"[\n" + b",\n".join(_timer_lines(timers)) + b"\n]" if timers else _NO_TIMERS


@dataclass(slots=True)
class StoredRecord:
    """The parsed record. ``version`` is the store's version token (not part of the JSON)."""

    id: str
    machine_id: str | None
    machine_version: str | None
    snapshot: dict[str, Any] | None
    timers: Sequence[Timer] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    revision: int = 0
    created_at: str | None = None
    updated_at: str | None = None
    expires_at: float | None = None
    version: str | None = None
    #: random per life of the id, made at creation (None in records written before it existed)
    life: str | None = None
    #: the journal (persistence/journal.py): its JSON array text, one entry per line, never parsed to save
    journal: bytes = b"[]"
    journal_count: int = 0

    @property
    def next_due_at(self) -> float | None:
        timers = self.timers
        if type(timers) is not list and isinstance(timers, StoredTimers):  # a list is never: skip the ABC check
            if not timers.is_parsed:
                return timers.next_due
        elif not timers:
            return None
        return min((t.due_at for t in timers), default=None)

    def _fields(self, snapshot: Any = None) -> dict[str, Any]:
        """Every field but ``format`` and ``timers``, in the order they are written (``snapshot`` in place
        of the record's when given)."""
        fields = {
            "id": self.id,
            "machine": {"id": self.machine_id, "version": self.machine_version},
            "snapshot": self.snapshot if snapshot is None else snapshot,
            "nextDueAt": self.next_due_at,
            "outbox": self.outbox,
            "seen": self.seen,
            "revision": self.revision,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "expiresAt": self.expires_at,
        }
        if self.life is not None:
            fields["life"] = self.life
        if self.journal_count:
            fields["journalCount"] = self.journal_count
        return fields

    def to_json(self) -> dict[str, Any]:
        timers = self.timers
        return {
            "format": RECORD_FORMAT,
            "timers": [t.to_json() for t in sorted(timers, key=_due)] if timers else [],
            **({"journal": decode_json(self.journal.decode("utf-8"))} if self.journal_count else {}),
            **self._fields(),
        }

    @property
    def _snapshot_where(self) -> str:
        return f"{self.id}.json: snapshot"

    def encode(self, snapshot_json: str | None = None) -> bytes:
        """The record's bytes: the timers first (one per line, unparsed ones as read), then the rest.

        ``snapshot_json``: ``encode_json_fast(self.snapshot)``, when the caller has it already (it is
        written as is instead of encoding the snapshot again).

        RecordError (nothing to write) for what ``decode`` would refuse to read back; the timers kept
        unparsed were read from a record that passed this check when it was written."""
        timers = self.timers
        stored = timers if type(timers) is not list and isinstance(timers, StoredTimers) else None
        try:
            timers_json = stored.json_text() if stored is not None else _timers_text(timers)
            if snapshot_json is None or self.snapshot is None:
                rest_json = encode_json_fast(self._fields()).encode()
            else:
                rest_json = _with_snapshot(encode_json_fast(self._fields(_PLACEHOLDER)), snapshot_json).encode()
        except RecursionError:
            raise RecordError(self._snapshot_where, f"the actor's state is nested too deeply to store (at most {MAX_DEPTH} levels)") from None
        except (TypeError, ValueError) as err:
            raise RecordError(self._snapshot_where, f"the actor's state is not JSON-serialisable: {_echo(str(err))}") from err
        fresh = stored.fresh_text() if stored is not None and not stored.is_parsed else timers_json
        if (len(rest_json) > _SHALLOW_BYTES or len(fresh) > _SHALLOW_BYTES) and (
            check_depth(rest_json) is not None or check_depth(fresh) is not None
        ):
            raise RecordError(self._snapshot_where, f"the actor's state is nested more than {MAX_DEPTH} levels deep")
        if self.journal_count:  # written by this version's journal code, from JSON it encoded itself
            journal = self.journal
            return b"".join((
                _HEAD, str(len(timers_json)).encode(), b",", _TIMERS_KEY, timers_json, b",",
                _JOURNAL_HEAD, str(len(journal)).encode(), b",", _JOURNAL_KEY, journal, b",", rest_json[1:],
            ))
        if timers_json == b"[]":
            return _NO_TIMERS_HEAD + rest_json[1:]
        return b"".join((_HEAD, str(len(timers_json)).encode(), b",", _TIMERS_KEY, timers_json, b",", rest_json[1:]))

    @classmethod
    def decode(cls, data: bytes, *, key: str, version: str | None) -> StoredRecord:
        """Parse a stored record; RecordError (naming the key and the part) on anything that is not one.

        The snapshot comes back as an :class:`AdoptableSnapshot`: nothing else holds it, so restoring
        an actor from it may adopt its context instead of copying it."""
        try:
            return cls._decode(data, key, version)
        except RecordError:
            raise
        except (ValueError, TypeError, RecursionError, MemoryError) as err:  # a record is data: never more than this
            raise RecordError(key, f"unreadable record: {type(err).__name__}: {_echo(str(err))}") from None

    @classmethod
    def _decode(cls, data: bytes, key: str, version: str | None) -> StoredRecord:
        if type(data) is not bytes:
            data = bytes(data)
        head, stored_timers, journal = _split(data)
        raw = parse_json(head, key=key)
        if type(raw) is not dict:
            raise RecordError(key, "a record must be a JSON object")
        if stored_timers is not None:
            if "timers" in raw or "format" in raw:
                raise RecordError(key, "a record must hold one 'format' and one 'timers'")
            raw["format"] = RECORD_FORMAT
        journal_count = raw.get("journalCount") or 0
        if type(journal_count) is not int or journal_count < 0:
            raise RecordError(f"{key}: journalCount", f"must be a non-negative integer, got {_echo(journal_count)}")
        if journal is None:
            listed = raw.get("journal")
            if listed is not None and type(listed) is not list:
                raise RecordError(f"{key}: journal", f"must be a list, got {_echo(listed)}")
            journal = b"[\n" + b",\n".join(_encode_json(e).encode() for e in listed) + b"\n]" if listed else b"[]"
            journal_count = len(listed) if listed else 0
        elif journal_count == 0 or "journal" in raw:
            raise RecordError(key, "a journal without its count, or two journals")
        fmt = raw.get("format")
        if fmt != RECORD_FORMAT:
            raise RecordError(f"{key}: format", f"unknown record format {_echo(fmt)} (expected {RECORD_FORMAT!r})")
        record_id = raw.get("id")
        if record_id is not None and type(record_id) is not str:
            raise RecordError(f"{key}: id", f"must be a string, got {_echo(record_id)}")
        machine = raw.get("machine")
        if machine is None:
            machine = {}
        if type(machine) is not dict:
            raise RecordError(f"{key}: machine", f"must be an object {{id, version}}, got {_echo(machine)}")
        machine_id, machine_version = machine.get("id"), machine.get("version")
        if (machine_id is not None and type(machine_id) is not str) or (
            machine_version is not None and type(machine_version) is not str
        ):
            part, value = ("id", machine_id) if _not_text(machine_id) else ("version", machine_version)
            raise RecordError(f"{key}: machine.{part}", f"must be a string or null, got {_echo(value)}")
        snapshot = raw.get("snapshot")
        if snapshot is not None:
            if type(snapshot) is not dict:
                raise RecordError(f"{key}: snapshot", f"the snapshot must be an object, got {_echo(snapshot)}")
            snapshot = AdoptableSnapshot(snapshot, has_refs=_ACTOR_MARK in head)
        timers: Sequence[Timer]
        if stored_timers is not None:
            next_due = raw.get("nextDueAt")
            if next_due is not None and not _number(next_due):
                raise RecordError(f"{key}: nextDueAt", f"must be epoch milliseconds or null, got {_echo(next_due)}")
            timers = StoredTimers(stored_timers, next_due, key)
            if next_due is None and stored_timers != _NO_TIMERS:  # i.e. `timers` is not empty
                raise RecordError(f"{key}: nextDueAt", "missing, but the record has timers")
        else:
            listed = raw.get("timers") or []
            if type(listed) is not list:
                raise RecordError(f"{key}: timers", f"must be a list, got {_echo(listed)}")
            timers = [Timer.from_json(t, f"{key}: timers[{i}]") for i, t in enumerate(listed)]
        outbox = raw.get("outbox") or []
        seen = raw.get("seen") or []
        if type(outbox) is not list:
            raise RecordError(f"{key}: outbox", f"must be a list, got {_echo(outbox)}")
        if not _strings(seen):
            raise RecordError(f"{key}: seen", "must be a list of idempotency keys (strings)")
        for i, o in enumerate(outbox) if outbox else ():
            if type(o) is not dict or type(o.get("id")) is not str or "event" not in o:
                raise RecordError(f"{key}: outbox[{i}]", f"must be an object with a string id and an event, got {_echo(o)}")
        revision = raw.get("revision") or 0
        if type(revision) is not int or revision < 0:
            raise RecordError(f"{key}: revision", f"must be a non-negative integer, got {_echo(revision)}")
        created, updated = raw.get("createdAt"), raw.get("updatedAt")
        if (created is not None and type(created) is not str) or (updated is not None and type(updated) is not str):
            stamp, value = ("createdAt", created) if _not_text(created) else ("updatedAt", updated)
            raise RecordError(f"{key}: {stamp}", f"must be an ISO-8601 string or null, got {_echo(value)}")
        expires = raw.get("expiresAt")
        if expires is not None and not _number(expires):
            raise RecordError(f"{key}: expiresAt", f"must be epoch milliseconds or null, got {_echo(expires)}")
        life = raw.get("life")
        if life is not None and type(life) is not str:
            raise RecordError(f"{key}: life", f"must be a string, got {_echo(life)}")
        return cls(
            str(record_id),
            machine_id,
            machine_version,
            snapshot,
            timers,
            outbox,  # fresh from JSON: ours to keep
            seen,
            revision,
            created,
            updated,
            expires,
            version,
            life,
            journal,
            journal_count,
        )


_PLACEHOLDER = 0  # stands for the snapshot in _fields when its JSON text is spliced in (see _with_snapshot)
_PLACEHOLDER_TEXT = ',"snapshot":0,'


def _with_snapshot(text: str, snapshot_json: str) -> str:
    """The record fields' JSON ``text``, encoded with _PLACEHOLDER for the snapshot, with ``snapshot_json``
    in its place. The first ``,"snapshot":0,`` is the field's: before it come only the id and machine
    strings, and a string never holds an unescaped quote."""
    at = text.index(_PLACEHOLDER_TEXT) + len(_PLACEHOLDER_TEXT) - 2
    return "".join((text[:at], snapshot_json, text[at + 1 :]))


def _split(data: bytes) -> tuple[bytes, bytes | None, bytes | None]:
    """(the record without its timers and journal, the timers' JSON text, the journal's JSON text) when it
    was written with them first (``{"format":…,"timersBytes":N,"timers":[…],"journalBytes":M,"journal":[…],…}``,
    the journal optional); else (the whole record, None, None)."""
    timers = _segment(data, len(_HEAD) if data.startswith(_HEAD) else -1, _TIMERS_KEY)
    if timers is None:
        return data, None, None
    begin, end = timers
    journal = None
    if data.startswith(_JOURNAL_HEAD, end + 1):
        journal = _segment(data, end + 1 + len(_JOURNAL_HEAD), _JOURNAL_KEY)
        if journal is None:
            return data, None, None
        rest = journal[1] + 1
        return b"{" + data[rest:], data[begin:end], data[journal[0] : journal[1]]
    return b"{" + data[end + 1 :], data[begin:end], None


def _segment(data: bytes, start: int, name: bytes) -> tuple[int, int] | None:
    """(begin, end) of the array after ``<digits>,<name>`` at ``start``, when its length is what the digits
    say and a ``,`` follows it; None otherwise (read it the slow way, and fail there if broken)."""
    if start < 0:
        return None
    comma = data.find(b",", start, start + 21)
    digits = data[start:comma]
    if comma < 0 or not digits.isdigit():
        return None
    begin = comma + 1 + len(name)
    end = begin + int(digits)
    if (  # startswith at an offset: no slice copies
        not data.startswith(name, comma + 1)
        or not data.startswith(b"[", begin)
        or not data.startswith(b"],", end - 1)
    ):
        return None
    return begin, end


def stored_snapshot(data: bytes) -> Any:
    """The ``snapshot`` of a stored record's bytes (without parsing its timers); None if unreadable."""
    try:
        raw = decode_json(_split(data)[0].decode("utf-8"))
    except ValueError:
        return None
    return raw.get("snapshot") if type(raw) is dict else None
