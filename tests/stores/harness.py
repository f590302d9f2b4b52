"""What a provider hands to the contract suite."""

from __future__ import annotations

from dataclasses import dataclass

from durable_xstate.stores import LockableStorage, open_store


@dataclass
class BackendUnderTest:
    name: str
    url: str  # opens this test's namespace, also from another process
    lock_url: str | None = None
    #: whether several OS processes can share it (False only for the in-process memory backend)
    shared_across_processes: bool = True
    #: a URL of the same backend whose server is down / unreachable (None only for memory)
    dead_url: str | None = None

    def open(self) -> LockableStorage:
        return open_store(self.url, lock=self.lock_url)
