"""examples/fastapi_orders: 20 parallel requests on one order with the locking the example recommends;
none is lost."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from examples_support import load_example
from fastapi.testclient import TestClient

from durable_xstate.persistence import journal
from durable_xstate.stores import open_store

REQUESTS = 20


@pytest.mark.parametrize("scheme", ["sqlite", "file"])
def test_twenty_parallel_requests_on_one_order_are_all_applied(
    scheme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite://{tmp_path}/actors.db" if scheme == "sqlite" else f"file://{tmp_path}/actors"
    monkeypatch.setenv("DURABLE_XSTATE_STORE", url)
    app = load_example("fastapi_orders/app.py", f"fastapi_orders_app_{scheme}").app

    def add(n: int) -> int:
        response = client.post("/orders/order-1/events", json={"type": "ADD_ITEM", "sku": f"sku-{n}", "price": 1})
        return response.status_code

    with TestClient(app) as client, ThreadPoolExecutor(REQUESTS) as pool:
        statuses = list(pool.map(add, range(REQUESTS)))
        assert statuses == [200] * REQUESTS
        last = client.post("/orders/order-1/events", json={"type": "CHECKOUT"}).json()
    assert last["state"] == "awaitingPayment"
    assert sorted(item["sku"] for item in last["context"]["items"]) == sorted(f"sku-{n}" for n in range(REQUESTS))
    assert last["context"]["total"] == REQUESTS

    async def applied() -> list[list[str]]:
        store = open_store(url)
        try:
            return [[e["event"]["type"] for e in entry.events] for entry in await journal(store, "order-1")]
        finally:
            await store.close()

    # one saved revision per request, each with its one event
    assert asyncio.run(applied()) == [["ADD_ITEM"]] * REQUESTS + [["CHECKOUT"]]


def test_a_bad_event_is_refused_by_fastapi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DURABLE_XSTATE_STORE", f"sqlite://{tmp_path}/actors.db")
    app = load_example("fastapi_orders/app.py", "fastapi_orders_app_bad").app
    with TestClient(app) as client:
        assert client.post("/orders/order-2/events", json={"tipe": "ADD_ITEM"}).status_code == 422
