"""Record codecs (compression, encryption) on every backend, each on its real server: the store contract
still holds through a CodecStore, values are stored encoded, a wrong key is a CodecError that changes
nothing, and values written before codecs (plain) still read."""

from __future__ import annotations

import base64
import gzip
import os
from typing import Any

import pytest
from harness import HELD, BackendUnderTest
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_xstate import PersistableActor, assign, create_actor, setup
from durable_xstate.errors import CodecError, RecordError, StoreConfigError, WriteConflict
from durable_xstate.stores import (
    AesGcmCodec,
    CodecStore,
    GzipCodec,
    IndexEntry,
    LockableStorage,
    MemoryStore,
    ZlibCodec,
    open_store,
)
from durable_xstate.stores.codec import CODEC_MAGIC, codecs_from_spec

KEY = os.urandom(32)
SECRET = b'{"card":"4111 1111 1111 1111","note":"' + b"x" * 300 + b'"}'


def _open(backend: BackendUnderTest, codec: Any) -> LockableStorage:
    return open_store(backend.url, lock=backend.lock_url, codec=codec)


async def test_values_are_stored_encoded_and_read_back(backend: BackendUnderTest) -> None:
    plain, coded = backend.open(), _open(backend, [GzipCodec(), AesGcmCodec(KEY)])
    try:
        v1 = await coded.write("secret.json", SECRET)
        got = await coded.read("secret.json")
        assert got is not None and got.data == SECRET and got.version == v1
        raw = await plain.read("secret.json")
        assert raw is not None and raw.version == v1
        assert raw.data.startswith(CODEC_MAGIC + b"gzip,aes-gcm\n") and b"4111" not in raw.data
        # compare-and-set, create-only and conditional delete are the backend's own
        with pytest.raises(WriteConflict):
            await coded.write("secret.json", b"{}")
        v2 = await coded.write("secret.json", b'{"n":2}', v1)
        with pytest.raises(WriteConflict):
            await coded.write("secret.json", b"stale", v1)
        assert [k async for k in coded.list()] == ["secret.json"] and await coded.exists("secret.json")
        await coded.delete("secret.json", v2)
        assert await coded.read("secret.json") is None
    finally:
        await coded.close()
        await plain.close()


async def test_a_wrong_key_is_a_codec_error_and_changes_nothing(backend: BackendUnderTest) -> None:
    right, wrong = _open(backend, AesGcmCodec(KEY)), _open(backend, AesGcmCodec(os.urandom(32)))
    plain = backend.open()
    try:
        version = await right.write("secret.json", SECRET)
        before = await plain.read("secret.json")
        with pytest.raises(CodecError) as info:
            await wrong.read("secret.json")
        assert isinstance(info.value, RecordError) and info.value.where == "secret.json"
        assert "wrong key" in str(info.value)
        unkeyed = _open(backend, GzipCodec())  # a store not given the key at all
        try:
            with pytest.raises(CodecError, match="aes-gcm"):
                await unkeyed.read("secret.json")
        finally:
            await unkeyed.close()
        after = await plain.read("secret.json")
        assert after == before and after is not None and after.version == version
        got = await right.read("secret.json")
        assert got is not None and got.data == SECRET
    finally:
        for s in (right, wrong, plain):
            await s.close()


async def test_a_plain_value_written_before_codecs_still_reads(backend: BackendUnderTest) -> None:
    plain, coded = backend.open(), _open(backend, "gzip")
    try:
        v1 = await plain.write("old.json", b'{"format":"plain"}')
        got = await coded.read("old.json")
        assert got is not None and got.data == b'{"format":"plain"}' and got.version == v1
        await coded.write("old.json", b'{"format":"coded"}', v1)  # rewritten encoded on its next save
        raw = await plain.read("old.json")
        assert raw is not None and raw.data.startswith(CODEC_MAGIC + b"gzip\n")
        assert gzip.decompress(raw.data.split(b"\n", 1)[1]) == b'{"format":"coded"}'
    finally:
        await coded.close()
        await plain.close()


async def test_index_entries_stay_queryable_and_fencing_is_the_backends(backend: BackendUnderTest) -> None:
    plain, coded = backend.open(), _open(backend, [ZlibCodec(), AesGcmCodec(KEY)])
    try:
        assert coded.fenced_atomically == plain.fenced_atomically
        assert coded.indexes == plain.indexes
        entry = IndexEntry(due=1000.0, labels={"machine": "order", "status": "active", "state": "paying"})
        await coded.write("a.json", SECRET, index=entry)
        if coded.indexes:
            assert (await coded.find_page("", {"machine": "order", "state": "paying"})).keys == ["a.json"]
            assert (await coded.due_page("", 2000.0)).keys == ["a.json"]
        if coded.lock is not None:
            lease = await coded.acquire("a.json", "me", HELD)
            got = await coded.read("a.json")
            assert got is not None
            version = await coded.write("a.json", b'{"n":1}', got.version, lease=lease)
            await coded.release(lease)
            got = await coded.read("a.json")
            assert got is not None and got.data == b'{"n":1}' and got.version == version
    finally:
        await coded.close()
        await plain.close()


COUNTER = setup(actions={"add": assign({"n": lambda a, p: a.context["n"] + 1})}).create_machine({
    "id": "counter", "initial": "on", "context": {"n": 0, "card": "4111 1111 1111 1111"},
    "states": {"on": {"on": {"ADD": {"actions": "add"}}}},
})


async def test_a_durable_actor_through_an_encrypted_store(backend: BackendUnderTest) -> None:
    plain, coded = backend.open(), _open(backend, [GzipCodec(), AesGcmCodec(KEY)])

    def creator(actor_id: str, snapshot: Any) -> Any:
        return create_actor(COUNTER, id=actor_id, snapshot=snapshot)

    try:
        for _ in range(2):
            pa = PersistableActor(id="c1", storage=coded, actor_creator=creator,
                                  locking="read-write" if coded.lock is not None else None)
            actor = await pa.init()
            actor.send({"type": "ADD"})
            await pa.save()
            await pa.close()
        pa = PersistableActor(id="c1", storage=coded, actor_creator=creator)
        assert (await pa.init()).get_snapshot().context["n"] == 2
        await pa.close()
        raw = await plain.read("c1.json")
        assert raw is not None and b"4111" not in raw.data and b"counter" not in raw.data
    finally:
        await coded.close()
        await plain.close()


# ---------------------------------------------------------------------------------------------- the codecs alone
@settings(max_examples=50)
@given(data=st.binary(max_size=2000), key=st.text(min_size=1, max_size=20))
def test_every_codec_chain_round_trips_and_tampering_is_detected(data: bytes, key: str) -> None:
    store = CodecStore(MemoryStore(), [GzipCodec(), AesGcmCodec(KEY)])
    encoded = store.encode(key, data)
    assert store.decode(key, encoded) == data
    flipped = bytearray(encoded)
    flipped[-1] ^= 1
    with pytest.raises(CodecError):
        store.decode(key, bytes(flipped))
    with pytest.raises(CodecError):  # the value is bound to its key: copied elsewhere, it does not decode
        store.decode(key + "x", encoded)


def test_key_rotation_reads_values_of_the_previous_key() -> None:
    old, new = os.urandom(32), os.urandom(32)
    written = CodecStore(MemoryStore(), AesGcmCodec(old)).encode("k", b"v")
    assert CodecStore(MemoryStore(), AesGcmCodec(new, previous=[old])).decode("k", written) == b"v"
    with pytest.raises(CodecError, match="wrong key"):
        CodecStore(MemoryStore(), AesGcmCodec(new)).decode("k", written)


def test_the_key_comes_from_the_environment() -> None:
    key = os.urandom(32)
    env = {"DURABLE_XSTATE_KEY": base64.urlsafe_b64encode(key).decode().rstrip("=")}
    [gz, aes] = codecs_from_spec("gzip, aes-gcm", environ=env)
    assert gz.name == "gzip" and isinstance(aes, AesGcmCodec)
    assert aes.key_id == AesGcmCodec(key).key_id
    for bad_env in ({}, {"DURABLE_XSTATE_KEY": "not base64!"}, {"DURABLE_XSTATE_KEY": base64.b64encode(b"short").decode()}):
        with pytest.raises(StoreConfigError) as info:
            codecs_from_spec("aes-gcm", environ=bad_env)
        assert "DURABLE_XSTATE_KEY" in str(info.value)
    with pytest.raises(StoreConfigError, match="unknown record codec"):
        codecs_from_spec("rot13")


def test_a_small_value_that_expands_without_bound_is_refused() -> None:
    bomb = CodecStore(MemoryStore(), GzipCodec()).encode("k", b"\0" * 2_000_000)
    with pytest.raises(CodecError, match="expands"):
        CodecStore(MemoryStore(), GzipCodec(max_decoded_bytes=1_000_000)).decode("k", bomb)
    with pytest.raises(CodecError):
        CodecStore(MemoryStore(), GzipCodec()).decode("k", CODEC_MAGIC + b"gzip\nnot gzip")
    with pytest.raises(CodecError, match="not terminated"):
        CodecStore(MemoryStore(), GzipCodec()).decode("k", CODEC_MAGIC + b"gzip")
