"""PersistableActor and with_persistable_actor: load an actor by id, run it, save it, close it.

Locking modes (the original's, without its lost updates and leaks):

=============  ==============================================================================
``None``       optimistic: ``save`` is a compare-and-set against the version read at ``init``;
               someone saving in between makes it raise WriteConflict.
``"write"``    a lease is taken around the write only (plus the compare-and-set).
``"read-write"`` a lease from ``init`` to ``close``, renewed while the work runs, and the save is
               fenced with the lease's token (a holder paused past its lease cannot overwrite).
=============  ==============================================================================

Every path that took a lease releases it: a failing ``actor_creator``, a corrupt record, a failed read
or write, a conflict, the callback raising, cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal

from ..actors.actor import Actor
from ..actors.clock import DurableClock
from ..errors import (
    ActorError,
    ActorFailed,
    InvalidArgument,
    MachineMismatch,
    PersistenceError,
    RecordError,
    SnapshotError,
    StoreError,
    UnusableSnapshot,
    WriteConflict,
    _capped,
)
from ..machine.limits import check_event_depth
from ..machine.machine import persisted_unmarked
from ..stores.base import Lease, LockableStorage, validate_key
from ..stores.sync import background_loop
from . import telemetry
from .index import index_entry
from .journal import JournalPolicy, append, entry_line, is_checkpoint_due
from .record import (
    _ACTOR_MARK,
    StoredRecord,
    StoredTimers,
    Timer,
    encode_json_fast,
    now_iso,
    stored_snapshot,
)

__all__ = ["Locking", "OnError", "PersistableActor", "with_persistable_actor"]

#: What a conflicting save of an optimistic run (locking None or "write") tells the caller to do.
CONFLICT_HINT = ("another writer saved this actor after it was loaded, so nothing was written; retry with "
                 "with_persistable_actor(..., retries_on_conflict=N) or use locking='read-write'")
_log = logging.getLogger("durable_xstate.persistence")

Locking = Literal["write", "read-write"] | None
OnError = Literal["raise", "save"]
ActorCreator = Callable[[str, Any], Actor]
Migrate = Callable[[dict[str, Any]], dict[str, Any]]
_ACTOR_MARK_TEXT = _ACTOR_MARK.decode()
_DEFAULT_JOURNAL = JournalPolicy()  # frozen: one for every actor that keeps the default journal


class PersistableActor:
    """One actor loaded from a store by id (the original's ``PersistableActor``).

    >>> pa = PersistableActor(id="order-42", storage=store, actor_creator=make, locking="read-write")
    >>> await pa.init(); pa.actor.send({"type": "PAY"}); await pa.save(); await pa.close()
    """

    # set by telemetry.instrument, and only when telemetry is on
    _step: Any  # the step span
    _step_owned: bool
    _watch: Any
    _outcome: str | None

    def __init__(
        self,
        *,
        id: str,
        storage: LockableStorage,
        actor_creator: ActorCreator,
        locking: Locking = None,
        acquire_lock_timeout: float = 5.0,
        lease_seconds: float = 30.0,
        owner: str | None = None,
        clock: Any = None,
        migrate: Migrate | None = None,
        idempotency_window: int = 1000,
        expire_after: float | None = None,
        delete_when_done: bool = False,
        prepare: Callable[[Actor, int], None] | None = None,
        on_error: OnError = "raise",
        journal: JournalPolicy | bool = True,
        meta: Any = None,
    ) -> None:
        if locking not in (None, "write", "read-write"):
            raise InvalidArgument(f"locking must be None, 'write' or 'read-write', got {locking!r}")
        if on_error not in ("raise", "save"):
            raise InvalidArgument(f"on_error must be 'raise' or 'save', got {on_error!r}")
        self.on_error = on_error
        #: how much journal the record keeps (None: no journal; see persistence/journal.py)
        self.journal: JournalPolicy | None = _DEFAULT_JOURNAL if journal is True else (journal or None)
        #: what the journal says about this run beside its events (who, why): JSON, set before save
        self.meta = meta
        self._delivered: list[dict[str, Any]] = []  # the events delivered to the actor in this run
        self.id = id
        self.key = validate_key(f"{id}.json" if isinstance(id, str) else id)
        self.storage = storage
        self.actor_creator = actor_creator
        self.locking = locking
        self.acquire_lock_timeout = acquire_lock_timeout
        self.lease_seconds = lease_seconds
        self._owner = owner
        self.clock = clock if clock is not None else DurableClock()
        self._own_clock = clock is None  # only then are stored timers left unparsed until needed
        self.migrate = migrate
        self.idempotency_window = idempotency_window
        self.expire_after = expire_after
        self.delete_when_done = delete_when_done
        self.prepare = prepare
        self.record: StoredRecord | None = None
        self.lease: Lease | None = None
        self._actor: Actor | None = None
        self._initiated = False
        self._renewer: asyncio.Task[None] | None = None
        self._renewal_timer: asyncio.TimerHandle | None = None
        self._new_outbox: list[dict[str, Any]] = []
        self._new_seen: list[str] = []
        self._stored: bytes | None = None  # the record's bytes as read at init
        self._snapshot_json: str | None = None  # the next record's snapshot as JSON, from _next_record to save
        self._changes = -1  # the actor system's change count once the record was loaded
        self._migrated = False
        self._revision = 0  # the revision this run's save writes
        self._emitted = 0  # events emitted in this run (outbox ids)
        self.fired_on_init = False  # whether a stored timer fell due and fired during init
        # OpenTelemetry (persistence/telemetry.py): None unless it is installed and configured; only then
        # are this instance's store calls, init, save and close wrapped (the spans' state lives there)
        self._tel = telemetry.active()
        if self._tel is not None:
            telemetry.instrument(self, self._tel)

    # ------------------------------------------------------------------ accessors
    @property
    def owner(self) -> str:
        """The lease owner name: ``host:pid:random`` unless given (made on first use)."""
        if self._owner is None:
            self._owner = f"{_host()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        return self._owner

    @property
    def actor(self) -> Actor:
        """The running actor; PersistenceError before ``init`` and after ``close`` (the original's message)."""
        if self._actor is None:
            raise PersistenceError("No actor available. Use 'init' before fetching the actor")
        return self._actor

    @property
    def initiated(self) -> bool:
        return self._initiated

    @property
    def outbox(self) -> list[dict[str, Any]]:
        """Emitted events not yet confirmed as handed over: the stored ones, then this run's."""
        stored = self.record.outbox if self.record is not None else []
        return [*stored, *self._new_outbox]

    # ------------------------------------------------------------------ lifecycle
    async def init(self) -> Actor:
        """(Lock,) read, create the actor from the stored snapshot, start it, fire the timers that fell due."""
        if self._initiated:
            raise PersistenceError("Actor already initiated, close it to re-initiate")
        try:
            if self.locking == "read-write":
                self.lease = await self.storage.acquire(
                    self.key, self.owner, self.lease_seconds, self.acquire_lock_timeout
                )
                self._start_renewal()
            stored = await self.storage.read(self.key)
            if stored is not None:
                self._stored = stored.data
                record = StoredRecord.decode(stored.data, key=self.key, version=stored.version)
            else:
                record = None
            self._actor = self._load(record)
        except BaseException:
            await self._release_quietly()
            self._actor = None
            raise
        self._initiated = True
        return self._actor

    def _load(self, record: StoredRecord | None) -> Actor:
        actor = self._create(record)
        logic = actor.logic
        self.record = record or StoredRecord(
            id=self.id,
            machine_id=getattr(logic, "id", None),
            machine_version=getattr(logic, "version", None),
            snapshot=None,
            created_at=now_iso(),
            life=uuid.uuid4().hex,
        )
        # the actor's timers live on our clock, so they can be stored and fired in a later run
        actor.use_clock(self.clock)
        revision = self._revision = self.record.revision + 1
        self._emitted = 0
        actor.on("*", self._capture)
        if self._tel is not None:
            self._watch = self._tel.watch(actor)
        if self.prepare is not None:
            self.prepare(actor, revision)
        if self.journal is not None:
            actor.observe_events(lambda source, event: self._deliver(actor, source, event))
        actor.start()
        timers = self.record.timers
        if type(timers) is not list and isinstance(timers, StoredTimers) and self._own_clock and timers:
            self._keep(actor, timers)  # parsed only if one falls due or the run touches them
        elif timers:
            self._rearm(actor, timers)
        self._changes = actor.system.changes  # what is stored; timers firing now are changes to save
        fire = getattr(self.clock, "fire_due", None)
        if fire is not None:
            watch = self._watch if self._tel is not None else None  # telemetry counts the timers fired
            if watch is not None:
                watch.before_fire()
            fire()
            if watch is not None:
                watch.after_fire()
        # only timers fire here (the durable clock arms nothing), so any change means one fired
        self.fired_on_init = actor.system.changes != self._changes
        return actor

    def _deliver(self, actor: Actor, source: Actor | None, event: Any) -> None:
        """Journal an event delivered to the actor (where from: outside, its own timer, a child)."""
        origin = "send" if source is None else ("timer" if source is actor else "child")
        self._delivered.append({"event": event, "from": origin})

    def _capture(self, event: Any) -> None:
        """Every emitted event goes to the outbox, with an id stable across re-runs of the same revision."""
        n, self._emitted = self._emitted, self._emitted + 1
        self._new_outbox.append({"id": f"{self.id}/{self._revision}/{n}", "event": event, "emittedAt": now_iso()})

    def _create(self, record: StoredRecord | None) -> Actor:
        """The actor, restored from the record's snapshot after checking (or migrating) its machine."""
        if record is None or record.snapshot is None:
            return self.actor_creator(self.id, None)
        try:
            actor = self.actor_creator(self.id, record.snapshot)
            logic = actor.logic
        except (SnapshotError, ValueError, TypeError, LookupError, AttributeError, RecursionError) as err:
            # does the snapshot not fit because it belongs to another machine? ask a fresh actor (never started)
            logic = self.actor_creator(self.id, None).logic
            if _same_machine(record, logic):
                if isinstance(err, SnapshotError):
                    raise UnusableSnapshot(self.key, err.path, err.problem) from err
                raise UnusableSnapshot(self.key, "", f"{type(err).__name__}: {_capped(str(err))}") from err
            actor = None
        if _same_machine(record, logic):
            assert actor is not None
            return actor
        if self.migrate is None:
            raise MachineMismatch(
                self.key,
                f"written by machine {record.machine_id!r} version {record.machine_version!r}, but the actor runs "
                f"{getattr(logic, 'id', None)!r} version {getattr(logic, 'version', None)!r}; pass migrate= to convert it",
            )
        migrated = self.migrate(record.to_json())
        self._migrated = True
        record.snapshot = migrated.get("snapshot")
        record.timers = [Timer.from_json(t, f"{self.key}: migrated timers[{i}]")
                         for i, t in enumerate(migrated.get("timers") or [])]
        return self.actor_creator(self.id, record.snapshot)

    def _keep(self, actor: Actor, timers: StoredTimers) -> None:
        """Leave the stored timers unparsed in the scheduler, armed when a run needs them."""
        scheduler = actor.system.scheduler
        scheduler.keep_deferred(_KeptTimers(self, actor, timers))
        due = timers.next_due

        def before_fire(now: float) -> None:
            if due is not None and due <= now:
                scheduler.arm_deferred()

        assert isinstance(self.clock, DurableClock)
        self.clock.before_fire = before_fire

    def _rearm(self, actor: Actor, timers: Sequence[Timer]) -> None:
        scheduler = actor.system.scheduler
        for timer in sorted(timers, key=lambda t: t.due_at):
            source = _resolve_path(actor, timer.source)
            target = _resolve_path(actor, timer.target)
            if source is None or target is None:
                _log.warning("dropping timer %s of %s: actor %s no longer exists", timer.id, self.id, timer.source)
                continue
            scheduler.schedule(source, target, timer.event, timer.delay, timer.id, started_at=timer.started_at)

    async def save(self) -> str:
        """Write the record: compare-and-set against the version read at ``init`` (fenced in read-write).

        A run that changed nothing (no event handled with a new snapshot, no timer set, cancelled or
        fired, nothing emitted, no idempotency key, and the persisted snapshot equal to the stored one)
        writes nothing and returns the stored version: the revision only counts real changes.

        An actor that failed in this run (an action, guard or invoked logic raised) raises
        :class:`ActorFailed` and writes nothing, unless ``on_error="save"``. A finished actor with
        ``delete_when_done`` ends with no record (returns ``""``). Once the write is committed, the
        save is reported as committed: a failure to release the ``"write"`` lease is only logged."""
        actor = self.actor
        record = self.record
        assert record is not None
        failed = self._new_failure(actor, record)
        if failed is not None and self.on_error == "raise":
            raise ActorFailed(self.id, failed) from failed
        try:
            if record.version is not None and self._unchanged(actor, record):
                return record.version  # nothing happened: no write, no new revision
            data = self._next_record(actor, record)
            if self.delete_when_done and actor.get_snapshot().status == "done":
                if record.version is not None:
                    await self.storage.delete(self.key, record.version, lease=self.lease)
                record.version = None
                return ""  # finished and deleted (or finished in its first run: never written)
            snapshot_json = self._snapshot_json
            self._snapshot_json = None
            if failed is not None and data.snapshot is not None:
                data.snapshot = {**data.snapshot, "error": _error_json(failed)}
                snapshot_json = None
            encoded = data.encode(snapshot_json)
            if data.snapshot is not None and (  # actor references may be in it
                _ACTOR_MARK_TEXT in snapshot_json if snapshot_json is not None else _ACTOR_MARK in encoded
            ):
                marked = actor.get_persisted_snapshot()  # the record keeps the snapshot as xstate persists it
                data.snapshot = marked if failed is None else {**marked, "error": _error_json(failed)}
        except RecursionError:
            raise RecordError(f"{self.key}: snapshot", "the actor's state is nested too deeply to store") from None
        try:
            if self.locking == "write":
                lease = await self.storage.acquire(self.key, self.owner, self.lease_seconds, self.acquire_lock_timeout)
                try:
                    version = await self.storage.write(
                        self.key, encoded, record.version, lease=lease, index=index_entry(data)
                    )
                finally:
                    # the write's outcome is what the caller must know: once committed, a failed release only
                    # delays the next holder until the lease expires (read-write's release does the same)
                    await self._release_logged(lease)
            else:
                version = await self.storage.write(
                    self.key, encoded, record.version, lease=self.lease, index=index_entry(data)
                )
        except WriteConflict as err:
            if self.locking == "read-write" or err.hint is not None:
                raise
            # Optimistic runs ("write" locks the write only) lose to whoever saved first: say so, and what to do.
            raise WriteConflict(err.key, err.expected, err.found, reason=err.reason, hint=CONFLICT_HINT) from err
        data.version = version
        self.record = data
        self._new_outbox = []
        self._new_seen = []
        self._delivered = []
        self._stored = encoded
        self._migrated = False
        self._changes = actor.system.changes
        return version

    def _new_failure(self, actor: Actor, record: StoredRecord) -> BaseException | None:
        """The error the actor failed with in this run (None if it did not, or was stored failed)."""
        snapshot = actor.get_snapshot()
        if snapshot.status != "error" or (record.snapshot or {}).get("status") == "error":
            return None
        error = snapshot.error
        return error if isinstance(error, BaseException) else ActorError(f"the actor failed with {_capped(repr(error))}")

    def _unchanged(self, actor: Actor, record: StoredRecord) -> bool:
        """True when saving would store what is stored: no snapshot, timer, outbox or key changed.

        Any new snapshot of any actor in the system (or a timer scheduled, cancelled or fired) counts
        as a change and is written, even if it equals the old one; with none, the persisted snapshot is
        still compared with the stored one, so a context mutated in place is not lost."""
        if self._new_outbox or self._new_seen or self._migrated or actor.system.changes != self._changes:
            return False
        if actor.get_snapshot().status == "done" and self.expire_after is not None and record.expires_at is None:
            return False
        if record.machine_id != getattr(actor.logic, "id", record.machine_id) or record.machine_version != getattr(
            actor.logic, "version", record.machine_version
        ):
            return False
        stored = self._stored
        if stored is None:
            return False
        snapshot = stored_snapshot(stored)
        return snapshot is not None and bool(snapshot == actor.get_persisted_snapshot())

    def _next_record(self, actor: Actor, record: StoredRecord) -> StoredRecord:
        # the contexts as they are: the record's encoder marks actor references while it walks them in C
        # (save puts the marked snapshot in the record when there may be any)
        snapshot = persisted_unmarked(actor)
        window = self.idempotency_window
        seen = record.seen
        if self._new_seen or len(seen) > window:
            seen = [*seen, *self._new_seen][-window:] if window else []
        expires = record.expires_at
        if self.expire_after is not None and actor.get_snapshot().status == "done":
            expires = self.clock.now() + self.expire_after * 1000
        logic = actor.logic
        updated = now_iso()
        scheduler = actor.system.scheduler
        kept = scheduler.deferred
        journal, journal_count = record.journal, record.journal_count
        policy = self.journal
        if policy is not None:
            # the snapshot's JSON, encoded once: the entry's digest and the record's snapshot (save) are both it
            try:
                snapshot_json: str | None = encode_json_fast(snapshot)
            except (TypeError, ValueError, RecursionError):  # the old way says what is wrong (or copes)
                snapshot_json = None
            self._snapshot_json = snapshot_json
            checkpoint = is_checkpoint_due(journal_count, policy, journal)
            line = entry_line(
                record.revision + 1, updated, self._delivered,
                actor.get_persisted_snapshot() if checkpoint else snapshot,  # a checkpoint holds it marked
                emitted=[o["event"] for o in self._new_outbox], keys=self._new_seen, meta=self.meta,
                checkpoint=checkpoint, snapshot_json=snapshot_json,
            )
            journal, journal_count = append(journal, journal_count, line, policy)
        if kept is None and not scheduler.has_pending():
            timers: Sequence[Timer] = []  # the usual step: no timer at all
        else:
            timers = _all_timers(actor, kept.timers if isinstance(kept, _KeptTimers) else None)
        return StoredRecord(
            self.id,
            getattr(logic, "id", record.machine_id),
            getattr(logic, "version", record.machine_version),
            snapshot,
            timers,
            [*record.outbox, *self._new_outbox] if self._new_outbox else record.outbox,
            seen,
            record.revision + 1,
            record.created_at or updated,
            updated,
            expires,
            record.version,
            record.life,
            journal,
            journal_count,
        )

    async def close(self) -> None:
        """Stop the actor and release whatever was taken. Safe to call more than once."""
        if not self._initiated and self._actor is None and self.lease is None:
            return
        actor, self._actor = self._actor, None
        self._initiated = False
        try:
            if actor is not None and actor.parent is None and not actor.is_stopped:
                actor.system.scheduler.forget_deferred()  # stored timers stay stored: stopping is not cancelling
                actor.stop()
            if actor is not None and self.journal is not None:
                # the journal's observer holds this PersistableActor: without it, the actor (a cycle with its
                # system, freed by the garbage collector) no longer keeps this one and its record alive
                actor.observe_events(None)
        finally:
            if self._renewer is not None or self.lease is not None or self._renewal_timer is not None:
                await self._release_quietly()

    # ------------------------------------------------------------------ events
    def send(self, event: Mapping[str, Any], *, idempotency_key: str | None = None) -> bool:
        """Send ``event`` once per ``idempotency_key``: False (and nothing sent) for a key already applied."""
        check_event_depth(event)  # an InvalidEvent must not record its key (the corrected event comes next)
        if idempotency_key is not None and not self.mark_seen(idempotency_key):
            _log.info("%s: event %s with idempotency key %r already applied", self.id, event.get("type"),
                      idempotency_key)
            return False
        self.actor.send(event)
        return True

    def mark_seen(self, key: str) -> bool:
        """Record an idempotency key for this run; False when it was already applied."""
        record = self.record
        if (record is not None and key in record.seen) or key in self._new_seen:
            return False
        self._new_seen.append(key)
        return True

    def add_to_outbox(self, event: Any, *, id: str, kind: str = "cloudevent") -> None:
        """Put an event to hand over into the outbox; it is stored with the next save."""
        self._new_outbox.append({"id": id, "kind": kind, "event": event, "emittedAt": now_iso()})

    async def confirm_outbox_only(self, ids: list[str], *, attempts: int = 20) -> None:
        """Remove outbox entries without loading the actor (a read and a compare-and-set write)."""
        wanted = set(ids)
        lease = None
        if self.locking == "read-write":
            lease = await self.storage.acquire(self.key, self.owner, self.lease_seconds, self.acquire_lock_timeout)
        try:
            for _ in range(attempts):
                stored = await self.storage.read(self.key)
                if stored is None:
                    return
                record = StoredRecord.decode(stored.data, key=self.key, version=stored.version)
                kept = [o for o in record.outbox if o["id"] not in wanted]
                if len(kept) == len(record.outbox):
                    return
                record.outbox = kept
                record.revision += 1
                record.updated_at = now_iso()
                try:
                    await self.storage.write(
                        self.key, record.encode(), stored.version, lease=lease, index=index_entry(record)
                    )
                    return
                except WriteConflict:
                    continue
            raise WriteConflict(
                self.key, None, None,
                reason=f"the outbox was not confirmed: {attempts} compare-and-set writes in a row lost to other writers",
            )
        finally:
            if lease is not None:
                await self._release(lease)

    async def confirm_outbox(self, ids: list[str]) -> None:
        """Remove handed-over events from the stored outbox (a compare-and-set write)."""
        record = self.record
        if record is None or record.version is None:
            raise PersistenceError("confirm_outbox needs a saved record; call save() first")
        wanted = set(ids)
        record.outbox = [o for o in record.outbox if o["id"] not in wanted]
        record.revision += 1
        record.updated_at = now_iso()
        record.version = await self.storage.write(
            self.key, record.encode(), record.version, lease=self.lease, index=index_entry(record)
        )

    # ------------------------------------------------------------------ leases
    def _start_renewal(self) -> None:
        """Renew the lease every third of its duration while the work runs. Most runs end well before
        the first renewal, so only a timer is armed now; the renewing task starts when it fires."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        period = max(self.lease_seconds / 3, 0.01)

        async def renew() -> None:
            while self.lease is not None:
                lease = self.lease
                try:
                    self.lease = await self.storage.renew(lease)
                except StoreError as err:
                    _log.warning("%s: could not renew the lease: %s", self.id, err)
                    return
                await asyncio.sleep(period)

        def start() -> None:
            self._renewal_timer = None
            if self.lease is not None:
                self._renewer = loop.create_task(renew())

        self._renewal_timer = loop.call_later(period, start)

    async def _release(self, lease: Lease) -> None:
        await self.storage.release(lease)

    async def _release_logged(self, lease: Lease) -> None:
        try:
            await self.storage.release(lease)
        except StoreError as err:
            _log.warning("%s: releasing the lease failed (it expires on its own): %s", self.id, err)

    def _stop_renewal(self) -> asyncio.Task[None] | None:
        """Stop renewing the lease; returns the renewing task (cancelled) if one had started."""
        timer, self._renewal_timer = self._renewal_timer, None
        if timer is not None:
            timer.cancel()
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            renewer.cancel()
        return renewer

    async def _release_quietly(self) -> None:
        renewer = self._stop_renewal()
        if renewer is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await renewer
        lease, self.lease = self.lease, None
        if lease is not None:
            try:
                await self.storage.release(lease)
            except StoreError as err:  # never hide the error that brought us here
                _log.warning("%s: releasing the lease failed: %s", self.id, err)

    # ------------------------------------------------------------------ context managers
    async def __aenter__(self) -> Actor:
        return await self.init()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self._finish(exc_type is None)

    async def _finish(self, save: bool) -> None:
        """Save (on a clean exit only), then close whatever happens."""
        try:
            if save:
                await self.save()
        finally:
            await self.close()

    # ------------------------------------------------------------------ synchronous twins
    # For code without an event loop: each runs its coroutine on the process's background loop thread
    # (durable_xstate.stores.sync.background_loop) and blocks for it; results and errors are the same.
    def init_sync(self) -> Actor:
        """:meth:`init` for synchronous code."""
        return background_loop().run(self.init())

    def save_sync(self) -> str:
        """:meth:`save` for synchronous code."""
        return background_loop().run(self.save())

    def close_sync(self) -> None:
        """:meth:`close` for synchronous code."""
        background_loop().run(self.close())

    def confirm_outbox_sync(self, ids: list[str]) -> None:
        """:meth:`confirm_outbox` for synchronous code."""
        background_loop().run(self.confirm_outbox(ids))

    def confirm_outbox_only_sync(self, ids: list[str], *, attempts: int = 20) -> None:
        """:meth:`confirm_outbox_only` for synchronous code."""
        background_loop().run(self.confirm_outbox_only(ids, attempts=attempts))

    def __enter__(self) -> Actor:
        return background_loop().run(self.init())

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        background_loop().run(self._finish(exc_type is None))  # one trip to the loop thread, not two


def _resolve_path(root: Actor, path: list[str]) -> Actor | None:
    actor: Actor | None = root
    for child_id in path:
        if actor is None:
            return None
        actor = actor.get_snapshot().children.get(child_id)
    return actor


class _KeptTimers:
    """A loaded record's timers, left unparsed in the actor's scheduler (``Scheduler.keep_deferred``)."""

    __slots__ = ("actor", "owner", "timers")

    def __init__(self, owner: PersistableActor, actor: Actor, timers: StoredTimers) -> None:
        self.owner, self.actor, self.timers = owner, actor, timers

    def remove(self, source: Actor, send_id: str) -> bool:
        path = _path_of(source)
        return path is not None and self.timers.remove(send_id, path)

    def arm(self, scheduler: Any) -> None:
        self.owner._rearm(self.actor, self.timers.parsed())


def _path_of(actor: Actor) -> list[str] | None:
    path: list[str] = []
    node: Actor | None = actor
    while node is not None and node.parent is not None:
        path.append(node.id)
        node = node.parent
    return list(reversed(path))


def _all_timers(root: Actor, kept: StoredTimers | None) -> Sequence[Timer]:
    """The timers to store: those left unparsed (if any), then the ones the scheduler holds."""
    live = _collect_timers(root) if root.system.scheduler.has_pending() else []
    return kept.with_more(live) if kept is not None else live


def _collect_timers(root: Actor) -> list[Timer]:
    timers = []
    for ev in root.system.scheduler.pending():
        source, target = _path_of(ev["source"]), _path_of(ev["target"])
        if source is None or target is None:
            continue
        timers.append(
            Timer(
                id=ev["id"],
                source=source,
                target=target,
                event=dict(ev["event"]),
                delay=float(ev["delay"]),
                started_at=float(ev["startedAt"]),
            )
        )
    return timers


async def with_persistable_actor(
    callback: Callable[[Actor], Awaitable[Any] | Any],
    *,
    retries_on_conflict: int = 0,
    **options: Any,
) -> Any:
    """Init, run ``callback(actor)``, save only if it returned, close always; return its result.

    The callback's exception propagates unchanged (a failure while closing is logged, never raised over
    it). An action or guard that raised inside the actor makes the save raise :class:`ActorFailed`
    and write nothing (unless ``on_error="save"``). With ``retries_on_conflict=N`` a WriteConflict at
    save re-runs the callback on a fresh load.
    """
    attempt = 0
    step: Any = None  # the step span, when telemetry is on: one for all attempts, conflicts as events
    try:
        while True:
            pa = PersistableActor(**options)
            tel = pa._tel
            if tel is not None:
                step = step or tel.start_step(pa.id)
                pa._step = step
            await pa.init()
            try:
                if tel is None:
                    result = callback(pa.actor)
                    if result is not None and inspect.isawaitable(result):
                        result = await result
                else:
                    with tel.child("durable_xstate.events", step, {telemetry.ACTOR_ID: pa.id}):
                        result = callback(pa.actor)
                        if inspect.isawaitable(result):
                            result = await result
                await pa.save()
                return result
            except WriteConflict as err:
                if attempt >= retries_on_conflict:
                    if retries_on_conflict and err.hint == CONFLICT_HINT:
                        raise WriteConflict(
                            err.key, err.expected, err.found, reason=err.reason,
                            hint=f"another writer saved first on each of {attempt + 1} attempts; raise "
                                 "retries_on_conflict or use locking='read-write'",
                        ) from err
                    raise
                attempt += 1
                if tel is not None:
                    tel.retries.add(1)
                    step.add_event("durable_xstate.retry", {telemetry.ATTEMPTS: attempt + 1})
            finally:
                await pa.close()
            await asyncio.sleep(min(0.001 * 2**attempt, 0.05) * (0.5 + time.time() % 0.5))
    except BaseException as err:
        if step is not None and pa._tel is not None:
            pa._tel.fail(step, err)
            pa._outcome = pa._outcome or "failed"
        raise
    finally:
        if step is not None and pa._tel is not None:
            step.set_attribute(telemetry.ATTEMPTS, attempt + 1)
            pa._tel.end_step(step, pa._outcome or "failed")


@functools.cache
def _host() -> str:
    return os.uname().nodename


def _error_json(error: BaseException) -> dict[str, str]:
    """How ``on_error="save"`` stores an actor's error: its type and (capped) message, as JSON."""
    return {"type": type(error).__name__, "message": _capped(str(error), 2000)}


def _same_machine(record: StoredRecord, logic: Any) -> bool:
    if record.machine_id is None and record.machine_version is None:
        return True
    return record.machine_id == getattr(logic, "id", None) and record.machine_version == getattr(logic, "version", None)
