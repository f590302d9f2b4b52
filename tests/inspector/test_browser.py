"""The inspector in a real browser: Debian's Chromium driven by Playwright, against ``durable-xstate
serve`` started as its own process on a free port over a real file store.

Each test checks what a person sees: the actor list and its pages, the filters, the statechart with
the active states marked (in Mermaid's SVG), the journal as a timeline with time travel and replay,
live updates, sending when allowed, and the token. Every page must load nothing from anywhere but the
inspector and raise no script error. Screenshots go to ``test-artifacts/inspector/``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from harness import HANG_SECONDS
from order_store import ACTORS, fill
from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "inspector"
ORDER = "durable_xstate.examples.order:machine"
#: Chromium as the machine-wide probe runs it: no sandbox (root in a container), no calls home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STARTUP_SECONDS = HANG_SECONDS  # caps for a hang only: each wait ends as soon as its condition holds
LIVE_MS = HANG_SECONDS * 1000

pytestmark = pytest.mark.browser
expect.set_options(timeout=LIVE_MS)  # Playwright's 5 s default is a wall-time budget; ours is a hang cap


def chromium() -> str:
    found = os.environ.get("DURABLE_XSTATE_CHROMIUM") or shutil.which("chromium")
    if found is None:
        pytest.fail("Chromium is needed for the inspector's browser tests: scripts/test installs Debian's "
                    "package (apt-get install chromium), or set DURABLE_XSTATE_CHROMIUM to a Chromium binary")
    return found


class Served:
    """``durable-xstate serve`` in a process of its own; ``url`` is the address it printed."""

    def __init__(self, store: str, *options: str) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
               "COLUMNS": "400"}
        self.store = store
        self.process = subprocess.Popen(
            [sys.executable, "-m", "durable_xstate", "serve", "--store", store, "--port", "0", "--poll", "0.3",
             *options],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )
        self.url = self._address()

    def _address(self) -> str:
        assert self.process.stdout is not None
        seen: list[str] = []
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if line == "" and self.process.poll() is not None:
                break
            seen.append(line)
            found = re.search(r"durable-xstate inspector (http://\S+)", line)
            if found:
                return found.group(1)
        self.stop()
        raise AssertionError(f"serve did not print its address: {''.join(seen)!r}")

    def at(self, path: str = "/", *, token: bool = True) -> str:
        """``path`` on this server at 127.0.0.1, with the printed token (if any) unless ``token=False``."""
        parts = urlsplit(self.url)
        path, _, fragment = path.partition("#")
        query = f"?{parts.query}" if parts.query and token else ""
        return f"http://127.0.0.1:{parts.port}{path}{query}" + (f"#{fragment}" if fragment else "")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Five order actors, the order machine given, pages of two, sending off."""
    url = f"file://{tmp_path_factory.mktemp('inspector') / 'store'}"
    fill(url)
    server = Served(url, "-m", ORDER, "--page-size", "2")
    yield server
    server.stop()


@pytest.fixture
def own_store(tmp_path: Path) -> str:
    url = f"file://{tmp_path / 'store'}"
    fill(url)
    return url


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page that fails the test on a script error or on any request beyond 127.0.0.1."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(LIVE_MS)
    opened = context.new_page()
    errors: list[str] = []
    elsewhere: list[str] = []
    opened.on("pageerror", lambda err: errors.append(str(err)))
    opened.on("request", lambda r: None if urlsplit(r.url).hostname == "127.0.0.1" else elsewhere.append(r.url))
    yield opened
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    opened.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert errors == [], f"script errors on the page: {errors}"
    assert elsewhere == [], f"the page asked for something beyond the inspector: {elsewhere}"


def ready(page: Page, url: str) -> Page:
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    return page


def listed(page: Page) -> list[str]:
    return page.eval_on_selector_all("#actors tbody tr", "rows => rows.map(r => r.dataset.id)")


def marked(page: Page) -> set[str]:
    """The states Mermaid drew as active: the ``s_…`` ids of the SVG nodes with class ``active``."""
    ids: list[str] = page.eval_on_selector_all("#diagram svg g.node.active", "nodes => nodes.map(n => n.id)")
    return {m.group(1) for i in ids if (m := re.search(r"state-(s_\w+?)-\d+$", i))}


def open_actor(page: Page, actor_id: str) -> None:
    page.click(f"#actors tbody tr[data-id='{actor_id}']")
    expect(page.locator("#actor-id")).to_have_text(actor_id)
    page.wait_for_selector("#diagram svg")


def test_the_list_shows_the_actors_in_pages(page: Page, served: Served) -> None:
    ready(page, served.at())
    everyone = sorted(ACTORS)
    expect(page.locator("#actors tbody tr")).to_have_count(2)
    assert listed(page) == everyone[:2]
    page.click("#more")
    expect(page.locator(f"#actors tbody tr[data-id='{everyone[2]}']")).to_be_visible()
    assert listed(page) == everyone[2:4]
    page.click("#more")
    expect(page.locator("#actors tbody tr")).to_have_count(1)
    assert listed(page) == everyone[4:]
    expect(page.locator("#more")).to_be_hidden()
    page.click("#first")
    expect(page.locator(f"#actors tbody tr[data-id='{everyone[0]}']")).to_be_visible()


def test_the_filters_narrow_the_list(page: Page, served: Served) -> None:
    ready(page, served.at())
    page.fill("#filters input[name='state']", "cart")
    page.click("#filters button")
    expect(page.locator("#actors tbody tr")).to_have_count(2)
    assert listed(page) == ["cart-1", "cart-2"]
    page.fill("#filters input[name='state']", "")
    page.select_option("#filters select[name='status']", "done")
    page.click("#filters button")
    expect(page.locator("#actors-empty")).to_be_visible()
    page.select_option("#filters select[name='status']", "active")
    page.fill("#filters input[name='prefix']", "pa")
    page.click("#filters button")
    expect(page.locator("#actors tbody tr")).to_have_count(2)
    assert listed(page) == ["packing-1", "paying-1"]


def test_an_actor_is_drawn_with_its_active_states_marked(page: Page, served: Served) -> None:
    ready(page, served.at())
    page.fill("#filters input[name='prefix']", "pa")
    page.click("#filters button")
    expect(page.locator("#actors tbody tr")).to_have_count(2)
    open_actor(page, "packing-1")
    assert marked(page) == {"s_fulfilment__packing__picking", "s_fulfilment__invoicing__drafting"}
    expect(page.locator("#actor-state")).to_have_text("fulfilment.packing.picking, fulfilment.invoicing.drafting")
    expect(page.locator("#actor-status")).to_have_text("active")
    open_actor(page, "paying-1")
    expect(page.locator("#timers tbody")).to_contain_text("after paymentTimeout (awaitingPayment)")
    page.wait_for_function("() => document.querySelectorAll('#diagram svg g.node.active').length === 1")
    assert marked(page) == {"s_awaitingPayment"}
    assert '"sku": "c"' in page.inner_text("#context")


def test_the_journal_is_a_timeline_with_time_travel_and_replay(page: Page, served: Served) -> None:
    ready(page, served.at("/#actor=held-1"))
    page.wait_for_selector("#diagram svg")
    assert marked(page) == {"s_onHold"}
    expect(page.locator("#journal li")).to_have_count(5)
    page.click("#journal li[data-revision='2']")
    expect(page.locator("#viewing-text")).to_contain_text("State at revision 2")
    page.wait_for_function("() => [...document.querySelectorAll('#diagram svg g.node.active')]"
                           ".some(n => n.id.includes('s_awaitingPayment'))")
    assert marked(page) == {"s_awaitingPayment"}
    page.click("#journal li[data-revision='4']")
    expect(page.locator("#viewing-text")).to_contain_text("fulfilment.packing.packed, fulfilment.invoicing.drafting")
    page.wait_for_function("() => [...document.querySelectorAll('#diagram svg g.node.active')]"
                           ".some(n => n.id.includes('s_fulfilment__packing__packed'))")
    assert marked(page) == {"s_fulfilment__packing__packed", "s_fulfilment__invoicing__drafting"}
    expect(page.locator("#revision-events")).to_contain_text('"PICKED"')
    page.click("#replay")
    expect(page.locator("#replay-result")).to_have_text("the machine reproduces revisions 1..4 (3 replayed)")
    assert '"paid": 3' in page.inner_text("#context")
    page.click("#back-to-live")
    expect(page.locator("#viewing")).to_be_hidden()
    page.wait_for_function("() => [...document.querySelectorAll('#diagram svg g.node.active')]"
                           ".some(n => n.id.includes('s_onHold'))")
    assert marked(page) == {"s_onHold"}


def test_a_link_to_a_revision_opens_it(page: Page, served: Served) -> None:
    ready(page, served.at("/#actor=held-1&rev=3"))
    expect(page.locator("#viewing-text")).to_contain_text("State at revision 3")
    page.wait_for_selector("#diagram svg")
    assert marked(page) == {"s_fulfilment__packing__picking", "s_fulfilment__invoicing__drafting"}


def test_the_page_follows_the_store_live(page: Page, own_store: str) -> None:
    server = Served(own_store, "-m", ORDER)
    try:
        ready(page, server.at())
        open_actor(page, "cart-2")
        assert marked(page) == {"s_cart"}
        fill(own_store, {"cart-2": [{"type": "CHECKOUT"}], "new-1": [{"type": "ADD_ITEM", "sku": "n", "price": 1}]})
        expect(page.locator("#actor-state")).to_have_text("awaitingPayment", timeout=LIVE_MS)
        expect(page.locator("#actor-revision")).to_have_text("2")
        page.wait_for_function("() => [...document.querySelectorAll('#diagram svg g.node.active')]"
                               ".some(n => n.id.includes('s_awaitingPayment'))")
        expect(page.locator("#journal li")).to_have_count(2)
        expect(page.locator("#actors tbody tr[data-id='new-1']")).to_be_visible(timeout=LIVE_MS)
    finally:
        server.stop()


def test_sending_an_event_from_the_page_when_allowed(page: Page, own_store: str, served: Served) -> None:
    ready(page, served.at("/#actor=cart-1"))
    expect(page.locator("#actor-id")).to_have_text("cart-1")
    expect(page.locator("#send")).to_be_hidden()  # off by default
    server = Served(own_store, "-m", ORDER, "--allow-send")
    try:
        ready(page, server.at("/#actor=cart-1"))
        expect(page.locator("#send")).to_be_visible()
        page.fill("#send-type", "ADD_ITEM")
        page.fill("#send-data", '{"sku": "z", "price": 2}')
        page.click("#send-button")
        expect(page.locator("#send-result")).to_have_text('ADD_ITEM → "cart" (active), revision 2')
        page.fill("#send-type", "CHECKOUT")
        page.fill("#send-data", "")
        page.click("#send-button")
        expect(page.locator("#send-result")).to_contain_text('CHECKOUT → "awaitingPayment"')
        expect(page.locator("#actor-state")).to_have_text("awaitingPayment")
        expect(page.locator("#journal li")).to_have_count(3)
        page.wait_for_function("() => [...document.querySelectorAll('#diagram svg g.node.active')]"
                               ".some(n => n.id.includes('s_awaitingPayment'))")
        page.fill("#send-data", "[1]")
        page.click("#send-button")
        expect(page.locator("#send-result")).to_have_text("the payload must be a JSON object")
    finally:
        server.stop()


def test_beyond_loopback_the_page_needs_the_token_it_printed(page: Page, own_store: str) -> None:
    server = Served(own_store, "-m", ORDER, "--host", "0.0.0.0")
    try:
        token = re.search(r"\?token=([\w-]+)$", server.url)
        assert token, server.url  # made up and printed, since nobody gave one
        refused = page.goto(server.at("/api/actors", token=False))
        assert refused is not None and refused.status == 401
        ready(page, server.at())  # the printed address: sets the cookie, drops the token from the bar
        assert "token" not in page.url
        expect(page.locator("#actors tbody tr")).to_have_count(len(ACTORS))
    finally:
        server.stop()
