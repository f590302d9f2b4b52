"""examples/django_orders: an actor per model row; views send events with Django's test client."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from examples_support import EXAMPLES

PROJECT = EXAMPLES / "django_orders"


@pytest.fixture(scope="module")
def django_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The example's settings, with its two SQLite files (Django's and the actors') in a temp dir."""
    data = tmp_path_factory.mktemp("django_orders")
    os.environ["ORDERS_DATA_DIR"] = str(data)
    os.environ["DJANGO_SETTINGS_MODULE"] = "orders_site.settings"
    sys.path.insert(0, str(PROJECT))
    import django
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    django.setup()
    setup_test_environment()  # lets the test client's host in
    call_command("migrate", verbosity=0)
    from orders.models import Order

    yield Order
    from orders.actors import store

    from durable_xstate.stores.sync import background_loop

    background_loop().run(store.close())
    sys.path.remove(str(PROJECT))
    del os.environ["ORDERS_DATA_DIR"], os.environ["DJANGO_SETTINGS_MODULE"]


def client() -> Any:
    from django.test import Client  # once the settings are in place

    return Client()


def post(pk: int, event: Any) -> Any:
    return client().post(f"/orders/{pk}/events", event, content_type="application/json")


def test_each_row_has_its_own_actor(django_project: Any) -> None:
    Order = django_project
    alice, bob = Order.objects.create(customer="alice"), Order.objects.create(customer="bob")
    assert alice.actor_id != bob.actor_id
    assert post(alice.pk, {"type": "ADD_ITEM", "sku": "book", "price": 25}).json()["context"]["total"] == 25
    response = post(alice.pk, {"type": "CHECKOUT"})
    assert response.status_code == 200 and response.json()["state"] == "awaitingPayment"
    shown = client().get(f"/orders/{bob.pk}/").json()
    assert shown == {"order": bob.pk, "state": "cart", "context": shown["context"]}
    assert shown["context"]["items"] == []
    paid = post(alice.pk, {"type": "PAY", "amount": 25}).json()
    assert paid["state"] == {"fulfilment": {"packing": "picking", "invoicing": "drafting"}}
    assert client().get(f"/orders/{alice.pk}/").json()["state"] == paid["state"]  # it was stored


def test_bad_requests(django_project: Any) -> None:
    Order = django_project
    order = Order.objects.create(customer="carol")
    assert post(order.pk, "not json").status_code == 400
    assert post(order.pk, {"tipe": "ADD_ITEM"}).status_code == 400
    assert post(order.pk + 1000, {"type": "ADD_ITEM"}).status_code == 404
    assert client().get(f"/orders/{order.pk}/events").status_code == 405


def test_parallel_requests_on_one_row_are_all_applied(django_project: Any) -> None:
    Order = django_project
    order = Order.objects.create(customer="dave")
    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(lambda n: post(order.pk, {"type": "ADD_ITEM", "sku": f"s{n}", "price": 1}).status_code,
                                 range(10)))
    assert statuses == [200] * 10
    assert client().get(f"/orders/{order.pk}/").json()["context"]["total"] == 10
