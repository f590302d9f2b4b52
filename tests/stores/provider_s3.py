"""S3 on a single-threaded moto server (or DURABLE_XSTATE_TEST_S3_URL), paired with the DynamoDB lock.

S3 has no locks: the suite opens it with ``lock=`` a DynamoDB URL (from the same moto server, or
DURABLE_XSTATE_TEST_DYNAMODB_URL). Each test gets its own bucket prefix and lock prefix.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from harness import BackendUnderTest
from moto_support import BUCKET, REGION, dead_variant, moto_server, with_namespace
from provider_dynamodb import dynamodb_base_url

__all__ = ["make_backend", "moto_server", "s3_url"]

ENV = "DURABLE_XSTATE_TEST_S3_URL"


def s3_url(request: pytest.FixtureRequest, namespace: str) -> str:
    configured = os.environ.get(ENV)
    if configured:
        return with_namespace(configured, namespace)
    endpoint: str = request.getfixturevalue("moto_server")
    return f"s3://{BUCKET}/{namespace}/?endpoint_url={endpoint}&region={REGION}"


def make_backend(request: pytest.FixtureRequest, namespace: str, tmp_path: Path) -> BackendUnderTest:
    url = s3_url(request, namespace)
    lock_url = dynamodb_base_url(request, namespace)
    # The contract's fault test opens dead_url for the storage AND as the lock URL, so the dead S3 URL
    # carries its (equally dead) lock in its own ``lock=`` option.
    dead = dead_variant(url, lock=dead_variant(lock_url))
    return BackendUnderTest("s3", url, lock_url=lock_url, dead_url=dead, serial_server=not os.environ.get(ENV))
