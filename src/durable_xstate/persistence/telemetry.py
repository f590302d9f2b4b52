"""OpenTelemetry for durable steps: spans, metrics and W3C trace context (docs/telemetry.md).

Only ``opentelemetry-api`` is imported, once, here; without it (or with no tracer and no meter
provider configured) :func:`active` returns None and the callers skip every hook: a durable step
then pays one provider check, nothing else.

Spans: ``durable_xstate.step`` (init .. save/close) with children ``durable_xstate.load``,
``durable_xstate.events`` (the callback of ``with_persistable_actor``) and ``durable_xstate.save``;
the store calls below them (``durable_xstate.store.read|write|delete``) and the lock waits
(``durable_xstate.lock.acquire``). Metrics: see :class:`Telemetry`.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from ..errors import WriteConflict
from .index import state_label

try:
    from opentelemetry import context as otel_context
    from opentelemetry import metrics as otel_metrics
    from opentelemetry import trace as otel_trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    AVAILABLE = True
except ImportError:  # the optional extra is not installed: every hook stays off
    AVAILABLE = False

# The public getters cost ~1.3 µs a step (each reads os.environ); while neither global provider is set
# (and no environment variable names one) a look at the API's own two globals says "off" in ~0.1 µs.
_globals: tuple[Any, Any] | None = None
if AVAILABLE:
    import os as _os

    from opentelemetry.metrics import _internal as _metrics_globals

    if (
        hasattr(otel_trace, "_TRACER_PROVIDER")
        and hasattr(_metrics_globals, "_METER_PROVIDER")
        and "OTEL_PYTHON_TRACER_PROVIDER" not in _os.environ
        and "OTEL_PYTHON_METER_PROVIDER" not in _os.environ
    ):
        _globals = (otel_trace, _metrics_globals)

__all__ = [
    "ACTOR_ID",
    "ATTEMPTS",
    "AVAILABLE",
    "MACHINE_ID",
    "MACHINE_VERSION",
    "OUTCOME",
    "REVISION",
    "STATE",
    "STORE_KEY",
    "Telemetry",
    "active",
    "attach_traceparent",
    "configure",
    "detach",
    "instrument",
    "with_traceparent",
]

ACTOR_ID = "durable_xstate.actor.id"
MACHINE_ID = "durable_xstate.machine.id"
MACHINE_VERSION = "durable_xstate.machine.version"
REVISION = "durable_xstate.revision"
STATE = "durable_xstate.state"
OUTCOME = "durable_xstate.outcome"
ATTEMPTS = "durable_xstate.attempts"
STORE_KEY = "durable_xstate.store.key"
LOCK_OWNER = "durable_xstate.lock.owner"

_SCOPE = "durable_xstate"
_cache: tuple[Any, Any, Telemetry | None] = (None, None, None)
_chosen: Telemetry | None = None  # providers handed to configure(), ahead of the global ones


def configure(*, tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Report to these providers instead of the global ones (``configure()`` goes back to the global
    ones). Without opentelemetry installed it does nothing."""
    global _chosen
    if not AVAILABLE:
        return
    if tracer_provider is None and meter_provider is None:
        _chosen = None
        return
    _chosen = Telemetry(
        tracer_provider if tracer_provider is not None else otel_trace.NoOpTracerProvider(),
        meter_provider if meter_provider is not None else otel_metrics.NoOpMeterProvider(),
    )


def active() -> Telemetry | None:
    """The telemetry to report to, or None when opentelemetry is missing or nothing is configured.

    Cheap enough to call once per step: ~0.1 µs while no provider is set, else two provider look-ups
    compared with the last ones seen."""
    if not AVAILABLE:
        return None
    if _chosen is not None:
        return _chosen
    if _globals is not None and _globals[0]._TRACER_PROVIDER is None and _globals[1]._METER_PROVIDER is None:
        return None
    tracer_provider = otel_trace.get_tracer_provider()
    meter_provider = otel_metrics.get_meter_provider()
    cached = _cache
    if tracer_provider is cached[0] and meter_provider is cached[1]:
        return cached[2]
    return _rebuild(tracer_provider, meter_provider)


def _rebuild(tracer_provider: Any, meter_provider: Any) -> Telemetry | None:
    global _cache
    tracing = not isinstance(tracer_provider, otel_trace.ProxyTracerProvider | otel_trace.NoOpTracerProvider)
    metering = type(meter_provider).__name__ not in ("_ProxyMeterProvider", "NoOpMeterProvider")
    telemetry = Telemetry(tracer_provider, meter_provider) if tracing or metering else None
    _cache = (tracer_provider, meter_provider, telemetry)
    return telemetry


class Telemetry:
    """The tracer and the instruments of one pair of configured providers.

    Counters: ``durable_xstate.steps`` (by ``durable_xstate.outcome``), ``durable_xstate.conflicts``,
    ``durable_xstate.retries``, ``durable_xstate.timers.fired``, ``durable_xstate.events``;
    histograms: ``durable_xstate.lock.wait`` (seconds), ``durable_xstate.outbox.size``."""

    def __init__(self, tracer_provider: Any, meter_provider: Any) -> None:
        self.tracer = tracer_provider.get_tracer(_SCOPE)
        meter = meter_provider.get_meter(_SCOPE)
        self.steps = meter.create_counter("durable_xstate.steps", description="durable steps, by outcome")
        self.conflicts = meter.create_counter("durable_xstate.conflicts", description="saves that lost a compare-and-set")
        self.retries = meter.create_counter("durable_xstate.retries", description="steps re-run after a conflict")
        self.timers_fired = meter.create_counter("durable_xstate.timers.fired", description="stored timers fired on load")
        self.events = meter.create_counter("durable_xstate.events", description="events delivered to durable actors")
        self.lock_wait = meter.create_histogram("durable_xstate.lock.wait", unit="s", description="time to acquire a lease")
        self.outbox = meter.create_histogram("durable_xstate.outbox.size", description="outbox entries after a save")

    # ------------------------------------------------------------------ spans
    def start_step(self, actor_id: str) -> Any:
        """A step span, child of the current context (not made current: it may outlive this task)."""
        return self.tracer.start_span("durable_xstate.step", attributes={ACTOR_ID: actor_id})

    @contextlib.contextmanager
    def child(self, name: str, parent: Any, attributes: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """A current span named ``name`` under ``parent`` (a span, or None for the current context)."""
        ctx = otel_trace.set_span_in_context(parent) if parent is not None else None
        with self.tracer.start_as_current_span(name, context=ctx, attributes=attributes) as span:
            yield span

    def end_step(self, span: Any, outcome: str | None) -> None:
        if outcome is not None:
            span.set_attribute(OUTCOME, outcome)
        self.steps.add(1, {OUTCOME: outcome or "none"})
        span.end()

    def fail(self, span: Any, error: BaseException) -> None:
        """Mark ``span`` as failed by ``error`` (its type and message, recorded as an exception event)."""
        span.record_exception(error)
        span.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, f"{type(error).__name__}"))

    def describe(self, span: Any, pa: Any) -> None:
        """Put what the actor is (machine, revision, state) on ``span``."""
        record = pa.record
        if record is not None:
            if record.machine_id is not None:
                span.set_attribute(MACHINE_ID, str(record.machine_id))
            if record.machine_version is not None:
                span.set_attribute(MACHINE_VERSION, str(record.machine_version))
            span.set_attribute(REVISION, record.revision)
        actor = pa._actor
        if actor is not None:
            value = getattr(actor.get_snapshot(), "value", None)
            if value is not None:
                span.set_attribute(STATE, state_label(value))

    # ------------------------------------------------------------------ actors
    def watch(self, actor: Any) -> EventWatch:
        """Count the events delivered in ``actor``'s system (an inspection observer)."""
        watch = EventWatch()
        actor.system.inspect(watch)
        return watch


class EventWatch:
    """Counts the events delivered to the actors of a system (``@xstate.event`` inspections, not the
    ``xstate.init`` of an actor starting); those delivered while stored timers fire are timers fired."""

    __slots__ = ("events", "fire_start", "timers")

    def __init__(self) -> None:
        self.events = 0
        self.fire_start = -1
        self.timers = 0

    def __call__(self, inspection: Mapping[str, Any]) -> None:
        if inspection.get("type") == "@xstate.event":
            event = inspection.get("event")
            if not (isinstance(event, Mapping) and event.get("type") == "xstate.init"):  # not an actor starting
                self.events += 1

    def before_fire(self) -> None:
        self.fire_start = self.events

    def after_fire(self) -> None:
        if self.fire_start >= 0:
            self.timers += self.events - self.fire_start
            self.fire_start = -1


def outcome_of(error: BaseException | None, before: str | None, after: str | None) -> str:
    """``committed``, ``unchanged``, ``conflict`` or ``failed``: what a save did."""
    if error is not None:
        return "conflict" if isinstance(error, WriteConflict) else "failed"
    return "unchanged" if before is not None and after == before else "committed"


class TracedStorage:
    """A LockableStorage whose reads, writes, deletes and lock acquisitions are spanned (and the lock
    wait timed); everything else goes to the wrapped storage unchanged."""

    def __init__(self, inner: Any, telemetry: Telemetry) -> None:
        self._inner = inner
        self._telemetry = telemetry

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def read(self, key: str) -> Any:
        with self._telemetry.child("durable_xstate.store.read", None, {STORE_KEY: key}):
            return await self._inner.read(key)

    async def write(self, key: str, data: bytes, expected_version: str | None = None, **kw: Any) -> Any:
        with self._telemetry.child("durable_xstate.store.write", None, {STORE_KEY: key}) as span:
            span.set_attribute("durable_xstate.store.bytes", len(data))
            return await self._inner.write(key, data, expected_version, **kw)

    async def delete(self, key: str, expected_version: str | None = None, **kw: Any) -> Any:
        with self._telemetry.child("durable_xstate.store.delete", None, {STORE_KEY: key}):
            return await self._inner.delete(key, expected_version, **kw)

    async def acquire(self, key: str, owner: str, lease_seconds: float = 30.0, timeout: float = 5.0) -> Any:
        telemetry = self._telemetry
        started = time.perf_counter()
        acquired = False
        try:
            with telemetry.child("durable_xstate.lock.acquire", None, {STORE_KEY: key, LOCK_OWNER: owner}):
                lease = await self._inner.acquire(key, owner, lease_seconds, timeout)
                acquired = True
                return lease
        finally:
            telemetry.lock_wait.record(time.perf_counter() - started, {"durable_xstate.lock.acquired": acquired})


# ---------------------------------------------------------------------- PersistableActor hooks
def instrument(pa: Any, telemetry: Telemetry) -> None:
    """Trace ``pa`` (a PersistableActor): its store calls, and ``init``, ``save`` and ``close`` replaced
    on the instance by traced ones. Only done when telemetry is on, so an untraced step pays nothing."""
    pa._tel = telemetry
    pa._step = None  # the step span: init .. close, or the one with_persistable_actor gives
    pa._step_owned = False
    pa._watch = None  # the EventWatch of the loaded actor's system
    pa._outcome = None  # what the last save did
    pa.storage = TracedStorage(pa.storage, telemetry)
    pa.init = _traced_load(pa, pa.init)
    pa.save = _traced_save(pa, pa.save)
    pa.close = _traced_close(pa, pa.close)


def _traced_load(pa: Any, init: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
    """``init`` in a load span; opens the step span unless one was given."""
    telemetry: Telemetry = pa._tel

    @functools.wraps(init)
    async def traced() -> Any:
        if pa._step is None:  # used directly: the step runs from init to close
            pa._step, pa._step_owned = telemetry.start_step(pa.id), True
        try:
            with telemetry.child("durable_xstate.load", pa._step, {ACTOR_ID: pa.id}) as span:
                actor = await init()
                telemetry.describe(span, pa)
        except BaseException as err:
            if pa._step_owned:
                step, pa._step, pa._step_owned = pa._step, None, False
                telemetry.fail(step, err)
                telemetry.end_step(step, "failed")
            raise
        telemetry.describe(pa._step, pa)
        watch = pa._watch
        if watch is not None and watch.timers:
            telemetry.timers_fired.add(watch.timers)
        return actor

    return traced


def _traced_save(pa: Any, save: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
    """``save`` in a save span; puts the outcome, revision and state on the step."""
    telemetry: Telemetry = pa._tel

    @functools.wraps(save)
    async def traced() -> Any:
        before = pa.record.version if pa.record is not None else None
        error: BaseException | None = None
        version = None
        with telemetry.child("durable_xstate.save", pa._step, {ACTOR_ID: pa.id}) as span:
            try:
                version = await save()
                return version
            except BaseException as err:
                error = err
                raise
            finally:
                outcome = outcome_of(error, before, version)
                pa._outcome = outcome
                span.set_attribute(OUTCOME, outcome)
                if outcome == "conflict":
                    telemetry.conflicts.add(1)
                telemetry.outbox.record(len(pa.outbox))
                watch = pa._watch
                if watch is not None and watch.events:
                    telemetry.events.add(watch.events - watch.timers)
                    watch.events = watch.timers = 0
                if pa._step is not None:
                    telemetry.describe(pa._step, pa)
                    pa._step.set_attribute(OUTCOME, outcome)

    return traced


def _traced_close(pa: Any, close: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """``close``, then the end of the step span if ``pa`` opened it."""
    telemetry: Telemetry = pa._tel

    @functools.wraps(close)
    async def traced() -> None:
        try:
            await close()
        finally:
            if pa._step_owned:
                step, pa._step, pa._step_owned = pa._step, None, False
                telemetry.end_step(step, pa._outcome)

    return traced


# ---------------------------------------------------------------------- trace context (CloudEvents)
def attach_traceparent(carrier: Mapping[str, Any] | None) -> Any:
    """Make the W3C trace context in ``carrier`` (``traceparent``, ``tracestate``) the current one;
    returns a token for :func:`detach` (None when there is nothing to attach or telemetry is off)."""
    if carrier is None or not carrier.get("traceparent") or active() is None:
        return None
    fields = {k: str(carrier[k]) for k in ("traceparent", "tracestate") if carrier.get(k)}
    ctx = TraceContextTextMapPropagator().extract(fields)
    return otel_context.attach(ctx)


def detach(token: Any) -> None:
    if token is not None:
        otel_context.detach(token)


def with_traceparent(event: dict[str, Any], pa: Any) -> dict[str, Any]:
    """``event`` (a structured CloudEvent) with the ``traceparent`` of ``pa``'s step span, if traced."""
    span = getattr(pa, "_step", None)
    if span is None or not span.get_span_context().is_valid:
        return event
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier, context=otel_trace.set_span_in_context(span))
    return {**event, **carrier}

