"""DynamoDB on a single-threaded moto server (or DURABLE_XSTATE_TEST_DYNAMODB_URL, e.g. real AWS).

The session shares one storage table and one lock table; each test gets its own key prefix.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from harness import BackendUnderTest
from moto_support import dead_variant, dynamodb_url, moto_server, with_namespace

__all__ = ["dynamodb_base_url", "make_backend", "moto_server"]

ENV = "DURABLE_XSTATE_TEST_DYNAMODB_URL"


def dynamodb_base_url(request: pytest.FixtureRequest, namespace: str) -> str:
    """A DynamoDB URL for ``namespace``: from the environment, or on the session's moto server."""
    configured = os.environ.get(ENV)
    if configured:
        return with_namespace(configured, namespace)
    endpoint: str = request.getfixturevalue("moto_server")
    return dynamodb_url(endpoint, namespace)


def make_backend(request: pytest.FixtureRequest, namespace: str, tmp_path: Path) -> BackendUnderTest:
    url = dynamodb_base_url(request, namespace)
    return BackendUnderTest("dynamodb", url, dead_url=dead_variant(url), serial_server=not os.environ.get(ENV))
