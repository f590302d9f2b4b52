"""The few Azure Blob Storage calls the Azure store makes, on the SDK's async client, with its errors mapped.

Every call answers in the store's own terms: a blob is absent (None), a condition failed (False), or it
worked; any other failure (network, authentication, a missing container, a server error) is
:class:`StoreUnavailable`. The async client (aiohttp underneath) belongs to the event loop that made it, so
one is made per running loop, as the Redis store does.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import MissingDependency, StoreUnavailable

try:
    from azure.core import MatchConditions
    from azure.core.exceptions import AzureError, HttpResponseError
    from azure.storage.blob.aio import BlobLeaseClient, BlobServiceClient, ContainerClient
except ImportError as err:  # pragma: no cover - depends on the installation
    raise MissingDependency(
        "the azure backend needs azure-storage-blob and aiohttp: pip install 'durable-xstate[azure]'",
        extra="azure", name=err.name,
    ) from err

__all__ = ["Blob", "Blobs"]

BACKEND = "azure"


@dataclass(frozen=True, slots=True)
class Blob:
    data: bytes
    etag: str
    leased: bool  # an Azure lease is on it (locked or breaking)


def _status(err: HttpResponseError) -> int:
    return int(err.status_code or 0)


def _code(err: HttpResponseError) -> str:
    code = getattr(err, "error_code", None)
    value = getattr(code, "value", code)  # StorageErrorCode is a str enum
    return str(value or "")


def _absent(err: HttpResponseError) -> bool:
    """The blob is not there (a missing container is a fault: its code is ContainerNotFound)."""
    return _status(err) == 404 and _code(err) == "BlobNotFound"


def _refused(err: HttpResponseError) -> bool:
    """A condition failed: If-Match / If-None-Match, a lease id that is not the blob's, a lease taken."""
    status, code = _status(err), _code(err)
    return status == 412 or (status == 409 and code != "ContainerBeingDeleted") or _absent(err)


def env_proxies(account_url: str) -> dict[str, str]:
    """The proxy the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) names for ``account_url``."""
    parts = urlsplit(account_url)
    if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return {}
    proxy = urllib.request.getproxies().get(parts.scheme)
    return {parts.scheme: proxy} if proxy else {}


class Blobs:
    """One container of one account, reached through the async client of the running event loop."""

    def __init__(self, account_url: str, container: str, credential: Any, client_options: dict[str, Any]) -> None:
        self.account_url = account_url
        self.container = container
        self._credential = credential
        # aiohttp reads proxy variables in a worker thread on every request when trusted with the
        # environment; they are read once here instead (same variables, same no_proxy rule).
        self._options = {**client_options, "use_env_settings": False}
        proxies = env_proxies(account_url)
        if proxies:
            self._options["proxies"] = proxies
        self._service: BlobServiceClient | None = None
        self._client: ContainerClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def client(self) -> ContainerClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._service = BlobServiceClient(self.account_url, credential=self._credential, **self._options)
            self._client = self._service.get_container_client(self.container)
            self._loop = loop
        return self._client

    async def close(self) -> None:
        service, loop = self._service, self._loop
        self._service, self._client, self._loop = None, None, None
        if service is None or loop is not asyncio.get_running_loop():
            return  # its connections belong to another event loop and go away with it
        try:
            await service.close()
        except AzureError as err:
            raise StoreUnavailable(BACKEND, "close", err) from err

    # ------------------------------------------------------------------ container
    async def ensure_container(self) -> None:
        try:
            await self.client().create_container()
        except HttpResponseError as err:
            if _code(err) != "ContainerAlreadyExists":
                raise StoreUnavailable(BACKEND, "ensure_container", err) from err
        except AzureError as err:
            raise StoreUnavailable(BACKEND, "ensure_container", err) from err

    # ------------------------------------------------------------------ blobs
    async def get(self, name: str, operation: str) -> Blob | None:
        try:
            download = await self.client().get_blob_client(name).download_blob()
            data = await download.readall()
        except HttpResponseError as err:
            if _absent(err):
                return None
            raise StoreUnavailable(BACKEND, operation, err) from err
        except AzureError as err:
            raise StoreUnavailable(BACKEND, operation, err) from err
        props = download.properties
        return Blob(bytes(data), str(props.etag), props.lease.state in ("leased", "breaking"))

    async def etag(self, name: str, operation: str) -> str | None:
        try:
            props = await self.client().get_blob_client(name).get_blob_properties()
        except HttpResponseError as err:
            if _absent(err):
                return None
            raise StoreUnavailable(BACKEND, operation, err) from err
        except AzureError as err:
            raise StoreUnavailable(BACKEND, operation, err) from err
        return str(props.etag)

    async def put(
        self, name: str, data: bytes, operation: str, *, if_match: str | None = None, create: bool = False,
        lease: str | None = None,
    ) -> str | None:
        """Put Blob; the new ETag, or None when a condition refused it. ``create``: only if absent
        (If-None-Match: *); ``if_match``: only if the ETag is this; neither: unconditionally. Conditional
        puts are sent once (a retry after a lost reply would report our own write as a conflict)."""
        kwargs: dict[str, Any] = {"overwrite": not create}
        if if_match is not None:
            kwargs.update(etag=if_match, match_condition=MatchConditions.IfNotModified)
        if lease is not None:
            kwargs["lease"] = lease
        if create or if_match is not None:
            kwargs["retry_total"] = 0
        try:
            got = await self.client().get_blob_client(name).upload_blob(bytes(data), **kwargs)
        except HttpResponseError as err:
            if (create or if_match is not None or lease is not None) and _refused(err):
                return None
            raise StoreUnavailable(BACKEND, operation, err) from err
        except AzureError as err:
            raise StoreUnavailable(BACKEND, operation, err) from err
        return str(got["etag"])

    async def delete(self, name: str, operation: str, *, if_match: str | None = None) -> bool:
        """Delete Blob; False when ``if_match`` refused it (or it was absent then). Unconditional: an
        absent blob is fine."""
        kwargs: dict[str, Any] = {}
        if if_match is not None:
            kwargs.update(etag=if_match, match_condition=MatchConditions.IfNotModified, retry_total=0)
        try:
            await self.client().get_blob_client(name).delete_blob(**kwargs)
        except HttpResponseError as err:
            if _absent(err):
                return if_match is None
            if if_match is not None and _refused(err):
                return False
            raise StoreUnavailable(BACKEND, operation, err) from err
        except AzureError as err:
            raise StoreUnavailable(BACKEND, operation, err) from err
        return True

    async def scan(self, prefix: str, marker: str | None, operation: str, page_size: int = 1000) -> AsyncIterator[tuple[str, str | None]]:
        """Blob names starting with ``prefix``, in order, from the continuation ``marker`` (None: the
        start); each with the marker that starts its page, so that a listing can be resumed there."""
        try:
            pages: Any = self.client().list_blobs(name_starts_with=prefix, results_per_page=page_size).by_page(
                continuation_token=marker
            )
            start = marker
            async for page in pages:
                async for item in page:
                    yield str(item.name), start
                start = pages.continuation_token
                if not start:
                    return
        except HttpResponseError as err:
            raise StoreUnavailable(BACKEND, operation, err) from err
        except AzureError as err:
            raise StoreUnavailable(BACKEND, operation, err) from err

    # ------------------------------------------------------------------ leases
    async def lease(self, name: str, lease_id: str, action: str, operation: str, *, if_match: str | None = None) -> bool:
        """``acquire`` (infinite), ``break`` (at once) or ``release`` an Azure lease; False when Azure
        refused it (a lease already there, another lease id, the ETag moved)."""
        client = BlobLeaseClient(self.client().get_blob_client(name), lease_id)
        kwargs: dict[str, Any] = {"retry_total": 0}
        if if_match is not None:
            kwargs.update(etag=if_match, match_condition=MatchConditions.IfNotModified)
        try:
            if action == "acquire":
                await client.acquire(lease_duration=-1, **kwargs)
            elif action == "break":
                await client.break_lease(lease_break_period=0, **kwargs)
            else:
                await client.release(**kwargs)
        except HttpResponseError as err:
            if _refused(err):
                return False
            raise StoreUnavailable(BACKEND, operation, err) from err
        except AzureError as err:
            raise StoreUnavailable(BACKEND, operation, err) from err
        return True
