"""What the S3 and DynamoDB backends share: URL options, a lazily built boto3 client, error mapping.

boto3 is synchronous; every call runs in a worker thread (``asyncio.to_thread``), or on the event loop
with the URL option ``io=inline`` (see ``stores.base.IO_MODES``). A boto3 *client* is
thread-safe, so one client per store serves all its concurrent calls. Nothing here touches global
configuration: credentials come from the environment (the usual boto3 chain) or from URL options.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
)

from ..errors import StoreConfigError, StoreError, StoreUnavailable
from .base import parse_io

__all__ = ["AWS_OPTIONS", "AwsClient", "ClientError", "check_options", "error_code", "error_message", "flag"]

T = TypeVar("T")

#: URL query options understood by both AWS backends.
AWS_OPTIONS = frozenset(
    {
        "endpoint_url",
        "region",
        "profile",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "max_attempts",
        "connect_timeout",
        "read_timeout",
        "max_pool_connections",
        "io",
    }
)


def check_options(backend: str, options: dict[str, str], own: frozenset[str]) -> None:
    """Refuse unknown options (a typo must not silently fall back to a default) and bad numbers."""
    unknown = set(options) - AWS_OPTIONS - own
    if unknown:
        known = ", ".join(sorted(AWS_OPTIONS | own))
        raise StoreConfigError(f"unknown {backend} URL option(s) {', '.join(sorted(unknown))}; known: {known}")
    for name, kind in (("max_attempts", int), ("max_pool_connections", int)):
        if name in options and not (options[name].isdigit() and int(options[name]) >= 1):
            raise StoreConfigError(f"{backend} URL option {name}={options[name]!r} must be a positive {kind.__name__}")
    for name in ("connect_timeout", "read_timeout"):
        if name in options:
            try:
                ok = float(options[name]) > 0
            except ValueError:
                ok = False
            if not ok:
                raise StoreConfigError(f"{backend} URL option {name}={options[name]!r} must be a positive number")


def flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() in {"1", "true", "yes", "on"}


def error_code(err: BaseException) -> str:
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code", ""))
    return ""


def error_message(err: BaseException) -> str:
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Message", ""))
    return ""


# Errors after which a request certainly was NOT carried out, so repeating even a non-idempotent
# conditional write is safe: the connection was never made, or the service refused it for load.
_NOT_EXECUTED_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "SlowDown",
        "TooManyRequestsException",
    }
)
_NOT_SENT = (EndpointConnectionError, ConnectTimeoutError)


class AwsClient:
    """boto3 clients for one service, built on first use (in a worker thread) and closed on close().

    Two clients share one session. The *retrying* one (botocore's standard retries) serves idempotent
    calls: reads, lists, unconditional deletes, and transactions (botocore fills in their
    ``ClientRequestToken``, so DynamoDB applies a repeated transaction once). The *single-attempt* one
    serves conditional single-item writes (``call(..., once=True)``): if such a write took effect but
    its response was lost, a blind retry would fail its own condition and report a conflict for a
    write that happened. So it is repeated only after errors that prove it was not carried out
    (no connection, throttling); any other failure is StoreUnavailable: the outcome is unknown.
    """

    def __init__(self, backend: str, service: str, options: dict[str, str], *, s3_path_style: bool = False) -> None:
        self.backend = backend
        self.service = service
        self.options = options
        self.s3_path_style = s3_path_style
        self.max_attempts = int(options.get("max_attempts", "3"))
        #: ``io=inline``: boto3 calls on the event loop instead of a worker thread (see ``IO_MODES``)
        self.inline = parse_io(backend, options) == "inline"
        self._clients: dict[bool, Any] = {}
        self._session: Any = None
        self._mutex = threading.Lock()

    def _build(self, retrying: bool = True) -> Any:
        with self._mutex:
            client = self._clients.get(retrying)
            if client is not None:
                return client
            o = self.options
            if self._session is None:
                self._session = boto3.session.Session(
                    aws_access_key_id=o.get("aws_access_key_id"),
                    aws_secret_access_key=o.get("aws_secret_access_key"),
                    aws_session_token=o.get("aws_session_token"),
                    region_name=o.get("region"),
                    profile_name=o.get("profile"),
                )
            extra: dict[str, Any] = {}
            if self.service == "s3":
                extra["s3"] = {"addressing_style": "path" if self.s3_path_style else "auto"}
            config = Config(
                retries={"mode": "standard", "max_attempts": self.max_attempts if retrying else 1},
                connect_timeout=float(o.get("connect_timeout", "5")),
                read_timeout=float(o.get("read_timeout", "30")),
                max_pool_connections=int(o.get("max_pool_connections", "32")),
                user_agent_extra="durable-xstate",
                **extra,
            )
            client = self._session.client(self.service, endpoint_url=o.get("endpoint_url"), config=config)
            self._clients[retrying] = client
            return client

    async def call(
        self,
        operation: str,
        method: str,
        /,
        *,
        expected: frozenset[str] = frozenset(),
        once: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Run ``client.<method>(**kwargs)`` in a thread.

        A ClientError whose code is in ``expected`` (contention, absence) is re-raised for the caller to
        interpret; every other failure becomes StoreUnavailable(backend, operation, cause). ``once``: a
        non-idempotent call, repeated only when it certainly was not carried out (see the class doc).
        """
        if not once:
            return await self.run(operation, lambda: getattr(self._build(), method)(**kwargs), expected=expected)
        for attempt in range(self.max_attempts):
            last = attempt + 1 == self.max_attempts
            try:
                return await self.run(
                    operation, lambda: getattr(self._build(False), method)(**kwargs), expected=expected
                )
            except StoreUnavailable as err:
                cause = err.cause
                safe = isinstance(cause, _NOT_SENT) or error_code(cause) in _NOT_EXECUTED_CODES
                if last or not safe:
                    raise
            await asyncio.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))
        raise AssertionError("unreachable")  # pragma: no cover

    async def run(self, operation: str, fn: Callable[[], T], /, *, expected: frozenset[str] = frozenset()) -> T:
        try:
            if self.inline:
                result = fn()
                await asyncio.sleep(0)  # still a suspension point
                return result
            return await asyncio.to_thread(fn)
        except StoreError:
            raise
        except ClientError as err:
            if error_code(err) in expected:
                raise
            raise StoreUnavailable(self.backend, operation, err) from err
        except (BotoCoreError, OSError, ValueError) as err:
            # connection refused / timeouts / no credentials / no region / a bad endpoint URL
            raise StoreUnavailable(self.backend, operation, err) from err

    def client(self) -> Any:
        """The client, built if needed (call from a worker thread: building it does file I/O)."""
        return self._build()

    async def close(self) -> None:
        with self._mutex:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            try:
                if self.inline:
                    client.close()
                else:
                    await asyncio.to_thread(client.close)
            except Exception as err:  # closing idle HTTP connections: nothing to report beyond this
                raise StoreUnavailable(self.backend, "close", err) from err
