"""The inspector's app over a real file store, through HTTP (Starlette's TestClient): its JSON views,
paging and filters, one bad record among good ones, replay, sending, and its guards."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from order_store import ORDER, changed_order_machine, fill
from starlette.testclient import TestClient

from durable_xstate.inspector import create_app
from durable_xstate.inspector.app import CSP, SEND_HEADER, STATIC, TOKEN_COOKIE
from durable_xstate.machine.machine import StateMachine
from durable_xstate.stores import open_store

POST = {SEND_HEADER: "1"}


def write(url: str, key: str, data: bytes) -> None:
    async def run() -> None:
        store = open_store(url)
        try:
            await store.write(key, data)
        finally:
            await store.close()

    asyncio.run(run())


def client(url: str, machines: list[StateMachine] | None = None, **options: Any) -> TestClient:
    app = create_app(lambda: open_store(url), [ORDER] if machines is None else machines, **options)
    return TestClient(app, base_url="http://127.0.0.1:8765")


@pytest.fixture
def web(store_url: str) -> Iterator[TestClient]:
    with client(store_url) as c:
        yield c


def ids(c: TestClient, **params: Any) -> list[str]:
    """Every actor id the list gives with ``params``, following its pages."""
    found: list[str] = []
    after = None
    while True:
        page = c.get("/api/actors", params={**params, **({"after": after} if after else {})}).json()
        found += [a["id"] for a in page["actors"]]
        after = page["next"]
        if after is None:
            return found


def test_the_page_and_every_asset_it_names_are_served_from_the_package(web: TestClient) -> None:
    page = web.get("/")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "connect-src 'self'" in CSP  # the browser refuses anything else
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert {"/static/inspector.js", "/static/inspector.css", "/static/vendor/mermaid.min.js"} <= set(assets)
    for asset in assets:
        assert asset.startswith("/static/"), asset  # nothing from another origin
        assert web.get(asset).status_code == 200, asset
    assert (STATIC / "vendor" / "mermaid.LICENSE").read_text().startswith("The MIT License")


def test_actors_are_listed_in_pages_and_filtered_by_machine_state_status_and_prefix(web: TestClient) -> None:
    everyone = sorted(["cart-1", "cart-2", "paying-1", "packing-1", "held-1"])
    assert ids(web, limit=2) == everyone  # three pages of two, in id order
    first = web.get("/api/actors", params={"limit": 2}).json()
    assert [a["id"] for a in first["actors"]] == everyone[:2] and first["next"] == everyone[1]
    assert ids(web, state="cart") == ["cart-1", "cart-2"]
    assert ids(web, state="awaitingPayment", limit=1) == ["paying-1"]
    assert ids(web, state="onHold", status="active", machine="order") == ["held-1"]
    assert ids(web, state='{"fulfilment": {"packing": "picking", "invoicing": "drafting"}}') == ["packing-1"]
    assert ids(web, status="done") == []
    assert ids(web, machine="no-such-machine") == []
    assert ids(web, prefix="cart-") == ["cart-1", "cart-2"]
    row = next(a for a in web.get("/api/actors").json()["actors"] if a["id"] == "paying-1")
    assert row["machine"] == {"id": "order", "version": "1"} and row["status"] == "active"
    assert row["revision"] == 2 and row["nextDueAt"] is not None


def test_an_unreadable_record_is_listed_with_its_error_and_the_others_still_are(store_url: str) -> None:
    root = Path(urlsplit(store_url).path)
    before = (root / "cart-1.json").read_bytes()
    write(store_url, "broken.json", b"{ not json")
    broken = (root / "broken.json").read_bytes()
    with client(store_url) as c:
        listed = c.get("/api/actors").json()["actors"]
        assert [a["id"] for a in listed] == ["broken", "cart-1", "cart-2", "held-1", "packing-1", "paying-1"]
        assert "RecordError" in listed[0]["error"]
        answer = c.get("/api/actor", params={"id": "broken"})
        assert answer.status_code == 422 and "RecordError" in answer.json()["error"]
        assert c.get("/api/actor", params={"id": "cart-1"}).status_code == 200
    assert (root / "broken.json").read_bytes() == broken  # looking changes nothing
    assert (root / "cart-1.json").read_bytes() == before


def test_an_actor_shows_its_state_context_timers_outbox_and_the_diagram_marked(web: TestClient, store_url: str) -> None:
    detail = web.get("/api/actor", params={"id": "paying-1"}).json()
    assert detail["state"] == "awaitingPayment" and detail["status"] == "active" and detail["revision"] == 2
    assert detail["context"]["items"] == [{"sku": "c", "price": 9, "qty": 1}]
    [timer] = detail["timers"]
    assert timer["name"] == "after paymentTimeout (awaitingPayment)" and timer["dueAt"] > timer["delay"]
    assert detail["journalCount"] == 2 and detail["canReplay"] is True
    assert "class s_awaitingPayment active" in detail["diagram"]["mermaid"]
    parallel = web.get("/api/actor", params={"id": "packing-1"}).json()
    marked = re.search(r"class (\S+) active", parallel["diagram"]["mermaid"])
    assert marked and set(marked.group(1).split(",")) == {
        "s_fulfilment__packing__picking", "s_fulfilment__invoicing__drafting"}
    assert parallel["stateText"] == "fulfilment.packing.picking, fulfilment.invoicing.drafting"
    held = web.get("/api/actor", params={"id": "held-1"}).json()
    assert held["historyValue"]  # the deep history it will resume to is shown
    assert held["outbox"] == []
    fill(store_url, {"paying-1": [{"type": "PAY", "amount": 1}]})  # too little: rejected, emitted to the outbox
    [item] = web.get("/api/actor", params={"id": "paying-1"}).json()["outbox"]
    assert item["event"]["type"] == "order.rejected" and item["id"].startswith("paying-1/")


def test_the_actor_view_says_unchanged_until_the_record_changes(store_url: str) -> None:
    with client(store_url) as c:
        first = c.get("/api/actor", params={"id": "cart-1"}).json()
        again = c.get("/api/actor", params={"id": "cart-1", "known": first["version"]}).json()
        assert again == {"unchanged": True, "version": first["version"]}
        fill(store_url, {"cart-1": [{"type": "CHECKOUT"}]})  # another process moves it on
        moved = c.get("/api/actor", params={"id": "cart-1", "known": first["version"]}).json()
        assert moved["state"] == "awaitingPayment" and moved["revision"] == first["revision"] + 1


def test_the_journal_and_the_state_at_each_revision(web: TestClient) -> None:
    entries = web.get("/api/journal", params={"id": "held-1"}).json()["entries"]
    assert [e["revision"] for e in entries] == [1, 2, 3, 4, 5]
    assert [e["events"][-1]["event"]["type"] for e in entries] == ["ADD_ITEM", "CHECKOUT", "PAY", "PICKED", "HOLD"]
    assert entries[0]["checkpoint"] is True
    at_2 = web.get("/api/revision", params={"id": "held-1", "rev": 2}).json()
    assert at_2["state"] == "awaitingPayment" and "class s_awaitingPayment active" in at_2["diagram"]["mermaid"]
    at_4 = web.get("/api/revision", params={"id": "held-1", "rev": 4}).json()
    assert at_4["stateText"] == "fulfilment.packing.packed, fulfilment.invoicing.drafting"
    first = web.get("/api/revision", params={"id": "held-1", "rev": 1}).json()
    assert first["context"]["items"] == [{"sku": "e", "price": 3, "qty": 1}]  # a checkpoint keeps the whole snapshot
    missing = web.get("/api/revision", params={"id": "held-1", "rev": 9})
    assert missing.status_code == 404 and "not in its journal" in missing.json()["error"]
    assert web.get("/api/revision", params={"id": "held-1", "rev": "x"}).status_code == 400


def test_an_actor_of_a_machine_not_given_is_shown_without_a_diagram_saying_why(store_url: str) -> None:
    with client(store_url, machines=[]) as c:
        detail = c.get("/api/actor", params={"id": "cart-1"}).json()
        assert detail["diagram"] == {"mermaid": None, "note": detail["diagram"]["note"]}
        assert "'order' was not given" in detail["diagram"]["note"] and detail["canReplay"] is False
        refused = c.post("/api/replay", json={"id": "cart-1"}, headers=POST)
        assert refused.status_code == 409 and "not given" in refused.json()["error"]


def test_replay_reproduces_the_history_and_detects_a_machine_that_no_longer_does(store_url: str) -> None:
    with client(store_url) as c:
        report = c.post("/api/replay", json={"id": "held-1", "to": 4}, headers=POST).json()
        assert report["reproduces"] is True and (report["from"], report["to"]) == (1, 4)
        assert report["stateText"] == "fulfilment.packing.packed, fulfilment.invoicing.drafting"
        assert report["context"]["paid"] == 3
    with client(store_url, machines=[changed_order_machine()]) as c:
        report = c.post("/api/replay", json={"id": "held-1"}, headers=POST).json()
        assert report["reproduces"] is False and report["divergedAt"] == 3
        assert report["actual"][0] == "onHold"


def test_sending_is_off_unless_allowed(store_url: str) -> None:
    with client(store_url) as c:
        refused = c.post("/api/send", json={"id": "cart-1", "event": {"type": "CHECKOUT"}}, headers=POST)
        assert refused.status_code == 403 and "--allow-send" in refused.json()["error"]
        assert c.get("/api/actor", params={"id": "cart-1"}).json()["revision"] == 1


def test_an_allowed_send_is_one_durable_step_journaled_as_the_inspectors(store_url: str) -> None:
    with client(store_url, allow_send=True) as c:
        sent = c.post("/api/send", json={"id": "cart-1", "event": {"type": "CHECKOUT"}}, headers=POST).json()
        assert sent == {"handled": True, "state": "awaitingPayment", "status": "active", "revision": 2}
        ignored = c.post("/api/send", json={"id": "cart-1", "event": {"type": "NOPE"}}, headers=POST).json()
        assert ignored["handled"] is False and ignored["revision"] == 2  # nothing changed: nothing written
        last = c.get("/api/journal", params={"id": "cart-1"}).json()["entries"][-1]
        assert last["meta"] == {"by": "durable-xstate inspector"}
        for body, status in [({"id": "nobody", "event": {"type": "X"}}, 404),
                             ({"id": "cart-1", "event": {"no": "type"}}, 400),
                             ({"id": "cart-1", "event": "CHECKOUT"}, 400),
                             ({"event": {"type": "X"}}, 400)]:
            assert c.post("/api/send", json=body, headers=POST).status_code == status, body
        assert c.get("/api/actor", params={"id": "nobody"}).status_code == 404  # nothing was created


def test_a_post_without_the_inspectors_header_is_refused(store_url: str) -> None:
    with client(store_url, allow_send=True) as c:
        for path in ("/api/send", "/api/replay"):
            refused = c.post(path, json={"id": "cart-1", "event": {"type": "CHECKOUT"}})
            assert refused.status_code == 403 and SEND_HEADER in refused.json()["error"]
        assert c.get("/api/actor", params={"id": "cart-1"}).json()["revision"] == 1


def test_a_request_naming_another_host_is_refused_on_loopback(store_url: str) -> None:
    with client(store_url) as c:
        for host in ("evil.example", "127.0.0.1.nip.io", "0.0.0.0"):
            refused = c.get("/api/actors", headers={"host": f"{host}:8765"})
            assert refused.status_code == 421, host
        assert c.get("/api/actors", headers={"host": "localhost:8765"}).status_code == 200


def test_with_a_token_every_request_needs_it(store_url: str) -> None:
    with client(store_url, token="s3cret", loopback=False) as c:
        assert c.get("/").status_code == 401
        assert c.get("/api/actors").status_code == 401
        assert c.get("/api/actors", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/actors", headers={"authorization": "Bearer s3cret"}).status_code == 200
        entered = c.get("/?token=s3cret", follow_redirects=False)
        assert entered.status_code == 303 and entered.headers["location"] == "/"
        assert "httponly" in entered.headers["set-cookie"].lower()
        assert "samesite=strict" in entered.headers["set-cookie"].lower()
        c.cookies.set(TOKEN_COOKIE, "s3cret")
        assert c.get("/api/actors", headers={"host": "inspector.internal:8765"}).status_code == 200


def test_ids_that_could_escape_the_store_are_refused(web: TestClient, store_url: str) -> None:
    for bad in ("../cart-1", "/etc/passwd", "a/../../b", "x\x00y"):
        answer = web.get("/api/actor", params={"id": bad})
        assert answer.status_code == 400 and "InvalidKey" in answer.json()["error"], bad


@settings(max_examples=60)
@given(actor_id=st.text(max_size=40))
def test_any_id_is_an_answer_never_a_server_error(actor_id: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    url = _shared_store(tmp_path_factory)
    with client(url) as c:
        for path in ("/api/actor", "/api/journal"):
            answer = c.get(path, params={"id": actor_id})
            assert answer.status_code in (200, 400, 404), (path, actor_id, answer.text)
            assert "error" in answer.json() or answer.json().get("id") == actor_id


_SHARED: dict[str, str] = {}


def _shared_store(factory: pytest.TempPathFactory) -> str:
    if "url" not in _SHARED:
        url = f"file://{factory.mktemp('inspector-any-id') / 'store'}"
        fill(url, {"cart-1": [{"type": "ADD_ITEM", "sku": "a", "price": 1}]})
        _SHARED["url"] = url
    return _SHARED["url"]
