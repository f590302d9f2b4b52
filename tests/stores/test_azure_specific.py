"""What the contract suite cannot see of the Azure Blob store, on Azurite: ETags as versions, the Azure lease
under each lock, keys that must stay inside the container prefix, URLs and credentials."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from harness import HELD, BackendUnderTest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from provider_azure import make_backend

from durable_xstate.errors import InvalidKey, LeaseLost, StoreConfigError, WriteConflict
from durable_xstate.stores import IndexEntry, LockableStorage, open_backend, open_store
from durable_xstate.stores.azure import AZURITE_KEY, AzureBlobStore, lease_id

pytestmark = pytest.mark.usefixtures("azurite_server")


@pytest.fixture
def azure(request: pytest.FixtureRequest, tmp_path: Path) -> BackendUnderTest:
    return make_backend(request, f"s{id(request) % 10**9}", tmp_path)


@pytest_asyncio.fixture
async def store(azure: BackendUnderTest) -> AsyncIterator[LockableStorage]:
    s = azure.open()
    try:
        yield s
    finally:
        await s.close()


def raw(store: LockableStorage) -> AzureBlobStore:
    assert isinstance(store.storage, AzureBlobStore)
    return store.storage


async def blob_names(store: LockableStorage) -> list[str]:
    azure = raw(store)
    return [name async for name, _ in azure._blobs.scan(azure.prefix, None, "test")]


# ----------------------------------------------------------------------------- versions


async def test_the_version_is_the_blob_etag_and_racing_writers_get_one_winner(store: LockableStorage) -> None:
    v1 = await store.write("k.json", b"1")
    props = await raw(store)._blobs.client().get_blob_client(raw(store).prefix + "k.json").get_blob_properties()
    assert props.etag == v1
    results = await asyncio.gather(
        *(store.write("k.json", f"w{i}".encode(), v1) for i in range(6)), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if isinstance(r, WriteConflict)]
    assert len(winners) == 1 and len(losers) == 5
    assert all(e.expected == v1 and e.found == winners[0] for e in losers)


@pytest.mark.parametrize("version", ["*", "", '"0x0"', "W/\"x\"", "not-an-etag", "a, b", "new\nline", "ünï"])
async def test_versions_azure_never_made_conflict_and_write_nothing(store: LockableStorage, version: str) -> None:
    v = await store.write("k.json", b"original")
    with pytest.raises(WriteConflict) as info:
        await store.write("k.json", b"intruder", version)
    assert info.value.found == v
    with pytest.raises(WriteConflict):
        await store.delete("k.json", version)
    got = await store.read("k.json")
    assert got is not None and got.data == b"original" and got.version == v


# ----------------------------------------------------------------------------- leases


async def test_the_lock_blob_is_held_with_an_azure_lease(store: LockableStorage) -> None:
    """Azure itself refuses any change to a held lock record by anyone without the holder's lease id."""
    from azure.core.exceptions import HttpResponseError

    lease = await store.acquire("k.json", "me", HELD, HELD)
    azure = raw(store)
    blob = azure._blobs.client().get_blob_client(azure._lock_name("k.json"))
    props = await blob.get_blob_properties()
    assert props.lease.state == "leased" and props.lease.duration == "infinite"
    with pytest.raises(HttpResponseError) as info:
        await blob.upload_blob(b"{}", overwrite=True)  # no lease id
    assert info.value.status_code == 412
    with pytest.raises(HttpResponseError):
        await blob.upload_blob(b"{}", overwrite=True, lease=lease_id("k.json", "mallory", lease.token))
    await store.release(lease)
    props = await blob.get_blob_properties()
    assert props.lease.state == "available"


async def test_an_expired_holder_is_fenced_by_azure_and_by_its_token(store: LockableStorage) -> None:
    v = await store.write("k.json", b"0")
    old = await store.acquire("k.json", "slow", lease_seconds=0.3, timeout=HELD)
    await asyncio.sleep(0.45)
    with pytest.raises(LeaseLost):  # expired, even before anyone took it
        await store.write("k.json", b"late", v, lease=old)
    new = await store.acquire("k.json", "fast", HELD, HELD)
    assert new.token == old.token + 1
    azure = raw(store)
    # the old holder's Azure lease was broken: Azure refuses its lease id outright
    body = azure._body("k.json", "slow", old.token, 1e12)
    assert await azure._blobs.put(azure._lock_name("k.json"), body, "test", lease=lease_id("k.json", "slow", old.token)) is None
    for call in (store.renew(old), store.release(old), store.check(old)):
        with pytest.raises(LeaseLost):
            await call
    with pytest.raises(LeaseLost):
        await store.write("k.json", b"late", v, lease=old)
    await store.write("k.json", b"fast", v, lease=new)
    await store.release(new)
    got = await store.read("k.json")
    assert got is not None and got.data == b"fast"


async def test_racing_acquirers_of_an_expired_lock_get_one_token(store: LockableStorage) -> None:
    first = await store.acquire("k.json", "a", lease_seconds=0.2, timeout=HELD)
    await asyncio.sleep(0.35)
    got = await asyncio.gather(*(store.try_acquire("k.json", f"w{i}", HELD) for i in range(6)))
    leases = [lease for lease in got if lease is not None]
    assert len(leases) == 1 and leases[0].token == first.token + 1
    await store.release(leases[0])


async def test_lock_and_index_blobs_stay_out_of_listings(store: LockableStorage) -> None:
    lease = await store.acquire("a.json", "me", HELD, HELD)
    await store.write("a.json", b"x", lease=lease, index=IndexEntry(1.0, {"status": "active"}))
    names = await blob_names(store)
    assert any("/.locks/" in n for n in names) and any("/.index/" in n for n in names)
    assert [k async for k in store.list("")] == ["a.json"]
    await store.release(lease)


async def test_due_pages_resume_from_the_list_blobs_marker(store: LockableStorage) -> None:
    raw(store)._index.page_size = 2  # every List Blobs page holds two names: cursors cross pages
    for i in range(9):
        await store.write(f"k{i}.json", b"x", index=IndexEntry(float(100 - i), {"status": "active"}))
    keys: list[str] = []
    cursor = None
    while True:
        page = await store.due_page("", 1000.0, cursor, 2)
        keys += page.keys
        if page.cursor is None:
            break
        cursor = page.cursor
    assert keys == [f"k{i}.json" for i in reversed(range(9))]


# ----------------------------------------------------------------------------- keys


@pytest.mark.parametrize("key", ["../other/x.json", "a/../../b", "/abs", "a/./b", ".locks/x", ".index/keys/x", "a\\b"])
async def test_keys_that_could_leave_the_prefix_are_refused(store: LockableStorage, key: str) -> None:
    with pytest.raises(InvalidKey):
        await store.write(key, b"x")
    with pytest.raises(InvalidKey):
        await store.read(key)
    assert await blob_names(store) == []


async def test_a_10_mb_key_is_refused_without_echoing_it(store: LockableStorage) -> None:
    key = "k" * (10 * 1024 * 1024)
    for call in (store.write(key, b"x"), store.read(key), store.acquire(key, "me", 5, 0.1)):
        with pytest.raises(InvalidKey) as info:
            await call
        assert len(str(info.value)) < 1000


async def test_more_path_segments_than_azure_allows_is_an_invalid_key(store: LockableStorage) -> None:
    key = "/".join(["a"] * 256)  # 511 characters: a valid key elsewhere, 257 segments with the prefix here
    with pytest.raises(InvalidKey):
        await store.write(key, b"x")


async def test_namespaces_do_not_see_each_other(azure: BackendUnderTest, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    other = make_backend(request, "othername", tmp_path)
    a, b = open_store(azure.url), open_store(other.url)
    try:
        await a.write("same.json", b"a")
        assert await b.read("same.json") is None
        assert [k async for k in b.list("")] == []
    finally:
        await a.close()
        await b.close()


_segment = st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="/\\"), min_size=1, max_size=12).filter(
    lambda s: not s.startswith(".")
)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segments=st.lists(_segment, min_size=1, max_size=4))
async def test_any_valid_key_is_one_blob_under_the_prefix(store: LockableStorage, segments: list[str]) -> None:
    key = "/".join(segments)
    v = await store.write(key, key.encode(), None) if await store.read(key) is None else (await store.read(key)).version  # type: ignore[union-attr]
    got = await store.read(key)
    assert got is not None and got.data == key.encode() and got.version == v
    azure = raw(store)
    assert azure.prefix + key in await blob_names(store)
    assert key in [k async for k in store.list("")]
    await store.delete(key)


# ----------------------------------------------------------------------------- URLs and credentials


def test_urls_name_account_container_and_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.setenv("AZURE_STORAGE_KEY", "a2V5")
    store = open_backend("azure://myaccount/orders/app/v1/")
    assert isinstance(store, AzureBlobStore)
    assert store._blobs.account_url == "https://myaccount.blob.core.windows.net"
    assert (store.account, store.container, store.prefix) == ("myaccount", "orders", "app/v1/")
    local = open_backend("azure+http://127.0.0.1:10000/devstoreaccount1/orders")
    assert local._blobs.account_url == "http://127.0.0.1:10000/devstoreaccount1" and local.prefix == ""
    assert local._blobs._credential == {"account_name": "devstoreaccount1", "account_key": AZURITE_KEY}


@pytest.mark.parametrize(
    "url",
    ["azure://myaccount", "azure://myaccount/Bad_Container/", "azure://myaccount/orders/../x/",
     "azure://myaccount/orders/a//b/", "azure://MyAccount/orders/", "azure+http://127.0.0.1:1/",
     "azure://myaccount/orders/?colour=red", "azure://myaccount/orders/?max_attempts=0"],
)
def test_bad_urls_are_config_errors(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_KEY", "a2V5")
    with pytest.raises(StoreConfigError):
        open_backend(url)


def test_credentials_come_from_the_connection_string_or_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_STORAGE_KEY", raising=False)
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    with pytest.raises(StoreConfigError, match="AZURE_STORAGE_CONNECTION_STRING"):
        open_backend("azure://myaccount/orders/")
    monkeypatch.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        "DefaultEndpointsProtocol=https;AccountName=myaccount;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net",
    )
    assert open_backend("azure://myaccount/orders/")._blobs._credential == {"account_name": "myaccount", "account_key": "c2VjcmV0"}
    with pytest.raises(StoreConfigError):  # the connection string is for another account
        open_backend("azure://otheraccount/orders/")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "AccountName=myaccount;SharedAccessSignature=sv=2024&sig=abc")
    assert open_backend("azure://myaccount/orders/")._blobs._credential == "sv=2024&sig=abc"


def test_a_missing_client_names_the_azure_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from durable_xstate.errors import MissingDependency

    monkeypatch.setitem(sys.modules, "azure.storage.blob.aio", None)
    for name in [n for n in sys.modules if n.startswith(("durable_xstate.stores.azure", "durable_xstate.stores._azure"))]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(MissingDependency) as info:
        open_backend("azure://myaccount/orders/")
    assert info.value.extra == "azure" and "durable-xstate[azure]" in str(info.value)
